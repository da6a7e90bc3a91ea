"""``mlops release status|skip-gate|stop|restore``: the phases' state machines and executions in the moto server
(their history stubbed: moto answers a canned one), the decision recorded in moto's SSM, the endpoint moved back
with UpdateEndpoint stubbed (moto has none)."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from ops_support import create_versions

from constructs_lib.ops.release_gate import override_of

DECISIONS = "/mlops/churn-predictor/release/{}-gate"

CONFIG = Path(__file__).resolve().parents[2] / "config" / "platform.yaml"
ROLE = "arn:aws:iam::123456789012:role/states"
LOOK = {"release": {"phase": "shadow", "version_arn": "V", "gate": {"min_duration_seconds": 3600,
                                                                     "deadline_seconds": 86400}},
        "verdict": {"decision": "WAIT", "reason": "412 of 1000 requests",
                    "checks": [{"check": "latency p99", "status": "ok", "detail": "+2.0% (limit +10%)"}]}}


@pytest.fixture
def group(moto_server):
    sagemaker = boto3.client("sagemaker", region_name="eu-west-1")
    return sagemaker, create_versions(sagemaker, "mlops-churn-predictor", ["Approved", "Approved"])


@pytest.fixture
def machines(moto_server):
    states = boto3.client("stepfunctions", region_name="eu-west-1")
    return {phase: states.create_state_machine(name=f"mlops-churn-predictor-release-{phase}", roleArn=ROLE,
                                               definition=json.dumps({"StartAt": "A", "States": {
                                                   "A": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
            for phase in ("shadow", "ab")}


def entered(name):
    return {"timestamp": "2026-11-30T12:00:00Z", "type": "WaitStateEntered", "id": 9, "stateEnteredEventDetails": {
        "name": name, "input": "{}"}}


def exited_evaluate(output):
    return {"timestamp": "2026-11-30T11:55:00Z", "type": "TaskStateExited", "id": 8, "stateExitedEventDetails": {
        "name": "EvaluateGate", "output": json.dumps(output)}}


def test_status_shows_the_running_phase_its_version_and_the_gate_s_last_look(mlops, machines, group, stub_client):
    _, versions = group
    states = stub_client("stepfunctions", ["GetExecutionHistory"])
    reached = datetime.now(timezone.utc) - timedelta(minutes=30)  # the trial config served half an hour ago
    states.add_response("get_execution_history", {"events": [entered("WaitForTraffic"), exited_evaluate({
        **LOOK, "status": {"now": reached.isoformat()},
        "release": {**LOOK["release"], "version_arn": versions[1]}})]})
    real = boto3.client("stepfunctions", region_name="eu-west-1")
    real.start_execution(stateMachineArn=machines["shadow"], input=json.dumps({"version_arn": versions[1]}))
    result = mlops("release", "status", "churn-predictor", "--config", str(CONFIG), "--json", "--region", "eu-west-1")
    assert result.code == 0, result.err
    shadow, ab = json.loads(result.out)["phases"]
    assert (shadow["phase"], shadow["state"], shadow["version"], shadow["decision"], shadow["reason"]) == (
        "shadow", "WaitForTraffic", versions[1], "WAIT", "412 of 1000 requests")
    assert shadow["checks"] == LOOK["verdict"]["checks"]
    assert 1800 - 60 <= shadow["minimum_left_seconds"] <= 1800
    assert shadow["deadline_left_seconds"] - shadow["minimum_left_seconds"] == 86400 - 3600
    assert ab == {"phase": "ab", "status": "never run"}


def decide(mlops, stub_client, machine, version, state, action, reason):
    """``mlops release ACTION`` while an execution of ``machine`` for ``version`` is at ``state``."""
    stubber = stub_client("stepfunctions", ["GetExecutionHistory"])
    stubber.add_response("get_execution_history", {"events": [entered(state)]})
    boto3.client("stepfunctions", region_name="eu-west-1").start_execution(
        stateMachineArn=machine, input=json.dumps({"version_arn": version}))
    return mlops("release", action, "churn-predictor", "--config", str(CONFIG), "--reason", reason,
                 "--region", "eu-west-1")


def test_skip_gate_records_the_decision_for_the_running_phase_s_version(mlops, machines, group, stub_client):
    _, versions = group
    result = decide(mlops, stub_client, machines["ab"], versions[0], "WaitForTraffic", "skip-gate",
                    "holiday traffic, checked by hand")
    assert result.code == 0, result.err
    assert result.out.startswith(f"recorded: skip the ab gate of {versions[0]} (holiday traffic, checked by hand)")
    assert result.err == ""
    ssm = boto3.client("ssm", region_name="eu-west-1")
    verdict = override_of(ssm, DECISIONS.format("ab"), versions[0], "ab")
    assert verdict["decision"] == "PASS" and verdict["reason"].endswith(": holiday traffic, checked by hand")
    assert override_of(ssm, DECISIONS.format("shadow"), versions[0], "shadow") is None


def test_a_decision_after_the_gate_decided_says_what_it_still_does(mlops, machines, group, stub_client):
    _, versions = group
    result = decide(mlops, stub_client, machines["shadow"], versions[0], "WaitForSteadyConfig", "stop",
                    "wrong features")
    assert result.code == 0, result.err
    assert result.err == ("warning: the shadow gate has already decided (the phase is at WaitForSteadyConfig): a stop "
                          "still fails it at its conclusion\n")


def test_without_a_running_phase_a_person_is_pointed_to_rejecting_the_version(mlops, machines, group):
    result = mlops("release", "stop", "churn-predictor", "--config", str(CONFIG), "--reason", "wrong features",
                   "--region", "eu-west-1")
    assert (result.code, result.err) == (3, "error: no release phase of model churn-predictor is running: to stop a "
                                            "release before its phases, reject the version (`mlops reject "
                                            "VERSION_ARN --reason ...`), which they honour\n")


@pytest.mark.parametrize("reason, length", [("  ", 0), ("x" * 901, 901)])
def test_a_reason_the_approval_description_cannot_hold_is_refused_before_any_call(mlops, reason, length):
    result = mlops("release", "stop", "churn-predictor", "--config", str(CONFIG), "--reason", reason)
    assert (result.code, result.err) == (2, f"error: --reason must hold 1 to 900 characters, got {length}\n")


def test_restore_moves_the_endpoint_back_and_removes_the_trial(mlops, stub_client):
    from ops_support import endpoint_description

    from constructs_lib.ops.release_phase import STEADY_TAG

    endpoint, steady, trial = "churn-predictor-prod", "churn-predictor-prod-0a1b", "churn-predictor-prod-0a1b-ab-1"
    sagemaker = boto3.client("sagemaker", region_name="eu-west-1")
    sagemaker.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "i"})
    for name, tags in ((steady, []), (trial, [{"Key": STEADY_TAG, "Value": steady}])):
        sagemaker.create_endpoint_config(EndpointConfigName=name, Tags=tags, ProductionVariants=[
            {"VariantName": "main", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    stubber = stub_client("sagemaker", ["DescribeEndpoint", "UpdateEndpoint"])
    on = {"EndpointName": endpoint}
    for described in (endpoint_description("InService", trial), endpoint_description("InService", trial)):
        stubber.add_response("describe_endpoint", {**described, "EndpointName": endpoint}, on)
    stubber.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:eu-west-1:1:endpoint/x"}, {
        **on, "EndpointConfigName": steady, "RetainAllVariantProperties": True,
        "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}]})
    stubber.add_response("describe_endpoint", {**endpoint_description("InService", steady), "EndpointName": endpoint}, on)
    result = mlops("release", "restore", "churn-predictor", "--config", str(CONFIG), "--region", "eu-west-1",
                   "--poll-interval", "1")
    assert result.code == 0, result.err
    assert result.out == f"endpoint {endpoint} is back on its steady config {steady} (it ran {trial})\n"
    assert [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]] == [steady]


def test_a_model_without_a_release_plan_or_a_pipeline_is_one_line(mlops):
    example = str(CONFIG.parent / "examples" / "ab-test.yaml")
    result = mlops("release", "status", "churn-predictor", "--config", example)
    assert (result.code, result.err) == (2, f"error: model churn-predictor has no release plan "
                                            f"(models[].stages.prod.release in {example})\n")
    result = mlops("release", "status", "churn-predictor", "--config", str(CONFIG), "--region", "eu-west-1")
    assert result.code == 3
    assert result.err == ("error: state machine mlops-churn-predictor-release-shadow not found: is the model's "
                          "pipeline stack deployed in this account and region?\n")
