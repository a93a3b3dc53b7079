"""inception_v2: TF-slim's Inception V2 (BN-Inception) in Keras 3, numerically equal to slim.

Names are imported lazily, so that ``import inception_v2`` (and the command line's start)
does not load TensorFlow before it is needed.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "END_POINTS": "inception_v2.model",
    "FAST_INFERENCE": "inception_v2.model",
    "InceptionV2": "inception_v2.model",
    "build_inception_v2": "inception_v2.network",
    "end_point_model": "inception_v2.model",
    "InputError": "inception_v2.errors",
    "CheckpointError": "inception_v2.checkpoint",
    "assign_checkpoint": "inception_v2.checkpoint",
    "infer_config": "inception_v2.checkpoint",
    "read_checkpoint": "inception_v2.checkpoint",
    "VerificationError": "inception_v2.convert",
    "convert_checkpoint": "inception_v2.convert",
    "load_weights": "inception_v2.weights",
    "decode_predictions": "inception_v2.labels",
    "preprocess_input": "inception_v2.preprocessing",
    "preprocess_for_eval": "inception_v2.preprocessing",
    "evaluate": "inception_v2.evaluate",
    "inference_function": "inception_v2.inference",
    "open_data": "inception_v2.data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'inception_v2' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
