"""slim's evaluation preprocessing, bit for bit, and a keras.applications ``preprocess_input``.

``preprocess_for_eval`` reproduces ``inception_preprocessing.preprocess_for_eval`` of
tensorflow/models research/slim: float in [0, 1], ``central_crop(0.875)``, bilinear
resize with TF1 semantics (``align_corners=False, half_pixel_centers=False``; TF2's
``tf.image.resize`` differs by up to 0.21 on the [-1, 1] scale), then ``(x - 0.5) * 2``.
These are TensorFlow ops, for tf.data input pipelines; the model itself stays pure Keras.
"""

from __future__ import annotations

import numpy as np

from inception_v2.model.architecture import PRETRAINED

DEFAULT_SIZE = PRETRAINED.image_size
CENTRAL_FRACTION = PRETRAINED.crop_fraction
#: What reports say the preprocessing was.
PREPROCESSING = (
    "slim inception_preprocessing.preprocess_for_eval: decode to RGB, float [0,1], "
    f"central_crop({PRETRAINED.crop_fraction}), TF1 bilinear resize to {PRETRAINED.image_size} "
    "(align_corners=False, half_pixel_centers=False), (x - 0.5) * 2"
)


def decode_image(encoded):
    """Decode JPEG (greyscale and CMYK too), PNG, GIF (first frame), BMP or WebP bytes to RGB uint8.

    The format is taken from the content, not the file name: ImageNet has PNG data
    under a .JPEG name, and real folders have GIFs named .jpg.
    """
    import tensorflow as tf

    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape((None, None, 3))
    return image


def preprocess_for_eval(
    image,
    height: int = DEFAULT_SIZE,
    width: int = DEFAULT_SIZE,
    central_fraction: float | None = CENTRAL_FRACTION,
):
    """slim's ``preprocess_for_eval`` on one decoded HxWx3 image (uint8 or float in [0, 1])."""
    import tensorflow as tf

    if image.dtype != tf.float32:
        image = tf.image.convert_image_dtype(image, dtype=tf.float32)
    if central_fraction:
        image = tf.image.central_crop(image, central_fraction=central_fraction)
    if height and width:
        image = slim_resize(image, height, width)
    return to_model_range(image)


def preprocess_batch_for_eval(
    images,
    height: int = DEFAULT_SIZE,
    width: int = DEFAULT_SIZE,
    central_fraction: float = CENTRAL_FRACTION,
):
    """``preprocess_for_eval`` on an NHWC uint8 batch of images of one size, in ops that
    ONNX, LiteRT and OpenVINO convert: the crop's offsets in float32, not ``central_crop``'s
    float64 (LiteRT has no float64 arithmetic). For slim's fraction (0.875 = 7/8) every step of
    ``(n - n * 0.875) / 2`` is exact in float32 below 2**21 pixels a side, so the offsets are
    ``central_crop``'s; the channel count stays static for the converters.
    """
    import tensorflow as tf

    images = tf.image.convert_image_dtype(images, dtype=tf.float32)
    shape = tf.shape(images)
    fraction = tf.constant(central_fraction, tf.float32)

    def start(n):
        n = tf.cast(n, tf.float32)
        return tf.cast((n - n * fraction) / 2, tf.int32)

    top, left = start(shape[1]), start(shape[2])
    images = images[:, top : shape[1] - top, left : shape[2] - left, :]
    images.set_shape([None, None, None, 3])
    images = slim_resize(images, height, width)
    images.set_shape([None, height, width, 3])
    return to_model_range(images)


def slim_resize(images, height: int, width: int):
    """slim's bilinear resize of one HxWxC float image or an NHWC batch: the kernel behind
    TF1's ``tf.image.resize_bilinear`` (without its deprecation notice; TF2's resize differs)."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    batch = images if images.shape.rank == 4 else images[tf.newaxis]
    resized = tf.raw_ops.ResizeBilinear(
        images=batch, size=[height, width], align_corners=False, half_pixel_centers=False
    )
    return resized if images.shape.rank == 4 else resized[0]


def to_model_range(image):
    """RGB in [0, 1] to the network's input range (``PRETRAINED.input_range``): slim's
    ``(x - 0.5) * 2`` for [-1, 1], bit for bit (the offset added is 0 there)."""
    low, high = PRETRAINED.input_range
    return (image - 0.5) * (high - low) + (high + low) / 2


def load_for_eval(path: str, height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE) -> np.ndarray:
    """Read an image file and apply slim's eval preprocessing (numpy HxWx3 float32)."""
    import tensorflow as tf

    return preprocess_for_eval(decode_image(tf.io.read_file(path)), height, width).numpy()


def preprocess_input(x):
    """keras.applications-style: RGB values in [0, 255] (already sized) to [-1, 1].

    Equal to slim's ``(x / 255 - 0.5) * 2`` up to float rounding. Accepts numpy arrays
    or tensors of any backend.
    """
    import keras

    return to_model_range(keras.ops.cast(x, "float32") / 255.0)
