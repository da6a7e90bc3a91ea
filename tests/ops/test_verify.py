"""``mlops verify``: the pipeline's deployment verification; a silent rollback must never pass."""

import pytest
from ops_support import (
    ENDPOINT, NEW_CONFIG, OLD_CONFIG, STACK, STACK_TAG, create_alarm, create_endpoint, endpoint_description,
)

from constructs_lib.ops.base import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_ROLLED_BACK, EXIT_USAGE


def test_release_that_landed_passes(mlops, aws_client):
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG)
    result = mlops("verify", ENDPOINT, "--expected-config", NEW_CONFIG)
    assert (result.code, result.err) == (0, "")
    assert result.out == (f"endpoint: {ENDPOINT}\nstatus:   InService\nconfig:   {NEW_CONFIG}\n"
                          "verified: the deployed config is live\n")


def test_silent_rollback_fails_and_names_the_alarm(mlops, aws_client):
    # Honest rollback in moto: the endpoint runs the old config while the new one was deployed (expected).
    create_endpoint(aws_client("sagemaker"), running=OLD_CONFIG, requested=NEW_CONFIG)
    create_alarm(aws_client("cloudwatch"), "churn-prod-5xx", "ALARM")
    create_alarm(aws_client("cloudwatch"), "churn-prod-latency", "OK")
    result = mlops("verify", ENDPOINT, "--expected-config", NEW_CONFIG)
    assert (result.code, result.out) == (EXIT_ROLLED_BACK, "")
    assert result.err == (f"error: SageMaker rolled the release back: endpoint {ENDPOINT} runs {OLD_CONFIG}, not "
                          f"the deployed {NEW_CONFIG}; alarm(s) in ALARM: churn-prod-5xx\n")


def test_silent_rollback_without_a_firing_alarm_still_fails(mlops, aws_client):
    create_endpoint(aws_client("sagemaker"), aws_client("cloudformation"), running=OLD_CONFIG, requested=NEW_CONFIG)
    result = mlops("verify", ENDPOINT)  # expected config read from the endpoint's stack output
    assert result.code == EXIT_ROLLED_BACK
    assert "no rollback alarm is in ALARM now" in result.err


def test_waits_through_the_rollout_and_catches_the_rollback(mlops, stub_client):
    # moto has no Updating/RollingBack phases: Stubber plays SageMaker's sequence during a guarded deployment.
    stubber = stub_client("sagemaker")
    pending = {"PendingDeploymentSummary": {"EndpointConfigName": NEW_CONFIG}}
    stubber.add_response("describe_endpoint", endpoint_description("Updating", OLD_CONFIG, **pending))
    stubber.add_response("describe_endpoint", endpoint_description("RollingBack", OLD_CONFIG, **pending))
    stubber.add_response("describe_endpoint", endpoint_description(
        "InService", OLD_CONFIG, FailureReason="Deployment rolled back: alarm churn-prod-latency in ALARM",
        LastDeploymentConfig={"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "churn-prod-latency"}]}}))
    result = mlops("verify", ENDPOINT, "--expected-config", NEW_CONFIG, "--poll-interval", "0.01")
    assert result.code == EXIT_ROLLED_BACK
    assert result.err.endswith("reason: Deployment rolled back: alarm churn-prod-latency in ALARM\n")
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("status, line", [
    ("Failed", "error: endpoint churn-prod is Failed: CannotStartContainerError\n"),
    ("UpdateRollbackFailed", "error: endpoint churn-prod is UpdateRollbackFailed: CannotStartContainerError\n"),
])
def test_failed_endpoint(mlops, stub_client, status, line):
    stubber = stub_client("sagemaker")
    stubber.add_response("describe_endpoint", endpoint_description(status, NEW_CONFIG,
                                                                   FailureReason="CannotStartContainerError"))
    result = mlops("verify", ENDPOINT, "--expected-config", NEW_CONFIG)
    assert (result.code, result.err) == (EXIT_FAILED, line)


def test_timeout(mlops, stub_client):
    stubber = stub_client("sagemaker")
    for _ in range(3):
        stubber.add_response("describe_endpoint", endpoint_description("Updating"))
    result = mlops("verify", ENDPOINT, "--expected-config", NEW_CONFIG, "--timeout", "0.05", "--poll-interval", "0.02")
    assert (result.code, result.err) == (
        EXIT_FAILED, f"error: endpoint {ENDPOINT} is still Updating after 0.05 s; raise --timeout or look at it "
                     "with `mlops status`\n")


def test_expected_config_unknown(mlops, aws_client):
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG, tag_stack=False)
    result = mlops("verify", ENDPOINT)
    assert (result.code, result.err) == (
        EXIT_USAGE, f"error: cannot tell which config was deployed (endpoint has no {STACK_TAG} tag: pass --stack "
                    "NAME to compare with the last release); pass --expected-config NAME\n")
    result = mlops("verify", ENDPOINT, "--stack", STACK)
    assert (result.code, result.err) == (
        EXIT_USAGE, f"error: cannot tell which config was deployed (stack {STACK} does not exist); pass "
                    "--expected-config NAME\n")


def test_unknown_endpoint(mlops):
    assert mlops("verify", "nope", "--expected-config", NEW_CONFIG).code == EXIT_NOT_FOUND


def test_unreadable_alarms_do_not_hide_the_rollback(mlops, aws_client, stub_client):
    create_endpoint(aws_client("sagemaker"), running=OLD_CONFIG)
    # The check role may be denied DescribeAlarms; moto cannot deny, so CloudWatch is stubbed.
    stubber = stub_client("cloudwatch")
    stubber.add_client_error("describe_alarms", "AccessDenied", "not authorized to perform: cloudwatch:DescribeAlarms")
    result = mlops("verify", ENDPOINT, "--expected-config", NEW_CONFIG)
    assert result.code == EXIT_ROLLED_BACK
    assert result.err == (f"error: SageMaker rolled the release back: endpoint {ENDPOINT} runs {OLD_CONFIG}, not "
                          f"the deployed {NEW_CONFIG}; alarm states unavailable (access denied: check "
                          "--profile/--role-arn and the role's policy: DescribeAlarms: AccessDenied: not authorized "
                          "to perform: cloudwatch:DescribeAlarms)\n")


def _component(status: str, model: str) -> dict:
    return {"InferenceComponentName": "churn-lite-prod", "InferenceComponentArn":
            "arn:aws:sagemaker:eu-west-1:123456789012:inference-component/churn-lite-prod", "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
            "InferenceComponentStatus": status, "Specification": {"ModelName": model},
            "RuntimeConfig": {"DesiredCopyCount": 4, "CurrentCopyCount": 4}, "CreationTime": 0, "LastModifiedTime": 0}


@pytest.mark.parametrize("status, model, code, message", [
    ("InService", "model-new", 0, None),
    ("InService", "model-old", EXIT_ROLLED_BACK, "SageMaker rolled the release back: inference component "
     "churn-lite-prod runs model model-old, not model-new which this stack deployed; alarm(s) in ALARM: "
     f"{ENDPOINT}-churn-lite-prod-5xx-rate"),
    ("Failed", "model-new", EXIT_FAILED, "inference component churn-lite-prod is Failed on model model-new"),
])
def test_a_component_is_verified_on_the_model_its_stack_deployed(mlops, aws_client, stub_client, status, model, code,
                                                                 message):
    """moto has no inference components (Stubber); the alarms are moto's."""
    create_alarm(aws_client("cloudwatch"), f"{ENDPOINT}-churn-lite-prod-5xx-rate", "ALARM" if code else "OK")
    sagemaker = stub_client("sagemaker")
    sagemaker.add_response("describe_inference_component", _component("Updating", "model-new"),
                           {"InferenceComponentName": "churn-lite-prod"})
    sagemaker.add_response("describe_inference_component", _component(status, model))
    result = mlops("verify", ENDPOINT, "--component", "churn-lite-prod", "--expected-model", "model-new",
                   "--poll-interval", "0.01")
    assert result.code == code, result.err
    if message:
        assert result.err.strip().startswith(f"error: {message}")
    else:
        assert "verified:  the deployed model is live" in result.out
    sagemaker.assert_no_pending_responses()


def test_component_and_expected_model_go_together(mlops):
    result = mlops("verify", ENDPOINT, "--component", "churn-lite-prod")
    assert (result.code, result.err.strip()) == (EXIT_USAGE, "error: --component and --expected-model go together "
                                                 "(the component and the model its stack deployed)")


def test_a_multi_model_release_is_verified_by_the_parameter_callers_read(mlops, aws_client):
    """moto's endpoint and SSM: the parameter must name the released target model."""
    create_endpoint(aws_client("sagemaker"))
    ssm = aws_client("ssm")
    ssm.put_parameter(Name="/mlops/churn-regional/prod/target-model", Value="churn-regional/v3.tar.gz", Type="String")
    args = ("verify", ENDPOINT, "--target-model", "churn-regional/v3.tar.gz", "--target-parameter",
            "/mlops/churn-regional/prod/target-model", "--poll-interval", "0.01")
    result = mlops(*args)
    assert result.code == 0, result.err
    assert "/mlops/churn-regional/prod/target-model names the released model" in result.out
    ssm.put_parameter(Name="/mlops/churn-regional/prod/target-model", Value="churn-regional/v2.tar.gz",
                      Type="String", Overwrite=True)
    moved = mlops(*args)
    assert moved.code == EXIT_ROLLED_BACK
    assert moved.err.strip() == ("error: parameter /mlops/churn-regional/prod/target-model names churn-regional/v2.tar.gz, "
                                 "not the released churn-regional/v3.tar.gz: callers are not sent to this release (a "
                                 "later release or a rollback moved it)")
    usage = mlops("verify", ENDPOINT, "--target-model", "x")
    assert usage.code == EXIT_USAGE


def test_one_kind_of_release_at_a_time(mlops):
    result = mlops("verify", ENDPOINT, "--component", "c", "--expected-model", "m", "--target-model", "t",
                   "--target-parameter", "p")
    assert (result.code, result.err.strip()) == (EXIT_USAGE, "error: --component and --target-model exclude each "
                                                 "other: an endpoint's config, an inference component, or a "
                                                 "multi-model target")
