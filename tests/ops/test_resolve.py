"""``mlops resolve`` and the resolver functions, against the moto server (Stubber only for out-of-order pages)."""

import json
from datetime import datetime, timezone

import pytest
from ops_support import create_versions

from constructs_lib.ops.aws import Context
from constructs_lib.ops.base import EXIT_NOT_FOUND, EXIT_USAGE, OpsError
from constructs_lib.ops.resolve import approved_versions, latest_approved_version, write_version

GROUP = "churn-models"


def test_latest_approved_ignores_newer_rejected_and_pending(mlops, aws_client):
    arns = create_versions(aws_client("sagemaker"), GROUP, ["Approved", "Approved", "Rejected", "PendingManualApproval"])
    result = mlops("resolve", GROUP)
    assert (result.code, result.out, result.err) == (0, arns[1] + "\n", "")


def test_reads_every_page_and_picks_the_newest(aws_client):
    sagemaker = aws_client("sagemaker")
    # moto pages ListModelPackages by 100: 105 versions span two pages.
    arns = create_versions(sagemaker, GROUP, ["Approved"] * 104 + ["Rejected"])
    pages = list(sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved"))
    assert len(pages) == 2
    versions = approved_versions(sagemaker, GROUP)
    assert len(versions) == 104
    assert latest_approved_version(sagemaker, GROUP) == arns[103]


def test_newest_by_creation_time_whatever_the_service_order(stub_client):
    # The service's sort is not trusted: pages arrive out of order here (moto always sorts, hence Stubber).
    stubber = stub_client("sagemaker")

    def summary(version, day):
        return {"ModelPackageGroupName": GROUP, "ModelPackageVersion": version, "ModelPackageStatus": "Completed",
                "ModelPackageArn": f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{GROUP}/{version}",
                "CreationTime": datetime(2026, 1, day, tzinfo=timezone.utc), "ModelApprovalStatus": "Approved"}

    stubber.add_response("list_model_packages", {"ModelPackageSummaryList": [summary(3, 2)], "NextToken": "t"})
    stubber.add_response("list_model_packages", {"ModelPackageSummaryList": [summary(4, 9), summary(5, 5)]})
    assert latest_approved_version(Context().client("sagemaker"), GROUP).endswith(f"{GROUP}/4")
    stubber.assert_no_pending_responses()


def test_none_approved_is_a_clear_not_found(mlops, aws_client):
    create_versions(aws_client("sagemaker"), GROUP, ["Rejected", "PendingManualApproval", "PendingManualApproval"])
    result = mlops("resolve", GROUP)
    assert result.code == EXIT_NOT_FOUND
    assert result.err == (f"error: no approved version in model package group {GROUP} (2 PendingManualApproval, "
                          "1 Rejected); approve one with `mlops approve VERSION_ARN`\n")


def test_unknown_group(mlops):
    result = mlops("resolve", "no-such-group")
    assert (result.code, result.err) == (EXIT_NOT_FOUND, "error: model package group no-such-group not found\n")


def test_cross_account_through_an_assumed_role(mlops, moto_server):
    import boto3

    # The registry lives in account 222222222222; moto keeps accounts apart by the assumed role's credentials.
    role = "arn:aws:iam::222222222222:role/registry-reader"
    credentials = boto3.client("sts").assume_role(RoleArn=role, RoleSessionName="setup")["Credentials"]
    dev = boto3.client("sagemaker", aws_access_key_id=credentials["AccessKeyId"],
                       aws_secret_access_key=credentials["SecretAccessKey"],
                       aws_session_token=credentials["SessionToken"])
    [arn] = create_versions(dev, GROUP, ["Approved"])
    assert arn.startswith("arn:aws:sagemaker:eu-west-1:222222222222:")
    assert mlops("resolve", GROUP).code == EXIT_NOT_FOUND  # not in the caller's own account
    result = mlops("resolve", GROUP, "--role-arn", role)
    assert (result.code, result.out.strip()) == (0, arn)


def test_write_merges_into_the_versions_file(mlops, aws_client, tmp_path):
    [arn] = create_versions(aws_client("sagemaker"), GROUP, ["Approved"])
    target = tmp_path / "config" / "approved-versions.json"
    target.parent.mkdir()
    target.write_text(json.dumps({"zz-other": "arn:other", GROUP: "arn:stale"}))
    result = mlops("resolve", GROUP, "--write", str(target), "--json")
    assert result.code == 0
    assert json.loads(result.out) == {"group": GROUP, "version_arn": arn, "written_to": str(target)}
    assert target.read_text() == json.dumps({GROUP: arn, "zz-other": "arn:other"}, indent=2) + "\n"
    assert [p.name for p in target.parent.iterdir()] == ["approved-versions.json"]  # no temporary file left


def test_write_creates_the_file_and_keys_by_group_name(tmp_path):
    target = tmp_path / "new" / "versions.json"
    write_version(target, "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/fraud", "arn:v1")
    assert json.loads(target.read_text()) == {"fraud": "arn:v1"}


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at line 1)"),
    ("[1, 2]", "must hold a JSON object {group: version ARN}, got list"),
])
def test_write_refuses_a_broken_file_and_leaves_it(tmp_path, content, message):
    target = tmp_path / "versions.json"
    target.write_text(content)
    with pytest.raises(OpsError) as caught:
        write_version(target, GROUP, "arn:v1")
    assert str(caught.value).startswith(f"{target}: {message}")
    assert caught.value.exit_code == EXIT_USAGE
    assert target.read_text() == content
