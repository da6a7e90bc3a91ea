"""The build's drift baseline (``ops/drift.py``), run as the Baseline step's job runs it: a training split in,
statistics and constraints out, the same bytes for the same data."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from constructs_lib.ops import drift

SCRIPT = Path(drift.__file__)


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
    assert (statistics["format"], statistics["version"], statistics["records"]) == (drift.FORMAT, 1, 100)
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
    assert constraints == {"format": drift.FORMAT, "version": 1, "metric": "psi", "max_psi": 0.2,
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
    stats = drift.feature_statistics(pd.Series([None, None], dtype=float))
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


# --------------------------------------------------------------------------------------------- the drift check
ENDPOINT, CAPTURE = "churn-predictor-prod", "s3://capture/datacapture"
END = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _capture_line(row: list, at: datetime, encoding: str = "CSV") -> str:
    data = ",".join(str(v) for v in row)
    if encoding == "BASE64":
        data = base64.b64encode(data.encode()).decode()
    return json.dumps({"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                                         "data": data, "encoding": encoding}},
                       "eventMetadata": {"eventId": "e", "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")},
                       "eventVersion": "0"})


@pytest.fixture
def registry(aws_client, tmp_path):
    """A version registered with the baseline the build computes (the real job's files, in moto's S3) and an
    endpoint's capture bucket."""
    s3, sagemaker = aws_client("s3"), aws_client("sagemaker")
    for bucket in ("artifacts", "capture"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    rows = [[i % 2, i % 100, 1 if i % 10 < 3 else 0] for i in range(1000)]  # f1 uniform 0..99, f2 30 % flags
    assert _job(tmp_path, rows).returncode == 0
    for name in ("statistics", "constraints"):
        s3.put_object(Bucket="artifacts", Key=f"models/churn/exec-1/baseline/{name}.json",
                      Body=(tmp_path / "baseline" / f"{name}.json").read_bytes())
    sagemaker.create_model_package_group(ModelPackageGroupName="churn")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="churn", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "x", "ModelDataUrl": "s3://artifacts/m.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        DriftCheckBaselines={"ModelDataQuality": {
            kind: {"ContentType": "application/json",
                   "S3Uri": f"s3://artifacts/models/churn/exec-1/baseline/{kind.lower()}.json"}
            for kind in ("Statistics", "Constraints")}})["ModelPackageArn"]
    return {"s3": s3, "sagemaker": sagemaker, "cloudwatch": aws_client("cloudwatch")}, arn


def _captured(s3, variant: str, rows: list[list], minutes_before_end: int = 30, **kwargs) -> None:
    at = END - timedelta(minutes=minutes_before_end)
    body = "\n".join(_capture_line(row, at, **kwargs) for row in rows)
    s3.put_object(Bucket="capture", Key=f"datacapture/{ENDPOINT}/{variant}/{at:%Y/%m/%d/%H}/part-{variant}.jsonl",
                  Body=body.encode())


def _check(clients, arn, **kwargs):
    settings = dict(endpoint=ENDPOINT, capture_uri=CAPTURE, variants=["main"], package_arn=arn, end=END,
                    window_minutes=60, min_records=100) | kwargs
    return drift.check(clients, **settings)


def _metric(cloudwatch, name: str, **dimensions) -> list[float]:
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}] + [{"Name": k, "Value": v} for k, v in dimensions.items()]
    found = cloudwatch.get_metric_statistics(Namespace=drift.NAMESPACE, MetricName=name, Dimensions=dims,
                                             StartTime=END - timedelta(hours=1), EndTime=END + timedelta(hours=1),
                                             Period=3600, Statistics=["Maximum"])
    return [point["Maximum"] for point in found["Datapoints"]]


def test_requests_like_training_are_no_drift(registry):
    clients, arn = registry
    _captured(clients["s3"], "main", [[i % 100, 1 if i % 10 < 3 else 0] for i in range(500)])
    report = _check(clients, arn)
    assert (report["verdict"], report["rows"], report["violations"]) == ("ok", 500, [])
    assert report["max_feature_psi"] < 0.01
    assert _metric(clients["cloudwatch"], "DriftViolations") == [0]
    assert _metric(clients["cloudwatch"], "DriftRecords") == [500]
    stored = json.loads(clients["s3"].get_object(Bucket="capture", Key="monitoring/churn-predictor-prod/2026/11/30/"
                                                                       "1200.json")["Body"].read())
    assert stored["verdict"] == "ok" and report["report"] == "s3://capture/" + drift.report_key(ENDPOINT, END)


def test_a_shifted_feature_is_a_violation_with_its_psi(registry):
    clients, arn = registry
    # f1 now lives in its top decile only; f2 unchanged. Base64 captures read the same.
    _captured(clients["s3"], "main", [[95 + i % 5, 1 if i % 10 < 3 else 0] for i in range(300)], encoding="BASE64")
    report = _check(clients, arn)
    assert (report["verdict"], report["violations"]) == ("drift", ["f1"])
    f1, f2 = report["features"]
    assert f1["observed"][-2:] == [1.0, 0.0] and f1["psi"] > 2 and f2["psi"] < 0.01  # top decile, none missing
    assert _metric(clients["cloudwatch"], "FeatureDrift", Feature="f1") == [f1["psi"]]
    assert _metric(clients["cloudwatch"], "MaxFeatureDrift") == [f1["psi"]]
    assert _metric(clients["cloudwatch"], "DriftViolations") == [1]


def test_too_few_requests_give_no_verdict_metrics(registry):
    """Thin data judges nothing: only the request count is published, so the drift alarm sees no datapoint."""
    clients, arn = registry
    _captured(clients["s3"], "main", [[99, 1]] * 20)
    _captured(clients["s3"], "main", [[0, 0]] * 500, minutes_before_end=90)  # before the window: not read
    # In the window's first hourly folder but at its start: the previous window's (windows share no record).
    clients["s3"].put_object(Bucket="capture", Key=f"datacapture/{ENDPOINT}/main/2026/11/30/11/early.jsonl",
                             Body="\n".join([_capture_line([0, 0], END - timedelta(minutes=60))] * 500).encode())
    report = _check(clients, arn)
    assert (report["verdict"], report["rows"]) == ("too few requests", 20)
    assert _metric(clients["cloudwatch"], "DriftViolations") == []
    assert _metric(clients["cloudwatch"], "DriftRecords") == [20]


def test_a_feature_that_goes_blank_drifts(registry):
    """Missing values are a bin of their own: f2 blank in every request (a broken join upstream) is a
    violation, not a feature without a score."""
    clients, arn = registry
    _captured(clients["s3"], "main", [[i % 100, ""] for i in range(200)])
    report = _check(clients, arn)
    f1, f2 = report["features"]
    assert (report["verdict"], report["violations"]) == ("drift", ["f2"])
    assert (f2["count"], f2["missing"], f2["observed"][-1]) == (0, 200, 1.0) and f2["psi"] > 5 and f1["psi"] < 0.1


def test_rows_that_do_not_fit_the_baseline_are_counted_not_read(registry):
    clients, arn = registry
    _captured(clients["s3"], "main", [[1, 0]] * 150 + [[1, 2, 3]] * 7)
    report = _check(clients, arn)
    assert (report["rows"], report["unreadable"]) == (150, 7)


def test_requests_the_check_cannot_read_fail_it_instead_of_looking_quiet(registry):
    """The model's input changed (three columns where the baseline has two): no row is read, and the function
    fails (its alarm fires) after writing its report, instead of a quiet 'too few requests'."""
    clients, arn = registry
    _captured(clients["s3"], "main", [[1, 2, 3]] * 40)
    with pytest.raises(RuntimeError, match=r"40 captured request\(s\) or row\(s\) of churn-predictor-prod could "
                                           r"not be read as CSV rows of the baseline's 2 features, against 0 read"):
        _check(clients, arn)
    assert clients["s3"].head_object(Bucket="capture", Key=drift.report_key(ENDPOINT, END))


def test_training_data_is_no_drift_whatever_its_values():
    """Values that sit on the bins' edges, fractions included (a scaled feature), land in the same bins in the
    baseline and in the check: the training rows themselves have a PSI of 0."""
    import numpy as np

    rng = np.random.default_rng(7)
    column = rng.normal(0, 1, 2000) / 3.7  # 16 significant digits: the stored edges are rounded to 12
    column[:300] = 0.1234567890124  # repeated, an edge, and rounded down when stored (0.123456789012)
    frame = pd.DataFrame({"label": 0, "f": column, "g": rng.integers(0, 4, 2000)})
    statistics, constraints = drift.baseline(frame)
    records = [json.loads(_capture_line([repr(float(v)), int(g)], END)) for v, g in zip(column, frame["g"])]
    report = drift.drift_report(statistics, constraints, records, min_records=100)
    f, g = report["features"]
    assert (report["rows"], f["count"], f["missing"]) == (2000, 2000, 0)
    assert report["verdict"] == "ok" and f["psi"] == g["psi"] == 0


def test_a_version_without_a_baseline_fails_the_check_loudly(registry, aws_client):
    clients, _ = registry
    sagemaker = clients["sagemaker"]
    old = sagemaker.create_model_package(
        ModelPackageGroupName="churn", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "x", "ModelDataUrl": "s3://artifacts/m.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]
    with pytest.raises(RuntimeError, match="has no drift baseline .Statistics.: it was registered before"):
        _check(clients, old)


def test_the_function_reads_its_settings_and_the_scheduled_time(registry, monkeypatch):
    clients, arn = registry
    _captured(clients["s3"], "main", [[i % 100, 0] for i in range(200)])
    _captured(clients["s3"], "shadow", [[99, 1]] * 200)  # the shadow is not a variant the check reads
    monkeypatch.setenv("MODEL_PACKAGE_ARN", arn)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("CAPTURE_URI", CAPTURE)
    monkeypatch.setenv("VARIANTS", "main")
    summary = drift.handler({"time": "2026-11-30T12:10:00Z"}, None, clients=clients)
    # The window ends CAPTURE_LAG_MINUTES before the run, when SageMaker has written its capture files.
    assert summary["rows"] == 200 and summary["report"].endswith("/2026/11/30/1200.json")


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift():
    assert drift.psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert 0 < drift.psi([0.5, 0.5], [0.6, 0.4]) < drift.psi([0.5, 0.5], [0.9, 0.1])
    assert drift.psi([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0  # empty bins on both sides add nothing
