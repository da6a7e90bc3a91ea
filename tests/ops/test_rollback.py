"""``mlops rollback``: back to the previous approved version, all or nothing."""

import json

import pytest
from ops_support import create_pipeline, create_versions, hook_client as _hook

from constructs_lib.ops.base import EXIT_ACCESS, EXIT_FAILED, EXIT_NOT_FOUND

GROUP = "churn-models"
PIPELINE = "churn-delivery"


def statuses(sagemaker, arns):
    return [sagemaker.describe_model_package(ModelPackageName=a)["ModelApprovalStatus"] for a in arns]


@pytest.fixture
def pipeline(aws_client):
    return create_pipeline(aws_client("iam"), aws_client("codepipeline"), PIPELINE)


def test_rollback_rejects_latest_and_starts_the_pipeline(mlops, aws_client, pipeline):
    sagemaker = aws_client("sagemaker")
    arns = create_versions(sagemaker, GROUP, ["Approved", "Rejected", "Approved", "PendingManualApproval"])
    result = mlops("rollback", GROUP, "--reason", "p99 regression", "--pipeline", pipeline, "--json")
    assert (result.code, result.err) == (0, "")
    data = json.loads(result.out)
    assert (data["rejected_version"], data["now_latest_version"]) == (arns[2], arns[0])
    assert data["pipeline_execution_id"]
    assert statuses(sagemaker, arns) == ["Approved", "Rejected", "Rejected", "PendingManualApproval"]
    described = sagemaker.describe_model_package(ModelPackageName=arns[2])
    assert described["ApprovalDescription"] == "rolled back with mlops: p99 regression"
    assert mlops("resolve", GROUP).out.strip() == arns[0]
    executions = aws_client("codepipeline").list_pipeline_executions(pipelineName=pipeline)
    assert [e["pipelineExecutionId"] for e in executions["pipelineExecutionSummaries"]] == [
        data["pipeline_execution_id"]]


def test_dry_run_changes_nothing(mlops, aws_client, pipeline):
    sagemaker = aws_client("sagemaker")
    arns = create_versions(sagemaker, GROUP, ["Approved", "Approved"])
    result = mlops("rollback", GROUP, "--reason", "p99 regression", "--pipeline", pipeline, "--dry-run")
    assert result.code == 0
    assert result.out.splitlines() == [
        f"would reject:         {arns[1]}",
        f"latest approved then: {arns[0]}",
        "reason:               p99 regression",
        f"would start pipeline: {pipeline}",
        "pipeline execution:   -",
        "dry run: nothing changed",
    ]
    assert statuses(sagemaker, arns) == ["Approved", "Approved"]
    assert aws_client("codepipeline").list_pipeline_executions(pipelineName=pipeline)[
        "pipelineExecutionSummaries"] == []


def test_refused_without_a_previous_approved_version(mlops, aws_client):
    sagemaker = aws_client("sagemaker")
    arns = create_versions(sagemaker, GROUP, ["Rejected", "Approved"])
    result = mlops("rollback", GROUP, "--reason", "bad")
    assert (result.code, result.err) == (
        EXIT_FAILED, f"error: {arns[1]} is the only approved version in {GROUP}: there is no previous approved "
                     "version to return to; nothing changed (approve an earlier version first)\n")
    assert statuses(sagemaker, arns) == ["Rejected", "Approved"]


def test_unknown_pipeline_is_found_out_before_any_change(mlops, aws_client):
    sagemaker = aws_client("sagemaker")
    arns = create_versions(sagemaker, GROUP, ["Approved", "Approved"])
    result = mlops("rollback", GROUP, "--reason", "bad", "--pipeline", "nope")
    assert result.code == EXIT_NOT_FOUND
    assert statuses(sagemaker, arns) == ["Approved", "Approved"]


def test_pipeline_start_failure_restores_the_approval(mlops, aws_client, stub_client):
    sagemaker = aws_client("sagemaker")
    arns = create_versions(sagemaker, GROUP, ["Approved", "Approved"])
    sagemaker.update_model_package(ModelPackageArn=arns[1], ModelApprovalStatus="Approved",
                                   ApprovalDescription="AUC 0.91")
    # The registry is moto's; CodePipeline is stubbed to exist and then deny the start (moto cannot deny).
    stubber = stub_client("codepipeline")
    stubber.add_response("get_pipeline", {"pipeline": {"name": PIPELINE, "roleArn": "arn:aws:iam::123456789012:role/p",
                                                       "stages": []}})
    stubber.add_client_error("start_pipeline_execution", "AccessDeniedException",
                             "not authorized to perform: codepipeline:StartPipelineExecution")
    result = mlops("rollback", GROUP, "--reason", "bad", "--pipeline", PIPELINE)
    assert result.code == EXIT_ACCESS
    assert result.err.startswith("error: rollback not done, nothing changed: starting the pipeline failed (access "
                                 "denied: check --profile/--role-arn and the role's policy: StartPipelineExecution:")
    assert result.err.endswith(f"the approval of {arns[1]} was restored\n")
    described = sagemaker.describe_model_package(ModelPackageName=arns[1])
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == ("Approved", "AUC 0.91")
    stubber.assert_no_pending_responses()




def test_the_start_carries_an_idempotency_token(mlops, aws_client, pipeline, monkeypatch):
    """A retried start (botocore's after a timeout, or the user's) is the same execution, not a second one."""
    from constructs_lib.ops.rollback import request_token

    arns = create_versions(aws_client("sagemaker"), GROUP, ["Approved", "Approved"])
    sent = []
    _hook(monkeypatch, "codepipeline", "provide-client-params.codepipeline.StartPipelineExecution",
          lambda params, **_: sent.append(dict(params)))
    assert mlops("rollback", GROUP, "--reason", "p99 regression", "--pipeline", pipeline).code == 0
    assert sent == [{"name": pipeline, "clientRequestToken": request_token(arns[1], "p99 regression")}]
    assert request_token(arns[1], "p99 regression") == request_token(arns[1], "p99 regression")


def test_a_start_without_answer_says_what_state_it_left(mlops, aws_client, pipeline, monkeypatch):
    """No answer: the execution may or may not have started. The approval is not restored (a release of the
    previous version may be running); the message says how to check and how to finish, idempotently."""
    import botocore.exceptions

    sagemaker = aws_client("sagemaker")
    arns = create_versions(sagemaker, GROUP, ["Approved", "Approved"])

    def hang(**_):
        raise botocore.exceptions.ReadTimeoutError(endpoint_url="https://codepipeline.eu-west-1.amazonaws.com")
    _hook(monkeypatch, "codepipeline", "before-send.codepipeline.StartPipelineExecution", hang)
    result = mlops("rollback", GROUP, "--reason", "bad", "--pipeline", pipeline)
    assert result.code == 7  # EXIT_AWS
    assert result.err.startswith(f"error: rollback outcome unknown: {arns[1]} is Rejected, and starting pipeline "
                                 f"{pipeline} got no answer")
    assert "--client-request-token mlops-rollback-" in result.err and "nothing changed" not in result.err
    assert statuses(sagemaker, arns) == ["Approved", "Rejected"]


def test_sigterm_waits_until_the_rollback_is_complete(mlops, aws_client, pipeline, monkeypatch):
    """A CodeBuild timeout (SIGTERM) or Ctrl-C between the rejection and the start must not leave the version
    rejected with nothing deployed: the signal is handled once both are done, and the command says so."""
    import os
    import signal

    sagemaker = aws_client("sagemaker")
    arns = create_versions(sagemaker, GROUP, ["Approved", "Approved"])
    handler_before = signal.getsignal(signal.SIGTERM)
    _hook(monkeypatch, "codepipeline", "before-send.codepipeline.StartPipelineExecution",
          lambda **_: os.kill(os.getpid(), signal.SIGTERM))
    result = mlops("rollback", GROUP, "--reason", "bad", "--pipeline", pipeline)
    assert result.code == 128 + signal.SIGTERM
    assert result.err.startswith("error: interrupted by SIGTERM during the change; it was completed first, so "
                                 f"nothing is half-applied: {arns[1]} is Rejected, pipeline {pipeline} execution ")
    assert statuses(sagemaker, arns) == ["Approved", "Rejected"]
    executions = aws_client("codepipeline").list_pipeline_executions(pipelineName=pipeline)
    assert len(executions["pipelineExecutionSummaries"]) == 1
    assert signal.getsignal(signal.SIGTERM) is handler_before  # the command's handlers are gone again
