"""The paper's variants, and the study that trains them: outputs, determinism, resume.

(Bad command lines: tests/test_cli.py.)"""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from inception_v2 import InceptionV2
from inception_v2.model.architecture import conv_depths
from inception_v2.studies.bn import study as bn_study
from inception_v2.studies.bn.study import StudySettings, run_study

pytestmark = pytest.mark.slow  # trains, or runs several backends or commands: not in the quick subset

#: The smallest study that still trains two networks: most layers at min_depth, 32 px.
TINY = dict(steps=6, eval_every=3, depth_multiplier=0.1, batch_size=16, variants=["Inception", "BN-x5"])


def _layers(model, kind):
    return [layer for layer in model.layers if type(layer) is kind]


def test_no_batch_norm_variant_has_biases_instead():
    plain = InceptionV2(batch_norm=False)
    default = InceptionV2()
    assert not _layers(plain, keras.layers.BatchNormalization)
    convs = _layers(plain, keras.layers.Conv2D)
    assert convs and all(layer.use_bias for layer in convs)
    # Each batch norm (beta, moving mean, moving variance: 3 per channel) becomes a bias (1 per channel).
    channels = sum(conv_depths().values())
    assert default.count_params() - plain.count_params() == 2 * channels
    # Same names for what is the same: every conv of the default network is there.
    assert {layer.name for layer in convs} == {layer.name for layer in _layers(default, keras.layers.Conv2D)}


def test_sigmoid_variant_has_no_relu():
    model = InceptionV2(activation="sigmoid", depth_multiplier=0.25)
    assert not _layers(model, keras.layers.ReLU)
    sigmoids = [layer for layer in model.layers if layer.name.endswith("__Sigmoid")]
    # one per convolution: the batch-normed ones and the separable stem
    assert len(sigmoids) == len(conv_depths(0.25)) + 1
    assert all(layer.get_config()["activation"] == "sigmoid" for layer in sigmoids)
    assert (
        InceptionV2(activation="sigmoid", depth_multiplier=0.25).count_params()
        == InceptionV2(depth_multiplier=0.25).count_params()
    )


def test_variant_options_are_checked():
    with pytest.raises(ValueError, match="activation must be one of relu, sigmoid"):
        InceptionV2(activation="tanh")
    with pytest.raises(ValueError, match="no batch norm to fold"):
        InceptionV2(batch_norm=False, fold_batch_norm=True)


def test_slims_checkpoint_in_the_variants(slim_checkpoints):
    """Without batch norm, slim's weights load folded (slim's own inference function); with
    sigmoids they are refused: they were trained for ReLUs."""
    from inception_v2.weights.checkpoint import CheckpointError
    from inception_v2.weights.slim_reference import smooth_random_images

    path = slim_checkpoints.path()
    images = smooth_random_images(2, 224, 224, np.random.default_rng(0))
    plain = InceptionV2(batch_norm=False, weights=path, classifier_activation=None)
    slim_graph = InceptionV2(weights=path, classifier_activation=None)
    expected = slim_graph.predict(images, verbose=0)
    np.testing.assert_allclose(plain.predict(images, verbose=0), expected, atol=1e-4, rtol=1e-4)
    assert np.abs(expected[0] - expected[1]).max() > 0.1  # the logits depend on the image
    with pytest.raises(CheckpointError, match=r"trained with ReLU; activation='sigmoid'"):
        InceptionV2(activation="sigmoid", weights=path)


def test_study_writes_resumes_and_refuses(tmp_path, monkeypatch):
    """One uninterrupted study (its outputs checked), a study killed and resumed (it must end
    with the same curve), and a rerun with other settings (refused). One test, so that the
    reference study is trained once on one worker."""
    out = tmp_path / "out"
    result = run_study(StudySettings(**TINY), out, eager=True)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "table.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == ["Inception", "BN-x5"]
    saved = json.loads((out / "table.json").read_text())
    assert saved["table"] == result["table"] and saved["data"]["source"] == "scikit-learn digits"
    assert saved["data"]["train"] + saved["data"]["val"] == 1797
    curves = bn_study.read_curves(out / "curves.csv")
    steps = {v: [r["step"] for r in rows] for v, rows in curves.items()}
    assert steps == {"Inception": [0, 3, 6], "BN-x5": [0, 3, 6]}
    assert all(r["loss"] > 0 for rows in curves.values() for r in rows[1:])
    assert "Inception" in result["text"] and "BN-x5" in result["text"]
    # Six steps compare nothing, and the table says so under itself.
    assert (
        result["text"].splitlines()[-1].startswith("warning: 6 steps with an evaluation every 3: too short")
    )
    assert StudySettings().too_short() is None, "the defaults make a study worth reading"
    assert sorted(p.name for p in (out / "models").iterdir()) == ["BN-x5.keras", "Inception.keras"]

    _killed_and_resumed(tmp_path / "killed", monkeypatch, curves["BN-x5"])

    before = (out / "table.json").read_text()
    with pytest.raises(ValueError, match=r"other settings \(steps: 6 -> 8\).*--overwrite"):
        run_study(StudySettings(**{**TINY, "steps": 8}), out, eager=True)
    assert (out / "table.json").read_text() == before


def _killed_and_resumed(out, monkeypatch, reference):
    """BN-x5 alone, killed after its last curve row was written but before its model was
    saved: the rerun trains it again from its model of step 3 and ends with the curve of the
    uninterrupted study, to the last digit (which is also the same-seed test: this run is
    another process's worth of state, with another set of variants)."""
    settings = StudySettings(**{**TINY, "variants": ["BN-x5"]})
    monkeypatch.setattr(bn_study, "SAVE_EVERY_S", -1.0)  # save at every evaluation
    calls = []
    write_curves = bn_study.write_curves

    def dies_after_third_write(path, curves):
        write_curves(path, curves)
        calls.append(1)
        # steps 0, 3 (its model saved at 3), then step 6 is written to the curve and the study
        # killed before the model of step 6 is saved.
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(bn_study, "write_curves", dies_after_third_write)
    with pytest.raises(KeyboardInterrupt):
        run_study(settings, out, eager=True)
    assert [r["step"] for r in bn_study.read_curves(out / "curves.csv")["BN-x5"]] == [0, 3, 6]
    assert not (out / "table.csv").exists()
    monkeypatch.setattr(bn_study, "write_curves", write_curves)
    seen = []
    run_study(settings, out, progress=lambda n, note: seen.append(note), eager=True)
    assert any("BN-x5: resumed at step 3" in note for note in seen)
    np.testing.assert_equal(bn_study.read_curves(out / "curves.csv")["BN-x5"], reference)
