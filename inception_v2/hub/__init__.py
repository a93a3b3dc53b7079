"""KerasHub's front door: the Backbone / ImageClassifier classes and presets (``models``), and
their model card (``model_card``). Importing ``inception_v2.hub.models`` registers the classes."""
