"""ImageNet label spaces: slim's 1001 classes (0 = background) and human-readable names."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from inception_v2.errors import DataError, InvalidArgument, MissingFile
from inception_v2.model.architecture import NUM_CLASSES

NUM_VALIDATION_IMAGES = 50_000
BACKGROUND = "background"
#: The ImageNet heads: slim's (background at 0) and the 1,000 classes without it.
IMAGENET_HEADS = (NUM_CLASSES, NUM_CLASSES - 1)


def data_path(name: str) -> Path:
    """A file or folder bundled in ``inception_v2/data/assets``."""
    return Path(str(resources.files("inception_v2.data") / "assets" / name))


@functools.cache
def synsets() -> tuple[str, ...]:
    """The 1,000 ILSVRC synsets, sorted: slim's label k (1..1000) is ``synsets()[k - 1]``."""
    lines = data_path("imagenet_lsvrc_2015_synsets.txt").read_text().split()
    if len(lines) != NUM_CLASSES - 1:
        raise ValueError(f"bundled synset list has {len(lines)} entries, expected {NUM_CLASSES - 1}")
    return tuple(lines)


@functools.cache
def synset_to_label() -> dict[str, int]:
    """``{synset: slim label}`` with labels 1..1000."""
    return {s: i + 1 for i, s in enumerate(synsets())}


@functools.cache
def synset_names() -> dict[str, str]:
    """``{synset: human-readable name}``, as slim's ``imagenet_metadata.txt`` gives them."""
    names = {}
    for line in data_path("synset_words.txt").read_text().splitlines():
        synset, _, name = line.partition(" ")
        names[synset] = name.strip()
    return names


def class_names(num_classes: int = NUM_CLASSES) -> list[str]:
    """Names by class index for a 1001-class (with background) or 1000-class model."""
    names = [synset_names()[s] for s in synsets()]
    return [BACKGROUND, *names] if _with_background(num_classes) else names


def class_ids(num_classes: int = NUM_CLASSES) -> list[str]:
    """Synsets by class index (``"background"`` at 0 for 1001 classes); two classes can
    share a name ("crane": n02012849 the bird, n03126707 the machine), never a synset."""
    return [BACKGROUND, *synsets()] if _with_background(num_classes) else list(synsets())


def _with_background(num_classes: int) -> bool:
    if num_classes not in IMAGENET_HEADS:
        raise InvalidArgument(f"ImageNet names exist for 1001 or 1000 classes, not {num_classes}")
    return num_classes == NUM_CLASSES


def labels_for(weights: str | Path, num_classes: int) -> tuple[list[str], list[str]]:
    """``(ids, names)`` by class index for a model of ``num_classes`` loaded from ``weights``.

    ImageNet's synsets and names for 1001 or 1000 classes; for a fine-tuned model, the class
    names ``finetune`` saved inside the model file, or else in ``classes.json`` beside it
    (ids = names); else ``class i``.
    """
    if num_classes in IMAGENET_HEADS:
        return class_ids(num_classes), class_names(num_classes)
    from inception_v2.weights.keras_files import read_class_names  # h5py and Keras: only for these

    inside = read_class_names(weights)
    if inside is not None and len(inside) == num_classes:
        return inside, inside
    beside = Path(weights).parent / "classes.json"
    if beside.is_file():
        import json

        names = json.loads(beside.read_text())
        if isinstance(names, list) and len(names) == num_classes:
            return list(map(str, names)), list(map(str, names))
    names = [f"class {i}" for i in range(num_classes)]
    return names, names


def read_ground_truth(path: str | Path) -> list[str]:
    """The 50,000-line validation ground truth (synset per image, in file-number order)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"{path}: no such ground-truth file")
    lines = path.read_text().split()
    if len(lines) != NUM_VALIDATION_IMAGES:
        raise DataError(
            f"{path}: {len(lines):,} lines, expected {NUM_VALIDATION_IMAGES:,} "
            "(one synset per ILSVRC2012 validation image)"
        )
    known = synset_to_label()
    unknown = sorted({s for s in lines if s not in known})
    if unknown:
        raise DataError(f"{path}: {len(unknown)} unknown synsets, e.g. {unknown[:3]}")
    return lines


#: The 200-class subsets of ImageNet evaluated by their own classes' logits only.
IMAGENET_SUBSETS = ("imagenet-a", "imagenet-r")


def imagenet_subset(name: str) -> tuple[list[int], list[str]]:
    """The 200 classes of ImageNet-A or -R (``IMAGENET_SUBSETS``): their 0-based indices into the
    1,000 ILSVRC classes and their synsets, in the same order (as timm and the data sets' authors
    score them: the argmax over these classes' logits only).

    Raises:
        InvalidArgument: an unknown subset name.
        DataError: the bundled lists disagree with each other or with ImageNet's synsets.
    """
    if name not in IMAGENET_SUBSETS:
        raise InvalidArgument(f"--dataset must be one of {', '.join(IMAGENET_SUBSETS)}, got {name!r}")
    stem = name.replace("-", "_")
    indices = [int(i) for i in data_path(f"{stem}_indices.txt").read_text().split()]
    subset = data_path(f"{stem}_synsets.txt").read_text().split()
    imagenet = synsets()
    if len(indices) != 200 or [imagenet[i] for i in indices] != subset:
        raise DataError(f"{name}: the bundled index and synset lists do not agree with ImageNet's classes")
    return indices, subset


def read_real_labels(path: str | Path | None = None) -> list[list[int]]:
    """The ReaL labels (Beyer et al. 2020): per ILSVRC2012 validation image, in file order, the
    0-based 1000-class indices that count as correct (empty: the image is left out).

    Args:
        path: a JSON file of 50,000 lists; None: the copy bundled with the package.

    Returns:
        The lists.

    Raises:
        MissingFile: ``path`` does not exist.
        DataError: not JSON, not 50,000 lists, or an entry that is not a class index 0..999.
    """
    import json

    path = Path(path) if path is not None else data_path("imagenet_real_labels.json")
    if not path.is_file():
        raise MissingFile(f"{path}: no such ReaL labels file")
    try:
        lists = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a JSON file of ReaL labels ({e})") from None
    if not isinstance(lists, list) or len(lists) != NUM_VALIDATION_IMAGES:
        count = f"{len(lists):,} entries" if isinstance(lists, list) else f"a JSON {type(lists).__name__}"
        raise DataError(
            f"{path}: {count}, expected a list of {NUM_VALIDATION_IMAGES:,} lists (one per image)"
        )
    for number, labels in enumerate(lists, 1):
        if not isinstance(labels, list) or not all(
            isinstance(k, int) and 0 <= k < NUM_CLASSES - 1 for k in labels
        ):
            raise DataError(f"{path}: entry {number} is {labels!r}, not a list of class indices 0..999")
    return lists


def short_name(name: str, width: int = 28) -> str:
    """A class name for a plot: ImageNet's first synonym ("tench, Tinca tinca" -> "tench"),
    cut to ``width`` characters with an ellipsis."""
    name = name.split(",")[0]
    return name if len(name) <= width else name[: width - 1] + "…"


def top_k(scores, k: int):
    """Indices of the ``k`` highest scores along the last axis, best first; ties keep index
    order (a stable sort), so the same scores always give the same classes."""
    import numpy as np

    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")[..., :k]


def decode_predictions(preds, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """keras.applications-style: ``[(synset, name, score), ...]`` per image, best first.

    ``preds`` has 1001 columns (slim: 0 = background) or 1000.
    """
    import numpy as np

    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] not in IMAGENET_HEADS:
        raise InvalidArgument(f"decode_predictions expects (N, 1001) or (N, 1000), got {preds.shape}")
    ids = class_ids(preds.shape[1])
    names = class_names(preds.shape[1])
    results = []
    for row in preds:
        best = top_k(row, top)
        results.append([(ids[i], names[i], float(row[i])) for i in best])
    return results


def softmax(logits):
    """Row-wise softmax in float64 (stable: the largest logit is subtracted first): the one
    place logits become probabilities (evaluation's metrics, predict's int8 path)."""
    import numpy as np

    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
