"""slim's Inception V2 as data: names, depths and end points, shared by the builder and the loaders.

The Keras builder (``model.network``) wires these blocks into layers; the checkpoint reader
(``weights.checkpoint``) infers ``depth_multiplier`` and ``min_depth`` from a checkpoint's shapes
by the same arithmetic, without building a model. Neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from inception_v2.errors import InvalidArgument

SLIM_SCOPE = "InceptionV2"
SCOPE_SEPARATOR = "__"  # a Keras layer name is the slim scope with "/" written as "__"
BN_EPSILON = 0.001
BN_MOMENTUM = 0.9997  # slim's batch_norm decay
DEPTH_MULTIPLIER = 1.0  # slim's defaults for the width: the released network's
MIN_DEPTH = 16


@dataclass(frozen=True)
class PretrainedConfig:
    """slim's ImageNet release, in one record (timm's ``pretrained_cfg``): where it comes from
    and how it is checked (download), what it expects (preprocessing), what it gives (label
    space), and what slim published for it (evaluation's report)."""

    checkpoint: str = "inception_v2_2016_08_28.tar.gz"  # the archive; it holds inception_v2.ckpt (V1)
    urls: tuple[str, ...] = (
        "http://download.tensorflow.org/models/inception_v2_2016_08_28.tar.gz",
        "https://storage.openvinotoolkit.org/repositories/open_model_zoo/public/2022.1/"
        "googlenet-v2-tf/inception_v2_2016_08_28.tar.gz",
    )
    size: int = 41_577_079  # bytes; size and SHA-384 from OpenVINO's model-zoo manifest
    sha384: str = (
        "c0b2efbae8fc5e237ae67637dca3f311d4b4f7da576b56067e83d95c398a2fccd50baff9cc0de64335f4d7b78e1adb07"
    )
    num_classes: int = 1001  # logit 0 is background; slim's ImageNet labels 1..1000 are logits 1..1000
    image_size: int = 224
    crop_fraction: float = 0.875  # central crop before the (TF1 bilinear) resize, at evaluation
    input_range: tuple[float, float] = (-1.0, 1.0)  # what RGB in [0, 1] is mapped to
    top1: float = 0.739  # slim's published ImageNet validation accuracy (50,000 images)
    top5: float = 0.918


PRETRAINED = PretrainedConfig()
DEFAULT_IMAGE_SIZE = PRETRAINED.image_size
NUM_CLASSES = PRETRAINED.num_classes
#: Multiply-adds x 2 of one 224x224 image through the whole network (1.935 G multiply-adds).
GFLOP_PER_IMAGE = 3.87

#: slim's end points, in network order.
BASE_END_POINTS = (
    "Conv2d_1a_7x7",
    "MaxPool_2a_3x3",
    "Conv2d_2b_1x1",
    "Conv2d_2c_3x3",
    "MaxPool_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "Mixed_4a",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_5a",
    "Mixed_5b",
    "Mixed_5c",
)
END_POINTS = BASE_END_POINTS + ("Logits", "Predictions")

#: The stem's batch-normed convolutions after Conv2d_1a_7x7: (scope, base depth, kernel size).
STEM_CONVS = (("Conv2d_2b_1x1", 64, 1), ("Conv2d_2c_3x3", 192, 3))
STEM_DEPTH = 64  # Conv2d_1a_7x7

#: slim's Mixed blocks in order: (scope, kind, depths in slim's base units, pool of Branch_3).
#: inception depths: (b0, b1_1x1, b1_3x3, b2_1x1, b2_3x3, b3); reduction: (b0_1x1, b0_3x3,
#: b1_1x1, b1_3x3).
MIXED_BLOCKS = (
    ("Mixed_3b", "inception", (64, 64, 64, 64, 96, 32), "avg"),
    ("Mixed_3c", "inception", (64, 64, 96, 64, 96, 64), "avg"),
    ("Mixed_4a", "reduction", (128, 160, 64, 96), "max"),
    ("Mixed_4b", "inception", (224, 64, 96, 96, 128, 128), "avg"),
    ("Mixed_4c", "inception", (192, 96, 128, 96, 128, 128), "avg"),
    ("Mixed_4d", "inception", (160, 128, 160, 128, 160, 96), "avg"),
    ("Mixed_4e", "inception", (96, 128, 192, 160, 192, 96), "avg"),
    ("Mixed_5a", "reduction", (128, 192, 192, 256), "max"),
    ("Mixed_5b", "inception", (352, 192, 320, 160, 224, 128), "avg"),
    ("Mixed_5c", "inception", (352, 192, 320, 192, 224, 128), "max"),
)

#: Each kind of block's layers, branch by branch: (branch/scope, index into the block's depths,
#: kernel size, stride). Index ``None`` is Branch_3's (or Branch_2's) pool, of the block's kind.
BLOCK_LAYERS = {
    "inception": (
        ("Branch_0/Conv2d_0a_1x1", 0, 1, 1),
        ("Branch_1/Conv2d_0a_1x1", 1, 1, 1),
        ("Branch_1/Conv2d_0b_3x3", 2, 3, 1),
        ("Branch_2/Conv2d_0a_1x1", 3, 1, 1),
        ("Branch_2/Conv2d_0b_3x3", 4, 3, 1),
        ("Branch_2/Conv2d_0c_3x3", 4, 3, 1),
        ("Branch_3/{Pool}_0a_3x3", None, 3, 1),
        ("Branch_3/Conv2d_0b_1x1", 5, 1, 1),
    ),
    "reduction": (
        ("Branch_0/Conv2d_0a_1x1", 0, 1, 1),
        ("Branch_0/Conv2d_1a_3x3", 1, 3, 2),
        ("Branch_1/Conv2d_0a_1x1", 2, 1, 1),
        ("Branch_1/Conv2d_0b_3x3", 3, 3, 1),
        ("Branch_1/Conv2d_1a_3x3", 3, 3, 2),
        ("Branch_2/{Pool}_1a_3x3", None, 3, 2),
    ),
}
POOL_NAMES = {"max": "MaxPool", "avg": "AvgPool"}


def scoped(*parts: str) -> str:
    """The Keras layer name of a slim scope given as its parts (each may hold ``/``)."""
    return SCOPE_SEPARATOR.join(p.replace("/", SCOPE_SEPARATOR) for p in parts)


def depth_fn(depth_multiplier: float, min_depth: int) -> Callable[[int], int]:
    """slim's channel rule: ``max(int(d * depth_multiplier), min_depth)``."""
    if depth_multiplier <= 0:
        raise InvalidArgument(f"depth_multiplier must be > 0, got {depth_multiplier}")
    return lambda d: max(int(d * depth_multiplier), min_depth)


def conv_depths(
    depth_multiplier: float = DEPTH_MULTIPLIER, min_depth: int = MIN_DEPTH, use_separable_conv: bool = True
) -> dict[str, int]:
    """``{slim scope: output channels}`` of every batch-normed convolution, by arithmetic.

    The separable ``Conv2d_1a_7x7`` has no batch norm and is not listed; a plain one is.
    """
    depth = depth_fn(depth_multiplier, min_depth)
    depths = {} if use_separable_conv else {"Conv2d_1a_7x7": depth(STEM_DEPTH)}
    depths.update({scope: depth(d) for scope, d, _ in STEM_CONVS})
    for block, kind, block_depths, _ in MIXED_BLOCKS:
        for scope, index, _, _ in BLOCK_LAYERS[kind]:
            if index is not None:
                depths[f"{block}/{scope}"] = depth(block_depths[index])
    return depths
