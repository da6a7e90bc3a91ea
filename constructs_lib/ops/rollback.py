"""``mlops rollback GROUP``: go back to the previous approved model version through the delivery pipeline.

Rejecting the latest approved version makes the previous approved one the latest, which is what the pipeline's
resolver deploys; starting the pipeline then releases it through test and prod like any other version. Nothing
is changed behind CloudFormation's back.
"""

from __future__ import annotations

import hashlib
from typing import Any

import botocore.exceptions

from . import output
from .aws import translate
from .base import EXIT_AWS, EXIT_FAILED, EXIT_USAGE, OpsError, Output
from .resolve import approved_versions, group_name_of
from .signals import Interrupted, deferred_signals


def plan_rollback(sagemaker_client: Any, group: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(current, previous)`` approved version summaries; refuses when there is no previous one to return to."""
    versions = approved_versions(sagemaker_client, group)
    if not versions:
        raise OpsError(f"no approved version in model package group {group_name_of(group)}: nothing to roll "
                       "back; nothing changed", EXIT_FAILED)
    if len(versions) < 2:
        raise OpsError(f"{versions[0]['ModelPackageArn']} is the only approved version in "
                       f"{group_name_of(group)}: there is no previous approved version to return to; nothing "
                       "changed (approve an earlier version first)", EXIT_FAILED)
    return versions[0], versions[1]


def rollback(ctx, group: str, reason: str, pipeline: str | None, dry_run: bool) -> dict[str, Any]:
    """Reject the latest approved version of ``group`` and start ``pipeline``; all or nothing.

    Every read (versions, the pipeline's existence) happens before the rejection. If starting the pipeline
    fails after the rejection, the version's approval and description are restored and the error is raised
    (so nothing is left half-changed); if the start got no answer (a timeout), the state is said with the
    command that finishes it (the start carries a client request token, so it cannot run twice). SIGINT and
    SIGTERM wait until both steps are done (``signals.deferred_signals``); ``dry_run`` only reports the plan.
    """
    sagemaker_client = ctx.client("sagemaker")
    current, previous = plan_rollback(sagemaker_client, group)
    current_arn = current["ModelPackageArn"]
    if pipeline:
        ctx.client("codepipeline").get_pipeline(name=pipeline)  # fails (not found / denied) before any change
    result = {"group": group_name_of(group), "rejected_version": current_arn,
              "now_latest_version": previous["ModelPackageArn"], "reason": reason, "pipeline": pipeline,
              "pipeline_execution_id": None, "dry_run": dry_run}
    if dry_run:
        return result
    before = sagemaker_client.describe_model_package(ModelPackageName=current_arn)
    token = request_token(current_arn, reason)
    with deferred_signals() as received:  # reject + start complete together, whatever signal comes
        sagemaker_client.update_model_package(ModelPackageArn=current_arn, ModelApprovalStatus="Rejected",
                                              ApprovalDescription=f"rolled back with mlops: {reason}")
        if pipeline:
            try:
                # The token makes a retry of this start (botocore's, or the command below) the same execution.
                execution = ctx.client("codepipeline").start_pipeline_execution(name=pipeline,
                                                                                clientRequestToken=token)
            except _UNKNOWN_OUTCOME as error:
                raise OpsError(
                    f"rollback outcome unknown: {current_arn} is Rejected, and starting pipeline {pipeline} got no "
                    f"answer ({' '.join(str(error).split())}), so an execution may have started. Check: aws "
                    f"codepipeline list-pipeline-executions --pipeline-name {pipeline}; if none started, finish with: "
                    f"aws codepipeline start-pipeline-execution --name {pipeline} --client-request-token {token} "
                    "(the same token cannot start a second execution)", EXIT_AWS) from None
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
                raise _restore(sagemaker_client, before, translate(error)) from None
            result["pipeline_execution_id"] = execution["pipelineExecutionId"]
    if received:
        raise Interrupted(received[0], f"{current_arn} is Rejected"
                          + (f", pipeline {pipeline} execution {result['pipeline_execution_id']} started"
                             if pipeline else ""))
    return result


#: Errors after which a request may or may not have been carried out (no answer came back).
_UNKNOWN_OUTCOME = (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError)


def request_token(version_arn: str, reason: str) -> str:
    """The StartPipelineExecution client request token of one rollback (deterministic: a retry reuses it)."""
    digest = hashlib.sha256(f"{version_arn}\n{reason}".encode()).hexdigest()[:40]
    return f"mlops-rollback-{digest}"


def _restore(sagemaker_client: Any, before: dict[str, Any], cause: OpsError) -> OpsError:
    arn = before["ModelPackageArn"]
    try:
        sagemaker_client.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved",
                                              ApprovalDescription=before.get("ApprovalDescription") or "")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        return OpsError(f"rollback half done: {arn} is Rejected but the pipeline did not start ({cause}) and "
                        f"restoring the approval failed ({translate(error)}); run `mlops approve {arn}` or start "
                        "the pipeline by hand", EXIT_AWS)
    return OpsError(f"rollback not done, nothing changed: starting the pipeline failed ({cause}); the approval of "
                    f"{arn} was restored", cause.exit_code)


def run(args, ctx) -> Output:
    """Handler of ``mlops rollback``."""
    reason = args.reason.strip()
    if not reason:
        raise OpsError("--reason must say why the version is rolled back, got an empty text", EXIT_USAGE)
    data = rollback(ctx, args.group, reason, args.pipeline, args.dry_run)
    prefix = "would " if data["dry_run"] else ""
    lines = [output.fields([
        (f"{prefix}reject", data["rejected_version"]),
        ("latest approved then" if data["dry_run"] else "latest approved now", data["now_latest_version"]),
        ("reason", data["reason"]),
        (f"{prefix}start pipeline", data["pipeline"] or "no (--pipeline not given)"),
        ("pipeline execution", data["pipeline_execution_id"]),
    ])]
    warnings = []
    if data["dry_run"]:
        lines.append("dry run: nothing changed")
    elif not data["pipeline"]:
        warnings.append("the delivery pipeline was not started (no --pipeline): the previous version is "
                        "deployed on the pipeline's next run")
    return Output(data=data, text="\n".join(lines), warnings=warnings)


def register(subparsers) -> None:
    """Add ``rollback`` to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "rollback", help="reject the latest approved version and redeploy the previous one",
        description="Reject the latest approved version of a model package group (recording the reason) so the "
                    "previous approved version becomes the latest, then start the delivery pipeline, which "
                    "deploys it through test and prod. Refused, with nothing changed, when there is no previous "
                    "approved version. If the pipeline cannot be started the rejection is undone.",
        epilog="example:\n  mlops rollback mlops-churn-predictor --reason 'p99 latency regression' "
               "--pipeline mlops-churn-predictor-delivery --dry-run")
    parser.add_argument("group", metavar="GROUP", help="model package group name or ARN")
    parser.add_argument("--reason", required=True, help="why (recorded on the rejected version)")
    parser.add_argument("--pipeline", metavar="NAME", help="delivery pipeline (CodePipeline) to start")
    parser.add_argument("--dry-run", action="store_true", help="show what would happen, change nothing")
    parser.set_defaults(handler=run)
