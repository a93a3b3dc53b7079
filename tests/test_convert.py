"""The converter: sources, outputs, strictness, and bad input that leaves nothing behind."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import tarfile
from pathlib import Path

import keras
import numpy as np
import pytest

from inception_v2 import CheckpointError, InceptionV2, convert_checkpoint
from inception_v2.cli import main
from inception_v2.weights.archive import ArchiveError
from inception_v2.weights.checkpoint import infer_config, model_variable_map, read_checkpoint
from inception_v2.weights.slim_reference import import_slim, save_slim_variables, smooth_random_images


def _only(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _tarball(tar_path: Path, files: dict[str, Path]) -> Path:
    with tarfile.open(tar_path, "w:gz", compresslevel=1) as tar:  # random floats: gzip gains nothing
        for arcname, path in files.items():
            tar.add(path, arcname=arcname)
    return tar_path


def _v2_files(prefix: str) -> list[Path]:
    return sorted(Path(prefix).parent.glob(Path(prefix).name + ".*"))


def test_mapping_rule_covers_all_277_variables(slim_checkpoints):
    model = InceptionV2()
    mapping = model_variable_map(model)
    slim_vars = slim_checkpoints.variables()
    assert len(mapping) == 277 == len(slim_vars)
    assert set(mapping) == set(slim_vars)
    assert sum(int(np.prod(v.shape)) for v in mapping.values()) == 11_199_137
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == 11_179_361


def test_cli_convert_v1_with_verify(slim_checkpoints, tmp_path, capsys):
    dst = tmp_path / "out.weights.h5"
    assert main(["convert", slim_checkpoints.path(version="V1"), str(dst), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "OK: every end point within" in out and "Mixed_5c" in out and "Logits" in out
    assert _only(tmp_path) == ["out.weights.h5"]


def test_verify_exit_code_above_tolerance(slim_checkpoints, tmp_path, capsys):
    """An unattainable tolerance makes --verify exit 1, and nothing is written."""
    assert (
        main(
            [
                "convert",
                slim_checkpoints.path(),
                str(tmp_path / "a.keras"),
                "--verify",
                "--tolerance",
                "1e-12",
                "--verify-batch",
                "1",
            ]
        )
        == 1
    )
    assert "verification failed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_verification_catches_one_wrong_layer(slim_checkpoints, tmp_path):
    """One batch-norm beta off by 0.05 shows from its end point on, and not before."""
    from inception_v2.weights.checkpoint import CheckpointConfig
    from inception_v2.weights.convert import compare_with_slim

    variables = dict(slim_checkpoints.variables())
    beta = "InceptionV2/Mixed_4b/Branch_3/Conv2d_0b_1x1/BatchNorm/beta"
    variables[beta] = variables[beta] + 0.05  # a new array: the session's checkpoints stay as built
    other = save_slim_variables(variables, str(tmp_path / "other" / "model.ckpt"))
    model = InceptionV2(weights=slim_checkpoints.path())
    diffs, _ = compare_with_slim(model, other, CheckpointConfig(1.0, 16, 1001, True))
    assert diffs["Mixed_4a"] < 1e-4
    assert diffs["Mixed_4b"] > 0.04 and diffs["Logits"] > 1e-3


def test_slims_graph_is_built_once_and_each_session_has_its_own_weights(slim_checkpoints, tmp_path):
    """Sessions of one configuration share slim's graph, not its weights: a checkpoint with the
    logits' biases moved by 1 gives logits moved by 1, and the first checkpoint again its own."""
    from inception_v2.weights import slim_reference
    from inception_v2.weights.slim_reference import slim_end_points

    thin = slim_checkpoints.path(depth_multiplier=0.25)
    variables = dict(slim_checkpoints.variables(depth_multiplier=0.25))
    bias = "InceptionV2/Logits/Conv2d_1c_1x1/biases"
    variables[bias] = variables[bias] + 1.0
    other = save_slim_variables(variables, str(tmp_path / "other" / "model.ckpt"))
    images = smooth_random_images(2, 112, 112, np.random.default_rng(3))
    before = slim_reference._inference_graph.cache_info()
    first, shifted, again = (
        slim_end_points(path, images, depth_multiplier=0.25)["Logits"] for path in (thin, other, thin)
    )
    after = slim_reference._inference_graph.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) in {(1, 2), (0, 3)}
    np.testing.assert_allclose(shifted, first + 1.0, atol=1e-5)
    np.testing.assert_array_equal(again, first)
    assert np.abs(first[0] - first[1]).max() > 0.1, "the logits depend on the image"


@pytest.mark.slow
def test_tarball_directory_and_keras_outputs_agree(slim_checkpoints, tmp_path):
    prefix = slim_checkpoints.path(version="V1")
    tarball = _tarball(tmp_path / "inception_v2_2016_08_28.tar.gz", {"inception_v2.ckpt": Path(prefix)})
    from_tar = tmp_path / "tar.keras"
    convert_checkpoint(tarball, from_tar)
    from_dir = tmp_path / "dir.weights.h5"
    convert_checkpoint(Path(prefix).parent, from_dir)
    loaded = keras.saving.load_model(from_tar, safe_mode=True)
    other = InceptionV2(weights=str(from_dir))
    images = smooth_random_images(1, 224, 224, np.random.default_rng(0))
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), other.predict(images, verbose=0))


def test_slim_checkpoint_loads_directly_and_headless(slim_checkpoints):
    prefix = slim_checkpoints.path()
    full = InceptionV2(weights=prefix, classifier_activation=None)
    base = InceptionV2(weights=prefix, include_top=False, pooling="avg")
    assert base.output.shape == (None, 1024)
    for name in ("Mixed_5c__Branch_3__Conv2d_0b_1x1__BatchNorm",):
        np.testing.assert_array_equal(full.get_layer(name).moving_mean, base.get_layer(name).moving_mean)


@pytest.mark.slow
def test_extra_variables_are_listed_and_ema_is_optional(slim_checkpoints, tmp_path):
    """Optimizer slots and a step are listed as ignored; the moving averages load on request and
    verify against slim's graph restoring them (on slim's network four times thinner)."""
    variables = dict(slim_checkpoints.variables(depth_multiplier=0.25))
    extras = {"global_step": np.array(1234, np.int64)}
    for name in list(variables)[:3]:
        extras[name + "/Momentum"] = np.zeros_like(variables[name])
    for name, value in variables.items():
        extras[name + "/ExponentialMovingAverage"] = value * 0.5
    prefix = save_slim_variables({**variables, **extras}, str(tmp_path / "ema" / "model.ckpt"))

    plain = convert_checkpoint(prefix, tmp_path / "plain.weights.h5")
    assert plain.load.ignored == sorted(extras)
    ema = convert_checkpoint(prefix, tmp_path / "ema.weights.h5", use_ema=True, verify=True)
    assert ema.load.ema_missing == [] and ema.beyond(1e-4) == {}
    model = InceptionV2(weights=str(tmp_path / "ema.weights.h5"), depth_multiplier=0.25)
    kernel = model.get_layer("Mixed_4b__Branch_0__Conv2d_0a_1x1").kernel
    np.testing.assert_array_equal(
        kernel, variables["InceptionV2/Mixed_4b/Branch_0/Conv2d_0a_1x1/weights"] * 0.5
    )
    # Batch norm folded into the convolutions (the fast path) folds the moving averages too:
    # the same logits as the unfolded network on them, and not those of the raw variables.
    from inception_v2.weights.factory import build_from_weights
    from inception_v2.weights.slim_reference import smooth_random_images

    images = smooth_random_images(2, 224, 224, np.random.default_rng(1))
    unfolded = build_from_weights(prefix, use_ema=True, classifier_activation=None)[0].predict(
        images, verbose=0
    )
    folded = build_from_weights(prefix, use_ema=True, fold_batch_norm=True, classifier_activation=None)[0]
    raw = build_from_weights(prefix, fold_batch_norm=True, classifier_activation=None)[0]
    scale = max(1.0, float(np.abs(unfolded).max()))
    assert np.abs(folded.predict(images, verbose=0) - unfolded).max() <= 1e-4 * scale
    assert np.abs(raw.predict(images, verbose=0) - unfolded).max() > 1e-2 * scale, "the averages matter here"


@pytest.mark.parametrize("depth_multiplier,min_depth", [(0.5, 16), (0.25, 24)])
@pytest.mark.slow
def test_depth_multiplier_is_inferred(slim_checkpoints, depth_multiplier, min_depth):
    config = infer_config(slim_checkpoints.variables(1001, depth_multiplier, min_depth))
    assert (config.depth_multiplier, config.min_depth, config.classes) == (depth_multiplier, min_depth, 1001)


# ----------------------------------------------------------------------------- bad input


def _convert_fails(tmp_path: Path, src, capsys, *expected: str) -> str:
    """The CLI refuses ``src`` with exit 2, a message naming it, and writes nothing."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    capsys.readouterr()  # what building the test's input printed (a first tf_slim graph warns)
    assert main(["convert", str(src), str(out_dir / "x.weights.h5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("inception-v2 convert: error:"), err
    for text in expected:
        assert text in err, err
    assert _only(out_dir) == [], "no output (or temporary file) may be left behind"
    return err


def test_missing_path(tmp_path, capsys):
    _convert_fails(tmp_path, tmp_path / "nope.ckpt", capsys, "nope.ckpt", "no such")


def test_not_a_checkpoint(tmp_path, capsys):
    text = tmp_path / "notes.ckpt"
    text.write_text("this is not a checkpoint\n" * 100)
    _convert_fails(tmp_path, text, capsys, "notes.ckpt", "not a readable TensorFlow checkpoint")


def test_random_bytes(tmp_path, capsys):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(np.random.default_rng(0).bytes(100_000))
    _convert_fails(tmp_path, junk, capsys, "junk.ckpt")


def test_truncated_v1_file(slim_checkpoints, tmp_path, capsys):
    data = Path(slim_checkpoints.path(version="V1")).read_bytes()
    cut = tmp_path / "inception_v2.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    _convert_fails(tmp_path, cut, capsys, "inception_v2.ckpt", "truncated/corrupt")


def _damaged_v2_copy(prefix: str, directory: Path, damage) -> Path:
    """Copy a V2 checkpoint into ``directory`` and apply ``damage(bytes) -> bytes`` to its data."""
    directory.mkdir()
    for f in _v2_files(prefix):
        shutil.copy(f, directory / f.name)
    data = next(directory.glob("*.data-*"))
    data.write_bytes(damage(data.read_bytes()))
    return directory / Path(prefix).name


def test_truncated_v2_data(slim_checkpoints, tmp_path, capsys):
    copy = _damaged_v2_copy(slim_checkpoints.path(), tmp_path / "ckpt", lambda b: b[:1000])
    _convert_fails(tmp_path, copy, capsys, "inception_v2.ckpt")


def test_corrupt_v2_data(slim_checkpoints, tmp_path, capsys):
    """Same size, zeroed bytes: the checkpoint's CRCs catch it."""
    copy = _damaged_v2_copy(
        slim_checkpoints.path(), tmp_path / "ckpt", lambda b: b[:1000] + bytes(1000) + b[2000:]
    )
    _convert_fails(tmp_path, copy, capsys, "inception_v2.ckpt")


def test_inception_v1_checkpoint(tmp_path, capsys):
    import tensorflow as tf

    tf_slim, _ = import_slim()
    from tf_slim.nets import inception_v1

    graph = tf.Graph()
    with graph.as_default():
        inputs = tf.compat.v1.placeholder(tf.float32, (1, 224, 224, 3))
        with tf_slim.arg_scope(inception_v1.inception_v1_arg_scope()):
            inception_v1.inception_v1(inputs, num_classes=1001, is_training=False)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "v1" / "inception_v1.ckpt"), write_meta_graph=False)
    _convert_fails(tmp_path, prefix, capsys, "InceptionV1", "InceptionV2")


def test_wrong_shape_names_the_variable(slim_checkpoints, tmp_path, capsys):
    variables = dict(slim_checkpoints.variables())
    name = "InceptionV2/Mixed_4c/Branch_2/Conv2d_0b_3x3/weights"
    variables[name] = variables[name][:, :, :, :100]
    prefix = save_slim_variables(variables, str(tmp_path / "bad" / "model.ckpt"))
    _convert_fails(tmp_path, prefix, capsys, "Mixed_4c/Branch_2/Conv2d_0b_3x3", "128")


def test_wrong_class_count(slim_checkpoints):
    with pytest.raises(
        CheckpointError, match=r"Logits/Conv2d_1c_1x1/biases: checkpoint \(1001,\), model \(10,\)"
    ):
        InceptionV2(weights=slim_checkpoints.path(), classes=10)


def test_converted_file_is_read_as_slim_named_arrays(slim_checkpoints, converted_1001, tmp_path):
    """A .weights.h5 or .keras is read without a model: each array is the slim variable it came from."""
    import h5py

    from inception_v2.weights.keras_files import ARRAYS_ATTRIBUTE, VARIABLES_ATTRIBUTE, read_keras_weights

    slim = slim_checkpoints.variables()
    archive = tmp_path / "converted.keras"
    convert_checkpoint(slim_checkpoints.path(), archive)
    for converted in (converted_1001, archive):
        arrays = read_keras_weights(converted)
        assert set(arrays) == set(slim)
        for name, value in slim.items():
            np.testing.assert_array_equal(arrays[name], value, err_msg=f"{converted.name}: {name}")
    keras.saving.load_model(archive, safe_mode=True)  # the record inside does not bother Keras
    # Earlier versions recorded {dataset path: slim name}: such a file is still read by its record.
    earlier = tmp_path / "earlier.weights.h5"
    shutil.copy(converted_1001, earlier)
    with h5py.File(earlier, "a") as f:
        record = json.loads(f.attrs.pop(ARRAYS_ATTRIBUTE))
        assert len(set(record.values())) == len(record)  # random values: no two arrays alike
        f.attrs[VARIABLES_ATTRIBUTE] = json.dumps({p: name for name, p in record.items()})
    # A file without a record (Keras' own, or written before records existed): through a model.
    older = tmp_path / "older.weights.h5"
    shutil.copy(earlier, older)
    with h5py.File(older, "a") as f:
        del f.attrs[VARIABLES_ATTRIBUTE]
    for path in (earlier, older):
        arrays = read_keras_weights(path)
        assert set(arrays) == set(slim)
        for name, value in slim.items():
            np.testing.assert_array_equal(arrays[name], value, err_msg=f"{path.name}: {name}")


def test_the_slim_record_follows_any_keras_layout(tmp_path, monkeypatch):
    """The record is found by content, not by Keras' private layout rule: were a Keras release
    to write its arrays elsewhere in the file, each slim name still points at its own value."""
    import h5py

    from inception_v2.weights.keras_files import ARRAYS_ATTRIBUTE, read_keras_weights, save_weights

    model = InceptionV2(weights=None, classes=3, depth_multiplier=0.25, input_shape=(64, 64, 3))
    keras_save_weights = keras.Model.save_weights

    def save_in_another_layout(self, path, *args, **kwargs):
        keras_save_weights(self, path, *args, **kwargs)
        with h5py.File(path, "a") as f:
            f.move("layers", "model_layers_of_another_release")

    monkeypatch.setattr(keras.Model, "save_weights", save_in_another_layout)
    config = dataclasses.asdict(infer_config(model_variable_map(model)))
    path = save_weights(model, tmp_path / "w.weights.h5", config)
    with h5py.File(path, "r") as f:
        record = json.loads(f.attrs[ARRAYS_ATTRIBUTE])
    assert all(p.startswith("model_layers_of_another_release/") for p in record.values())
    arrays = read_keras_weights(path)
    expected = {n: keras.ops.convert_to_numpy(v) for n, v in model_variable_map(model).items()}
    assert set(arrays) == set(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(arrays[name], value, err_msg=name)


def test_keras_and_weights_files_written_from_one_save(tmp_path):
    """Fine-tuning's last/best pair: the .weights.h5 taken from the .keras archive is a Keras
    weights file (loads with load_weights) that carries the slim names and model arguments."""
    from inception_v2.weights.keras_files import read_keras_weights, save_keras_and_weights

    model = InceptionV2(weights=None, classes=3, depth_multiplier=0.25, input_shape=(64, 64, 3))
    config = dataclasses.asdict(infer_config(model_variable_map(model)))
    archive, weights = save_keras_and_weights(model, tmp_path / "last", config)
    assert (archive.name, weights.name) == ("last.keras", "last.weights.h5")
    expected = {n: keras.ops.convert_to_numpy(v) for n, v in model_variable_map(model).items()}
    for path in (archive, weights):
        arrays = read_keras_weights(path)
        assert set(arrays) == set(expected)
        for name, value in expected.items():
            np.testing.assert_array_equal(arrays[name], value, err_msg=f"{path.name}: {name}")
    fresh = InceptionV2(weights=None, classes=3, depth_multiplier=0.25, input_shape=(64, 64, 3))
    fresh.load_weights(weights)
    for a, b in zip(model.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert _only(tmp_path) == ["last.keras", "last.weights.h5"]


@pytest.mark.slow
def test_each_job_builds_only_the_model_it_returns(slim_checkpoints, converted_1001, tmp_path, monkeypatch):
    import inception_v2.model.network as network_module
    import inception_v2.weights.factory as model_module
    from inception_v2.training.classifier import build_classifier

    builds = []
    real = network_module.inception_v2_base
    monkeypatch.setattr(
        network_module, "inception_v2_base", lambda *a, **k: builds.append(1) or real(*a, **k)
    )

    def models_built(job) -> int:
        builds.clear()
        job()
        return len(builds)

    assert models_built(lambda: convert_checkpoint(slim_checkpoints.path(), tmp_path / "c.weights.h5")) == 1
    assert models_built(lambda: model_module.InceptionV2(weights=str(converted_1001))) == 1
    archive = tmp_path / "c.keras"
    convert_checkpoint(slim_checkpoints.path(), archive)
    assert models_built(lambda: model_module.InceptionV2(weights=str(archive))) == 1
    assert models_built(lambda: build_classifier(3, weights=str(converted_1001))) == 1


def test_converted_file_with_wrong_config(converted_1001):
    with pytest.raises(CheckpointError, match="shape mismatch"):
        InceptionV2(weights=str(converted_1001), depth_multiplier=0.5)


def test_existing_destination_needs_overwrite(slim_checkpoints, tmp_path, capsys):
    dst = tmp_path / "mine.weights.h5"
    dst.write_bytes(b"precious")
    assert main(["convert", slim_checkpoints.path(), str(dst)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert dst.read_bytes() == b"precious"
    assert main(["convert", slim_checkpoints.path(), str(dst), "--overwrite"]) == 0
    assert dst.stat().st_size > 40_000_000
    assert _only(tmp_path) == ["mine.weights.h5"]


def test_bad_destination_suffix(slim_checkpoints, tmp_path, capsys):
    assert main(["convert", slim_checkpoints.path(), str(tmp_path / "out.h5")]) == 2
    assert ".weights.h5 or .keras" in capsys.readouterr().err
    assert _only(tmp_path) == []


def test_tarball_with_path_traversal_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        payload = b"owned"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(ArchiveError, match="outside"):
        read_checkpoint(evil)
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_truncated_tarball(slim_checkpoints, tmp_path, capsys):
    tarball = _tarball(
        tmp_path / "t.tar.gz", {"inception_v2.ckpt": Path(slim_checkpoints.path(version="V1"))}
    )
    tarball.write_bytes(tarball.read_bytes()[:5_000_000])
    _convert_fails(tmp_path, tarball, capsys, "t.tar.gz")


def test_verify_refuses_what_slims_graph_cannot_restore(tmp_path, capsys):
    """--verify compares with tf_slim's graph restored by slim's Saver: a Keras file or a
    preset as the source is refused before any work (it was a 95-line DataLossError after the
    conversion), and nothing is written."""
    from conftest import one_error_line, run_in_process

    keras_file = tmp_path / "w.weights.h5"
    keras_file.write_bytes(b"not read: refused by what it is")
    preset = tmp_path / "preset"
    preset.mkdir()
    (preset / "config.json").write_text('{"registered_name": "inception_v2>InceptionV2Backbone"}')
    for source in (keras_file, preset):
        done = run_in_process(capsys, "convert", source, tmp_path / "out.weights.h5", "--verify")
        one_error_line(done, f"--verify: {source} is a Keras file", "slim checkpoint it was converted from")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preset", "w.weights.h5"]
