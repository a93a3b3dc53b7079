"""KerasHub's front door to the same network and the same weights.

KerasHub (``keras-hub``) is where Keras users find pretrained models: a ``Backbone`` (the
network), a task (``ImageClassifier``: backbone, head, preprocessor), an image converter
(the preprocessing a checkpoint expects) and *presets*, folders that ``from_preset`` loads
from a path, ``hf://`` or ``kaggle://``. The four classes here follow its conventions and are
registered with Keras, so once this module is imported (``import inception_v2`` does it when
keras-hub is installed) KerasHub's own ``from_preset`` finds them:

- ``InceptionV2Backbone``: slim's network up to ``Mixed_5c`` (``network.inception_v2_base``,
  the same layer names, so slim's checkpoints and converted files load into it), with the
  feature pyramid ``P1``-``P5`` (strides 2 to 32).
- ``InceptionV2ImageConverter``: slim's ``preprocess_for_eval`` on raw images (values 0-255,
  any size): central crop, TF1 bilinear resize, ``[-1, 1]``.
- ``InceptionV2ImageClassifierPreprocessor`` and ``InceptionV2ImageClassifier`` (slim's
  ``Logits`` head: average pool, dropout, biased 1x1 convolution).

Presets: ``write_preset`` writes one from any slim checkpoint or converted file
(``inception-v2 convert SRC DST --preset``); ``"inception_v2_imagenet"`` names slim's official
weights, fetched, checked and converted once into the cache as ``weights="imagenet"`` is.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np

from inception_v2.data.preprocessing import preprocess_for_eval
from inception_v2.errors import CheckpointError, InvalidArgument, MissingExtra
from inception_v2.files import atomic_folder, check_output_folder
from inception_v2.hub.model_card import model_card
from inception_v2.model.architecture import DEFAULT_IMAGE_SIZE, DEPTH_MULTIPLIER, MIN_DEPTH, PRETRAINED
from inception_v2.model.network import (
    end_point_layer_name,
    image_shape,
    inception_v2_base,
    logits_head,
    spatial_size,
)
from inception_v2.weights.checkpoint import assign_checkpoint, model_variable_map
from inception_v2.weights.convert import DEFAULT_TOLERANCE, Conversion, converted_model
from inception_v2.weights.download import cache_dir
from inception_v2.weights.loading import PRESET_WEIGHT_FILES, register_preset_reader

# KerasHub's public names where it has them. Three private ones, for which it has no public
# equivalent (setup.cfg pins keras-hub below the next minor release; each is exercised by a test):
# preset_utils.register_presets (a built-in preset name: test_download.py's preset tests),
# preset_utils.get_file (wrapped to fetch "inception_v2_imagenet" first: test_download.py's
# offline test), tensor_utils' convert_preprocessing_outputs / in_tf_function (the converter as
# KerasHub's own converters return: test_hub.py's converter and preset tests).
try:
    from keras_hub.layers import ImageConverter
    from keras_hub.models import FeaturePyramidBackbone, ImageClassifier, ImageClassifierPreprocessor, Task
    from keras_hub.src.utils import preset_utils
    from keras_hub.src.utils.preset_utils import register_presets
except ImportError as error:
    raise MissingExtra.named("hub", "KerasHub's classes and presets need keras-hub") from error

#: The backbone's feature pyramid: level ``Pn`` is slim's end point at stride ``2**n``.
PYRAMID_END_POINTS = {
    "P1": "Conv2d_1a_7x7",
    "P2": "Conv2d_2c_3x3",
    "P3": "Mixed_3c",
    "P4": "Mixed_4e",
    "P5": "Mixed_5c",
}
#: What Keras registers the classes under (``package>Class`` in a preset's config.json).
PACKAGE = "inception_v2"
#: The preset name of slim's official weights (``weights="imagenet"``).
IMAGENET_PRESET = "inception_v2_imagenet"
#: The command whose output folders a preset replaces with ``overwrite`` (``files.OWNER_MARK``).
COMMAND = "convert"


@contextlib.contextmanager
def _image_data_format(data_format: str) -> Iterator[None]:
    """Keras' global image data format for the duration (the builder reads it per layer)."""
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format(data_format)
    try:
        yield
    finally:
        keras.config.set_image_data_format(previous)


def _layer_dtype(dtype) -> str:
    """The policy name the builder passes to its layers (a quantization map's default)."""
    policy = keras.config.dtype_policy() if dtype is None else keras.dtype_policies.get(dtype)
    if isinstance(policy, keras.dtype_policies.DTypePolicyMap):
        policy = policy.default_policy
    return policy.name


class _Presets:
    """``from_preset`` that also takes ``"inception_v2_imagenet"`` (slim's official weights,
    made into a preset in the cache on first use) and refuses a local folder that is not an
    Inception V2 preset, or a head of no classes, in one line."""

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """KerasHub's ``from_preset``, for Inception V2's presets (see the class above)."""
        return _checked_from_preset(cls, super().from_preset, preset, kwargs)


def _checked_from_preset(cls, from_preset, preset, kwargs: dict):
    """``from_preset(preset, **kwargs)`` of KerasHub, after ``_Presets``' checks."""
    if "num_classes" in kwargs and (not isinstance(kwargs["num_classes"], int) or kwargs["num_classes"] < 1):
        raise InvalidArgument(f"num_classes must be an integer >= 1, got {kwargs['num_classes']!r}")
    if str(preset) == IMAGENET_PRESET:
        preset = str(imagenet_preset())
    check_preset(preset)
    if issubclass(cls, Task) and "num_classes" not in kwargs:
        check_head(preset)
    try:
        return from_preset(str(preset), **kwargs)
    except OSError as e:  # h5py: a truncated or corrupt weights file
        if "://" in str(preset) or not Path(preset).is_dir():
            raise
        raise _unreadable_weights(Path(preset), e) from None


@keras.saving.register_keras_serializable(package=PACKAGE)
class InceptionV2Backbone(_Presets, FeaturePyramidBackbone):
    """slim's Inception V2 from images in ``[-1, 1]`` to ``Mixed_5c``, as a KerasHub backbone.

    The layers are ``network.inception_v2_base``'s, named by slim's scopes, so a slim
    checkpoint or a converted ``.weights.h5`` loads into it (``weights.load_weights``) and
    ``pyramid_outputs`` are slim's end points: ``P1`` ``Conv2d_1a_7x7`` (stride 2), ``P2``
    ``Conv2d_2c_3x3`` (4), ``P3`` ``Mixed_3c`` (8), ``P4`` ``Mixed_4e`` (16), ``P5``
    ``Mixed_5c`` (32).

    Args:
        depth_multiplier, min_depth, use_separable_conv: slim's own arguments (slim's defaults:
            the released network).
        image_shape: the input's shape, ``(H, W, 3)`` or under ``channels_first`` ``(3, H, W)``;
            ``None`` sizes take any image.
        data_format: ``"channels_last"`` or ``"channels_first"``; default: Keras' setting.
        dtype: the dtype policy (under a 16-bit policy the stem stays float32, as in
            ``InceptionV2``).
        **kwargs: ``keras.Model``'s (``name``, ``trainable``).

    Raises:
        InvalidArgument: an argument out of range.
    """

    def __init__(
        self,
        depth_multiplier: float = DEPTH_MULTIPLIER,
        min_depth: int = MIN_DEPTH,
        use_separable_conv: bool = True,
        image_shape: tuple[int | None, int | None, int] = (None, None, 3),
        data_format: str | None = None,
        dtype=None,
        **kwargs,
    ):
        data_format = data_format or keras.config.image_data_format()
        with _image_data_format(data_format):
            inputs = keras.layers.Input(shape=tuple(image_shape), name="images")
            x = inception_v2_base(
                inputs, depth_multiplier, min_depth, use_separable_conv, dtype=_layer_dtype(dtype)
            )
            graph = keras.Model(inputs, x)  # only to look the end points up by name
            pyramid = {
                level: graph.get_layer(end_point_layer_name(end_point, graph)).output
                for level, end_point in PYRAMID_END_POINTS.items()
            }
        super().__init__(inputs=inputs, outputs=x, dtype=dtype, **kwargs)
        self.pyramid_outputs = pyramid
        self.depth_multiplier = depth_multiplier
        self.min_depth = min_depth
        self.use_separable_conv = use_separable_conv
        self.image_shape = tuple(image_shape)
        self.data_format = data_format

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            depth_multiplier=self.depth_multiplier,
            min_depth=self.min_depth,
            use_separable_conv=self.use_separable_conv,
            image_shape=self.image_shape,
            data_format=self.data_format,
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class InceptionV2ImageConverter(_Presets, ImageConverter):
    """slim's ``preprocess_for_eval`` as a KerasHub image converter.

    Raw RGB images, values 0-255 (uint8 or any number type), one ``(H, W, 3)`` image, a
    batch, or a list of images of different sizes: scaled to [0, 1] as TensorFlow's
    ``convert_image_dtype`` scales uint8, central crop (``crop_fraction``), bilinear resize with
    TF1 semantics to ``image_size``, then ``[-1, 1]``: the numbers ``inception-v2 eval`` feeds
    the network. Runs in TensorFlow (inside ``tf.data`` or eagerly), whatever the Keras backend,
    as KerasHub's preprocessing does.

    Args:
        image_size: ``(height, width)`` of the output (slim: 224 x 224).
        crop_fraction: the central share kept before resizing (slim: 0.875); ``None`` keeps all.
        **kwargs: ``keras.Layer``'s.
    """

    backbone_cls = InceptionV2Backbone

    def __init__(
        self,
        image_size: tuple[int, int] = (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE),
        crop_fraction: float | None = PRETRAINED.crop_fraction,
        **kwargs,
    ):
        kwargs.pop("scale", None), kwargs.pop("offset", None)  # fixed: slim's [-1, 1]
        kwargs.pop("crop_to_aspect_ratio", None)
        super().__init__(image_size=tuple(image_size), crop_to_aspect_ratio=False, **kwargs)
        if crop_fraction is not None and not 0.0 < crop_fraction <= 1.0:
            raise InvalidArgument(f"crop_fraction must be in (0, 1], got {crop_fraction}")
        self.crop_fraction = crop_fraction

    def call(self, inputs):
        import tensorflow as tf
        from keras_hub.src.utils.tensor_utils import convert_preprocessing_outputs, in_tf_function

        height, width = self.image_size
        if isinstance(inputs, (list, tuple)):
            inputs = tf.ragged.constant([keras.ops.convert_to_numpy(x) for x in inputs], ragged_rank=2)
        elif not isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
            inputs = tf.convert_to_tensor(keras.ops.convert_to_numpy(inputs))

        def one(image):
            scaled = tf.cast(image, tf.float32) * (1.0 / 255.0)  # convert_image_dtype's uint8 scale
            return preprocess_for_eval(scaled, height, width, self.crop_fraction)

        with tf.device("cpu"):
            if isinstance(inputs, tf.RaggedTensor):
                spec = tf.TensorSpec((height, width, 3), tf.float32)
                outputs = tf.map_fn(lambda image: one(image.to_tensor()), inputs, fn_output_signature=spec)
            else:
                outputs = one(inputs)  # one image or a batch: the same ops, per pixel
        return outputs if in_tf_function() else convert_preprocessing_outputs(outputs)

    def get_config(self) -> dict:
        config = super().get_config()
        for fixed in ("scale", "offset", "crop_to_aspect_ratio", "pad_to_aspect_ratio"):
            config.pop(fixed, None)
        config["crop_fraction"] = self.crop_fraction
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class InceptionV2ImageClassifierPreprocessor(_Presets, ImageClassifierPreprocessor):
    """Raw images (and labels) in, what ``InceptionV2ImageClassifier`` takes out."""

    backbone_cls = InceptionV2Backbone
    image_converter_cls = InceptionV2ImageConverter


@keras.saving.register_keras_serializable(package=PACKAGE)
class InceptionV2ImageClassifier(ImageClassifier):
    """slim's Inception V2 classifier as a KerasHub task: backbone, slim's head, preprocessor.

    The head is slim's ``Logits`` scope, its layers named as ``InceptionV2``'s: on a backbone
    of static size, slim's average pool (7x7 VALID at 224x224, the whole ``Mixed_5c``); on one
    of any size, the global average (slim's ``global_pool``); dropout; a biased 1x1
    convolution; the squeeze to ``(batch, num_classes)``.

    Args:
        backbone: an ``InceptionV2Backbone``.
        num_classes: outputs; 1001 is slim's ImageNet head (class 0 = background). No default:
            KerasHub builds a task without it only from a preset that lost its head
            (``task.json``), and a head made up there would predict noise without a word.
        preprocessor: an ``InceptionV2ImageClassifierPreprocessor``, or None for inputs
            already in ``[-1, 1]``.
        activation: of the outputs: None (logits, KerasHub's default) or ``"softmax"``.
        dropout: the rate before the logits (slim: 1 - 0.8).
        head_dtype: the head's dtype policy (default: float32, or the backbone's when wider).
        **kwargs: ``Task``'s (``name``, ``compile``).

    Raises:
        InvalidArgument: ``num_classes`` not given, or below 1.
    """

    backbone_cls = InceptionV2Backbone
    preprocessor_cls = InceptionV2ImageClassifierPreprocessor

    # Not through the _Presets mixin: KerasHub names a preset's tasks by their class's first
    # base (metadata.json's "tasks"), which must read ImageClassifier.
    @classmethod
    def from_preset(cls, preset, **kwargs):
        """KerasHub's ``from_preset``, with ``_Presets``' checks."""
        return _checked_from_preset(cls, super().from_preset, preset, kwargs)

    def __init__(
        self,
        backbone: InceptionV2Backbone,
        num_classes: int | None = None,
        preprocessor: InceptionV2ImageClassifierPreprocessor | None = None,
        activation: str | None = None,
        dropout: float = 0.2,
        head_dtype=None,
        **kwargs,
    ):
        if num_classes is None:
            raise InvalidArgument(
                "InceptionV2ImageClassifier: no num_classes, and no task.json to read it from (a preset "
                "without its head?); pass num_classes=N for a new head (1001: slim's ImageNet classes)"
            )
        if not isinstance(num_classes, int) or num_classes < 1:
            raise InvalidArgument(f"num_classes must be an integer >= 1, got {num_classes!r}")
        if not 0.0 <= dropout < 1.0:
            raise InvalidArgument(f"dropout must be in [0, 1), got {dropout}")
        self.backbone = backbone
        self.preprocessor = preprocessor
        inputs = backbone.input
        x = backbone(inputs)
        dtype = _layer_dtype(head_dtype if head_dtype is not None else backbone.dtype_policy)
        with _image_data_format(backbone.data_format):
            static = None not in spatial_size(x)
            x = logits_head(x, num_classes, 1.0 - dropout, not static, True, dtype)
            if activation is not None:
                x = keras.layers.Activation(activation, dtype=x.dtype, name="Predictions")(x)
        Task.__init__(self, inputs=inputs, outputs=x, **kwargs)  # ImageClassifier's own head skipped
        self.num_classes = num_classes
        self.activation = activation
        self.dropout = dropout
        self.head_dtype = head_dtype
        self.pooling = "avg"

    def get_config(self) -> dict:
        config = Task.get_config(self)
        config.update(
            num_classes=self.num_classes,
            activation=self.activation,
            dropout=self.dropout,
            head_dtype=keras.dtype_policies.serialize(self.head_dtype) if self.head_dtype else None,
        )
        return config


def imagenet_input_shape() -> tuple:
    """The backbone's input shape for slim's ImageNet weights: 224 x 224 in Keras' layout."""
    return image_shape(DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)


def write_preset(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    overwrite: bool = False,
    use_ema: bool = False,
    verify: bool = False,
    verify_batch: int = 2,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Conversion:
    """Write a KerasHub preset folder of the network in ``source``.

    A source with a ``Logits`` layer gives an ``InceptionV2ImageClassifier`` preset (its
    backbone, head and preprocessor: ``ImageClassifier.from_preset`` and
    ``Backbone.from_preset`` both load it); a feature extractor's, a backbone preset.

    Args:
        source: ``"imagenet"``, a slim checkpoint (file, prefix, folder, ``.tar.gz``) or a
            converted or fine-tuned ``.weights.h5``/``.keras``.
        destination: the preset folder to create.
        overwrite: replace ``destination`` if this command wrote it.
        use_ema, verify, verify_batch, tolerance: as for ``convert.convert_checkpoint``.

    Returns:
        What was converted (``destination`` the folder).

    Raises:
        OutputExists, OutputError: ``destination`` exists (and is not this command's, or not
            ``overwrite``), or cannot be written; checked before anything is read.
        CheckpointError, MissingFile, VerificationError: as ``convert.convert_checkpoint``.
    """
    check_output_folder(destination, overwrite, COMMAND)
    model, result = converted_model(source, destination, use_ema, verify, verify_batch, tolerance)
    variables = {name: keras.ops.convert_to_numpy(v) for name, v in model_variable_map(model).items()}
    config = result.config
    backbone = InceptionV2Backbone(
        depth_multiplier=config.depth_multiplier,
        min_depth=config.min_depth,
        use_separable_conv=config.use_separable_conv,
        image_shape=imagenet_input_shape(),
    )
    target: keras.Model = backbone
    if config.classes is not None:
        preprocessor = InceptionV2ImageClassifierPreprocessor(InceptionV2ImageConverter())
        target = InceptionV2ImageClassifier(backbone, config.classes, preprocessor)
    assign_checkpoint(target, variables, source=str(source))
    with atomic_folder(destination, overwrite, COMMAND, weights=str(source)) as staging:
        target.save_to_preset(str(staging))
        kind = "classifier" if config.classes is not None else "backbone"
        (staging / "README.md").write_text(model_card(source, result, kind))
    return result


def check_preset_output(destination: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse, before any work, a preset folder ``write_preset`` could not create.

    Raises:
        OutputExists, OutputError: ``destination`` exists (and is not a preset this package
            wrote, or not ``overwrite``) or cannot be written.
    """
    check_output_folder(destination, overwrite, COMMAND)


def imagenet_preset() -> Path:
    """The preset of slim's official weights, written once into the cache (after the
    download, SHA-384 check and conversion that ``weights="imagenet"`` does).

    Raises:
        DownloadError: offline, before the checkpoint was placed by hand.
    """
    folder = cache_dir() / IMAGENET_PRESET
    if not (folder / "config.json").exists():
        write_preset("imagenet", folder, overwrite=True)
    _register_imagenet_preset(folder)  # the cache may have moved since import
    return folder


def check_preset(preset: str | os.PathLike) -> None:
    """Refuse, in one line, a local preset folder that KerasHub cannot load as Inception V2.

    Raises:
        InvalidArgument: no ``config.json``, unreadable JSON, or another model's preset.
    """
    folder = Path(preset)
    if "://" in str(preset) or not folder.is_dir():
        return  # a hub handle or a name: KerasHub resolves and checks it
    config = folder / "config.json"
    if not config.is_file():
        raise InvalidArgument(f"{folder}: not a KerasHub preset (no config.json)")
    try:
        name = json.loads(config.read_text()).get("registered_name")
    except (OSError, ValueError, AttributeError) as e:  # ValueError: JSON and UTF-8 decoding
        raise InvalidArgument(f"{config}: not a KerasHub config ({e})") from None
    if name != keras.saving.get_registered_name(InceptionV2Backbone):
        raise InvalidArgument(f"{folder}: a preset of {name or 'an unknown model'}, not of Inception V2")


def read_preset_variables(folder: Path) -> dict[str, np.ndarray]:
    """``{slim name: array}`` of a local Inception V2 preset: the classifier where the preset
    has its head (``task.json``), else the backbone (``weights.read_weights`` calls this).

    Raises:
        InvalidArgument: not an Inception V2 preset, or a head without its weights.
        CheckpointError: a weight file of the preset that cannot be read (named).
    """
    check_head(folder)
    task = (folder / "task.json").exists()
    model = (InceptionV2ImageClassifier if task else InceptionV2Backbone).from_preset(str(folder))
    return {name: np.asarray(keras.ops.convert_to_numpy(v)) for name, v in model_variable_map(model).items()}


def _unreadable_weights(folder: Path, error: Exception) -> CheckpointError:
    """The error that names the weight file of ``folder`` that h5py cannot open."""
    import h5py

    for name in PRESET_WEIGHT_FILES:
        try:
            if (folder / name).exists():
                h5py.File(folder / name, "r").close()
        except OSError as e:
            return CheckpointError(f"{folder / name}: not a readable weights file ({e})")
    return CheckpointError(f"{folder}: its weights cannot be read ({error})")


def check_head(preset: str | os.PathLike) -> None:
    """Refuse a local preset folder whose classifier head is missing (``task.json`` or
    ``task.weights.h5``): loaded as it is, KerasHub would make a new random head.

    Raises:
        InvalidArgument: naming the folder and the missing file.
    """
    folder = Path(preset)
    if "://" in str(preset) or not folder.is_dir():
        return  # a hub handle or a name: KerasHub resolves it
    head = ("task.json", "task.weights.h5")
    missing = [name for name in head if not (folder / name).is_file()]
    if len(missing) == len(head):
        return  # a backbone preset: from_preset without num_classes fails in the classifier itself
    if missing:
        raise InvalidArgument(
            f"{folder}: no {missing[0]}, so its classifier head is missing; "
            "pass num_classes=N for a new head, or restore the file"
        )


def _register_imagenet_preset(folder: Path) -> None:
    """Name ``folder`` ``"inception_v2_imagenet"`` for KerasHub's own ``from_preset``: it reads
    a built-in preset from its handle, here the cache folder ``imagenet_preset`` fills."""
    metadata = {
        "description": (
            "slim's Inception V2 trained on ImageNet (1001 classes, 0 = background): "
            f"{100 * PRETRAINED.top1:.1f} % top-1 published by slim"
        ),
        "params": 11_199_137,
        "path": PACKAGE,
    }
    register_presets(
        {IMAGENET_PRESET: {"metadata": metadata, "kaggle_handle": str(folder)}}, InceptionV2Backbone
    )


def _fetching_imagenet_preset(get_file):
    """KerasHub's ``preset_utils.get_file`` (private, pinned by ``tests/test_download.py``),
    made to fill the cache before it reads ``"inception_v2_imagenet"``: KerasHub's own base
    classes (``keras_hub.models.ImageClassifier.from_preset``) then download, check and convert
    slim's checkpoint as ``weights="imagenet"`` does, or say offline in one line where to put
    the file, with its size and SHA-384, instead of "Unknown preset identifier"."""
    if getattr(get_file, "fetches_imagenet_preset", False):
        return get_file

    def fetching(preset, path):
        if preset == IMAGENET_PRESET:
            imagenet_preset()
        return get_file(preset, path)

    fetching.fetches_imagenet_preset = True
    return fetching


preset_utils.get_file = _fetching_imagenet_preset(preset_utils.get_file)
register_preset_reader(read_preset_variables)
_register_imagenet_preset(cache_dir() / IMAGENET_PRESET)
