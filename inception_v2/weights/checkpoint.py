"""Reading slim checkpoints and mapping their variables onto the Keras model.

One rule maps every Keras variable to its slim name: the layer name with ``__``
written as ``/`` (see ``model.scoped``), under the ``InceptionV2`` scope, followed by
slim's name for the variable (``kernel`` -> ``weights``, ``bias`` -> ``biases``, ...).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from inception_v2.errors import CheckpointError, InvalidArgument, MissingFile
from inception_v2.model.architecture import BN_EPSILON, SCOPE_SEPARATOR, SLIM_SCOPE, conv_depths, depth_fn
from inception_v2.weights.archive import is_archive, safe_extract

EMA_SUFFIX = "/ExponentialMovingAverage"
# Keras variable name -> slim variable name, inside the same scope.
VARIABLE_NAMES = {
    "kernel": "weights",
    "bias": "biases",
    "depthwise_kernel": "depthwise_weights",
    "pointwise_kernel": "pointwise_weights",
    "beta": "beta",
    "gamma": "gamma",
    "moving_mean": "moving_mean",
    "moving_variance": "moving_variance",
}


def slim_variable_name(layer_name: str, variable_name: str, scope: str = SLIM_SCOPE) -> str:
    """The slim name of Keras variable ``variable_name`` of layer ``layer_name``."""
    try:
        slim_var = VARIABLE_NAMES[variable_name]
    except KeyError:
        raise InvalidArgument(f"no slim name for variable {variable_name!r} of {layer_name!r}") from None
    return "/".join([scope, *layer_name.split(SCOPE_SEPARATOR), slim_var])


def model_variable_map(model: keras.Model, scope: str = SLIM_SCOPE) -> dict[str, keras.Variable]:
    """``{slim name: Keras variable}`` for every variable of ``model``, the layers of models
    nested in it included (a KerasHub task holds its backbone as one layer)."""
    mapping = {}
    for layer in _leaf_layers(model):
        for variable in layer.weights:
            mapping[slim_variable_name(layer.name, variable.name, scope)] = variable
    return mapping


def _leaf_layers(model: keras.Model) -> Iterator[keras.Layer]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


@contextlib.contextmanager
def checkpoint_prefix(path: str | os.PathLike) -> Iterator[str]:
    """Yield the path TensorFlow reads for ``path``: a file, prefix, directory or tarball.

    A tarball is extracted (without path traversal) into a temporary directory that
    lives for the ``with`` block.
    """
    path = Path(path)
    index = path.with_name(path.name + ".index")
    if not path.exists() and not index.exists():
        raise MissingFile(f"{path}: no such checkpoint file, prefix, directory or archive")
    if path.is_file() and is_archive(path):
        with tempfile.TemporaryDirectory(prefix="inception_v2_ckpt_") as tmp:
            safe_extract(path, tmp)
            yield _prefix_in_directory(Path(tmp), shown_as=path)
        return
    if path.is_dir():
        yield _prefix_in_directory(path, shown_as=path)
        return
    yield str(path)


def _prefix_in_directory(directory: Path, shown_as: Path) -> str:
    """The single checkpoint inside ``directory`` (searched recursively)."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(directory))
    if latest:
        return latest
    candidates = sorted(
        {str(p)[: -len(".index")] for p in directory.rglob("*.index")}
        | {str(p) for p in directory.rglob("*.ckpt")}
    )
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CheckpointError(f"{shown_as}: holds no checkpoint (no *.ckpt file or *.index prefix)")
    found = ", ".join(os.path.relpath(c, directory) for c in candidates)
    raise CheckpointError(f"{shown_as}: holds several checkpoints ({found}); name one of them")


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All variables of a TensorFlow checkpoint (V1 file, V2 prefix, dir or tarball)."""
    import tensorflow as tf

    with checkpoint_prefix(path) as prefix:
        try:
            reader = tf.train.load_checkpoint(prefix)
            shapes = reader.get_variable_to_shape_map()
            return {name: np.asarray(reader.get_tensor(name)) for name in sorted(shapes)}
        except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as e:
            reason = getattr(e, "message", None) or str(e)
            reason = reason.strip().splitlines()[0] if reason.strip() else type(e).__name__
            if "magic number" in reason or "sstable" in reason:  # some other kind of file
                reason = "its content is not in TensorFlow's checkpoint format"
            raise CheckpointError(
                f"{path}: not a readable TensorFlow checkpoint, or a truncated/corrupt one ({reason}); "
                "expected slim's .ckpt, a V2 prefix, a folder or .tar.gz of one, or a .weights.h5/.keras"
            ) from None


@dataclass(frozen=True)
class CheckpointConfig:
    """The InceptionV2 arguments that a checkpoint's shapes imply."""

    depth_multiplier: float
    min_depth: int
    classes: int | None  # None: no Logits in the checkpoint
    use_separable_conv: bool

    def model_kwargs(self) -> dict:
        kwargs = dict(
            depth_multiplier=self.depth_multiplier,
            min_depth=self.min_depth,
            use_separable_conv=self.use_separable_conv,
            include_top=self.classes is not None,
        )
        if self.classes is not None:
            kwargs["classes"] = self.classes
        return kwargs


def infer_config(variables: Mapping[str, np.ndarray], scope: str = SLIM_SCOPE) -> CheckpointConfig:
    """Infer depth_multiplier, min_depth, classes and the stem type from shapes.

    Raises ``CheckpointError`` naming what was expected and what was found.
    """
    names = [n for n in variables if n.startswith(scope + "/")]
    if not names:
        scopes = sorted({n.split("/")[0] for n in variables})
        shown = ", ".join(scopes[:8]) + (" ..." if len(scopes) > 8 else "")
        raise CheckpointError(
            f"no variable under {scope}/ (is this an Inception V2 checkpoint?); "
            f"top-level scopes found: {shown or 'none'}"
        )
    separable = f"{scope}/Conv2d_1a_7x7/depthwise_weights" in variables
    if not separable and f"{scope}/Conv2d_1a_7x7/weights" not in variables:
        raise CheckpointError(f"no {scope}/Conv2d_1a_7x7 weights: not an Inception V2 checkpoint")
    logits_bias = variables.get(f"{scope}/Logits/Conv2d_1c_1x1/biases")
    classes = int(logits_bias.shape[-1]) if logits_bias is not None else None

    # Every batch-normed conv's depth at depth_multiplier 1 (by slim's arithmetic, no model).
    base = {f"{scope}/{name}/weights": d for name, d in conv_depths(1.0, 1, separable).items()}
    found = {}
    for name in base:
        if name not in variables:
            raise CheckpointError(f"variable {name} missing: not an Inception V2 checkpoint")
        found[name] = int(variables[name].shape[-1])
    # The deepest layer pins depth_multiplier down best; min_depth is whatever the
    # layers clamped to it show (slim's default 16 when none is clamped).
    widest = max(base, key=base.get)
    estimate = found[widest] / base[widest]
    candidates = sorted({estimate, round(estimate, 2), round(estimate, 3), round(estimate, 4)})
    best = None
    for depth_multiplier in candidates:
        unclamped = {n: int(d * depth_multiplier) for n, d in base.items()}
        clamped = sorted({found[n] for n in base if found[n] > unclamped[n]})
        min_depth = clamped[0] if clamped else min(16, min(found.values()))
        depth = depth_fn(depth_multiplier, min_depth)
        wrong = [n for n, d in base.items() if found[n] != depth(d)]
        if not wrong:
            return CheckpointConfig(float(depth_multiplier), int(min_depth), classes, separable)
        if best is None or len(wrong) < len(best[2]):
            best = (depth_multiplier, min_depth, wrong)
    depth_multiplier, min_depth, wrong = best
    depth = depth_fn(depth_multiplier, min_depth)
    shown = "; ".join(f"{n} has {found[n]} channels, expected {depth(base[n])}" for n in wrong[:5])
    raise CheckpointError(
        f"{len(wrong)} layer depths fit no depth_multiplier/min_depth "
        f"(closest: depth_multiplier {depth_multiplier:g}, min_depth {min_depth}): {shown}"
    )


def is_folded(model: keras.Model, scope: str = SLIM_SCOPE) -> bool:
    """True for a model built with ``fold_batch_norm=True`` (convs with bias, no BatchNorm)."""
    names = model_variable_map(model, scope)
    return not any("/BatchNorm/" in n for n in names) and any(
        n.endswith("/biases") and "/Logits/" not in n and "Conv2d_1a_7x7" not in n for n in names
    )


def fold_batch_norm(variables: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """slim variables with every conv + batch norm folded into a biased conv.

    ``weights' = weights / sqrt(var + eps)`` and ``biases = beta - mean / sqrt(var + eps)``
    (slim's BN has no gamma), computed in float64. Other variables pass through.
    """
    folded = dict(variables)
    for name in variables:
        if not name.endswith("/BatchNorm/moving_variance"):
            continue
        scope = name[: -len("/BatchNorm/moving_variance")]
        inverse = 1.0 / np.sqrt(variables[name].astype(np.float64) + BN_EPSILON)
        mean = variables[f"{scope}/BatchNorm/moving_mean"].astype(np.float64)
        beta = variables[f"{scope}/BatchNorm/beta"].astype(np.float64)
        if f"{scope}/BatchNorm/gamma" in variables:
            inverse = inverse * variables[f"{scope}/BatchNorm/gamma"]
        folded[f"{scope}/weights"] = (variables[f"{scope}/weights"] * inverse).astype(np.float32)
        folded[f"{scope}/biases"] = (beta - mean * inverse).astype(np.float32)
        for part in ("beta", "gamma", "moving_mean", "moving_variance"):
            folded.pop(f"{scope}/BatchNorm/{part}", None)
    return folded


@dataclass
class LoadReport:
    """What ``assign_checkpoint`` did: how many variables it set, what it left."""

    assigned: int = 0
    values: int = 0
    ignored: list[str] = field(default_factory=list)
    ema_missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"assigned {self.assigned} variables ({self.values:,} values)"]
        if self.ignored:
            lines.append(f"ignored {len(self.ignored)} checkpoint variables not in the model:")
            lines += [f"  {name}" for name in self.ignored]
        if self.ema_missing:
            lines.append(f"{len(self.ema_missing)} variables had no moving average; took raw values")
        return "\n".join(lines)


def assign_checkpoint(
    model: keras.Model,
    variables: Mapping[str, np.ndarray],
    use_ema: bool = False,
    scope: str = SLIM_SCOPE,
    source: str = "checkpoint",
    exclude_scopes: tuple[str, ...] = (),
) -> LoadReport:
    """Set every variable of ``model`` from slim ``variables``, strictly.

    Every model variable must be found with its exact shape, or nothing is assigned
    and ``CheckpointError`` lists the problems. Variables under ``exclude_scopes`` (slim's
    ``--checkpoint_exclude_scopes``, e.g. ``("Logits",)`` for a new head) keep their values.
    Checkpoint variables the model does not use (global_step, optimizer slots, moving-average
    shadows) are reported. A model built with ``fold_batch_norm=True`` gets the folded weights.
    With ``use_ema`` the ``ExponentialMovingAverage`` shadow of each variable is
    taken where the checkpoint has one.
    """
    excluded = tuple(f"{scope}/{s}/" for s in exclude_scopes)
    targets = {n: v for n, v in model_variable_map(model, scope).items() if not n.startswith(excluded)}
    if is_folded(model, scope):
        if use_ema:  # take the shadows first, then fold them
            variables = {
                n: variables.get(n + EMA_SUFFIX, v)
                for n, v in variables.items()
                if not n.endswith(EMA_SUFFIX)
            }
            use_ema = False
        variables = fold_batch_norm(variables)
    report = LoadReport()
    missing, mismatched, values = [], [], {}
    used = set()
    for name, variable in targets.items():
        key = name
        if use_ema:
            if name + EMA_SUFFIX in variables:
                key = name + EMA_SUFFIX
            else:
                report.ema_missing.append(name)
        if key not in variables:
            missing.append(name)
            continue
        value = variables[key]
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)}, model {tuple(variable.shape)}")
            continue
        values[name] = value
        used.add(key)
    if missing or mismatched:
        raise CheckpointError(_misfit(source, model.name, missing, mismatched, len(targets), variables))
    for name, variable in targets.items():
        variable.assign(values[name].astype(variable.dtype))
        report.assigned += 1
        report.values += int(values[name].size)
    report.ignored = sorted(set(variables) - used)
    return report


def _misfit(
    source: str, model: str, missing: list[str], mismatched: list[str], total: int, variables: Mapping
) -> str:
    """One line: how many variables do not fit, the first few by name, and what the file holds
    when that is recognisable (a network without batch norm)."""
    problems = [f"missing {n}" for n in missing[:3]] + [f"shape mismatch {m}" for m in mismatched[:3]]
    more = len(missing) + len(mismatched) - len(problems)
    listed = ", ".join(problems) + (f", and {more} more" if more else "")
    biased = any(k.endswith("/biases") and "/Logits/" not in k for k in variables)
    hint = ""
    if missing and biased and all("/BatchNorm/" in n for n in missing):
        hint = (
            "; it holds a network without batch norm (as bn-study's Inception variants): "
            "load it into InceptionV2(batch_norm=False)"
        )
    return (
        f"{source} does not fit model {model!r} ({len(missing)} missing, {len(mismatched)} mismatched "
        f"of {total}: {listed}){hint}"
    )
