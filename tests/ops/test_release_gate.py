"""The release gate's evaluator against the moto server: the phase's numbers read from CloudWatch the way the
reports read them, judged by the gates. Latency percentiles are stubbed (moto keeps none)."""

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from ops_support import OperationStubber

from constructs_lib.ops.release_gate import evaluate

ENDPOINT = "churn-predictor-prod"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
STARTED = (NOW - timedelta(hours=3)).isoformat()
SHADOW_GATE = {"min_duration_seconds": 3600, "min_requests": 500, "deadline_seconds": 86400}


def put(cloudwatch, namespace, metric, variant, value):
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": metric, "Value": value, "Timestamp": NOW - timedelta(hours=1),
        "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]}])


def put_traffic(cloudwatch, variant, invocations, errors_5xx=0):
    for metric, value in (("Invocations", invocations), ("Invocation4XXErrors", 0),
                          ("Invocation5XXErrors", errors_5xx), ("InvocationModelErrors", 0)):
        put(cloudwatch, "AWS/SageMaker", metric, variant, value)


@pytest.fixture
def cloudwatch(moto_server):
    return boto3.client("cloudwatch", region_name="eu-west-1")


def latency(cloudwatch, *p50_p99_ms):
    stubber = OperationStubber(cloudwatch, ["GetMetricStatistics"])
    for p50, p99 in p50_p99_ms:
        stubber.add_response("get_metric_statistics", {"Label": "ModelLatency", "Datapoints": [{
            "Timestamp": NOW - timedelta(hours=1), "ExtendedStatistics": {"p50": p50 * 1000, "p99": p99 * 1000}}]})
    stubber.activate()
    return stubber


def shadow_event(**gate):
    return {"phase": "shadow", "endpoint": ENDPOINT, "phase_started": STARTED, "production_variant": "champion",
            "candidate_variant": "shadow", "gate": SHADOW_GATE | gate}


def test_a_healthy_shadow_passes(cloudwatch):
    put_traffic(cloudwatch, "champion", 10_000, errors_5xx=10)
    put_traffic(cloudwatch, "shadow", 1_000, errors_5xx=1)
    stubber = latency(cloudwatch, (20, 80), (21, 83))
    result = evaluate(cloudwatch, shadow_event(), NOW)
    stubber.assert_no_pending_responses()
    assert (result["decision"], result["elapsed_seconds"]) == ("PASS", 3 * 3600)
    assert result["reason"] == "1000 requests over 3 h, every check within its limit"
    assert {c["check"]: c["status"] for c in result["checks"]} == {
        "latency p50": "ok", "latency p99": "ok", "4xx error rate": "ok", "5xx error rate": "ok",
        "model error rate": "ok"}


def test_an_erroring_shadow_fails_with_the_reason(cloudwatch):
    put_traffic(cloudwatch, "champion", 10_000, errors_5xx=10)
    put_traffic(cloudwatch, "shadow", 1_000, errors_5xx=40)  # 4 % against 0.1 %
    latency(cloudwatch, (20, 80), (20, 80))
    result = evaluate(cloudwatch, shadow_event(), NOW)
    assert result["decision"] == "FAIL"
    assert result["reason"].startswith("5xx error rate +3.90 points (limit +0.5; p = ")


def test_without_latency_percentiles_the_gate_waits(cloudwatch):
    """moto alone keeps no percentiles: the gate cannot judge latency, so it does not pass."""
    put_traffic(cloudwatch, "champion", 10_000)
    put_traffic(cloudwatch, "shadow", 1_000)
    result = evaluate(cloudwatch, shadow_event(), NOW)
    assert (result["decision"], result["reason"]) == ("WAIT", "no data for latency p50, no data for latency p99")


def test_an_ab_challenger_that_is_not_worse_passes_at_the_horizon(cloudwatch):
    put(cloudwatch, "AWS/SageMaker", "Invocations", "champion", 9_000)
    put(cloudwatch, "AWS/SageMaker", "Invocations", "challenger", 1_000)
    put(cloudwatch, "ChurnApp", "Retained", "champion", 900)  # 10 % retained
    put(cloudwatch, "ChurnApp", "Retained", "challenger", 101)
    event = {"phase": "ab", "endpoint": ENDPOINT, "phase_started": STARTED, "production_variant": "champion",
             "candidate_variant": "challenger", "metric": "ChurnApp/Retained", "kind": "rate",
             "gate": {"margin": 0.05, "min_duration_seconds": 3600, "min_samples": 500}}
    result = evaluate(cloudwatch, event, NOW)
    assert result["decision"] == "PASS"
    assert result["reason"] == ("difference +0.001 (higher is better), 90% interval [-0.01551, +0.01751], "
                                "non-inferiority threshold -0.05")


@pytest.mark.parametrize("change, message", [
    ({"phase": "canary"}, "phase must be one of shadow, ab, got 'canary'"),
    ({"phase_started": "2026-11-30T10:00:00"}, "phase_started needs a time zone"),
    ({"phase_started": (NOW + timedelta(hours=1)).isoformat()}, "phase_started is in the future"),
    ({"gate": {"weight": 10}}, "unexpected keyword argument 'weight'"),
])
def test_a_malformed_event_is_refused(cloudwatch, change, message):
    with pytest.raises((ValueError, TypeError), match=message):
        evaluate(cloudwatch, shadow_event() | change, NOW)


# ------------------------------------------------------------------------------------- overrides and the outcome
@pytest.fixture
def registry(moto_server):
    from ops_support import create_versions

    client = boto3.client("sagemaker", region_name="eu-west-1")
    return client, create_versions(client, "churn-gate", ["Approved"])[0]


SHADOW_DECISION = "/mlops/churn/release/shadow-gate"


def test_a_person_s_decision_is_read_for_its_version_only_and_left_off_the_version(registry):
    """Recorded in SSM, not on the model package: any change to an Approved version starts the pipeline."""
    from constructs_lib.ops.release_gate import override_of, record_override

    sagemaker, version = registry
    ssm = boto3.client("ssm", region_name="eu-west-1")
    assert override_of(ssm, SHADOW_DECISION, version, "shadow") is None
    record_override(ssm, SHADOW_DECISION, version, "skip", "traffic too low on a holiday, p99 checked by hand",
                    by="mlops-alice")
    assert override_of(ssm, SHADOW_DECISION, version, "shadow") == {
        "phase": "shadow", "decision": "PASS", "override": "skip", "checks": [],
        "reason": "gate skipped by a person (mlops-alice): traffic too low on a holiday, p99 checked by hand"}
    assert override_of(ssm, SHADOW_DECISION, version.replace("/1", "/2"), "shadow") is None  # another version
    assert "CustomerMetadataProperties" not in sagemaker.describe_model_package(ModelPackageName=version)
    with pytest.raises(ValueError, match="decision must be one of skip, stop, got 'pass'"):
        record_override(ssm, SHADOW_DECISION, version, "pass", "x")
    with pytest.raises(ValueError, match="reason must hold 1 to 900 characters, got 0"):
        record_override(ssm, SHADOW_DECISION, version, "stop", "  ")


def test_a_stop_after_the_gate_passed_still_fails_the_phase_and_the_decision_is_used_once(registry):
    from constructs_lib.ops.release_gate import conclude, override_of, record_override

    sagemaker, version = registry
    ssm = boto3.client("ssm", region_name="eu-west-1")
    record_override(ssm, SHADOW_DECISION, version, "stop", "wrong feature set")
    release = {"phase": "shadow", "endpoint": ENDPOINT, "version_arn": version, "override_parameter": SHADOW_DECISION}
    passed = {"decision": "PASS", "reason": "1200 requests over 1 h, every check within its limit"}
    assert conclude(sagemaker, None, release, passed, None, ssm=ssm) == {
        "outcome": "failed", "reason": "gate stopped by a person: wrong feature set"}
    assert sagemaker.describe_model_package(ModelPackageName=version)["ModelApprovalStatus"] == "Rejected"
    assert override_of(ssm, SHADOW_DECISION, version, "shadow") is None  # consumed


def test_a_failed_gate_rejects_the_version_with_its_verdict_and_tells_the_topic(registry):
    from constructs_lib.ops.release_gate import conclude

    sagemaker, version = registry
    sns = boto3.client("sns", region_name="eu-west-1")
    topic = sns.create_topic(Name="releases")["TopicArn"]
    sqs = boto3.client("sqs", region_name="eu-west-1")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    release = {"phase": "shadow", "endpoint": ENDPOINT, "version_arn": version, "topic_arn": topic}
    verdict = {"decision": "FAIL", "reason": "5xx error rate +3.10 points (limit +0.5)"}
    assert conclude(sagemaker, sns, release, verdict, None) == {"outcome": "failed", "reason": verdict["reason"]}
    described = sagemaker.describe_model_package(ModelPackageName=version)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ApprovalDescription"] == "release shadow gate: 5xx error rate +3.10 points (limit +0.5)"
    message = sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"]
    assert f"{ENDPOINT}: 1 failed its shadow phase" in message and "Rejected in the registry" in message


def test_an_error_in_a_phase_is_reported_but_does_not_reject_the_version(registry):
    from constructs_lib.ops.release_gate import conclude

    sagemaker, version = registry
    error = {"Error": "PhaseError", "Cause": '{"errorMessage": "endpoint churn-predictor-prod is Failed: no capacity"}'}
    release = {"phase": "ab", "endpoint": ENDPOINT, "version_arn": version}
    assert conclude(sagemaker, None, release, None, error) == {
        "outcome": "error", "reason": "PhaseError: endpoint churn-predictor-prod is Failed: no capacity"}
    assert sagemaker.describe_model_package(ModelPackageName=version)["ModelApprovalStatus"] == "Approved"


def test_a_shadow_gate_on_agreement_reads_the_captured_predictions(cloudwatch):
    """The capture location from the endpoint (stubbed: moto keeps no capture config), the files from moto's S3:
    3 of 4 paired predictions agree within 0.05, short of the gate's 90 %."""
    from ops_support import OperationStubber, capture_record

    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="capture", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    hour = NOW - timedelta(hours=1)
    for variant, outputs in (("champion", ["[0.91]", "[0.12]", "[0.55]", "[0.40]"]),
                             ("shadow", ["[0.90]", "[0.14]", "[0.75]", "[0.41]"])):
        s3.put_object(Bucket="capture", Key=f"datacapture/{ENDPOINT}/{variant}/{hour:%Y/%m/%d/%H}/0.jsonl",
                      Body="\n".join(capture_record(f"r{i}", f"{i},1", out) for i, out in enumerate(outputs)).encode())
    sagemaker = boto3.client("sagemaker", region_name="eu-west-1")
    described = OperationStubber(sagemaker, ["DescribeEndpoint"])
    described.add_response("describe_endpoint", {
        "EndpointName": ENDPOINT, "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
        "EndpointConfigName": "trial", "EndpointStatus": "InService", "CreationTime": NOW, "LastModifiedTime": NOW,
        "DataCaptureConfig": {"EnableCapture": True, "CaptureStatus": "Started", "CurrentSamplingPercentage": 20,
                              "DestinationS3Uri": "s3://capture/datacapture", "KmsKeyId": "alias/capture"}},
        {"EndpointName": ENDPOINT})
    described.activate()
    put_traffic(cloudwatch, "champion", 10_000, errors_5xx=10)
    put_traffic(cloudwatch, "shadow", 1_000, errors_5xx=1)
    stubber = latency(cloudwatch, (20, 80), (21, 83))
    result = evaluate(cloudwatch, shadow_event(min_agreement_pct=90, agreement_tolerance=0.05, min_agreement_pairs=4),
                      NOW, sagemaker=sagemaker, s3=s3)
    stubber.assert_no_pending_responses()
    assert (result["decision"], result["reason"]) == (
        "FAIL", "prediction agreement 75% of 4 paired predictions agree within 0.05 (at least 90%)")


def test_an_endpoint_update_that_never_ends_stops_the_phase_after_the_limit():
    """The loops that wait for the trial config, and for the steady config again, are bounded: after two hours
    the phase gives up (and the state machine concludes, saying where the endpoint stands)."""
    from constructs_lib.ops.release_gate import _within_limit
    from constructs_lib.ops.release_phase import ENDPOINT_UPDATE_LIMIT_SECONDS, PhaseError

    since = NOW - timedelta(seconds=ENDPOINT_UPDATE_LIMIT_SECONDS)
    _within_limit(since.isoformat(), NOW, "x")  # at the limit: still waiting
    with pytest.raises(PhaseError, match="endpoint e did not get back to its steady config within 2 h \\(since "):
        _within_limit((since - timedelta(seconds=1)).isoformat(), NOW, "endpoint e did not get back to its steady config")


def test_a_retried_conclusion_reaches_the_same_outcome_and_a_version_rejected_meanwhile_fails(registry):
    """The decision is cleared last: a publish that fails leaves it for the retry. A version a person rejected
    during the phase fails it even when the gate passed."""
    from botocore.exceptions import ClientError

    from constructs_lib.ops.release_gate import conclude, override_of, record_override

    sagemaker, version = registry
    ssm = boto3.client("ssm", region_name="eu-west-1")
    record_override(ssm, SHADOW_DECISION, version, "stop", "wrong feature set")
    release = {"phase": "shadow", "endpoint": ENDPOINT, "version_arn": version, "override_parameter": SHADOW_DECISION,
               "topic_arn": "arn:aws:sns:eu-west-1:123456789012:releases"}
    passed = {"decision": "PASS", "reason": "every check within its limit"}

    class FailingOnce:
        calls = 0

        def publish(self, **kwargs):
            self.calls += 1
            if self.calls == 1:
                raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "Publish")

    sns = FailingOnce()
    with pytest.raises(ClientError):
        conclude(sagemaker, sns, release, passed, None, ssm=ssm)
    assert override_of(ssm, SHADOW_DECISION, version, "shadow") is not None  # still there for the retry
    assert conclude(sagemaker, sns, release, passed, None, ssm=ssm)["outcome"] == "failed"
    assert override_of(ssm, SHADOW_DECISION, version, "shadow") is None
    # No decision at all: the version is Rejected now (the stop above), so a pass is not a pass.
    assert conclude(sagemaker, None, {**release, "topic_arn": None}, passed, None, ssm=ssm) == {
        "outcome": "failed", "reason": "the version is Rejected in the registry (release shadow gate: gate stopped "
                                       "by a person: wrong feature set)"}


def test_a_rejected_version_stops_the_release_before_its_phase_starts(registry, monkeypatch):
    """`mlops reject` is how a person stops a release before its phases: the start refuses the version."""
    from constructs_lib.ops.release_gate import handler
    from constructs_lib.ops.release_phase import PhaseError

    sagemaker, version = registry
    sagemaker.update_model_package(ModelPackageArn=version, ModelApprovalStatus="Rejected",
                                   ApprovalDescription="wrong features")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    state = {"release": {"phase": "shadow", "endpoint": "nowhere", "version_arn": version, "percent": 50,
                         "candidate_variant": "shadow"}}
    with pytest.raises(PhaseError, match=f"version {version} is Rejected in the registry: the release stops"):
        handler({"action": "start", "state": state}, None)


def test_a_decision_too_large_for_a_standard_ssm_parameter_is_refused_before_the_call():
    from constructs_lib.ops.release_gate import record_override

    class NoCall:
        def put_parameter(self, **kwargs):
            raise AssertionError("called")

    with pytest.raises(ValueError, match="reason is too long in UTF-8 for an SSM parameter .4 KB with the version., "
                                         "got 3600 bytes"):
        record_override(NoCall(), SHADOW_DECISION, "arn:" + "v" * 600, "stop", "\U0001F6A8" * 900)
