"""ModelRegistry, PlatformArtifacts and RegistryRef: who may read what, across accounts."""

from __future__ import annotations

import dataclasses

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from constructs_lib.config import load_config
from constructs_lib.errors import ConfigError
from constructs_lib.registry import (
    ModelRegistry,
    PlatformArtifacts,
    RegistryRef,
    artifacts_bucket_name,
    artifacts_key_alias,
)
from support import check_assembly, nag_app, synth_checked

DEV, TEST, PROD = "111111111111", "222222222222", "333333333333"
REGION = "eu-west-1"
BUCKET = f"mlops-model-artifacts-{DEV}-{REGION}"
REF = RegistryRef(account=DEV, region=REGION, group_name="churn-predictor", bucket_name=BUCKET,
                  key_alias="alias/mlops-model-artifacts")


@pytest.fixture(scope="module")
def templates():
    app = nag_app()
    dev = cdk.Stack(app, "Dev", env=cdk.Environment(account=DEV, region=REGION))
    shared = PlatformArtifacts(dev, "Artifacts", consumer_accounts=[TEST, PROD], bucket_name=BUCKET,
                               key_alias="alias/mlops-model-artifacts")
    ModelRegistry(dev, "Registry", group_name="churn-predictor", description="Churn models",
                  consumer_accounts=[TEST, PROD], artifacts_bucket=shared.bucket, encryption_key=shared.key)
    standalone = cdk.Stack(app, "Standalone", env=cdk.Environment(account=DEV, region=REGION))
    registry = ModelRegistry(standalone, "Registry", group_name="Fraud", consumer_accounts=[TEST, PROD])
    approver = iam.Role(standalone, "Approver", assumed_by=iam.AccountRootPrincipal())
    registry.grant_approve(approver)
    consumer = cdk.Stack(app, "Consumer", env=cdk.Environment(account=PROD, region=REGION))
    role = iam.Role(consumer, "EndpointRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    REF.grant_consumer_read(role)
    return {name: Template.from_json(t) for name, t in check_assembly(synth_checked(app)).items()}


def _resources(template: Template, kind: str) -> dict:
    return template.find_resources(kind)


def _principals(statement: dict) -> list[str]:
    aws = statement["Principal"]["AWS"]
    return sorted(json.dumps(p) for p in (aws if isinstance(aws, list) else [aws]))


def test_group_policy_names_only_the_test_and_prod_accounts(templates):
    group = _resources(templates["Dev"], "AWS::SageMaker::ModelPackageGroup")["RegistryGroupF9A457C4"]
    policy = group["Properties"]["ModelPackageGroupPolicy"]
    rendered = json.dumps(policy)
    assert [s["Sid"] for s in policy["Statement"]] == ["ConsumerAccountsDescribeGroup", "ConsumerAccountsUseVersions"]
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        principals = _principals(statement)
        assert len(principals) == 2 and TEST in principals[0] and PROD in principals[1]
    assert policy["Statement"][0]["Action"] == ["sagemaker:DescribeModelPackageGroup"]
    assert policy["Statement"][1]["Action"] == ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages",
                                                "sagemaker:CreateModel"]
    assert "model-package/churn-predictor/*" in rendered and "model-package-group/churn-predictor" in rendered
    assert '"*"' not in rendered and "UpdateModelPackage" not in rendered and DEV not in json.dumps(
        [s["Principal"] for s in policy["Statement"]])
    assert group["Properties"]["ModelPackageGroupDescription"] == "Churn models"


def test_uppercase_group_names_are_covered_in_both_spellings(templates):
    group = next(iter(_resources(templates["Standalone"], "AWS::SageMaker::ModelPackageGroup").values()))
    rendered = json.dumps(group["Properties"]["ModelPackageGroupPolicy"])
    assert "model-package/Fraud/*" in rendered and "model-package/fraud/*" in rendered


def test_stateful_resources_are_retained_under_pinned_logical_ids(templates):
    dev = templates["Dev"].to_json()["Resources"]
    pinned = {"ArtifactsKeyA4B22E2B": "AWS::KMS::Key", "ArtifactsBucket88671897": "AWS::S3::Bucket",
              "ArtifactsAccessLogs4D97777C": "AWS::S3::Bucket", "RegistryGroupF9A457C4": "AWS::SageMaker::ModelPackageGroup"}
    for logical_id, kind in pinned.items():
        assert dev[logical_id]["Type"] == kind
        assert dev[logical_id]["DeletionPolicy"] == dev[logical_id]["UpdateReplacePolicy"] == "Retain"
    standalone = templates["Standalone"].to_json()["Resources"]
    assert {k for k, v in standalone.items() if v.get("DeletionPolicy") == "Retain"} == {
        "RegistryArtifactsKeyE104699B", "RegistryArtifactsAccessLogsA3054099", "RegistryArtifactsBucket4669E93D",
        "RegistryGroupF9A457C4"}


def test_artifacts_bucket_is_tls_only_versioned_and_kms_encrypted(templates):
    t = templates["Dev"]
    t.has_resource_properties("AWS::S3::Bucket", {
        "BucketName": BUCKET,
        "VersioningConfiguration": {"Status": "Enabled"},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                              "KMSMasterKeyID": {"Fn::GetAtt": ["ArtifactsKeyA4B22E2B", "Arn"]}}}]},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        # current model data stays; replaced or deleted versions do not accumulate forever
        "LifecycleConfiguration": {"Rules": [{"Id": "NoncurrentVersions", "Status": "Enabled",
                                              "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                                              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]},
    })
    policy = _resources(t, "AWS::S3::BucketPolicy")["ArtifactsBucketPolicyBC103148"]["Properties"]["PolicyDocument"]
    deny, read = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert read["Sid"] == "ConsumerAccountsReadModels" and read["Action"] == "s3:GetObject"
    assert len(_principals(read)) == 2 and "/models/*" in json.dumps(read["Resource"])


def test_key_rotates_and_lets_consumers_decrypt_through_s3_only(templates):
    key = _resources(templates["Dev"], "AWS::KMS::Key")["ArtifactsKeyA4B22E2B"]["Properties"]
    assert key["EnableKeyRotation"] is True
    consumer = next(s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "ConsumerAccountsDecryptModelsThroughS3")
    assert consumer["Action"] == "kms:Decrypt" and len(_principals(consumer)) == 2
    assert consumer["Condition"]["StringEquals"] == {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert f"{BUCKET}/models/*" in json.dumps(consumer["Condition"]["StringLike"])
    templates["Dev"].has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/mlops-model-artifacts"})


def test_consumer_role_gets_exactly_read_decrypt_and_describe(templates):
    policy = next(iter(_resources(templates["Consumer"], "AWS::IAM::Policy").values()))
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Action"] for s in statements] == ["s3:GetObject", "kms:Decrypt", "sagemaker:DescribeModelPackage"]
    assert statements[0]["Resource"] == f"arn:aws:s3:::{BUCKET}/models/churn-predictor/*"
    assert statements[1]["Resource"] == f"arn:aws:kms:{REGION}:{DEV}:key/*"
    assert statements[1]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}}
    assert statements[2]["Resource"] == f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-predictor/*"


def test_approver_grant_is_limited_to_the_group(templates):
    policy = next(iter(_resources(templates["Standalone"], "AWS::IAM::Policy").values()))
    statement = policy["Properties"]["PolicyDocument"]["Statement"][0]
    assert "sagemaker:UpdateModelPackage" in statement["Action"]
    assert "model-package/Fraud/*" in json.dumps(statement["Resource"])


def test_registry_ref_from_config_uses_the_deterministic_names():
    config = load_config("config/platform.yaml")
    ref = RegistryRef.from_config(config, config.models[0])
    assert ref == dataclasses.replace(REF, group_name="mlops-churn-predictor")  # the default: <project>-<model>
    assert ref.group_arn == f"arn:aws:sagemaker:{REGION}:{DEV}:model-package-group/mlops-churn-predictor"
    assert artifacts_key_alias("mlops") == "alias/mlops-model-artifacts"


@pytest.mark.parametrize("build, message", [
    (lambda s: ModelRegistry(s, "R", group_name="bad_name", consumer_accounts=[TEST]),
     "group_name: must be 1-63 characters of letters, digits and single or repeated hyphens, starting and ending "
     "with a letter or digit ([a-zA-Z0-9](-*[a-zA-Z0-9])*), got 'bad_name'"),
    (lambda s: ModelRegistry(s, "R", group_name="g", consumer_accounts=[TEST, "12345"]),
     "consumer_accounts[1]: must be a 12-digit account id, got '12345'"),
    (lambda s: ModelRegistry(s, "R", group_name="g", consumer_accounts=TEST),
     "consumer_accounts: must be a non-empty list of 12-digit account ids, got '222222222222'"),
    (lambda s: ModelRegistry(s, "R", group_name="g", consumer_accounts=[TEST],
                             artifacts_bucket=cdk.aws_s3.Bucket.from_bucket_name(s, "B", "bkt")),
     "encryption_key: artifacts_bucket and encryption_key go together (the bucket is KMS-encrypted), got only one "
     "of them"),
    (lambda s: PlatformArtifacts(s, "A", consumer_accounts=[TEST], bucket_name="Bad_Bucket"),
     "bucket_name: must be 3-63 lowercase letters, digits, dots or hyphens, got 'Bad_Bucket'"),
    (lambda s: artifacts_bucket_name("a-very-long-projects", DEV, "ap-southeast-2"),
     "project: makes the artifacts bucket name 'a-very-long-projects-model-artifacts-111111111111-ap-southeast-2' "
     "64 characters long; S3 allows at most 63, so the project prefix may have at most 19 characters, got "
     "'a-very-long-projects'"),
])
def test_bad_input_fails_with_one_line(build, message):
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account=DEV, region=REGION))
    with pytest.raises(ConfigError) as caught:
        build(stack)
    assert str(caught.value) == message


def test_registry_ref_rejects_a_key_id_for_an_alias():
    with pytest.raises(ConfigError, match=r"^key_alias: must start with 'alias/', got 'mlops'$"):
        RegistryRef(account=DEV, region=REGION, group_name="g", bucket_name=BUCKET, key_alias="mlops")
