"""What every inference engine returns: a compiled forward pass that says what it runs.

The Keras engine (``inference``) and OpenVINO's (``openvino``) both return a ``Runner``;
``inference.inference_function`` chooses between them, and OpenVINO's engine receives the
Keras runner it converts and checks against as an argument, so neither imports the other back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: ``Runner.inputs``: NHWC float images in the model's range, slim's eval preprocessing done.
IMAGES = "images"
#: ``Runner.inputs``: the encoded files (JPEG, PNG, ...) as bytes, any size.
ENCODED = "encoded"


@dataclass(frozen=True)
class Runner:
    """Call it with a batch (NumPy or a backend tensor); get NumPy, in the model's output structure.

    Attributes:
        function: the compiled forward pass.
        precision: what it computes in (``"float32"``, ``"tf32"``, ``"bfloat16"``).
        engine: what runs it (``"keras"`` or ``"openvino"``).
        graph_function: on TensorFlow, the ``tf.function`` behind a Keras runner (what
            OpenVINO converts); None elsewhere.
        inputs: what it is fed: ``IMAGES`` (a batch preprocessed as for the model) or
            ``ENCODED`` (a 1-D batch of encoded image files: a served model preprocesses them
            itself, and that is what gets measured).
    """

    function: Callable[[Any], Any]
    precision: str
    engine: str
    graph_function: Any = None
    inputs: str = IMAGES

    def __call__(self, x: Any) -> Any:
        return self.function(x)
