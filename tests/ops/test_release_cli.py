"""``mlops release status|skip-gate|stop``: the phases' state machines and executions in the moto server (their
history stubbed: moto answers a canned one), the decision recorded on the version in the moto registry."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from ops_support import create_versions

from constructs_lib.ops.release_gate import override_of

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


def test_skip_gate_records_the_decision_on_the_running_phase_s_version(mlops, machines, group, stub_client):
    sagemaker, versions = group
    stubber = stub_client("stepfunctions", ["GetExecutionHistory"])
    stubber.add_response("get_execution_history", {"events": [entered("WaitForTraffic")]})
    boto3.client("stepfunctions", region_name="eu-west-1").start_execution(
        stateMachineArn=machines["ab"], input=json.dumps({"version_arn": versions[0]}))
    result = mlops("release", "skip-gate", "churn-predictor", "--config", str(CONFIG), "--reason",
                   "holiday traffic - checked by hand", "--region", "eu-west-1")
    assert result.code == 0, result.err
    assert result.out.startswith(f"recorded: skip the ab gate of {versions[0]} (holiday traffic - checked by hand)")
    assert override_of(sagemaker, versions[0], "ab")["reason"] == "gate skipped by a person: holiday traffic - " \
                                                                  "checked by hand"
    assert override_of(sagemaker, versions[0], "shadow") is None


def test_stop_ahead_of_a_phase_needs_the_phase_and_the_version(mlops, machines, group):
    sagemaker, versions = group
    result = mlops("release", "stop", "churn-predictor", "--config", str(CONFIG), "--reason", "wrong features",
                   "--region", "eu-west-1")
    assert (result.code, result.err) == (3, "error: no release phase of model churn-predictor is running: give "
                                            "--phase and --version to decide a phase ahead\n")
    result = mlops("release", "stop", "churn-predictor", "--config", str(CONFIG), "--reason", "wrong features",
                   "--phase", "ab", "--version", versions[1], "--region", "eu-west-1")
    assert result.code == 0, result.err
    assert override_of(sagemaker, versions[1], "ab")["decision"] == "FAIL"


@pytest.mark.parametrize("argv, code, message", [
    (["--reason", "a, b"], 2, "error: --reason may hold letters, digits, spaces and _ . : / = + - @ only "
                              "(SageMaker's metadata values), got ','\n"),
    (["--reason", "x" * 257], 2, "error: --reason must hold 1 to 256 characters, got 257\n"),
])
def test_a_reason_sagemaker_would_refuse_is_refused_before_any_call(mlops, argv, code, message):
    result = mlops("release", "stop", "churn-predictor", "--config", str(CONFIG), *argv)
    assert (result.code, result.err) == (code, message)


def test_a_model_without_a_release_plan_or_a_pipeline_is_one_line(mlops):
    example = str(CONFIG.parent / "examples" / "ab-test.yaml")
    result = mlops("release", "status", "churn-predictor", "--config", example)
    assert (result.code, result.err) == (2, f"error: model churn-predictor has no release plan "
                                            f"(models[].stages.prod.release in {example})\n")
    result = mlops("release", "status", "churn-predictor", "--config", str(CONFIG), "--region", "eu-west-1")
    assert result.code == 3
    assert result.err == ("error: state machine mlops-churn-predictor-release-shadow not found: is the model's "
                          "pipeline stack deployed in this account and region?\n")
