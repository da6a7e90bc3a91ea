"""``mlops approve`` / ``mlops reject``: set a model version's approval status, with the reason recorded."""

from __future__ import annotations

from typing import Any

from . import output
from .base import EXIT_USAGE, OpsError, Output
from .signals import Interrupted, deferred_signals


def set_approval(sagemaker_client: Any, version_arn: str, status: str, description: str) -> dict[str, Any]:
    """Set ``ModelApprovalStatus`` of one model version, recording ``description``; returns before/after facts.

    Reads the version first, so an unknown ARN fails (not found) before anything changes.
    """
    before = sagemaker_client.describe_model_package(ModelPackageName=version_arn)
    with deferred_signals() as received:  # the change completes (or fails) whatever signal comes meanwhile
        sagemaker_client.update_model_package(ModelPackageArn=version_arn, ModelApprovalStatus=status,
                                              ApprovalDescription=description)
    if received:
        raise Interrupted(received[0], f"{version_arn} is {status}")
    return {
        "version_arn": before.get("ModelPackageArn", version_arn),
        "group": before.get("ModelPackageGroupName"),
        "version": before.get("ModelPackageVersion"),
        "previous_status": before.get("ModelApprovalStatus"),
        "previous_description": before.get("ApprovalDescription"),
        "status": status,
        "description": description,
    }


def _text(result: dict[str, Any], note: str) -> str:
    return output.fields([
        ("version", result["version_arn"]),
        ("group", result["group"]),
        ("status", f"{result['previous_status']} -> {result['status']}"),
        ("reason", result["description"]),
    ]) + f"\n{note}"


def approve(args, ctx) -> Output:
    """Handler of ``mlops approve``."""
    result = set_approval(ctx.client("sagemaker"), args.version_arn, "Approved", args.reason)
    note = ("The approval trigger starts the delivery pipeline for this version "
            "(test account, then prod after the manual approval).")
    return Output(data=result, text=_text(result, note))


def reject(args, ctx) -> Output:
    """Handler of ``mlops reject``."""
    if not args.reason.strip():
        raise OpsError("--reason must say why the version is rejected, got an empty text", EXIT_USAGE)
    result = set_approval(ctx.client("sagemaker"), args.version_arn, "Rejected", args.reason.strip())
    note = ("A rejection deploys nothing by itself. If this was the deployed version, `mlops rollback GROUP` "
            "also starts the delivery pipeline with the previous approved version.")
    return Output(data=result, text=_text(result, note))


def register(subparsers) -> None:
    """Add ``approve`` and ``reject`` to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "approve", help="approve a model version (starts its delivery)",
        description="Set a model package version to Approved; the approval trigger then starts the delivery "
                    "pipeline for it.",
        epilog="example:\n  mlops approve arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-predictor/7 "
               "--reason 'AUC 0.91 on holdout'")
    parser.add_argument("version_arn", metavar="VERSION_ARN", help="versioned model package ARN")
    parser.add_argument("--reason", default="approved with mlops", help="recorded as the ApprovalDescription")
    parser.set_defaults(handler=approve)

    parser = subparsers.add_parser(
        "reject", help="reject a model version, with the reason recorded",
        description="Set a model package version to Rejected, recording the reason as its ApprovalDescription.",
        epilog="example:\n  mlops reject arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-predictor/7 "
               "--reason 'latency regression in test'")
    parser.add_argument("version_arn", metavar="VERSION_ARN", help="versioned model package ARN")
    parser.add_argument("--reason", required=True, help="why (recorded as the ApprovalDescription)")
    parser.set_defaults(handler=reject)
