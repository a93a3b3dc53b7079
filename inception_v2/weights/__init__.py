"""Weights into the network: slim's checkpoints (``checkpoint``), the project's Keras files
(``keras_files``), loading by one rule (``loading``), the official download (``download``,
``archive``), conversion and its check against tf_slim's graph (``convert``, ``slim_reference``),
and ``factory``: ``InceptionV2(weights=...)``, building (``model``) then loading."""
