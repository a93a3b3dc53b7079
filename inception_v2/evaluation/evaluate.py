"""ImageNet evaluation as slim's ``eval_image_classifier.py`` computes it.

top-1: ``argmax`` over all logits equals the label; top-5: ``tf.nn.in_top_k`` semantics
(the label is in the top 5 when fewer than 5 classes score strictly higher, so ties at
the boundary count, as in slim's ``streaming_recall_at_k``). Labels are slim's
(1..1000, 0 = background); ``labels_offset`` 1 evaluates a 1000-class model.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from inception_v2.data.calibration import CalibrationSet
from inception_v2.data.labels import IMAGENET_HEADS, short_name, softmax, top_k
from inception_v2.data.labels import class_ids as imagenet_class_ids
from inception_v2.data.labels import class_names as imagenet_class_names
from inception_v2.data.preprocessing import PREPROCESSING
from inception_v2.data.sources import VAL_NAME, DataError, EvalData
from inception_v2.errors import InvalidArgument
from inception_v2.evaluation.reliability import Reliability
from inception_v2.files import atomic_path, save_figure
from inception_v2.inference.function import inference_function
from inception_v2.inference.model import classifier
from inception_v2.inference.quantized import is_quantized_model, load_quantized
from inception_v2.inference.runner import ENCODED, Runner
from inception_v2.inference.served import is_served, load_served
from inception_v2.interrupts import raise_if_interrupted
from inception_v2.model.architecture import NUM_CLASSES, PRETRAINED
from inception_v2.model.network import model_data_format
from inception_v2.progress import Progress


def top1_correct(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """slim's accuracy: ``argmax(logits) == label`` (first index on ties)."""
    return np.argmax(logits, axis=-1) == labels


def in_top_k(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """``tf.nn.in_top_k``: fewer than ``k`` classes score strictly above the label's."""
    target = np.take_along_axis(logits, labels[:, None], axis=-1)
    above = (logits > target).sum(axis=-1)
    return (above < k) & np.isfinite(target[:, 0])


@dataclass
class EvalResult:
    """Counts, accuracies and what was evaluated; ``to_json`` is the report."""

    count: int = 0
    top1: float = 0.0
    top5: float | None = 0.0  # None for a model of 5 classes or fewer (always 100 %)
    num_classes: int = 0
    images_per_second: float = 0.0  # after the first batch (tracing, kernel set-up)
    seconds: float = 0.0  # all of it
    skipped: list[str] = field(default_factory=list)
    weights: str = ""
    data: str = ""
    preprocessing: str = PREPROCESSING
    batch_size: int = 0
    labels_offset: int = 0
    precision: str = ""  # what the model computed in: float32 (slim's), tf32, bfloat16 or int8
    engine: str = ""  # what ran it: keras or openvino
    calibration: str = ""  # int8: the images its quantization was calibrated on
    real_top1: float | None = None  # ReaL top-1 (Beyer et al. 2020) on ILSVRC2012 validation images
    real_images: int | None = None  # the images ReaL covers here (its empty lists are left out)
    nll: float | None = None  # mean negative log-likelihood of the true class (nats)
    ece: float | None = None  # expected calibration error, 15 equal-width top-1 confidence bins
    reliability: Reliability | None = field(default=None, repr=False)  # the bins behind ece
    mistakes: list[dict] = field(default_factory=list)  # the most confident wrong top-1s, if asked
    param_count: int | None = None  # parameters, moving statistics not counted (None: saved or exported)
    per_class: dict[int, list[int]] = field(default_factory=dict)  # label -> [top-1 correct, total]
    class_names: list[str] | None = field(default=None, repr=False)  # by label, for the report
    class_ids: list[str] | None = field(default=None, repr=False)  # ImageNet synsets by label

    def table(self) -> str:
        rows = [
            ("images evaluated", f"{self.count:,}"),
            ("images skipped (unreadable)", f"{len(self.skipped):,}"),
            ("top-1 accuracy", f"{100 * self.top1:.2f} %"),
            *([("top-5 recall", f"{100 * self.top5:.2f} %")] if self.top5 is not None else []),
            *(
                [("ReaL top-1", f"{100 * self.real_top1:.2f} % ({self.real_images:,} images)")]
                if self.real_top1 is not None
                else []
            ),
            *([("NLL (true class)", f"{self.nll:.4f}")] if self.nll is not None else []),
            *([("ECE (15 bins)", f"{100 * self.ece:.2f} %")] if self.ece is not None else []),
            ("throughput (warm)", f"{self.images_per_second:.1f} images/s"),
            ("precision", self.precision),
            ("engine", self.engine),
            *([("calibration", self.calibration)] if self.calibration else []),
            ("weights", self.weights),
            ("data", self.data),
        ]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

    def to_json(self) -> str:
        """The report: every field, and per class its name (and synset), counts and accuracy,
        keyed by synset for ImageNet (two classes share a name), else by name."""
        report = asdict(self)
        del report["class_names"], report["class_ids"]
        report["reliability"] = self.reliability.table() if self.reliability is not None else None
        per_class = {}
        for label, (correct, total) in sorted(self.per_class.items()):
            name = self.class_names[label] if self.class_names else str(label)
            entry = {"index": label, "name": name, "correct": correct, "total": total}
            if self.class_ids:
                entry["synset"] = self.class_ids[label]
            entry["accuracy"] = correct / total
            per_class[self.class_ids[label] if self.class_ids else name] = entry
        report["per_class"] = per_class
        if self.weights == "imagenet":  # what slim published for these weights, to compare with
            report["published"] = {"top1": PRETRAINED.top1, "top5": PRETRAINED.top5, "images": 50_000}
        return json.dumps(report, indent=2)


@dataclass
class LabelSpace:
    """How a data set's labels meet a model's logits: subtract ``offset`` from each label;
    ``names`` (and ImageNet ``ids``, synsets) by logit index, for the report."""

    offset: int
    names: list[str] | None
    ids: list[str] | None


def label_space(
    classes: int, data: EvalData, labels_offset: int | None = None, model_name: str = ""
) -> LabelSpace:
    """The label space of a ``classes``-way model on ``data``.

    ImageNet data carries slim's labels 1..1000 (0 = background): a 1001-class head takes
    them as they are, a 1000-class head with offset 1; another head needs ``labels_offset``
    said explicitly. Class folders of one's own must match the head, class for class.
    ``model_name`` (its weights file, say) starts the message of a model that does not fit.
    """
    if data.imagenet:
        imagenet_head = classes in IMAGENET_HEADS
        if not imagenet_head and labels_offset is None:
            raise InvalidArgument(
                f"{f'{model_name}: ' if model_name else ''}a {classes}-class model cannot be scored on "
                "ImageNet's 1,000 classes; evaluate it on its own class folders (--data DIR)"
            )
        offset = NUM_CLASSES - classes if labels_offset is None else labels_offset
        if imagenet_head:
            return LabelSpace(offset, imagenet_class_names(classes), imagenet_class_ids(classes))
        return LabelSpace(offset, None, None)
    names = data.class_names or []
    if len(names) != classes:
        raise DataError(f"{data.description}: {len(names)} class folders, but the model has {classes}")
    return LabelSpace(labels_offset or 0, names, None)


@dataclass(frozen=True)
class EvalOptions:
    """How ``evaluate_runner`` scores; ``evaluate`` and ``evaluate_weights`` take the same
    fields as keywords. The defaults are slim's eval.

    Attributes:
        batch_size: images per batch.
        limit: stop after this many images (None: all).
        labels_offset, class_names, class_ids: override the label space ``label_space`` finds.
        strict: an unreadable image is an error instead of skipped.
        predictions_csv: write per-image predictions here (atomically).
        overwrite: replace an existing ``predictions_csv``.
        show_progress: a bar on stderr.
        weights: what was loaded, for the report.
        real_labels: ReaL's lists (``labels.read_real_labels``): with an ImageNet head on
            ILSVRC2012 validation images (named ``ILSVRC2012_val_*.JPEG``, or a TFRecord's
            ``image/filename`` saying so), ``real_top1`` is reported beside slim's top-1.
        mistakes: keep this many of the most confident wrong top-1 predictions
            (``result.mistakes``: id, true and predicted index, confidence), most confident first.
    """

    batch_size: int = 50
    limit: int | None = None
    labels_offset: int | None = None
    class_names: list[str] | None = None
    class_ids: list[str] | None = None
    strict: bool = False
    predictions_csv: str | Path | None = None
    overwrite: bool = False
    show_progress: bool = True
    weights: str = ""
    real_labels: list[list[int]] | None = None
    mistakes: int = 0


def evaluate_weights(
    weights: str | Path, data: EvalData, precision: str = "float32", engine: str = "keras", **options
) -> EvalResult:
    """``evaluate`` the classifier of ``weights`` (``"imagenet"``, a path, a folder that
    ``inception-v2 quantize`` wrote, run as saved, or what ``inception-v2 export`` wrote, fed as a
    client feeds it): what ``inception-v2 eval`` runs.

    Args:
        weights: as for ``InceptionV2``.
        data: the images and labels (``data.open_data``).
        precision, engine: as for ``evaluate``; bfloat16 on Keras builds the fast path.
        **options: the fields of ``EvalOptions``; ``calibration`` as for ``evaluate``.

    Returns:
        The ``EvalResult``.

    Raises:
        InvalidArgument, CheckpointError: weights that cannot classify.
        DataError: as for ``evaluate``.
    """
    if is_served(weights):  # an export: fed the encoded files, or decoded, as a client feeds it
        options.pop("calibration", None)
        served = load_served(weights)
        return evaluate_runner(
            served.runner, served.classes, data, EvalOptions(**{**options, "weights": str(weights)})
        )
    if is_quantized_model(weights):  # a saved int8 model: run as it is, no recalibration
        options.pop("calibration", None)
        run, record = load_quantized(weights)
        result = evaluate_runner(
            run, record.classes, data, EvalOptions(**{**options, "weights": str(weights)})
        )
        result.calibration = record.calibration
        return result
    model, _ = classifier(weights, precision, engine, classifier_activation=None)
    return evaluate(model, data, precision=precision, engine=engine, weights=str(weights), **options)


def evaluate(
    model: keras.Model,
    data: EvalData,
    precision: str | None = None,
    engine: str = "keras",
    calibration: CalibrationSet | None = None,
    **options,
) -> EvalResult:
    """Run ``model`` (logits out) over ``data`` and score it as slim does.

    The model runs through ``inference_function`` (weights frozen in, compiled once), in
    true float32 unless ``precision`` says otherwise (see ``inception_v2.precision``), on
    ``engine`` (``"keras"`` or ``"openvino"``; int8 on OpenVINO quantizes on ``calibration``,
    named in the report); the scoring is ``evaluate_runner``'s.

    Args:
        model: the classifier, logits out.
        data: the images and labels (``data.open_data``).
        precision, engine, calibration: as for ``inference.inference_function``.
        **options: the fields of ``EvalOptions`` (an unknown name is a ``TypeError``).

    Returns:
        The ``EvalResult``.

    Raises:
        DataError, InvalidArgument: as for ``evaluate_runner``.
    """
    images = calibration.images if calibration is not None else None
    run = inference_function(model, precision=precision, engine=engine, calibration=images)
    channels_first = model_data_format(model) == "channels_first"
    result = evaluate_runner(run, int(model.output.shape[-1]), data, EvalOptions(**options), channels_first)
    # As timm counts them: parameters, not batch norm's moving statistics (PyTorch's buffers).
    result.param_count = sum(int(np.prod(w.shape)) for w in model.weights if "moving_" not in w.path)
    if calibration is not None and run.precision == "int8":
        result.calibration = calibration.describe()
    return result


def evaluate_runner(
    run: Runner,
    classes: int,
    data: EvalData,
    options: EvalOptions | None = None,
    channels_first: bool = False,
) -> EvalResult:
    """Score a compiled forward pass (a ``Runner``: an engine's, or a saved int8 model's) of
    ``classes`` logits over ``data`` as slim does, taking NHWC images (NCHW with
    ``channels_first``).

    Labels meet logits by ``label_space`` (``labels_offset``, ``class_names`` and
    ``class_ids`` override what it finds). Unreadable images are skipped and listed in the
    result, or raise ``DataError`` with ``strict``; a TFRecord missing a required key always
    raises ``DataError``.

    Args:
        run: images in, logits out.
        classes: the number of logits.
        data: the images and labels.
        options: how to score (``EvalOptions``; its fields are the documentation).
        channels_first: ``run`` takes NCHW.

    Returns:
        The ``EvalResult``.

    Raises:
        DataError, InvalidArgument: as for ``evaluate``.
    """
    options = options or EvalOptions()
    space = label_space(classes, data, options.labels_offset, str(options.weights))
    expected = data.expected_ids(options.limit)
    result = EvalResult(
        data=data.description,
        weights=str(options.weights),
        batch_size=options.batch_size,
        labels_offset=space.offset,
        class_names=options.class_names or space.names,
        class_ids=options.class_ids or space.ids,
    )
    progress = Progress(len(expected)) if options.show_progress else None
    result.precision, result.engine = run.precision, run.engine
    if run.inputs == ENCODED:
        result.preprocessing = f"the model's own, fed the encoded files ({PREPROCESSING})"
    nchw = channels_first  # the pipeline gives NHWC
    skips, timer, hits = _Skips(result, expected, options.strict), _Timer(), _Hits()
    real = (
        _Real(options.real_labels, space.offset)
        if options.real_labels is not None and classes in IMAGENET_HEADS
        else None
    )
    worst = _Mistakes(options.mistakes)
    outside_subset = _outside(data.class_subset, classes) if data.class_subset is not None else None
    with _predictions_writer(options.predictions_csv, options.overwrite) as writer:
        for batch in data.batches(options.batch_size, options.limit, encoded=run.inputs == ENCODED):
            raise_if_interrupted()  # a Ctrl-C that a library swallowed during the last batch
            ids = _checked_ids(batch)
            skips.reached(ids)
            labels = batch["label"].numpy().astype(np.int64) - space.offset
            images = np.transpose(batch["image"], (0, 3, 1, 2)) if nchw else batch["image"].numpy()
            logits = np.asarray(run(images), dtype=np.float32).reshape(len(labels), -1)
            if outside_subset is not None:  # ImageNet-A / -R: the argmax over their classes only
                logits[:, outside_subset] = -np.inf
            probabilities = softmax(logits)  # once per batch, for every measure that reads it
            hits.add(result, labels, logits, probabilities, space.offset)
            if real is not None:
                real.add(batch["filename"].numpy(), logits)
            if options.mistakes:
                worst.add(ids, labels, probabilities)
            if writer:
                _write_predictions(
                    writer, ids, labels, logits, probabilities, result.class_names, result.class_ids
                )
            if progress:
                progress.update(len(labels), f"top-1 {100 * hits.top1 / result.count:.1f}%")
            timer.batch_done(result.count)
        skips.reached_end()
        if result.count == 0:
            raise DataError(
                f"{data.description}: no image could be evaluated ({len(result.skipped)} unreadable)"
            )
    result.seconds, result.images_per_second = timer.finish(result.count)
    result.top1 = hits.top1 / result.count
    result.top5 = hits.top5 / result.count if result.num_classes > 5 else None
    if real is not None and real.images:
        result.real_top1, result.real_images = real.correct / real.images, real.images
    result.mistakes = worst.sorted()
    result.reliability = hits.reliability
    result.nll, result.ece = hits.reliability.nll, hits.reliability.ece
    if progress:
        shown = f"top-1 {100 * result.top1:.2f}%"
        if result.top5 is not None:
            shown += f"  top-5 {100 * result.top5:.2f}%"
        progress.close(shown)
    return result


def _outside(subset: list[int], classes: int) -> np.ndarray:
    """The logit columns of an ImageNet head outside ``subset`` (0-based ImageNet classes)."""
    if classes not in IMAGENET_HEADS:
        raise InvalidArgument(f"a {classes}-class model has no ImageNet logits to restrict to a subset")
    outside = np.ones(classes, bool)
    outside[np.asarray(subset) + classes - (NUM_CLASSES - 1)] = False  # 1001 classes: background first
    return outside


def _checked_ids(batch) -> list[str]:
    """The batch's element ids; a TFRecord example without image or label is refused."""
    ids = [i.decode() for i in batch["id"].numpy()]
    valid = batch["valid"].numpy()
    if not valid.all():
        bad = ids[int(np.argmin(valid))]
        raise DataError(f"{bad}: TFRecord example lacks image/encoded or image/class/label")
    return ids


@dataclass
class _Hits:
    """Top-1 and top-5 hits so far; ``add`` also counts images and per-class results."""

    top1: int = 0
    top5: int = 0
    reliability: Reliability = field(default_factory=Reliability)

    def add(
        self,
        result: EvalResult,
        labels: np.ndarray,
        logits: np.ndarray,
        probabilities: np.ndarray,
        offset: int,
    ) -> None:
        result.num_classes = logits.shape[-1]
        if labels.min() < 0 or labels.max() >= logits.shape[-1]:
            raise DataError(
                f"labels {labels.min()}..{labels.max()} (after offset {offset}) do not fit "
                f"a {logits.shape[-1]}-class model; check --labels-offset"
            )
        hit1 = top1_correct(logits, labels)
        self.top1 += int(hit1.sum())
        self.top5 += int(in_top_k(logits, labels, 5).sum())
        self.reliability.add(probabilities, labels)
        result.count += len(labels)
        for label, hit in zip(labels.tolist(), hit1.tolist(), strict=True):
            entry = result.per_class.setdefault(label, [0, 0])
            entry[0] += int(hit)
            entry[1] += 1


class _Mistakes:
    """The ``keep`` most confident wrong top-1 predictions so far (a bounded heap)."""

    def __init__(self, keep: int):
        self.keep, self.heap = keep, []

    def add(self, ids: list[str], labels: np.ndarray, probabilities: np.ndarray) -> None:
        predicted = probabilities.argmax(-1)
        for element_id, label, guess, row in zip(
            ids, labels.tolist(), predicted.tolist(), probabilities, strict=True
        ):
            if guess != label:
                entry = (float(row[guess]), element_id, int(label), int(guess))
                (heapq.heappush if len(self.heap) < self.keep else heapq.heappushpop)(self.heap, entry)

    def sorted(self) -> list[dict]:
        keys = ("confidence", "id", "label_index", "predicted_index")
        return [dict(zip(keys, entry, strict=True)) for entry in sorted(self.heap, reverse=True)]


class _Real:
    """ReaL top-1 so far: an image counts when ReaL lists labels for it, and is right when the
    top-1 (as a 0-based 1000-class index: slim's logit k is ReaL's k - 1) is among them."""

    def __init__(self, lists: list[list[int]], offset: int):
        self.lists, self.shift = lists, offset - 1  # logit index + shift = ReaL's index
        self.correct = self.images = 0

    def add(self, filenames, logits: np.ndarray) -> None:
        predicted = logits.argmax(-1) + self.shift
        for name, guess in zip(filenames, predicted.tolist(), strict=True):
            match = VAL_NAME.search(name.decode() if isinstance(name, bytes) else str(name))
            if match and 1 <= int(match.group(1)) <= len(self.lists):
                labels = self.lists[int(match.group(1)) - 1]
                if labels:
                    self.images += 1
                    self.correct += guess in labels


class _Skips:
    """The expected elements that never arrived: undecodable images drop out of the stream.
    Arrival order does not matter (shards are read interleaved)."""

    def __init__(self, result: EvalResult, expected: list[str], strict: bool):
        self.result, self.expected, self.strict, self.seen = result, expected, strict, set()

    def reached(self, ids: list[str]) -> None:
        self.seen.update(ids)

    def reached_end(self) -> None:
        missing = [element_id for element_id in self.expected if element_id not in self.seen]
        if missing and self.strict:
            raise DataError(f"{missing[0]}: cannot be decoded as an image (--strict)")
        self.result.skipped += missing


class _Timer:
    """Wall time of the whole run, and images/s after the first batch (tracing, kernel set-up)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.warm_start, self.warm_count = self.start, 0

    def batch_done(self, count: int) -> None:
        if self.warm_count == 0:
            self.warm_start, self.warm_count = time.perf_counter(), count

    def finish(self, count: int) -> tuple[float, float]:
        end = time.perf_counter()
        seconds, warm = end - self.start, count - self.warm_count
        return seconds, (warm / (end - self.warm_start) if warm else count / seconds)


@contextlib.contextmanager
def _predictions_writer(path: str | Path | None, overwrite: bool):
    """A CSV writer onto a temporary file renamed to ``path`` when evaluation succeeds (None
    without a path)."""
    if not path:
        yield None
        return
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(PREDICTION_COLUMNS)
        yield writer


#: Per class: ``label``/``topK_label`` its name (its index without names), ``_index`` the
#: model's output index, ``_synset`` the ImageNet synset (empty for other data sets).
PREDICTION_COLUMNS = [
    "id",
    "label",
    "label_index",
    "label_synset",
    *[f"top{k}_{part}" for k in range(1, 6) for part in ("label", "index", "synset", "prob")],
]


def _write_predictions(writer, ids, labels, logits, probs, class_names, class_ids) -> None:
    best = top_k(logits, 5)  # ordered by the logits: probabilities far below the top can tie

    def describe(i: int) -> list:
        return [class_names[i] if class_names else i, i, class_ids[i] if class_ids else ""]

    for element_id, label, row, top in zip(ids, labels.tolist(), probs, best.tolist(), strict=True):
        cells = [cell for i in top for cell in (*describe(i), f"{row[i]:.6f}")]
        writer.writerow([element_id, *describe(label), *cells])


def plot_per_class(
    result: EvalResult, path: str | Path, class_names: list[str] | None = None, overwrite: bool = False
) -> Path:
    """PNG of per-class top-1 accuracy, classes sorted from worst to best (named by
    ``class_names``, by default the result's own). Up to 60 classes: one named bar each. More
    (ImageNet's 1,000): the sorted accuracies of all as one curve, and the 20 worst and 20 best
    classes as named bars, on a page of 1,400 pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    class_names = class_names or result.class_names
    items = sorted(result.per_class.items(), key=lambda kv: (kv[1][0] / kv[1][1], kv[0]))
    accuracy = [100 * c / n for _, (c, n) in items]

    def name(k: int) -> str:
        return short_name(class_names[k]) if class_names else str(k)

    overall = f"overall {100 * result.top1:.1f}%"
    title = f"Per-class top-1 accuracy ({result.count:,} images)"
    if len(items) <= 60:
        # Constrained layout makes room for the rotated names; long ImageNet names are shortened.
        fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(items)), 5.5), dpi=100, layout="constrained")
        ax.bar(range(len(items)), accuracy, width=0.8, color="tab:blue")
        ax.set_xticks(range(len(items)), [name(k) for k, _ in items], rotation=90, fontsize=7)
        ax.axhline(100 * result.top1, color="tab:red", linestyle="--", label=overall)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_ylim(0, 105)
        ax.set_title(title)
        ax.legend(loc="lower right")
        return save_figure(fig, path, overwrite)
    fig, (curve, worst, best) = plt.subplots(1, 3, figsize=(14, 6), dpi=100, layout="constrained")
    curve.plot(range(1, len(items) + 1), accuracy, color="tab:blue")
    curve.axhline(100 * result.top1, color="tab:red", linestyle="--", label=overall)
    curve.set(
        xlabel=f"class rank (of {len(items):,}, worst first)", ylabel="top-1 accuracy (%)", ylim=(0, 105)
    )
    curve.legend(loc="lower right")
    curve.set_title("all classes, sorted")
    for ax, chosen, heading in ((worst, items[:20], "the 20 worst"), (best, items[::-1][:20], "the 20 best")):
        shown = [100 * c / n for _, (c, n) in chosen]
        ax.barh(range(len(chosen)), shown, color="tab:blue")
        ax.set_yticks(range(len(chosen)), [f"{name(k)} ({n})" for k, (_, n) in chosen], fontsize=7)
        ax.invert_yaxis()
        ax.set(xlim=(0, 105), xlabel="top-1 accuracy (%), images in brackets")
        ax.set_title(heading)
    fig.suptitle(title)
    return save_figure(fig, path, overwrite)
