"""``inception-v2 explain``: for each image, Grad-CAM overlays of its top classes.

Each sheet shows the photo as given, with the central crop the network sees marked on it, then
for each of the top classes that crop (resized as evaluation resizes it) with the class's
Grad-CAM map laid over it: aligned by construction, since map and picture are the network's own
input. The colour bar says what the colours mean.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from inception_v2.data.labels import labels_for, short_name, top_k
from inception_v2.data.preprocessing import load_for_eval
from inception_v2.data.sources import image_files, split_decodable
from inception_v2.errors import DataError, InvalidArgument
from inception_v2.explain.grad_cam import grad_cam
from inception_v2.files import atomic_folder, check_output_folder, save_figure
from inception_v2.inference.model import classifier
from inception_v2.inference.quantized import is_quantized_model
from inception_v2.model.architecture import BASE_END_POINTS, PRETRAINED
from inception_v2.progress import Progress

COMMAND = "explain"


def central_crop_box(
    height: int, width: int, fraction: float = PRETRAINED.crop_fraction
) -> tuple[int, int, int, int]:
    """``(top, left, crop height, crop width)`` of TensorFlow's ``central_crop(fraction)``."""
    offset = int(1 / ((1 - fraction) / 2.0)) if fraction < 1 else None
    top = int(height / offset) if offset else 0
    left = int(width / offset) if offset else 0
    return top, left, height - 2 * top, width - 2 * left


def explain_images(
    weights: str | os.PathLike,
    paths: list[str | os.PathLike],
    out: str | os.PathLike,
    end_point: str = "Mixed_5c",
    top: int = 5,
    overwrite: bool = False,
    recursive: bool = False,
    show_progress: bool = False,
) -> tuple[list[Path], list[str]]:
    """Write one PNG sheet per image into ``out``: the photo with the crop marked, then Grad-CAM
    overlays of its ``top`` classes with their names and probabilities.

    Args:
        weights: ``"imagenet"`` or a path, as for ``InceptionV2`` (fine-tuned models too).
        paths: image files, and folders of them.
        out: the folder to create (written whole or not at all).
        end_point: one of slim's spatial end points (``BASE_END_POINTS``), whose activations
            the maps weigh.
        top: classes per image.
        overwrite: replace ``out`` if this command wrote it.
        recursive: look in the folders' sub-folders too.
        show_progress: a progress bar on stderr.

    Returns:
        The sheets written, in the order of the images (each named after its image's path
        below the folders given, so two ``photo.jpg`` in two folders get two sheets), and the
        files skipped because they cannot be decoded (``data.sources.split_decodable``).

    Raises:
        OutputExists, OutputError: ``out`` exists or cannot be written (checked first).
        MissingFile, DataError: paths that do not exist, hold no image, or none readable.
        InvalidArgument: an end point without a spatial map, or quantized weights.
    """
    if end_point not in BASE_END_POINTS:
        raise InvalidArgument(
            f"--end-point {end_point}: Grad-CAM needs a spatial map; choose from {', '.join(BASE_END_POINTS)}"
        )
    if is_quantized_model(weights):
        raise InvalidArgument(
            f"{weights}: a quantized OpenVINO model has no gradients for Grad-CAM; "
            "give the Keras weights it was quantized from"
        )
    check_output_folder(out, overwrite, COMMAND)
    files, skipped = split_decodable(image_files(paths, recursive))
    if not files:
        raise DataError(f"{skipped[0]}: none of the {len(skipped)} image file(s) can be decoded")
    names = sheet_names(files)
    model, classes = classifier(weights)
    _, class_names = labels_for(weights, classes)
    written = []
    progress = Progress(len(files)) if show_progress else None
    with atomic_folder(out, overwrite, COMMAND, weights=str(weights)) as staging:
        for path, name in zip(files, names, strict=True):
            image = load_for_eval(str(path))[np.newaxis]
            probabilities = np.asarray(model.predict(image, verbose=0))[0]
            best = top_k(probabilities[np.newaxis], min(top, classes))[0]
            # Every class's map in one call: the image repeated, one class per copy (one pair of
            # sub-models and one forward pass, not one per class).
            maps = list(grad_cam(model, np.repeat(image, len(best), axis=0), np.asarray(best), end_point))
            labels = [
                f"{rank}. {class_names[k]}  {100 * probabilities[k]:.1f} %" for rank, k in enumerate(best, 1)
            ]
            _sheet(Path(path), image[0], maps, labels, end_point, staging / name)
            written.append(Path(out) / name)
            if progress:
                progress.update(1)
        if progress:
            progress.close()  # before the folder is put in place, and its note printed
    return written, skipped


def sheet_names(files: list[Path]) -> list[str]:
    """One sheet name per image: its path below the folder all of them share, with folder
    separators as ``__`` and ``.png`` added (``ants/photo.jpg`` -> ``ants__photo.jpg.png``)."""
    resolved = [Path(os.path.abspath(f)) for f in files]
    common = Path(os.path.commonpath([p.parent for p in resolved]))
    return ["__".join(p.relative_to(common).parts) + ".png" for p in resolved]


def mistakes_sheet(
    weights: str | os.PathLike,
    mistakes: list[dict],
    class_names: list[str],
    png: str | os.PathLike,
    end_point: str = "Mixed_5c",
    overwrite: bool = False,
) -> Path:
    """One PNG of ``mistakes`` (``EvalResult.mistakes``: image files), each the network's view of
    the image under the Grad-CAM map of the class it wrongly chose, titled with what it chose (and
    how sure it was) and what the image is.

    Raises:
        DataError: a mistake whose id is not an image file (TFRecord elements: give raw files).
        OutputExists: ``png`` exists and not ``overwrite``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    missing = [m["id"] for m in mistakes if not Path(m["id"]).is_file()]
    if missing:
        raise DataError(
            f"{missing[0]}: not an image file; the mistakes sheet needs image files, not TFRecords"
        )
    model, _ = classifier(weights)
    columns = min(4, len(mistakes))
    rows = -(-len(mistakes) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.3 * columns + 0.8, 3.6 * rows), dpi=100, layout="constrained"
    )
    axes = np.atleast_1d(axes).ravel()
    shown = None
    for axis, mistake in zip(axes, mistakes, strict=False):
        image = load_for_eval(mistake["id"])[np.newaxis]
        heat = grad_cam(model, image, mistake["predicted_index"], end_point)[0]
        axis.imshow(np.clip((image[0] + 1) / 2, 0, 1))
        shown = axis.imshow(_upsample(heat, image.shape[1]), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        chose = class_names[mistake["predicted_index"]]
        truth = class_names[mistake["label_index"]]
        said = f"said {short_name(chose, 26)} ({100 * mistake['confidence']:.0f} %)"
        axis.set_title(f"{Path(mistake['id']).name}\n{said}\nis {short_name(truth, 26)}", fontsize=8)
    for axis in axes:
        axis.set_axis_off()
    bar = fig.colorbar(shown, ax=list(axes), shrink=0.6, pad=0.02)
    bar.set_label(f"Grad-CAM of the class chosen, at {end_point}: 0 none, 1 the map's maximum", fontsize=8)
    fig.suptitle(f"the {len(mistakes)} most confident mistakes", fontsize=11)
    return save_figure(fig, png, overwrite=overwrite)


def _upsample(heat: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of one map to ``size`` x ``size`` (cell centres aligned)."""
    import tensorflow as tf

    return tf.image.resize(heat[..., np.newaxis], (size, size), method="bilinear").numpy()[..., 0]


def _sheet(path: Path, network_input: np.ndarray, maps, labels, end_point: str, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tensorflow as tf

    from inception_v2.data.preprocessing import decode_image

    photo = decode_image(tf.io.read_file(str(path))).numpy()
    top, left, height, width = central_crop_box(*photo.shape[:2])
    seen = (network_input + 1.0) / 2.0  # the network's input, back to [0, 1] for display
    panels = 1 + len(maps)
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels + 0.6, 3.9), dpi=100, layout="constrained")
    axes[0].imshow(photo)
    axes[0].add_patch(plt.Rectangle((left, top), width, height, fill=False, edgecolor="yellow", linewidth=2))
    axes[0].set_title(f"{path.name}\n(yellow: the central crop the network sees)", fontsize=9)
    shown = None
    for axis, heat, label in zip(axes[1:], maps, labels, strict=True):
        axis.imshow(np.clip(seen, 0, 1))
        shown = axis.imshow(_upsample(heat, seen.shape[0]), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axis.set_title(label, fontsize=9)
    for axis in axes:
        axis.set_axis_off()
    bar = fig.colorbar(shown, ax=axes[1:], shrink=0.8, pad=0.02)
    bar.set_label(f"Grad-CAM at {end_point}: 0 none, 1 the map's maximum", fontsize=8)
    save_figure(fig, png)
