"""``mlops resolve GROUP``: the latest *Approved* model version of a model package group.

This is the resolver the delivery pipeline's synth step runs (``mlops resolve GROUP --write
config/approved-versions.json``) so that the CDK app deploys exactly that version without reading the registry
at synth time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import files
from .base import EXIT_NOT_FOUND, EXIT_USAGE, OpsError, Output

#: Where the CDK app reads the approved versions: {"<group name>": "<versioned model package ARN>"}.
DEFAULT_VERSIONS_FILE = "config/approved-versions.json"


def group_name_of(group: str) -> str:
    """The group's name, whether given as a name or as its ARN (``...:model-package-group/NAME``)."""
    return group.rsplit("/", 1)[-1] if group.startswith("arn:") else group


def approved_versions(sagemaker_client: Any, group: str) -> list[dict[str, Any]]:
    """Every Approved version summary of ``group`` (name or ARN), newest first.

    Reads all pages and orders by creation time (then version number) itself, so the answer does not depend
    on the service's sort or page size. Raises ``OpsError(EXIT_NOT_FOUND)`` when the group does not exist.
    """
    paginator = sagemaker_client.get_paginator("list_model_packages")
    summaries = [
        summary
        for page in paginator.paginate(ModelPackageGroupName=group, ModelApprovalStatus="Approved",
                                       ModelPackageType="Versioned", SortBy="CreationTime",
                                       SortOrder="Descending")
        for summary in page.get("ModelPackageSummaryList", [])
    ]
    if not summaries:
        _require_group(sagemaker_client, group)
    return sorted(summaries, key=lambda s: (s["CreationTime"], s.get("ModelPackageVersion", 0)), reverse=True)


def latest_approved_version(sagemaker_client: Any, group_name: str) -> str:
    """The ARN of the newest Approved version in ``group_name`` (name or ARN).

    Raises ``OpsError`` with EXIT_NOT_FOUND and a one-line cause when the group does not exist or holds no
    approved version.
    """
    versions = approved_versions(sagemaker_client, group_name)
    if not versions:
        raise OpsError(f"no approved version in model package group {group_name_of(group_name)} "
                       f"({_status_counts(sagemaker_client, group_name)}); approve one with "
                       "`mlops approve VERSION_ARN`", EXIT_NOT_FOUND)
    return versions[0]["ModelPackageArn"]


def _require_group(sagemaker_client: Any, group: str) -> None:
    # ListModelPackages answers an unknown group with an empty list; tell "no such group" from "none approved".
    import botocore.exceptions

    try:
        sagemaker_client.describe_model_package_group(ModelPackageGroupName=group)
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"ValidationException", "ResourceNotFound"}:
            raise OpsError(f"model package group {group_name_of(group)} not found", EXIT_NOT_FOUND) from None
        raise


def _status_counts(sagemaker_client: Any, group: str) -> str:
    counts: dict[str, int] = {}
    paginator = sagemaker_client.get_paginator("list_model_packages")
    for page in paginator.paginate(ModelPackageGroupName=group, ModelPackageType="Versioned"):
        for summary in page.get("ModelPackageSummaryList", []):
            status = summary.get("ModelApprovalStatus", "Unknown")
            counts[status] = counts.get(status, 0) + 1
    if not counts:
        return "it has no versions"
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def write_version(path: str | Path, group: str, arn: str) -> dict[str, str]:
    """Merge ``{group name: arn}`` into the JSON file at ``path`` (created if missing); returns the new content.

    Other groups' entries are kept, keys are sorted (stable diffs), and the file is replaced atomically so a
    concurrent reader (``cdk synth``) never sees half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.editing(path):
        return _merge_version(path, group, arn)


def _merge_version(path: Path, group: str, arn: str) -> dict[str, str]:
    content: dict[str, str] = {}
    if path.exists():
        try:
            content = json.loads(path.read_text() or "{}")
        except json.JSONDecodeError as error:
            raise OpsError(f"{path}: not valid JSON ({error.msg} at line {error.lineno}); fix or delete it",
                           EXIT_USAGE) from None
        if not isinstance(content, dict):
            raise OpsError(f"{path}: must hold a JSON object {{group: version ARN}}, got "
                           f"{type(content).__name__}", EXIT_USAGE)
    content[group_name_of(group)] = arn
    content = dict(sorted(content.items()))
    files.write_atomic(path, json.dumps(content, indent=2) + "\n")
    return content


def run(args, ctx) -> Output:
    """Handler of ``mlops resolve``."""
    arn = latest_approved_version(ctx.client("sagemaker"), args.group)
    data = {"group": group_name_of(args.group), "version_arn": arn}
    if args.write:
        write_version(args.write, args.group, arn)
        data["written_to"] = str(args.write)
    # The bare ARN on stdout, so `ARN=$(mlops resolve GROUP)` works in scripts.
    return Output(data=data, text=arn)


def register(subparsers) -> None:
    """Add ``resolve`` to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "resolve", help="print the latest approved model version of a group",
        description="Print the ARN of the newest Approved version in a model package group (all pages read, "
                    "newest by creation time). Exit 3 when the group is missing or nothing is approved.",
        epilog=f"example:\n  mlops resolve mlops-churn-predictor --write {DEFAULT_VERSIONS_FILE}\n"
               "  mlops resolve arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/mlops-churn-predictor "
               "--role-arn arn:aws:iam::111111111111:role/registry-reader")
    parser.add_argument("group", metavar="GROUP", help="model package group name or ARN")
    parser.add_argument("--write", metavar="FILE",
                        help=f"also merge {{group: arn}} into this JSON file (the app reads {DEFAULT_VERSIONS_FILE})")
    parser.set_defaults(handler=run)
