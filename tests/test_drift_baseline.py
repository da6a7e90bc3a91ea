"""The build's drift baseline (``drift_baseline.py``), run as the Baseline step's job runs it: a training split in,
statistics and constraints out, the same bytes for the same data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from constructs_lib import drift_baseline

SCRIPT = Path(drift_baseline.__file__)


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The script alone in a folder of its own, as the job mounts it (input/code/), in a fresh interpreter."""
    code = tmp_path / "input" / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / SCRIPT.name).write_bytes(SCRIPT.read_bytes())
    return subprocess.run([sys.executable, str(code / SCRIPT.name), "--base", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=120)


def _job(tmp_path: Path, rows: list[list], *args: str) -> subprocess.CompletedProcess:
    """The job on a processing folder holding train/train.csv."""
    (tmp_path / "train").mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(tmp_path / "train" / "train.csv", header=False, index=False)
    return _run(tmp_path, *args)


def test_the_baseline_describes_each_feature_of_the_training_split(tmp_path):
    # label, a number 1..100, a flag (30 % yes), a column with missing values
    rows = [[i % 2, i, 1 if i <= 30 else 0, None if i % 4 == 0 else i / 10] for i in range(1, 101)]
    done = _job(tmp_path, rows)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"records": 100, "features": 3}
    statistics = json.loads((tmp_path / "baseline" / "statistics.json").read_text())
    assert (statistics["format"], statistics["version"], statistics["records"]) == (drift_baseline.FORMAT, 1, 100)
    number, flag, sparse = statistics["features"]
    assert [f["name"] for f in statistics["features"]] == ["f1", "f2", "f3"]  # the label is not a feature
    assert (number["count"], number["missing"], number["min"], number["max"], number["mean"]) == (100, 0, 1, 100, 50.5)
    assert number["bins"]["edges"] == [10, 20, 30, 40, 50, 60, 70, 80, 90]  # the deciles, values seen
    assert number["bins"]["proportions"] == [0.1] * 10
    # A flag has two bins worth of values: (-inf, 0] and (0, 1].
    assert flag["bins"] == {"edges": [0.0, 1.0], "proportions": [0.7, 0.3, 0.0]}
    assert (sparse["count"], sparse["missing"]) == (100, 25)
    assert sum(sparse["bins"]["proportions"]) == pytest.approx(1)
    constraints = json.loads((tmp_path / "baseline" / "constraints.json").read_text())
    assert constraints == {"format": drift_baseline.FORMAT, "version": 1, "metric": "psi", "max_psi": 0.2,
                           "features": ["f1", "f2", "f3"]}


def test_the_same_data_gives_the_same_bytes(tmp_path):
    rows = [[i % 2, (i * 37) % 101 / 7, i % 3] for i in range(500)]
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        assert _job(folder, rows, "--max-psi", "0.25").returncode == 0
    for name in ("statistics.json", "constraints.json"):
        assert (first / "baseline" / name).read_bytes() == (second / "baseline" / name).read_bytes()
    assert json.loads((first / "baseline" / "constraints.json").read_text())["max_psi"] == 0.25


def test_a_feature_with_no_value_has_no_bins():
    stats = drift_baseline.feature_statistics(pd.Series([None, None], dtype=float))
    assert stats == {"count": 2, "missing": 2, "bins": {"edges": [], "proportions": []}}


@pytest.mark.parametrize("rows, args, message", [
    ([[1], [0]], (), "expected the label and at least one feature per row, got 1 column(s)"),
    ([[1, 2]], ("--max-psi", "0"), "--max-psi must be a positive number, got 0.0"),
    ([[1, 2]], ("--max-psi", "nan"), "--max-psi must be a positive number, got nan"),
])
def test_bad_input_fails_the_job_with_one_line(tmp_path, rows, args, message):
    done = _job(tmp_path, rows, *args)
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert not (tmp_path / "baseline").exists()


def test_a_job_without_its_training_split_says_where_it_looked(tmp_path):
    (tmp_path / "train").mkdir()
    done = _run(tmp_path)
    assert done.returncode != 0 and f"no .csv file in {tmp_path / 'train'}" in done.stderr
