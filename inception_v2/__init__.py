"""inception_v2: TF-slim's Inception V2 (BN-Inception) in Keras 3, numerically equal to slim.

Names are imported lazily, so that ``import inception_v2`` (and the command line's start)
does not load TensorFlow before it is needed. Where keras-hub is installed, the KerasHub
classes (``inception_v2.hub.models``) are registered with Keras as soon as ``keras_hub`` is imported,
before or after this package, so that KerasHub's own ``from_preset`` finds them.
"""

import importlib.util
import sys
from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "END_POINTS": "inception_v2.model.architecture",
    "FAST_INFERENCE": "inception_v2.precision",
    "InceptionV2": "inception_v2.weights.factory",
    "build_inception_v2": "inception_v2.model.network",
    "end_point_model": "inception_v2.model.network",
    "InputError": "inception_v2.errors",
    "CheckpointError": "inception_v2.errors",
    "convert_checkpoint": "inception_v2.weights.convert",
    "load_weights": "inception_v2.weights.loading",
    "decode_predictions": "inception_v2.data.labels",
    "preprocess_input": "inception_v2.data.preprocessing",
    "preprocess_for_eval": "inception_v2.data.preprocessing",
    "evaluate": "inception_v2.evaluation.evaluate",
    "inference_function": "inception_v2.inference.function",
    "open_data": "inception_v2.data.sources",
    "InceptionV2Backbone": "inception_v2.hub.models",
    "InceptionV2ImageClassifier": "inception_v2.hub.models",
    "InceptionV2ImageClassifierPreprocessor": "inception_v2.hub.models",
    "InceptionV2ImageConverter": "inception_v2.hub.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'inception_v2' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


class _RegisterAfterKerasHub:
    """A finder consulted once, for ``keras_hub``: it lets the usual finders find it and has
    its loader import ``inception_v2.hub.models`` (which registers the classes) when it has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras_hub":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def run_then_register(module):
                run(module)
                import_module("inception_v2.hub.models")

            spec.loader.exec_module = run_then_register
        return spec


if "keras_hub" in sys.modules:
    import_module("inception_v2.hub.models")
elif importlib.util.find_spec("keras_hub") is not None:
    sys.meta_path.insert(0, _RegisterAfterKerasHub())
