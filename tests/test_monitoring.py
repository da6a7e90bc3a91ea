"""DriftMonitor: the scheduled drift check of an endpoint's captured requests, its least-privilege role, its
schedule and its two alarms (cdk-nag and cfn-lint clean); and the limits it refuses in one line."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from constructs_lib.endpoint import ModelEndpoint
from constructs_lib.errors import ConfigError
from constructs_lib.monitoring import DriftMonitor, ModelQualityCheck
from constructs_lib.registry import RegistryRef
from constructs_lib.variants import DataCapture, ModelSource, ProductionVariant
from support import check_assembly, nag_app, synth_checked
from test_components import by_type
from test_endpoint import ENV

VERSION = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn/4"


QUALITY = ModelQualityCheck(metric="auc", threshold=0.75, label_delay=Duration.hours(48))


def _endpoint(stack, capture=DataCapture(sampling_percentage=20), name="churn-prod"):
    return ModelEndpoint(stack, "Endpoint", endpoint_name=name, data_capture=capture, variants=[
        ProductionVariant("main", ModelSource.from_model_package(VERSION), instance_type="ml.m5.large",
                          initial_instance_count=2)])


def _registry():
    return RegistryRef(account="111111111111", region="eu-west-1", group_name="mlops-churn",
                       bucket_name="mlops-model-artifacts-111111111111-eu-west-1",
                       key_alias="alias/mlops-model-artifacts").consumer_read_statements()


@pytest.fixture(scope="module")
def template():
    app = nag_app()
    stack = Stack(app, "Drift", env=ENV)
    monitor = DriftMonitor(stack, "Drift", endpoint=_endpoint(stack), model_package_arn=VERSION,
                           registry_statements=_registry(), quality=QUALITY)
    application = iam.Role(stack, "Application", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    monitor.grant_write_labels(application)
    return check_assembly(synth_checked(app))["Drift"]  # cdk-nag and cfn-lint clean


def test_the_check_runs_once_per_window_with_its_settings(template):
    (function,) = [f for f in by_type(template, "AWS::Lambda::Function").values()
                   if f.get("Description", "").startswith("Compares endpoint")]
    assert function["Code"]["ZipFile"].startswith('"""The build pipeline\'s ``Baseline`` step')
    assert (function["Timeout"], function["MemorySize"], function["Handler"]) == (900, 1024, "index.handler")
    variables = function["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k != "CAPTURE_URI"} == {
        "ENDPOINT_NAME": "churn-prod", "VARIANTS": "main", "MODEL_PACKAGE_ARN": VERSION, "WINDOW_MINUTES": "60",
        "MIN_RECORDS": "500", "QUALITY_METRIC": "auc", "QUALITY_THRESHOLD": "0.75", "LABEL_DELAY_HOURS": "48",
        "MIN_LABELS": "200"}
    (rule,) = by_type(template, "AWS::Events::Rule").values()
    assert rule["ScheduleExpression"] == "rate(60 minutes)"
    (permission,) = by_type(template, "AWS::Lambda::Permission").values()
    assert permission["Principal"] == "events.amazonaws.com" and "SourceArn" in permission


def test_the_check_reads_only_this_endpoint_s_capture_and_writes_only_its_reports(template):
    (role,) = [r for r in by_type(template, "AWS::IAM::Role").values()
               if r.get("Description", "").startswith("Drift check")]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    by_action = {" ".join([s["Action"]] if isinstance(s["Action"], str) else s["Action"]): s for s in statements
                 if "mlops-model-artifacts" not in json.dumps(s)}  # the registry's own statements aside
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": [
        "datacapture/churn-prod/main/*", "ground-truth/churn-prod/*"]}}
    captured, labels = by_action["s3:GetObject"]["Resource"]
    assert json.dumps(captured).endswith('"/datacapture/churn-prod/*"]]}') and json.dumps(labels).endswith(
        '"/ground-truth/churn-prod/*"]]}')
    assert json.dumps(by_action["s3:PutObject"]["Resource"]).endswith('"/monitoring/churn-prod/*"]]}]')
    assert by_action["cloudwatch:PutMetricData"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "SageMakerSafeRelease/Drift"}}
    assert "sagemaker:DescribeModelPackage" in json.dumps(statements)  # the version's baseline, in dev


def test_drift_two_windows_in_a_row_and_a_failed_check_raise_alarms(template):
    alarms = {a["AlarmName"]: a for a in by_type(template, "AWS::CloudWatch::Alarm").values()}
    drift = alarms["churn-prod-data-drift"]
    assert (drift["MetricName"], drift["Namespace"], drift["Statistic"], drift["Period"]) == (
        "DriftViolations", "SageMakerSafeRelease/Drift", "Maximum", 3600)
    assert (drift["EvaluationPeriods"], drift["DatapointsToAlarm"], drift["Threshold"]) == (2, 2, 1)
    assert drift["TreatMissingData"] == "notBreaching"  # thin windows publish no verdict
    failed = alarms["churn-prod-drift-check-failed"]
    assert (failed["Namespace"], failed["MetricName"], failed["Period"]) == ("AWS/Lambda", "Errors", 3600)
    quality = alarms["churn-prod-model-quality"]
    assert (quality["MetricName"], quality["Statistic"], quality["Threshold"], quality["ComparisonOperator"]) == (
        "ModelQuality", "Minimum", 0.75, "LessThanThreshold")
    assert quality["Dimensions"] == [{"Name": "EndpointName", "Value": "churn-prod"}, {"Name": "Metric", "Value": "auc"}]
    # Only a judged window moves it: labels late or missing, or the windows before a release, keep its state.
    assert (quality["EvaluationPeriods"], quality["DatapointsToAlarm"], quality["TreatMissingData"]) == (
        2, 2, "ignore")
    missing = alarms["churn-prod-labels-missing"]
    assert (missing["MetricName"], missing["Statistic"], missing["Threshold"], missing["ComparisonOperator"]) == (
        "LabeledRecords", "Maximum", 200, "LessThanThreshold")
    assert missing["TreatMissingData"] == "notBreaching"  # thin traffic publishes no count
    # All four notify the endpoint's alarm topic.
    (topic_id,) = by_type(template, "AWS::SNS::Topic")
    assert all(alarm["AlarmActions"] == [{"Ref": topic_id}] for alarm in (drift, failed, quality, missing))


def test_the_quality_check_asks_which_config_serves_since_when(template):
    """Windows before the current config held an earlier version's predictions: the check reads the endpoint and
    its configs (named after it, releases' trials too) and nothing else of SageMaker in the stage."""
    (role,) = [r for r in by_type(template, "AWS::IAM::Role").values()
               if r.get("Description", "").startswith("Drift check")]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    describe = {s["Action"][0]: json.dumps(s["Resource"]) for s in statements
                if s["Action"][0] in ("sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig")}
    assert describe["sagemaker:DescribeEndpoint"].endswith(':endpoint/churn-prod"]]}]')
    assert describe["sagemaker:DescribeEndpointConfig"].endswith(':endpoint-config/churn-prod*"]]}]')


def test_the_application_may_write_labels_and_nothing_else(template):
    (policy,) = [p for p in by_type(template, "AWS::IAM::Policy").values()
                 if p["Roles"][0]["Ref"].startswith("Application")]
    put, key = policy["PolicyDocument"]["Statement"]
    assert put["Action"] == "s3:PutObject" and json.dumps(put["Resource"]).endswith('"/ground-truth/churn-prod/*"]]}')
    assert key["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"] and "kms:ViaService" in json.dumps(key)


def test_without_quality_nothing_reads_labels():
    stack = Stack(None, "S", env=ENV)
    DriftMonitor(stack, "Drift", endpoint=_endpoint(stack), model_package_arn=VERSION, registry_statements=_registry())
    template = Template.from_stack(stack).to_json()
    assert "ground-truth" not in json.dumps(by_type(template, "AWS::IAM::Role"))
    names = [a["AlarmName"] for a in by_type(template, "AWS::CloudWatch::Alarm").values()]
    assert "churn-prod-data-drift" in names and "churn-prod-model-quality" not in names
    (function,) = [f for f in by_type(template, "AWS::Lambda::Function").values()
                   if f.get("Description", "").startswith("Compares endpoint")]
    assert "QUALITY_METRIC" not in function["Environment"]["Variables"]


@pytest.mark.parametrize("overrides, message", [
    ({"window": Duration.minutes(2)}, "window: must be between 5 and 1440 minutes, got 2"),
    ({"window": Duration.seconds(90)}, "window: must be a Duration of whole minutes, got 1 minute 30 seconds"),
    ({"min_records": 0}, "min_records: must be between 1 and 50000 rows, got 0"),
    ({"evaluation_periods": 2, "datapoints_to_alarm": 3}, "datapoints_to_alarm: must be at most evaluation_periods (2)"),
    ({"window": Duration.days(1), "evaluation_periods": 8}, "evaluation_periods: must be at most 7 with a "
                                                             "1440-minute window (an alarm looks back at most 7 days)"),
    ({"variants": ["ghost"]}, "variants: must name production variants of churn-prod (main), got ['ghost']"),
    ({"model_package_arn": "mlops-churn/4"}, "model_package_arn: must be a versioned model package ARN"),
    ({"quality": ModelQualityCheck("rmse", 0.5)}, "quality.metric: must be one of accuracy, precision, recall, f1, "
                                                  "auc, got 'rmse'"),
    ({"quality": ModelQualityCheck("auc", 1.5)}, "quality.threshold: must be between 0 and 1, got 1.5"),
    ({"quality": ModelQualityCheck("auc", 0)}, "quality.threshold: must be above 0 (no value is below 0"),
    ({"quality": ModelQualityCheck("auc", True)}, "quality.threshold: must be a finite number, got true"),
    ({"quality": ModelQualityCheck("auc", 0.7, label_delay=Duration.minutes(90))},
     "quality.label_delay: must be a Duration of whole hours, got 1 hour 30 minutes"),
    ({"quality": ModelQualityCheck("auc", 0.7, label_delay=Duration.days(31))},
     "quality.label_delay: must be between 0 and 720 hours, got 744"),
    ({"quality": ModelQualityCheck("auc", 0.7, min_labels=0)},
     "quality.min_labels: must be between 1 and 50000 rows, got 0"),
    ({"quality": {"metric": "auc"}}, "quality: must be a ModelQualityCheck"),
])
def test_limits_are_one_line(overrides, message):
    stack = Stack(None, "S", env=ENV)
    props = dict(endpoint=_endpoint(stack), model_package_arn=VERSION, registry_statements=_registry()) | overrides
    with pytest.raises(ConfigError) as error:
        DriftMonitor(stack, "Drift", **props)
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize("capture, quality, message", [
    (None, None, "endpoint: must capture data for a drift check (data_capture)"),
    (DataCapture(capture_mode="output"), None, "endpoint: must capture the requests (capture_mode input or both)"),
    (DataCapture(sampling_percentage=0), None, "endpoint: must capture some requests (data_capture."
                                               "sampling_percentage above 0) for a drift check, got 0"),
    (DataCapture(capture_mode="input"), QUALITY, "endpoint: must capture the responses too (capture_mode both) for "
                                                 "a quality check, got input"),
    (DataCapture(retention_days=2), QUALITY, "quality.label_delay: must leave the judged window (48 hours back, "
                                             "plus the 60-minute window and the check's 10-minute lag) within the "
                                             "captured data's 2-day retention (data_capture.retention_days), got 48"),
])
def test_the_check_needs_the_requests_captured(capture, quality, message):
    stack = Stack(None, "S", env=ENV)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DriftMonitor(stack, "Drift", endpoint=_endpoint(stack, capture), model_package_arn=VERSION,
                     registry_statements=_registry(), quality=quality)
