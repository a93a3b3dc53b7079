"""Running a built model: the compiled forward pass (``function``), the classifier of some
weights as the commands build it (``model``), its engine (``hardware``, ``openvino``,
``runner``), saved int8 models (``quantized``) and classifying image files (``classify``).
The precision it computes in is the floor's ``inception_v2.precision``."""
