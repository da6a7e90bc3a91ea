"""``mlops approve`` / ``mlops reject``: approval status with the reason recorded."""

from ops_support import create_versions, hook_client

from constructs_lib.ops.base import EXIT_NOT_FOUND, EXIT_USAGE

GROUP = "churn-models"


def test_reject_records_the_reason(mlops, aws_client):
    sagemaker = aws_client("sagemaker")
    [arn] = create_versions(sagemaker, GROUP, ["Approved"])
    result = mlops("reject", arn, "--reason", "latency regression in test")
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines()[:4] == [
        f"version: {arn}", f"group:   {GROUP}", "status:  Approved -> Rejected", "reason:  latency regression in test"]
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == (
        "Rejected", "latency regression in test")


def test_approve_with_json_output(mlops, aws_client):
    sagemaker = aws_client("sagemaker")
    [arn] = create_versions(sagemaker, GROUP, ["PendingManualApproval"])
    result = mlops("approve", arn, "--reason", "AUC 0.91 on holdout", "--json")
    assert result.code == 0
    assert '"previous_status": "PendingManualApproval"' in result.out
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == ("Approved", "AUC 0.91 on holdout")


def test_reject_needs_a_reason(mlops, aws_client):
    [arn] = create_versions(aws_client("sagemaker"), GROUP, ["Approved"])
    assert mlops("reject", arn).code == EXIT_USAGE
    result = mlops("reject", arn, "--reason", "  ")
    assert (result.code, result.err) == (
        EXIT_USAGE, "error: --reason must say why the version is rejected, got an empty text\n")
    assert aws_client("sagemaker").describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"


def test_unknown_version(mlops):
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{GROUP}/9"
    result = mlops("approve", arn)
    assert (result.code, result.err) == (
        EXIT_NOT_FOUND, f"error: not found: DescribeModelPackage: ValidationException: Model package {arn} not found\n")


def test_a_signal_during_the_change_waits_for_it_and_says_what_landed(mlops, aws_client, monkeypatch):
    """SIGTERM (a CodeBuild timeout) while UpdateModelPackage is in flight: the call completes, then the command
    stops with 128 + the signal and says the version's status, instead of leaving the user guessing."""
    import os
    import signal

    sagemaker = aws_client("sagemaker")
    [arn] = create_versions(sagemaker, GROUP, ["PendingManualApproval"])
    hook_client(monkeypatch, "sagemaker", "before-send.sagemaker.UpdateModelPackage",
                lambda **_: os.kill(os.getpid(), signal.SIGTERM))
    result = mlops("approve", arn, "--reason", "AUC 0.91")
    assert result.code == 128 + signal.SIGTERM
    assert result.err == (f"error: interrupted by SIGTERM during the change; it was completed first, so nothing is "
                          f"half-applied: {arn} is Approved\n")
    assert sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
