"""DriftMonitor: the scheduled drift check of an endpoint's captured requests, its least-privilege role, its
schedule and its two alarms (cdk-nag and cfn-lint clean); and the limits it refuses in one line."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration, Stack

from constructs_lib.endpoint import ModelEndpoint
from constructs_lib.errors import ConfigError
from constructs_lib.monitoring import DriftMonitor
from constructs_lib.registry import RegistryRef
from constructs_lib.variants import DataCapture, ModelSource, ProductionVariant
from support import check_assembly, nag_app, synth_checked
from test_components import by_type
from test_endpoint import ENV

VERSION = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn/4"


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
    DriftMonitor(stack, "Drift", endpoint=_endpoint(stack), model_package_arn=VERSION,
                 registry_statements=_registry())
    return check_assembly(synth_checked(app))["Drift"]  # cdk-nag and cfn-lint clean


def test_the_check_runs_once_per_window_with_its_settings(template):
    (function,) = [f for f in by_type(template, "AWS::Lambda::Function").values()
                   if f.get("Description", "").startswith("Compares endpoint")]
    assert function["Code"]["ZipFile"].startswith('"""The build pipeline\'s ``Baseline`` step')
    assert (function["Timeout"], function["MemorySize"], function["Handler"]) == (900, 1024, "index.handler")
    variables = function["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k != "CAPTURE_URI"} == {
        "ENDPOINT_NAME": "churn-prod", "VARIANTS": "main", "MODEL_PACKAGE_ARN": VERSION, "WINDOW_MINUTES": "60",
        "MIN_RECORDS": "500"}
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
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["datacapture/churn-prod/main/*"]}}
    assert json.dumps(by_action["s3:GetObject"]["Resource"]).endswith('"/datacapture/churn-prod/*"]]}]')
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
    # Both notify the endpoint's alarm topic.
    (topic_id,) = by_type(template, "AWS::SNS::Topic")
    assert drift["AlarmActions"] == failed["AlarmActions"] == [{"Ref": topic_id}]


@pytest.mark.parametrize("overrides, message", [
    ({"window": Duration.minutes(2)}, "window: must be between 5 and 1440 minutes, got 2"),
    ({"window": Duration.seconds(90)}, "window: must be a Duration of whole minutes, got 1 minute 30 seconds"),
    ({"min_records": 0}, "min_records: must be between 1 and 50000 rows, got 0"),
    ({"evaluation_periods": 2, "datapoints_to_alarm": 3}, "datapoints_to_alarm: must be at most evaluation_periods (2)"),
    ({"window": Duration.days(1), "evaluation_periods": 8}, "evaluation_periods: must be at most 7 with a "
                                                             "1440-minute window (an alarm looks back at most 7 days)"),
    ({"variants": ["ghost"]}, "variants: must name production variants of churn-prod (main), got ['ghost']"),
    ({"model_package_arn": "mlops-churn/4"}, "model_package_arn: must be a versioned model package ARN"),
])
def test_limits_are_one_line(overrides, message):
    stack = Stack(None, "S", env=ENV)
    props = dict(endpoint=_endpoint(stack), model_package_arn=VERSION, registry_statements=_registry()) | overrides
    with pytest.raises(ConfigError) as error:
        DriftMonitor(stack, "Drift", **props)
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize("capture, message", [
    (None, "endpoint: must capture data for a drift check (data_capture)"),
    (DataCapture(capture_mode="output"), "endpoint: must capture the requests (capture_mode input or both)"),
])
def test_the_check_needs_the_requests_captured(capture, message):
    stack = Stack(None, "S", env=ENV)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DriftMonitor(stack, "Drift", endpoint=_endpoint(stack, capture), model_package_arn=VERSION,
                     registry_statements=_registry())
