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
from ops_support import create_endpoint

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


def _capture_line(row: list, at: datetime, encoding: str = "CSV", output: str | None = None,
                  event_id: str = "e", inference_id: str | None = None) -> str:
    data = ",".join(str(v) for v in row)
    if encoding == "BASE64":
        data = base64.b64encode(data.encode()).decode()
    capture = {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": data,
                                 "encoding": encoding}}
    if output is not None:
        capture["endpointOutput"] = {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT",
                                     "data": output, "encoding": "CSV"}
    meta = {"eventId": event_id, "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    return json.dumps({"captureData": capture, "eventMetadata": meta, "eventVersion": "0"})


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
            for kind in ("Statistics", "Constraints")}},
        ModelMetrics={"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": "s3://artifacts/models/churn/exec-1/evaluation/evaluation.json"}}},
    )["ModelPackageArn"]
    s3.put_object(Bucket="artifacts", Key="models/churn/exec-1/evaluation/evaluation.json",
                  Body=json.dumps({"metrics": {"accuracy": {"value": 0.86}, "auc": {"value": 0.91}}}).encode())
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


def _metric(cloudwatch, name: str, end: datetime = END, **dimensions) -> list[float]:
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}] + [{"Name": k, "Value": v} for k, v in dimensions.items()]
    found = cloudwatch.get_metric_statistics(Namespace=drift.NAMESPACE, MetricName=name, Dimensions=dims,
                                             StartTime=end - timedelta(hours=1), EndTime=end + timedelta(hours=1),
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


# ------------------------------------------------------------------------------ model quality, against labels
def test_the_quality_metrics_are_the_build_s_evaluation_metrics():
    """The check computes what the build's evaluate.py (the project template's) computes, on the same rows."""
    import importlib.util

    import numpy as np

    spec = importlib.util.spec_from_file_location(
        "template_evaluate", Path(drift.__file__).parents[1] / "project_template" / "evaluate.py")
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400).astype(float)
    scores = np.round(np.clip(labels * 0.3 + rng.uniform(0, 0.7, 400), 0, 1), 2)  # ties included
    expected = {name: entry["value"] for name, entry in evaluate.compute_metrics(labels, scores).items()}
    found = drift.classification_metrics(list(labels), list(scores))
    assert set(found) == set(drift.QUALITY_METRICS) == set(expected)
    assert {name: round(value, 6) for name, value in found.items()} == expected


def test_a_metric_the_window_leaves_undefined_is_no_verdict():
    """Labels of one class only: recall and AUC do not exist (evaluate.py would say 0, which would alarm)."""
    found = drift.classification_metrics([0.0, 0.0, 0.0], [0.2, 0.7, 0.1])
    assert found["auc"] is None and found["recall"] is None
    assert found["accuracy"] == pytest.approx(2 / 3) and found["precision"] == 0 and found["f1"] == 0
    report = drift.quality_report([], {}, "auc", 0.7, min_labels=1)
    assert (report["verdict"], report["value"], report["labeled"]) == ("too few requests", None, 0)


def test_a_model_that_stopped_predicting_the_positive_class_scores_zero():
    """Churners among the labels, none predicted: precision and f1 are 0, as evaluate.py says, so the alarm
    can fire (they are undefined only when no positive exists at all)."""
    found = drift.classification_metrics([1.0, 0.0, 1.0, 0.0, 1.0], [0.1, 0.2, 0.3, 0.1, 0.4])
    assert (found["precision"], found["recall"], found["f1"]) == (0, 0, 0)
    assert drift.classification_metrics([0.0, 0.0], [0.1, 0.2])["f1"] is None


QUALITY = {"metric": "accuracy", "threshold": 0.8, "label_delay_hours": 24, "min_labels": 10}
#: The quality tests' drift window ends two days from now: the endpoint moto makes now serves the whole judged
#: window (24 h before), which is what a window long after a release looks like.
QEND = (datetime.now(timezone.utc) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
LABELED_AT = QEND - timedelta(hours=24, minutes=30)  # in the window the quality check judges (24 h earlier)


@pytest.fixture
def serving(registry):
    """The registry plus the endpoint whose config the quality check asks about (made now, in moto)."""
    clients, arn = registry
    create_endpoint(clients["sagemaker"], tag_stack=False, endpoint_name=ENDPOINT)
    return {**clients, "endpoint": clients["sagemaker"]}, arn


def _predicted(s3, rows: list[tuple[str, str]], at: datetime = LABELED_AT, by: str = "inference") -> None:
    """Captured requests of main with their predictions: (request id, probability)."""
    lines = [_capture_line([50, 0], at, output=score, event_id=f"sm-{rid}",
                           inference_id=rid if by == "inference" else None) for rid, score in rows]
    s3.put_object(Bucket="capture", Key=f"datacapture/{ENDPOINT}/main/{at:%Y/%m/%d/%H}/predicted-{by}.jsonl",
                  Body="\n".join(lines).encode())


def _labels(s3, labels: dict[str, str], written: datetime = QEND - timedelta(hours=2), name: str = "labels",
            extra: str = "") -> None:
    """Ground truth as the application writes it: Model Monitor's record format, the hour it was written."""
    body = "\n".join(json.dumps({"groundTruthData": {"data": value, "encoding": "CSV"},
                                 "eventMetadata": {"eventId": rid}, "eventVersion": "0"})
                     for rid, value in labels.items()) + extra
    s3.put_object(Bucket="capture", Key=f"ground-truth/{ENDPOINT}/{written:%Y/%m/%d/%H}/{name}.jsonl",
                  Body=body.encode())


def _quality_check(clients, arn, **kwargs):
    return _check(clients, arn, end=QEND, quality=QUALITY, **kwargs)


def test_predictions_are_judged_against_the_labels_written_since(serving):
    clients, arn = serving
    s3 = clients["s3"]
    # 20 labelled requests, 16 right at the 0.5 cutoff rule (accuracy 0.8), 5 never labelled.
    _predicted(s3, [(f"r{i}", "0.9" if i < 10 else "0.1") for i in range(25)])
    wrong = {"r8": "0", "r9": "0", "r10": "1", "r11": "1"}
    _labels(s3, {f"r{i}": "1" for i in range(8)} | wrong | {f"r{i}": "0" for i in range(12, 20)})
    _labels(s3, {"elsewhere": "1"}, written=QEND - timedelta(days=3), name="old")  # before the window: not read
    # Written in the run's own hour, after the drift window's end (the run is 10 minutes later): read.
    _labels(s3, {"r20": "0"}, written=QEND + timedelta(minutes=5), name="late")
    report = _quality_check(clients, arn)
    quality = report["quality"]
    assert (quality["labeled"], quality["unlabeled"], quality["unreadable"]) == (21, 4, 0)
    assert (quality["value"], quality["verdict"]) == (pytest.approx(17 / 21), "ok")
    assert quality["window"] == {"start": (QEND - timedelta(hours=25)).isoformat(),
                                 "end": (QEND - timedelta(hours=24)).isoformat()}
    assert quality["registered_value"] == 0.86  # the build's test split, for context
    assert _metric(clients["cloudwatch"], "ModelQuality", QEND, Metric="accuracy") == [quality["value"]]
    assert _metric(clients["cloudwatch"], "LabeledRecords", QEND) == [21]
    stored = json.loads(s3.get_object(Bucket="capture", Key=drift.report_key(ENDPOINT, QEND))["Body"].read())
    assert stored["quality"]["labeled"] == 21


def test_a_worse_model_is_below_the_threshold_and_requests_match_by_event_id_without_an_inference_id(serving):
    clients, arn = serving
    _predicted(clients["s3"], [(f"r{i}", "0.9") for i in range(20)], by="event")
    _labels(clients["s3"], {f"sm-r{i}": "0" if i < 10 else "1" for i in range(20)})  # half wrong
    quality = _quality_check(clients, arn)["quality"]
    assert (quality["labeled"], quality["value"], quality["verdict"]) == (20, 0.5, "below threshold")
    assert _metric(clients["cloudwatch"], "ModelQuality", QEND, Metric="accuracy") == [0.5]


def test_too_few_labels_publish_no_quality_and_count_the_labels(serving):
    """Enough requests, too few labels: no verdict, and LabeledRecords under min_labels (the labels-missing
    alarm's metric)."""
    clients, arn = serving
    _predicted(clients["s3"], [(f"r{i}", "0.9") for i in range(20)])
    _labels(clients["s3"], {f"r{i}": "1" for i in range(5)})
    quality = _quality_check(clients, arn)["quality"]
    assert (quality["labeled"], quality["unlabeled"], quality["verdict"]) == (5, 15, "too few labels")
    assert _metric(clients["cloudwatch"], "ModelQuality", QEND, Metric="accuracy") == []
    assert _metric(clients["cloudwatch"], "LabeledRecords", QEND) == [5]


def test_thin_traffic_is_not_missing_labels(serving):
    """Fewer rows than min_labels: its own verdict and no count, so the labels-missing alarm hears nothing."""
    clients, arn = serving
    _predicted(clients["s3"], [(f"r{i}", "0.9") for i in range(4)])
    assert _quality_check(clients, arn)["quality"]["verdict"] == "too few requests"
    assert _metric(clients["cloudwatch"], "LabeledRecords", QEND) == []


def test_rows_not_requests_count_towards_min_labels(serving):
    """Four requests of three rows each are twelve rows: enough to judge (min_labels 10), so their missing
    labels are counted."""
    clients, arn = serving
    _predicted(clients["s3"], [(f"r{i}", "0.9\n0.8\n0.1") for i in range(4)])
    quality = _quality_check(clients, arn)["quality"]
    assert (quality["rows"], quality["labeled"], quality["verdict"]) == (12, 0, "too few labels")
    assert _metric(clients["cloudwatch"], "LabeledRecords", QEND) == [0]


def test_a_label_written_later_corrects_an_earlier_one_whatever_the_file_names(serving):
    import time

    clients, arn = serving
    _predicted(clients["s3"], [(f"r{i}", "0.9") for i in range(12)])
    _labels(clients["s3"], {f"r{i}": "0" for i in range(12)}, name="b-first")
    time.sleep(1.1)  # S3 stamps LastModified to the second
    _labels(clients["s3"], {f"r{i}": "1" for i in range(12)}, name="a-correction")
    assert _quality_check(clients, arn)["quality"]["value"] == 1.0


def test_a_window_before_the_release_is_not_blamed_on_the_released_version(serving):
    """Within label_delay_hours of a release the judged window held the previous version's predictions: no
    verdict, no metric, and the report says since when the current config serves."""
    clients, arn = serving
    soon = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(second=0, microsecond=0)
    _predicted(clients["s3"], [(f"r{i}", "0.9") for i in range(20)], at=soon - timedelta(hours=24, minutes=30))
    _labels(clients["s3"], {f"r{i}": "0" for i in range(20)}, written=soon - timedelta(hours=1))
    quality = _check(clients, arn, end=soon, quality=QUALITY)["quality"]
    assert quality["verdict"] == "previous version" and "serving_since" in quality
    assert _metric(clients["cloudwatch"], "ModelQuality", soon, Metric="accuracy") == []
    assert _metric(clients["cloudwatch"], "LabeledRecords", soon) == []


def test_predictions_or_labels_the_check_cannot_read_fail_it(serving):
    """A model answering JSON where the check expects a probability, or labels that are not 0/1 (or not JSON),
    fail the function (its alarm fires) instead of looking like a window nobody labelled."""
    clients, arn = serving
    _predicted(clients["s3"], [(f"r{i}", '{"score": 0.9}') for i in range(12)])
    _labels(clients["s3"], {f"r{i}": "1" for i in range(12)})
    with pytest.raises(RuntimeError, match=r"12 labelled request\(s\)' predictions and 0 ground-truth line\(s\) of "
                                           r"churn-predictor-prod could not be read .*against 0 labelled row\(s\) "
                                           r"read: see s3://capture/"):
        _quality_check(clients, arn)
    stored = json.loads(clients["s3"].get_object(Bucket="capture", Key=drift.report_key(ENDPOINT, QEND))["Body"].read())
    assert stored["quality"]["verdict"] == "unreadable"  # not "too few labels": the labels are there
    assert _metric(clients["cloudwatch"], "LabeledRecords", QEND) == []  # nor a labels-missing count


def test_labels_the_check_cannot_read_fail_it_and_a_few_are_counted(serving):
    clients, arn = serving
    _predicted(clients["s3"], [(f"r{i}", "0.9") for i in range(12)])
    _labels(clients["s3"], {f"r{i}": "yes" for i in range(10)}, extra="\nnot json\n{}")
    with pytest.raises(RuntimeError, match=r"0 labelled request\(s\)' predictions and 12 ground-truth line\(s\)"):
        _quality_check(clients, arn)
    # Fewer unreadable lines than labelled rows: judged, and counted in the report (mlops monitor shows them).
    clients["s3"].delete_object(Bucket="capture", Key=f"ground-truth/{ENDPOINT}/"
                                f"{QEND - timedelta(hours=2):%Y/%m/%d/%H}/labels.jsonl")
    _labels(clients["s3"], {f"r{i}": "1" for i in range(12)} | {"r0": "2"})
    quality = _quality_check(clients, arn)["quality"]
    assert (quality["verdict"], quality["labeled"], quality["unreadable_labels"]) == ("ok", 11, 1)


def test_a_failing_quality_check_still_publishes_the_drift_verdict(registry):
    """No endpoint to ask (a permission missing, say): the drift metrics and report are out, then the run fails."""
    clients, arn = registry
    _captured(clients["s3"], "main", [[i % 100, 1 if i % 10 < 3 else 0] for i in range(500)])
    with pytest.raises(RuntimeError, match="the quality check failed: ClientError: .*see s3://capture/"):
        _check(clients | {"endpoint": clients["sagemaker"]}, arn, quality=QUALITY)
    assert _metric(clients["cloudwatch"], "DriftViolations") == [0]
    stored = json.loads(clients["s3"].get_object(Bucket="capture", Key=drift.report_key(ENDPOINT, END))["Body"].read())
    assert stored["verdict"] == "ok" and stored["quality"]["verdict"] == "failed"


def test_labels_not_read_in_the_function_s_time_fail_the_run(serving):
    clients, arn = serving
    _predicted(clients["s3"], [(f"r{i}", "0.9") for i in range(12)])
    _labels(clients["s3"], {f"r{i}": "1" for i in range(12)})
    with pytest.raises(RuntimeError, match="could not all be read in the function's time: write labels in fewer"):
        _quality_check(clients, arn, deadline=0.0)  # long past


def test_the_function_judges_quality_when_its_settings_say_so(serving, monkeypatch):
    clients, arn = serving
    _predicted(clients["s3"], [(f"r{i}", "0.9") for i in range(12)])
    _labels(clients["s3"], {f"r{i}": "1" for i in range(12)})
    for name, value in {"MODEL_PACKAGE_ARN": arn, "ENDPOINT_NAME": ENDPOINT, "CAPTURE_URI": CAPTURE,
                        "VARIANTS": "main", "QUALITY_METRIC": "precision", "QUALITY_THRESHOLD": "0.9",
                        "LABEL_DELAY_HOURS": "24", "MIN_LABELS": "10"}.items():
        monkeypatch.setenv(name, value)
    summary = drift.handler({"time": (QEND + timedelta(minutes=10)).isoformat()}, None, clients=clients)
    assert summary["quality"] == {"metric": "precision", "value": 1.0, "labeled": 12, "verdict": "ok"}
