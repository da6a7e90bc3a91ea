"""Fault injection: ``mlops`` against a moto server behind a proxy that throttles, denies, fails with 500s,
hangs, or applies a call and answers too late (``fault_proxy.py``). Each case asserts the exit code, the one
line the user reads and the state left behind. Timeouts are shortened through the documented overrides
(``MLOPS_AWS_*``) so a hang costs a second, not minutes.

Disk-full and file-size faults are in ``test_files.py`` (and the commands' own tests); signals in the middle of
a change in ``test_rollback.py``.
"""

from __future__ import annotations

import time

import pytest
from fault_proxy import FaultProxy
from ops_support import create_pipeline, create_versions

from constructs_lib.ops.aws import max_call_seconds
from constructs_lib.ops.base import EXIT_ACCESS, EXIT_AWS, EXIT_THROTTLED

GROUP = "churn-models"
PIPELINE = "churn-delivery"
ATTEMPTS, CONNECT, READ = 2, 1, 1


@pytest.fixture
def proxy(moto_server, monkeypatch):
    """The proxy in front of this test's moto server; the command reaches AWS only through it."""
    with FaultProxy(moto_server) as faulty:
        monkeypatch.setenv("AWS_ENDPOINT_URL", faulty.url)
        monkeypatch.setenv("MLOPS_AWS_MAX_ATTEMPTS", str(ATTEMPTS))
        monkeypatch.setenv("MLOPS_AWS_CONNECT_TIMEOUT", str(CONNECT))
        monkeypatch.setenv("MLOPS_AWS_READ_TIMEOUT", str(READ))
        yield faulty


@pytest.fixture
def versions(aws_client):
    """Two approved versions (the older, then the newer) in the group, created straight on the moto server."""
    return create_versions(aws_client("sagemaker"), GROUP, ["Approved", "Approved"])


def statuses(aws_client, arns) -> list[str]:
    sagemaker = aws_client("sagemaker")
    return [sagemaker.describe_model_package(ModelPackageName=a)["ModelApprovalStatus"] for a in arns]


def executions(aws_client) -> int:
    return len(aws_client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)[
        "pipelineExecutionSummaries"])


def test_throttling_is_ridden_out(mlops, proxy, versions):
    proxy.inject("ListModelPackages", "throttle", times=ATTEMPTS - 1)
    result = mlops("resolve", GROUP)
    assert (result.code, result.out.strip(), result.err) == (0, versions[1], "")
    assert len(proxy.calls("ListModelPackages")) == ATTEMPTS


def test_throttling_that_lasts_is_one_line_and_exit_5(mlops, proxy, versions):
    proxy.inject("ListModelPackages", "throttle")
    result = mlops("resolve", GROUP)
    assert (result.code, result.out) == (EXIT_THROTTLED, "")
    assert result.err == (f"error: throttled by AWS after {ATTEMPTS} attempts, try again later: ListModelPackages: "
                          "ThrottlingException: injected throttle\n")


def test_a_hung_endpoint_gives_up_within_the_documented_bound(mlops, proxy, versions):
    proxy.inject("ListModelPackages", "hang", seconds=READ + 0.5)
    start = time.monotonic()
    result = mlops("resolve", GROUP)
    elapsed = time.monotonic() - start
    assert result.code == EXIT_AWS
    assert result.err.startswith(f"error: no answer from AWS after {ATTEMPTS} attempts of {READ} s (Read timeout on "
                                 "endpoint URL")
    assert result.err.count("\n") == 1
    assert elapsed < max_call_seconds(ATTEMPTS, CONNECT, READ)
    assert len(proxy.calls("ListModelPackages")) == ATTEMPTS


def test_rollback_denied_at_the_start_restores_the_approval(mlops, proxy, aws_client, versions):
    create_pipeline(aws_client("iam"), aws_client("codepipeline"), PIPELINE)
    proxy.inject("StartPipelineExecution", "deny")
    result = mlops("rollback", GROUP, "--reason", "p99 regression", "--pipeline", PIPELINE)
    assert result.code == EXIT_ACCESS
    assert len(result.err.splitlines()) == 1 and "nothing changed" in result.err, result.err
    assert statuses(aws_client, versions) == ["Approved", "Approved"]
    assert executions(aws_client) == 0


def test_rollback_whose_rejection_fails_with_500s_changes_nothing(mlops, proxy, aws_client, versions):
    create_pipeline(aws_client("iam"), aws_client("codepipeline"), PIPELINE)
    proxy.inject("UpdateModelPackage", "error500")
    result = mlops("rollback", GROUP, "--reason", "p99 regression", "--pipeline", PIPELINE)
    assert result.code == EXIT_AWS
    assert result.err.startswith("error: AWS error: UpdateModelPackage: InternalFailure: injected error500")
    assert len(result.err.splitlines()) == 1
    assert len(proxy.calls("UpdateModelPackage")) == ATTEMPTS  # 500s are retried
    assert statuses(aws_client, versions) == ["Approved", "Approved"]
    assert executions(aws_client) == 0


def test_a_start_applied_but_answered_too_late_is_retried_with_the_same_token_and_says_what_it_left(
        mlops, proxy, aws_client, versions):
    """The slow StartPipelineExecution of the fault run: the pipeline starts, the answer comes after the read
    timeout, botocore retries. Every attempt carries the same client request token (AWS starts one execution
    for it; moto ignores the token, so the executions are not counted here), and the message says the outcome
    is unknown and how to check and finish, instead of "nothing changed"."""
    from constructs_lib.ops.rollback import request_token

    create_pipeline(aws_client("iam"), aws_client("codepipeline"), PIPELINE)
    proxy.inject("StartPipelineExecution", "slow", seconds=READ + 0.5)
    result = mlops("rollback", GROUP, "--reason", "p99 regression", "--pipeline", PIPELINE)
    assert result.code == EXIT_AWS
    assert result.err.startswith(f"error: rollback outcome unknown: {versions[1]} is Rejected, and starting "
                                 f"pipeline {PIPELINE} got no answer")
    assert "nothing changed" not in result.err and len(result.err.splitlines()) == 1
    token = request_token(versions[1], "p99 regression").encode()
    starts = proxy.calls("StartPipelineExecution")
    assert len(starts) == ATTEMPTS and all(token in body for body in starts)
    assert statuses(aws_client, versions) == ["Approved", "Rejected"]
