"""``mlops monitor``: the newest drift report of an endpoint, found through its capture destination, with the
drift alarms' states; the endpoint, its bucket and the alarms live in the moto server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from constructs_lib.ops.base import EXIT_NOT_FOUND
from constructs_lib.ops.drift import report_key

ENDPOINT, ROLE, IMAGE = "churn-predictor-prod", "arn:aws:iam::123456789012:role/sm", "1.dkr.ecr.eu-west-1.amazonaws.com/x:1"


@pytest.fixture
def endpoint(aws_client):
    sagemaker, s3 = aws_client("sagemaker"), aws_client("s3")
    s3.create_bucket(Bucket="capture", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    sagemaker.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    sagemaker.create_endpoint_config(
        EndpointConfigName="cfg", ProductionVariants=[{"VariantName": "main", "ModelName": "m",
                                                       "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 20,
                           "DestinationS3Uri": "s3://capture/datacapture",
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="cfg")
    return s3, aws_client("cloudwatch")


def _report(s3, end: datetime, verdict: str, violations=(), features=(), quality=None) -> None:
    report = {"verdict": verdict, "violations": list(violations), "max_psi": 0.2, "rows": 480, "unreadable": 2,
              "min_records": 100, "model_package": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/c/4",
              "window": {"start": (end - timedelta(hours=1)).isoformat(), "end": end.isoformat()},
              "features": [{"name": name, "psi": psi} for name, psi in features]}
    if quality is not None:
        report["quality"] = quality
    s3.put_object(Bucket="capture", Key=report_key(ENDPOINT, end), Body=json.dumps(report).encode())


def test_the_newest_report_names_the_drifted_features_and_the_alarms(mlops, endpoint):
    s3, cloudwatch = endpoint
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    _report(s3, now - timedelta(hours=2), "ok", features=[("f1", 0.01)])
    _report(s3, now - timedelta(hours=1), "drift", ["f2"], [("f1", 0.05), ("f2", 0.71), ("f3", 0.0)])
    cloudwatch.put_metric_alarm(AlarmName=f"{ENDPOINT}-data-drift", MetricName="DriftViolations",
                                Namespace="SageMakerSafeRelease/Drift", Statistic="Maximum", Period=3600,
                                EvaluationPeriods=2, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    result = mlops("monitor", ENDPOINT)
    assert result.code == 0, result.err
    assert result.out.splitlines()[:2] == [f"endpoint: {ENDPOINT}", "drift:    DRIFT: f2 above PSI 0.2"]
    features = result.out.split("feature")[1].splitlines()
    assert [line.split()[0] for line in features[2:5]] == ["f2", "f1", "f3"]  # largest PSI first
    assert f"{ENDPOINT}-data-drift" in result.out
    data = json.loads(mlops("monitor", ENDPOINT, "--json").out)
    assert (data["verdict"], data["violations"], data["rows"]) == ("drift", ["f2"], 480)
    assert data["report"] == f"s3://capture/{report_key(ENDPOINT, now - timedelta(hours=1))}"


def test_the_model_s_quality_against_labels_is_shown_with_its_alarm(mlops, endpoint):
    s3, cloudwatch = endpoint
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    judged = {"start": "2026-11-27T11:00:00+00:00", "end": "2026-11-27T12:00:00+00:00"}
    _report(s3, now - timedelta(hours=1), "ok", features=[("f1", 0.01)], quality={
        "metric": "auc", "value": 0.62, "threshold": 0.75, "registered_value": 0.91, "verdict": "below threshold",
        "labeled": 640, "rows": 700, "unreadable_labels": 3,
        "unlabeled": 12, "unreadable": 0, "min_labels": 200, "window": judged,
        "labels": f"s3://capture/ground-truth/{ENDPOINT}/"})
    cloudwatch.put_metric_alarm(AlarmName=f"{ENDPOINT}-model-quality", MetricName="ModelQuality",
                                Namespace="SageMakerSafeRelease/Drift", Statistic="Minimum", Period=3600,
                                EvaluationPeriods=2, Threshold=0.75, ComparisonOperator="LessThanThreshold")
    result = mlops("monitor", ENDPOINT)
    assert result.code == 0, result.err
    assert "quality:       BELOW THRESHOLD: auc 0.62 < 0.75 (0.91 on the build's test split)" in result.out
    assert "judged window: 2026-11-27T11:00:00+00:00 to 2026-11-27T12:00:00+00:00" in result.out
    assert ("640 labelled rows of 700; 12 request(s) without a label; unreadable: 0 prediction(s), 3 label "
            "line(s); from s3://capture/ground-truth/") in result.out
    assert f"{ENDPOINT}-model-quality" in result.out
    assert json.loads(mlops("monitor", ENDPOINT, "--json").out)["quality"]["verdict"] == "below threshold"


def test_an_older_day_is_read_when_today_has_no_report(mlops, endpoint):
    s3, _ = endpoint
    _report(s3, datetime.now(timezone.utc) - timedelta(days=2), "too few requests")
    result = mlops("monitor", ENDPOINT)
    assert "NO VERDICT: 480 rows read, 100 needed" in result.out
    assert "no drift report" in mlops("monitor", ENDPOINT, "--days", "1").out


def test_an_endpoint_without_capture_runs_no_check(mlops, aws_client):
    sagemaker = aws_client("sagemaker")
    sagemaker.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    sagemaker.create_endpoint_config(EndpointConfigName="plain", ProductionVariants=[
        {"VariantName": "main", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName="plain-ep", EndpointConfigName="plain")
    result = mlops("monitor", "plain-ep")
    assert result.code == EXIT_NOT_FOUND and "captures no data" in result.err


def test_an_unknown_endpoint_is_not_found(mlops):
    result = mlops("monitor", "ghost")
    assert result.code == EXIT_NOT_FOUND and result.err.startswith("error: not found: DescribeEndpoint")
