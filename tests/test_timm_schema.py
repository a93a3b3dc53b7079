"""eval's result in timm's results schema: the header as timm's own files have it, the values
as eval measured them."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import run_in_process

from inception_v2.evaluation.evaluate import EvalResult
from inception_v2.evaluation.timm_schema import timm_row, write_timm_csv

# The first lines of huggingface/pytorch-image-models' results/results-imagenet.csv and
# results/results-imagenet-a.csv, copied as they are.
TIMM_HEADER = "model,top1,top1_err,top5,top5_err,param_count,img_size,crop_pct,interpolation"
TIMM_SHIFTED_HEADER = TIMM_HEADER + ",top1_diff,top5_diff,rank_diff"


def test_rows_have_timms_columns_and_formats(tmp_path):
    imagenet = EvalResult(top1=0.739, top5=0.918, param_count=11_293_624)
    shifted = EvalResult(top1=0.02512, top5=0.1, param_count=11_293_624)
    write_timm_csv([timm_row(imagenet, "inception_v2.tf_in1k")], tmp_path / "in.csv")
    write_timm_csv([timm_row(shifted, "inception_v2.tf_in1k", imagenet)], tmp_path / "a.csv")
    lines = (tmp_path / "in.csv").read_text().splitlines()
    assert lines == [TIMM_HEADER, "inception_v2.tf_in1k,73.900,26.100,91.800,8.200,11.29,224,0.875,bilinear"]
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0] == TIMM_SHIFTED_HEADER
    assert (
        lines[1]
        == "inception_v2.tf_in1k,2.512,97.488,10.000,90.000,11.29,224,0.875,bilinear,-71.388,-81.800,0"
    )
    big = timm_row(EvalResult(top1=0.5, top5=0.9, param_count=1_014_450_000), "giant")
    write_timm_csv([big], tmp_path / "big.csv")
    assert ',"1,014.45",224,' in (tmp_path / "big.csv").read_text()  # quoted, as timm writes it


@pytest.mark.slow
def test_eval_writes_its_row(slim_checkpoints, converted_thin, tmp_path, capsys):
    out = tmp_path / "row.csv"
    done = run_in_process(capsys, "eval", "--weights", converted_thin, "--timm-csv", out, "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    with open(out, newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["model"] == converted_thin.name
    assert float(row["top1"]) == pytest.approx(100 * report["top1"], abs=5e-4)
    assert float(row["top5"]) == pytest.approx(100 * report["top5"], abs=5e-4)
    # Parameters as timm counts them, from slim's own variables: no moving statistics.
    variables = slim_checkpoints.variables(depth_multiplier=0.25)
    expected = sum(int(np.prod(v.shape)) for name, v in variables.items() if "moving_" not in name)
    assert row["param_count"] == f"{expected / 1e6:,.2f}"
