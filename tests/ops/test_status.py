"""``mlops status``: endpoint facts, the last deployment's outcome (silent rollbacks) and rollback alarms."""

import json

import pytest

from ops_support import (
    ENDPOINT, NEW_CONFIG, OLD_CONFIG, STACK, STACK_TAG, create_alarm, create_endpoint, create_stack,
    endpoint_description,
)

from constructs_lib.ops.base import EXIT_NOT_FOUND


def test_silent_rollback_is_reported_with_the_firing_alarm(mlops, aws_client):
    create_endpoint(aws_client("sagemaker"), aws_client("cloudformation"), running=OLD_CONFIG, requested=NEW_CONFIG)
    cloudwatch = aws_client("cloudwatch")
    create_alarm(cloudwatch, "churn-prod-5xx", "ALARM")
    create_alarm(cloudwatch, "churn-prod-latency", "OK")
    create_alarm(cloudwatch, "other-endpoint-5xx", "ALARM", endpoint="other")
    create_alarm(cloudwatch, "legacy-errors", "INSUFFICIENT_DATA")  # not named after the endpoint: found by scan
    result = mlops("status", ENDPOINT)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[:7] == [
        f"endpoint:          {ENDPOINT}",
        "status:            InService",
        f"current config:    {OLD_CONFIG}",
        f"requested config:  {NEW_CONFIG} (stack {STACK})",
        "pending config:    -",
        "deployment policy: -",
        f"last deployment:   ROLLED BACK: SageMaker rolled the release back: {NEW_CONFIG} was requested, the "
        f"endpoint still runs {OLD_CONFIG}",
    ]
    assert lines[8:12] == [
        "variant     role        weight  traffic %  instances  desired",
        "----------  ----------  ------  ---------  ---------  -------",
        "champion    production      90         90          2        2",
        "challenger  production      10         10          1        1",
    ]
    assert [line.split()[:2] for line in lines[13:]] == [
        ["alarm", "state"], ["------------------", "-----------------"], ["churn-prod-5xx", "ALARM"],
        ["churn-prod-latency", "OK"], ["legacy-errors", "INSUFFICIENT_DATA"]]
    assert result.err == (f"warning: silent rollback: SageMaker rolled the release back: {NEW_CONFIG} was "
                          f"requested, the endpoint still runs {OLD_CONFIG}; alarms in ALARM: churn-prod-5xx\n")


def test_json_output_of_a_successful_release(mlops, aws_client):
    create_endpoint(aws_client("sagemaker"), aws_client("cloudformation"), running=NEW_CONFIG, requested=NEW_CONFIG)
    result = mlops("status", ENDPOINT, "--json")
    data = json.loads(result.out)
    assert (result.code, result.err) == (0, "")
    assert (data["outcome"], data["current_config"], data["requested_config"], data["stack"]) == (
        "succeeded", NEW_CONFIG, NEW_CONFIG, STACK)
    assert data["variants"][1] == {"variant": "challenger", "role": "production", "weight": 10.0,
                                   "desired_weight": 10.0, "traffic_percent": 10.0, "instances": 1,
                                   "desired_instances": 1}
    assert data["alarms"] == []


def test_untagged_endpoint_needs_the_stack(mlops, aws_client):
    sagemaker, cloudformation = aws_client("sagemaker"), aws_client("cloudformation")
    create_endpoint(sagemaker, tag_stack=False)
    # A stack holding two endpoints prefixes its outputs per endpoint.
    create_stack(cloudformation, "Shared", {"ChurnEndpointName": ENDPOINT, "ChurnEndpointConfigName": NEW_CONFIG,
                                            "FraudEndpointName": "fraud", "FraudEndpointConfigName": "fraud-cfg"})
    result = mlops("status", ENDPOINT, "--json")
    assert json.loads(result.out)["outcome"] == "unknown"
    assert result.err == (f"warning: endpoint has no {STACK_TAG} tag: pass --stack NAME to compare with the last "
                          "release\n")
    data = json.loads(mlops("status", ENDPOINT, "--stack", "Shared", "--json").out)
    assert (data["requested_config"], data["outcome"]) == (NEW_CONFIG, "rolled_back")


def test_shadow_sampling_deployment_policy_and_alarms_from_the_deployment_config(mlops, stub_client, aws_client):
    # moto drops shadow variants and DeploymentConfig: DescribeEndpoint comes from Stubber, alarms from moto.
    create_alarm(aws_client("cloudwatch"), "churn-prod-rollback-latency", "ALARM", endpoint="renamed")
    create_stack(aws_client("cloudformation"), STACK, {"EndpointName": ENDPOINT, "EndpointConfigName": NEW_CONFIG})
    stubber = stub_client("sagemaker")
    described = endpoint_description(
        status="Updating", config=OLD_CONFIG,
        PendingDeploymentSummary={"EndpointConfigName": NEW_CONFIG},
        ShadowProductionVariants=[{"VariantName": "shadow", "CurrentWeight": 50.0, "DesiredWeight": 50.0,
                                   "CurrentInstanceCount": 1, "DesiredInstanceCount": 1}],
        LastDeploymentConfig={
            "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 600}},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "churn-prod-rollback-latency"}]}})
    stubber.add_response("describe_endpoint", described)
    stubber.add_response("list_tags", {"Tags": [{"Key": STACK_TAG, "Value": STACK}]})
    result = mlops("status", ENDPOINT)
    assert result.code == 0
    assert "pending config:    " + NEW_CONFIG in result.out
    assert "deployment policy: blue/green canary" in result.out
    assert f"last deployment:   IN PROGRESS: Updating to {NEW_CONFIG}" in result.out
    assert "shadow      shadow          50         50          1        1" in result.out
    assert "churn-prod-rollback-latency  ALARM" in result.out
    stubber.assert_no_pending_responses()


def test_unknown_endpoint(mlops):
    result = mlops("status", "nope")
    assert result.code == EXIT_NOT_FOUND
    assert result.err == ("error: not found: DescribeEndpoint: ValidationException: Could not find endpoint "
                          "'arn:aws:sagemaker:eu-west-1:123456789012:endpoint/nope'.\n")


def test_unreadable_alarms_are_a_warning(mlops, aws_client, stub_client):
    create_endpoint(aws_client("sagemaker"), aws_client("cloudformation"), running=NEW_CONFIG, requested=NEW_CONFIG)
    stubber = stub_client("cloudwatch")  # moto cannot deny access
    stubber.add_client_error("describe_alarms", "AccessDenied", "not authorized")
    result = mlops("status", ENDPOINT)
    assert result.code == 0
    assert "last deployment:   SUCCEEDED: InService on the requested config" in result.out
    assert result.err == ("warning: alarm states unavailable: access denied: check --profile/--role-arn and the "
                          "role's policy: DescribeAlarms: AccessDenied: not authorized\n")


def test_the_endpoint_dashboard_is_named_from_its_stack(mlops, aws_client):
    """An endpoint stack with an ``EndpointDashboard`` outputs ``DashboardName``; status shows where to look."""
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG)
    create_stack(aws_client("cloudformation"), STACK, {"EndpointName": ENDPOINT, "EndpointConfigName": NEW_CONFIG,
                                                       "DashboardName": ENDPOINT})
    result = mlops("status", ENDPOINT, "--stack", STACK)
    assert result.code == 0 and f"dashboard:         {ENDPOINT} (CloudWatch dashboards)" in result.out.splitlines()
    assert json.loads(mlops("status", ENDPOINT, "--stack", STACK, "--json").out)["dashboard"] == ENDPOINT


def test_the_last_drift_check_is_shown_from_the_stack_s_reports_output(mlops, aws_client):
    """An endpoint stack with a ``DriftMonitor`` outputs ``DriftReports``; status shows the last verdict."""
    from datetime import datetime, timedelta, timezone

    from constructs_lib.ops.drift import report_key

    s3 = aws_client("s3")
    s3.create_bucket(Bucket="capture", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    end = datetime.now(timezone.utc) - timedelta(minutes=20)
    s3.put_object(Bucket="capture", Key=report_key(ENDPOINT, end), Body=json.dumps({
        "verdict": "drift", "violations": ["f3"], "max_psi": 0.2, "window": {"end": end.isoformat()},
        "quality": {"metric": "auc", "value": 0.81, "threshold": 0.75, "verdict": "ok"}}).encode())
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG)
    create_stack(aws_client("cloudformation"), STACK, {"EndpointName": ENDPOINT, "EndpointConfigName": NEW_CONFIG,
                                                       "DriftReports": f"s3://capture/monitoring/{ENDPOINT}/"})
    result = mlops("status", ENDPOINT, "--stack", STACK)
    assert result.code == 0, result.err
    (line,) = [line for line in result.out.splitlines() if line.startswith("drift:")]
    assert line.split(":", 1)[1].strip().startswith("DRIFT: f3 above PSI 0.2 (window to ")
    (line,) = [line for line in result.out.splitlines() if line.startswith("quality:")]
    assert line.split(":", 1)[1].strip() == "OK: auc 0.81, threshold 0.75"
    assert json.loads(mlops("status", ENDPOINT, "--stack", STACK, "--json").out)["drift"]["verdict"] == "drift"


@pytest.mark.parametrize("outputs", [
    # another output names the endpoint too, without a config of its own: the prefix that has one wins
    {"CallerEndpointName": ENDPOINT, "ChurnEndpointName": ENDPOINT, "ChurnEndpointConfigName": NEW_CONFIG},
    # a prefixed endpoint output with the config unprefixed
    {"ChurnEndpointName": ENDPOINT, "EndpointConfigName": NEW_CONFIG},
])
def test_the_requested_config_is_found_however_the_stack_names_its_outputs(mlops, aws_client, outputs):
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG)
    create_stack(aws_client("cloudformation"), STACK, outputs)
    data = json.loads(mlops("status", ENDPOINT, "--stack", STACK, "--json").out)
    assert (data["requested_config"], data["outcome"]) == (NEW_CONFIG, "succeeded")


def test_an_async_endpoint_shows_where_results_go_and_its_queue(mlops, stub_client, aws_client):
    # moto's DescribeEndpoint drops AsyncInferenceConfig: it comes from Stubber, the queue metrics from moto.
    from datetime import datetime, timedelta, timezone

    cloudwatch = aws_client("cloudwatch")
    now = datetime.now(timezone.utc)
    for minutes, backlog, age in ((3, 2.0, 40.0), (1, 7.0, 95.0)):
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": name, "Value": value, "Timestamp": now - timedelta(minutes=minutes),
             "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}]}
            for name, value in (("ApproximateBacklogSize", backlog), ("ApproximateAgeOfOldestRequest", age),
                                ("HasBacklogWithoutCapacity", 1.0))])
    create_stack(aws_client("cloudformation"), STACK, {"EndpointName": ENDPOINT, "EndpointConfigName": OLD_CONFIG})
    stubber = stub_client("sagemaker")
    stubber.add_response("describe_endpoint", endpoint_description(AsyncInferenceConfig={"OutputConfig": {
        "S3OutputPath": "s3://io/async/output", "S3FailurePath": "s3://io/async/failure"}}))
    stubber.add_response("list_tags", {"Tags": [{"Key": STACK_TAG, "Value": STACK}]})
    result = mlops("status", ENDPOINT)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"endpoint:          {ENDPOINT} (asynchronous)"
    assert "results:           s3://io/async/output (errors: s3://io/async/failure)" in lines
    assert ("queued requests:   7 (waiting with no instance running: one is being started)") in lines
    assert "oldest request:    95 s" in lines
    stubber.add_response("describe_endpoint", endpoint_description())  # a real-time endpoint has no queue
    stubber.add_response("list_tags", {"Tags": [{"Key": STACK_TAG, "Value": STACK}]})
    data = json.loads(mlops("status", ENDPOINT, "--json").out)
    assert (data["mode"], data["queue"]) == ("realtime", None)
    stubber.assert_no_pending_responses()


def test_scaling_alarms_are_not_rollback_alarms(mlops, aws_client):
    """Target tracking's alarms and an async endpoint's scale-from-zero alarm watch the endpoint too, and are in
    ALARM routinely; their actions are Application Auto Scaling policies, so status and verify leave them out."""
    create_endpoint(aws_client("sagemaker"), aws_client("cloudformation"), running=NEW_CONFIG, requested=NEW_CONFIG)
    cloudwatch = aws_client("cloudwatch")
    create_alarm(cloudwatch, f"{ENDPOINT}-champion-5xx-rate", "OK")
    cloudwatch.put_metric_alarm(
        AlarmName=f"{ENDPOINT}-main-scale-from-zero", Namespace="AWS/SageMaker", MetricName="HasBacklogWithoutCapacity",
        Statistic="Average", Period=60, EvaluationPeriods=2, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold", Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}],
        AlarmActions=["arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:1-2-3:resource/sagemaker/endpoint/"
                      f"{ENDPOINT}/variant/main:policyName/scale-from-zero"])
    cloudwatch.set_alarm_state(AlarmName=f"{ENDPOINT}-main-scale-from-zero", StateValue="ALARM", StateReason="queued")
    data = json.loads(mlops("status", ENDPOINT, "--json").out)
    assert [a["name"] for a in data["alarms"]] == [f"{ENDPOINT}-champion-5xx-rate"]
    assert mlops("verify", ENDPOINT, "--expected-config", NEW_CONFIG, "--timeout", "1").code == 0


def test_a_batch_pipeline_shows_its_model_input_and_last_runs(mlops, aws_client):
    """Mode batch has no endpoint: status of the stage's name describes its batch-inference pipeline."""
    from constructs_lib.batch_sdk import BatchSpec, _build_offline

    definition = _build_offline(BatchSpec(
        pipeline_name="churn-nightly-prod", region="eu-west-1", model_name="churn-model-v3",
        input_uri="s3://io/batch/input/", output_uri="s3://io/batch/output", kms_key="k", volume_kms_key=None,
        instance_type="ml.m5.xlarge", instance_count=2, content_type="text/csv", accept="text/csv",
        split_type="Line", strategy="MultiRecord", max_payload_mb=6))
    sagemaker = aws_client("sagemaker")
    sagemaker.create_pipeline(PipelineName="churn-nightly-prod", PipelineDefinition=definition,
                              RoleArn="arn:aws:iam::123456789012:role/batch")
    sagemaker.start_pipeline_execution(PipelineName="churn-nightly-prod", PipelineExecutionDisplayName="nightly-1")
    result = mlops("status", "churn-nightly-prod")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "pipeline:  churn-nightly-prod (batch inference: no endpoint)"
    assert "model:     churn-model-v3" in lines and "instances: 2 x ml.m5.xlarge" in lines
    assert "input:     s3://io/batch/input/" in lines
    assert any(line.startswith("nightly-1") and "Succeeded" in line for line in lines)


def test_neither_an_endpoint_nor_a_pipeline_is_not_found(mlops):
    result = mlops("status", "nothing-here")
    assert result.code == EXIT_NOT_FOUND and "Could not find endpoint" in result.err


def test_a_streaming_endpoint_names_its_streams(mlops, aws_client):
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG)
    create_stack(aws_client("cloudformation"), STACK, {"EndpointName": ENDPOINT, "EndpointConfigName": NEW_CONFIG,
                                                       "StreamInputName": "events", "StreamOutputName": "scores"})
    result = mlops("status", ENDPOINT, "--stack", STACK)
    lines = result.out.splitlines()
    assert result.code == 0 and "stream in:         events" in lines and "stream out:        scores" in lines
    assert json.loads(mlops("status", ENDPOINT, "--stack", STACK, "--json").out)["mode"] == "streaming"


def _component(name: str, model: str, status: str = "InService", **extra) -> dict:
    return {"InferenceComponentName": name, "InferenceComponentArn":
            f"arn:aws:sagemaker:eu-west-1:123456789012:inference-component/{name}", "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
            "InferenceComponentStatus": status, "Specification": {"ModelName": model},
            "RuntimeConfig": {"DesiredCopyCount": 4, "CurrentCopyCount": 3}, "CreationTime": 0,
            "LastModifiedTime": 0, "LastDeploymentConfig": {"RollingUpdatePolicy": {
                "MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1}, "WaitIntervalInSeconds": 300}}, **extra}


def test_a_component_host_lists_its_components(mlops, aws_client, stub_client):
    """The host's stack says it hosts components (HostStack's output); moto has no component APIs (Stubber for
    those two operations only, the endpoint and the stack from moto)."""
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG)
    create_stack(aws_client("cloudformation"), STACK, {"EndpointName": ENDPOINT, "EndpointConfigName": NEW_CONFIG,
                                                       "HostsInferenceComponents": "true"})
    sagemaker = stub_client("sagemaker", ["ListInferenceComponents", "DescribeInferenceComponent"])
    sagemaker.add_response("list_inference_components", {"InferenceComponents": [
        {"InferenceComponentName": name, "InferenceComponentArn": f"arn:aws:sagemaker:eu-west-1:123456789012:"
         f"inference-component/{name}", "EndpointName": ENDPOINT, "EndpointArn": "arn:aws:sagemaker:eu-west-1:"
         f"123456789012:endpoint/{ENDPOINT}", "VariantName": "main", "CreationTime": 0, "LastModifiedTime": 0}
        for name in ("segment", "lite")]}, {"EndpointNameEquals": ENDPOINT})
    sagemaker.add_response("describe_inference_component", _component("lite", "model-a"),
                           {"InferenceComponentName": "lite"})
    sagemaker.add_response("describe_inference_component",
                           _component("segment", "model-b", "Failed", FailureReason="copies do not fit"),
                           {"InferenceComponentName": "segment"})
    result = mlops("status", ENDPOINT)
    assert result.code == 0, result.err
    table = result.out.split("\n\n")[-1].splitlines()
    assert table[0].split() == ["component", "status", "model", "copies", "desired", "policy"]
    assert [line.split() for line in table[2:]] == [["lite", "InService", "model-a", "3", "4", "rolling"],
                                                    ["segment", "Failed", "model-b", "3", "4", "rolling"]]
    assert "component segment: copies do not fit" in result.err


def test_a_component_is_shown_by_its_name(mlops, stub_client):
    sagemaker = stub_client("sagemaker", ["DescribeInferenceComponent"])
    sagemaker.add_response("describe_inference_component", _component("churn-lite-prod", "model-a"),
                           {"InferenceComponentName": "churn-lite-prod"})
    result = mlops("status", "churn-lite-prod", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert {k: data[k] for k in ("component", "endpoint", "model", "copies", "desired_copies",
                                 "deployment_policy")} == {
        "component": "churn-lite-prod", "endpoint": ENDPOINT, "model": "model-a", "copies": 3, "desired_copies": 4,
        "deployment_policy": "rolling"}


def test_a_multi_model_host_lists_its_models_and_the_version_callers_are_sent_to(mlops, aws_client):
    """moto's endpoint, stack, S3 and SSM: the host's stack names its bucket and the parameters' pattern."""
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG)
    create_stack(aws_client("cloudformation"), STACK, {
        "EndpointName": ENDPOINT, "EndpointConfigName": NEW_CONFIG, "ModelsBucket": "many-models",
        "TargetParameterNames": "/mlops/{model}/prod/target-model"})
    s3 = aws_client("s3")
    s3.create_bucket(Bucket="many-models", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for key in ("models/churn-regional/v1.tar.gz", "models/churn-regional/v2.tar.gz", "models/fraud/v7.tar.gz"):
        s3.put_object(Bucket="many-models", Key=key, Body=b"x")
    aws_client("ssm").put_parameter(Name="/mlops/churn-regional/prod/target-model", Value="churn-regional/v1.tar.gz",
                                    Type="String")
    result = mlops("status", ENDPOINT)
    assert result.code == 0, result.err
    table = result.out.split("\n\n")[-1].splitlines()
    assert table[0].split() == ["model", "callers", "sent", "to", "versions", "on", "the", "endpoint"]
    assert [line.split() for line in table[2:]] == [
        ["churn-regional", "churn-regional/v1.tar.gz", "v1.tar.gz,", "v2.tar.gz"],  # rolled back to v1
        ["fraud", "-", "v7.tar.gz"]]  # no parameter (yet): nobody is sent to it
