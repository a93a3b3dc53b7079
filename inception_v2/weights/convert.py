"""Converting a slim checkpoint into Keras weights, and verifying it against slim."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from inception_v2.errors import InvalidArgument, VerificationError
from inception_v2.files import check_writable
from inception_v2.model.architecture import DEFAULT_IMAGE_SIZE, END_POINTS
from inception_v2.model.network import end_point_model
from inception_v2.precision import float32_math
from inception_v2.weights.checkpoint import CheckpointConfig, LoadReport, checkpoint_prefix
from inception_v2.weights.download import cache_dir, fetch
from inception_v2.weights.factory import build_from_weights
from inception_v2.weights.keras_files import is_keras_weights, save_weights
from inception_v2.weights.loading import preset_folder

DEFAULT_TOLERANCE = 1e-4


@dataclass
class Conversion:
    """The result of ``convert_checkpoint``."""

    source: str
    destination: str
    config: CheckpointConfig
    load: LoadReport
    seconds: float
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    max_abs_reference: dict[str, float] = field(default_factory=dict)

    def beyond(self, tolerance: float) -> dict[str, float]:
        """End points whose max |diff| exceeds ``tolerance`` x max(1, max |slim|)."""
        return {
            k: v for k, v in self.max_abs_diff.items() if v > tolerance * max(1.0, self.max_abs_reference[k])
        }

    def to_dict(self) -> dict:
        """The result as JSON-ready data (``convert --json``)."""
        return asdict(self)

    def summary(self) -> str:
        lines = [
            f"{self.source} -> {self.destination} in {self.seconds:.1f} s",
            f"model: {json.dumps(asdict(self.config))}",
            self.load.summary(),
        ]
        if self.max_abs_diff:
            lines.append("max |Keras - slim| per end point:")
            lines += [
                f"  {k:<16} {v:.3g}   (max |slim| {self.max_abs_reference[k]:.3g})"
                for k, v in self.max_abs_diff.items()
            ]
        return "\n".join(lines)


def convert_checkpoint(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    overwrite: bool = False,
    use_ema: bool = False,
    verify: bool = False,
    verify_batch: int = 2,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Conversion:
    """Convert slim checkpoint ``source`` into Keras weights at ``destination``.

    Args:
        source: slim's single-file V1 checkpoint, a V2 prefix, a directory holding one
            checkpoint, a ``.tar.gz`` of one, or a converted ``.weights.h5``/``.keras``.
        destination: ``*.weights.h5`` or ``*.keras``.
        overwrite: replace an existing ``destination``.
        use_ema: take each variable's moving-average shadow.
        verify: restore tf_slim's own graph from ``source`` and run it beside the Keras
            model on a random batch of ``verify_batch`` images first.
        verify_batch, tolerance: how many images, and the largest |Keras - slim| allowed per
            end point (scaled by the end point's magnitude when that exceeds 1).

    Returns:
        What was converted, and the differences measured with ``verify``.

    Raises:
        InvalidArgument: a destination of another kind, a batch below 1.
        OutputExists: ``destination`` exists and not ``overwrite``.
        CheckpointError, MissingFile: a source that cannot be read or does not fit.
        VerificationError: beyond the tolerance; nothing is written.
    """
    destination = Path(destination)
    if not is_keras_weights(destination):
        raise InvalidArgument(f"{destination}: destination must end in .weights.h5 or .keras")
    check_writable(destination, overwrite)
    model, result = converted_model(source, destination, use_ema, verify, verify_batch, tolerance)
    saving = time.perf_counter()
    save_weights(model, destination, asdict(result.config), overwrite=overwrite)
    result.seconds += time.perf_counter() - saving  # conversion time, verification excluded
    return result


def converted_model(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    use_ema: bool = False,
    verify: bool = False,
    verify_batch: int = 2,
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[keras.Model, Conversion]:
    """``source`` built and loaded (and with ``verify`` compared with slim's graph), not yet
    written: what ``convert_checkpoint`` and ``hub.write_preset`` share.

    Returns:
        The model, and the ``Conversion`` so far (``destination`` is only recorded).

    Raises:
        InvalidArgument, CheckpointError, MissingFile, VerificationError: as
            ``convert_checkpoint``.
    """
    if verify_batch < 1:
        raise InvalidArgument(f"verify_batch must be at least 1, got {verify_batch}")
    slim_source = slim_checkpoint_of(source) if verify else None  # refused before any work
    start = time.perf_counter()
    model, config, report = build_from_weights(source, use_ema=use_ema)
    result = Conversion(str(source), str(destination), config, report, time.perf_counter() - start)
    if verify:
        result.max_abs_diff, result.max_abs_reference = compare_with_slim(
            model, slim_source, config, use_ema, verify_batch
        )
        worst = result.beyond(tolerance)
        if worst:
            raise VerificationError(result, worst, tolerance)
    return model, result


def slim_checkpoint_of(source: str | os.PathLike) -> str | os.PathLike:
    """The slim checkpoint tf_slim's graph restores to verify a conversion of ``source``:
    ``source`` itself, or for ``"imagenet"`` the official tarball (downloaded and checked).

    Raises:
        InvalidArgument: a Keras file or KerasHub preset, which slim's Saver cannot restore.
        DownloadError: ``"imagenet"`` offline, before the tarball was placed by hand.
    """
    if str(source) == "imagenet":
        from inception_v2.weights import download

        return fetch(download.IMAGENET_CHECKPOINT, cache_dir())
    if is_keras_weights(source) or preset_folder(source) is not None:
        raise InvalidArgument(
            f"--verify: {source} is a Keras file, which tf_slim's graph cannot restore; "
            "verify the slim checkpoint it was converted from"
        )
    return source


def compare_with_slim(
    model: keras.Model,
    source: str | os.PathLike,
    config: CheckpointConfig,
    use_ema: bool = False,
    batch: int = 2,
    image_size: int = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, float]]:
    """Max |Keras - slim| and max |slim| per end point on a random batch.

    slim's graph is restored from ``source`` itself by slim's own Saver.
    """
    from inception_v2.weights.slim_reference import slim_end_points, smooth_random_images

    images = smooth_random_images(batch, image_size, image_size, np.random.default_rng(seed))
    with checkpoint_prefix(source) as prefix:
        reference = slim_end_points(
            prefix,
            images,
            num_classes=config.classes,
            depth_multiplier=config.depth_multiplier,
            min_depth=config.min_depth,
            use_ema=use_ema,
        )
    names = [e for e in END_POINTS if e in reference]
    with float32_math("float32"):  # slim's arithmetic, not a GPU's default TF32
        outputs = end_point_model(model, names).predict(images, verbose=0)
    diffs = {k: float(np.abs(outputs[k] - reference[k]).max()) for k in names}
    scales = {k: float(np.abs(reference[k]).max()) for k in names}
    return diffs, scales
