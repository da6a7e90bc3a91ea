"""The model registry in the dev account, shared read-only with the test and prod accounts.

Three pieces:

* ``PlatformArtifacts``: the KMS key (rotation on) and the TLS-only, versioned, KMS-encrypted bucket that hold
  the trained model artifacts of every model, with their server-access-log bucket. It exists once per platform
  (in the ``<project>-platform`` stack) under DETERMINISTIC names (``artifacts_bucket_name``,
  ``artifacts_key_alias``), so stacks in other accounts reference it without cross-stack exports. Its bucket
  and key policies let the consumer (test, prod) accounts read the ``models/`` prefix and decrypt through S3
  only; each consumer role still needs its own identity policy (``RegistryRef.grant_consumer_read``), because
  an account principal in a resource policy only delegates to that account's IAM.
* ``ModelRegistry``: one model package group per model, with a resource policy letting ONLY the consumer
  accounts describe and list its versions and create models from them (no approval, no registration, no
  deletion), plus ``grant_*`` methods for roles of the dev account.
* ``RegistryRef``: a pure value (no construct) naming a registry in the dev account, for the endpoint stacks
  of the test and prod accounts.

Object layout in the artifacts bucket: ``models/<group>/...`` holds trained model artifacts (the only prefix
consumers can read); ``pipelines/<group>/...`` holds the build pipeline's intermediate data (dev only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from .access_logs import access_log_props, access_logs_bucket, log_access
from .arns import StackArns
from .errors import ConfigError, check_account_ids, check_sagemaker_name
from .keys import customer_key
from .nag import acknowledge_wildcards
from .permissions import allow, attach_policy, grant_statements

if TYPE_CHECKING:
    from .config import ModelConfig, PlatformConfig

__all__ = [
    "MODELS_PREFIX",
    "key_through_s3",
    "PIPELINES_PREFIX",
    "ModelRegistry",
    "PlatformArtifacts",
    "RegistryRef",
    "artifacts_bucket_name",
    "artifacts_key_alias",
]

MODELS_PREFIX = "models"
"""Bucket prefix of trained model artifacts (``models/<group>/``): the only prefix consumers can read."""
PIPELINES_PREFIX = "pipelines"
"""Bucket prefix of the build pipelines' intermediate data (``pipelines/<group>/``): dev account only."""

#: What the consumer accounts may do with a group's versions: enough for CreateModel from a model package
#: (SageMaker describes the package, then creates the model); no UpdateModelPackage (approval stays in dev).
CONSUMER_GROUP_ACTIONS = ("sagemaker:DescribeModelPackageGroup",)
CONSUMER_VERSION_ACTIONS = ("sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "sagemaker:CreateModel")


def partition_of(region: str) -> str:
    """The ARN partition of a concrete region name."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def artifacts_bucket_name(project: str, account: str, region: str) -> str:
    """``<project>-model-artifacts-<dev account>-<region>``: globally unique, and computable from the config
    alone by stacks in other accounts. Raises ``ConfigError`` past S3's 63 characters."""
    name = f"{project}-model-artifacts-{account}-{region}"
    if len(name) > 63:
        raise ConfigError("project", f"makes the artifacts bucket name {name!r} {len(name)} characters long; "
                          f"S3 allows at most 63, so the project prefix may have at most "
                          f"{63 - len(name) + len(project)} characters, got {project!r}")
    return name


def artifacts_key_alias(project: str) -> str:
    """``alias/<project>-model-artifacts``: the alias of the artifacts key in the dev account."""
    return f"alias/{project}-model-artifacts"


def consumer_group_policy(principals, group_arns, versions_arns) -> dict:
    """The model package group's resource policy: the consumer (test, prod) accounts may describe the group and
    describe, list and create models from its versions, and nothing else (approval stays in dev). Shared by
    ``ModelRegistry`` and the Service Catalog product, so both grant exactly the same."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ConsumerAccountsDescribeGroup", "Effect": "Allow", "Principal": {"AWS": principals},
             "Action": list(CONSUMER_GROUP_ACTIONS), "Resource": group_arns},
            {"Sid": "ConsumerAccountsUseVersions", "Effect": "Allow", "Principal": {"AWS": principals},
             "Action": list(CONSUMER_VERSION_ACTIONS), "Resource": versions_arns},
        ],
    }


def _name_variants(name: str) -> list[str]:
    """SageMaker reports some ARNs with the resource name lowercased; policies name both spellings."""
    return [name] if name == name.lower() else [name, name.lower()]


# --------------------------------------------------------------------------------------------- consumer side
@dataclass(frozen=True)
class RegistryRef:
    """A model registry in the dev account, as the test and prod accounts see it (names only, no lookups).

    ``key_alias`` is like ``alias/mlops-model-artifacts``.
    """

    account: str
    region: str
    group_name: str
    bucket_name: str
    key_alias: str

    def __post_init__(self) -> None:
        check_account_ids("account", [self.account])
        check_sagemaker_name("group_name", self.group_name)
        if not self.key_alias.startswith("alias/"):
            raise ConfigError("key_alias", f"must start with 'alias/', got {self.key_alias!r}")

    @property
    def partition(self) -> str:
        """The ARN partition of the registry's region."""
        return partition_of(self.region)

    @property
    def group_arn(self) -> str:
        """The model package group's ARN."""
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:model-package-group/{self.group_name}"

    @property
    def versions_arns(self) -> list[str]:
        """ARN patterns of the group's versions (``model-package/<group>/*``)."""
        return [f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:model-package/{name}/*"
                for name in _name_variants(self.group_name)]

    @property
    def bucket_arn(self) -> str:
        """The artifacts bucket's ARN."""
        return f"arn:{self.partition}:s3:::{self.bucket_name}"

    @property
    def models_prefix(self) -> str:
        """The key prefix of this group's model artifacts (``models/<group>/``)."""
        return f"{MODELS_PREFIX}/{self.group_name}/"

    @classmethod
    def from_config(cls, config: "PlatformConfig", model: "ModelConfig") -> "RegistryRef":
        """The registry of ``model`` as deployed by ``platform/dev.py`` from ``config``."""
        dev = config.accounts.dev
        return cls(
            account=dev.account_id,
            region=dev.region,
            group_name=model.group_name,
            bucket_name=artifacts_bucket_name(config.project, dev.account_id, dev.region),
            key_alias=artifacts_key_alias(config.project),
        )

    def grant_consumer_read(self, role: "iam.IRole") -> None:
        """Adds to ``role`` (an endpoint's SageMaker execution role in test/prod) what it needs to create a
        model from this registry's versions (``consumer_read_statements``), as one policy
        (``RegistryRead-<group>``). The IAM5 findings of those patterns are acknowledged on ``role`` with their
        reasons."""
        statements, wildcards = self.consumer_read_statements()
        attach_policy(role, f"RegistryRead-{self.group_name}", statements)
        acknowledge_wildcards(role, wildcards)

    def consumer_read_statements(self) -> tuple[list[dict], dict[str, str]]:
        """What reading this registry's versions takes, with the reasons for its wildcards: s3:GetObject on this
        group's prefix of the artifacts bucket, kms:Decrypt on the dev-account key through S3 only (by key ARN
        pattern, conditioned on the S3 service and the bucket's encryption context: the key id is unknown outside
        the dev account), and sagemaker:DescribeModelPackage on the group's versions."""
        objects = f"{self.bucket_arn}/{self.models_prefix}*"
        keys = f"arn:{self.partition}:kms:{self.region}:{self.account}:key/*"
        statements = [
            allow(["s3:GetObject"], [objects]),
            allow(["kms:Decrypt"], [keys], {
                "StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [self.bucket_arn, f"{self.bucket_arn}/*"]},
            }),
            allow(["sagemaker:DescribeModelPackage"], self.versions_arns),
        ]
        wildcards = {
            objects: "Model artifacts are written by training jobs under generated job names below this "
                     "group's prefix; reading is limited to that prefix of the dev account's artifacts bucket.",
            keys: "The artifacts key lives in the dev account and its id is not known here; decryption is "
                  "limited to S3 in this region and to the artifacts bucket's encryption context.",
        }
        for arn in self.versions_arns:
            wildcards[arn] = ("Model package versions are numbered by SageMaker at registration; the pattern "
                              "is limited to this group's versions.")
        return statements, wildcards


# --------------------------------------------------------------------------------------------- dev side
class PlatformArtifacts(Construct):
    """The model artifacts bucket and its KMS key, shared by every model of the platform.

    :param bucket_name: physical bucket name; default: generated by CloudFormation (use
        ``artifacts_bucket_name`` for one that other accounts can compute).
    :param key_alias: alias of the key; default: none.
    :param consumer_accounts: accounts (test, prod) whose roles may read ``models/*`` and decrypt through
        S3 (and, with ``bucket_name``, only in this bucket's encryption context). Their roles additionally need
        ``RegistryRef.grant_consumer_read``.

    Bucket, key and log bucket are RETAINed: deleting the stack must not delete released models.
    """

    def __init__(self, scope: Construct, id: str, *, consumer_accounts: Sequence[str],
                 bucket_name: str | None = None, key_alias: str | None = None) -> None:
        super().__init__(scope, id)
        accounts = check_account_ids("consumer_accounts", consumer_accounts)
        if bucket_name is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket_name):
            raise ConfigError("bucket_name", f"must be 3-63 lowercase letters, digits, dots or hyphens, "
                              f"got {bucket_name!r}")
        if key_alias is not None and not re.fullmatch(r"alias/[a-zA-Z0-9/_-]+", key_alias):
            raise ConfigError("key_alias", f"must be 'alias/' followed by letters, digits, '/', '_' or '-', "
                              f"got {key_alias!r}")
        stack = Stack.of(self)
        region = stack.region
        self.key = customer_key(self, "Key", alias=key_alias,
                                description="Encrypts the model artifacts shared with the test and prod accounts")
        self.access_logs = access_logs_bucket(self, "AccessLogs", of="artifacts bucket")
        logging = access_log_props(self, self.access_logs, "artifacts/")
        self.bucket = s3.Bucket(
            self, "Bucket", bucket_name=bucket_name, encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key, bucket_key_enabled=True, enforce_ssl=True, versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=RemovalPolicy.RETAIN, **logging,
            # Current objects stay (a registered version's model data must outlive it); replaced or deleted
            # versions go after NONCURRENT_DAYS instead of accumulating forever.
            lifecycle_rules=[s3.LifecycleRule(
                id="NoncurrentVersions", noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
                abort_incomplete_multipart_upload_after=Duration.days(7))],
        )
        if not logging:
            log_access(self.bucket, self.access_logs, "artifacts/")
        principals = [iam.AccountPrincipal(account) for account in accounts]
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="ConsumerAccountsReadModels", principals=principals, actions=["s3:GetObject"],
            resources=[self.bucket.arn_for_objects(f"{MODELS_PREFIX}/*")],
        ))
        conditions: dict = {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
        if bucket_name is not None:
            # A named bucket's ARN is known without referencing the bucket (which references this key: a
            # reference back would be a circular dependency). The context is the bucket ARN with S3 Bucket Keys.
            bucket_arn = f"arn:{stack.partition}:s3:::{bucket_name}"
            conditions["StringLike"] = {"kms:EncryptionContext:aws:s3:arn": [
                bucket_arn, f"{bucket_arn}/{MODELS_PREFIX}/*"]}
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="ConsumerAccountsDecryptModelsThroughS3", principals=principals, actions=["kms:Decrypt"],
            resources=["*"],  # in a key policy "*" is this key
            conditions=conditions,
        ))


#: Days a replaced or deleted object version stays in the artifacts bucket (a window to undo a mistake).
NONCURRENT_DAYS = 90


class ModelRegistry(Construct):
    """A model package group shared with the consumer (test, prod) accounts.

    :param group_name: the model package group name (SageMaker name rules, at most 63 characters).
    :param description: the group's description.
    :param consumer_accounts: the only accounts the resource policy names; they may describe and list the
        group's versions and create models from them, nothing else.
    :param artifacts_bucket: where model artifacts live; default: a ``PlatformArtifacts`` is created here.
    :param encryption_key: the artifacts bucket's key; required with ``artifacts_bucket``.

    The group is RETAINed (deleting the stack must not delete the versions deployed in prod).
    """

    def __init__(self, scope: Construct, id: str, *, group_name: str, description: str = "",
                 consumer_accounts: Sequence[str], artifacts_bucket: "s3.IBucket | None" = None,
                 encryption_key: "kms.IKey | None" = None) -> None:
        super().__init__(scope, id)
        check_sagemaker_name("group_name", group_name)
        if len(description) > 1024:
            raise ConfigError("description", f"must be at most 1024 characters, got {len(description)}")
        accounts = check_account_ids("consumer_accounts", consumer_accounts)
        if (artifacts_bucket is None) != (encryption_key is None):
            raise ConfigError("encryption_key", "artifacts_bucket and encryption_key go together (the bucket "
                              "is KMS-encrypted), got only one of them")
        if artifacts_bucket is None:
            created = PlatformArtifacts(self, "Artifacts", consumer_accounts=accounts)
            artifacts_bucket, encryption_key = created.bucket, created.key
        self.artifacts_bucket: s3.IBucket = artifacts_bucket
        """Where this group's model artifacts live (``models/<group>/``)."""
        self.encryption_key: kms.IKey = encryption_key
        """The artifacts bucket's key."""
        self.group_name = group_name
        env = StackArns.of(self)
        group_arns = [env.arn("sagemaker", "model-package-group", n) for n in _name_variants(group_name)]
        self.versions_arns = [env.arn("sagemaker", "model-package", f"{n}/*") for n in _name_variants(group_name)]
        self.group_arn = group_arns[0]
        principals = [f"arn:{env.partition}:iam::{account}:root" for account in accounts]
        policy = consumer_group_policy(principals, group_arns, self.versions_arns)
        self.group = sagemaker.CfnModelPackageGroup(
            self, "Group", model_package_group_name=group_name,
            model_package_group_description=description or None, model_package_group_policy=policy,
        )
        self.group.apply_removal_policy(RemovalPolicy.RETAIN)

    @property
    def models_prefix(self) -> str:
        """Key prefix of this group's model artifacts: ``models/<group>/``."""
        return f"{MODELS_PREFIX}/{self.group_name}/"

    def _acknowledge_versions(self, grantee: "iam.IGrantable") -> None:
        if isinstance(grantee, Construct):
            acknowledge_wildcards(grantee, {arn: "Model package versions are numbered by SageMaker at "
                                            "registration; the pattern is limited to this group's versions."
                                            for arn in self.versions_arns})

    def grant_read(self, grantee: "iam.IGrantable") -> "iam.Grant":
        """Describe/list the group and its versions, read its model artifacts and decrypt them."""
        self._acknowledge_versions(grantee)
        grant = iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage",
                                      "sagemaker:ListModelPackages"],
            resource_arns=[self.group_arn, *self.versions_arns])
        self.artifacts_bucket.grant_read(grantee, f"{self.models_prefix}*")
        grant_statements(grantee, [key_through_s3(self.encryption_key, ["kms:Decrypt"])])
        return grant

    def grant_register(self, grantee: "iam.IGrantable") -> "iam.Grant":
        """Register new versions in the group (CreateModelPackage), pending approval or approved."""
        self._acknowledge_versions(grantee)
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackageGroup",
                                      "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
            resource_arns=[self.group_arn, *self.versions_arns])

    def grant_approve(self, grantee: "iam.IGrantable") -> "iam.Grant":
        """Approve or reject the group's versions (UpdateModelPackage): what a release approver needs."""
        self._acknowledge_versions(grantee)
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage",
                                      "sagemaker:ListModelPackages"],
            resource_arns=[self.group_arn, *self.versions_arns])


def key_through_s3(key: "kms.IKey", actions: Sequence[str]) -> dict:
    """The statement allowing KMS ``actions`` on ``key`` for use through S3 in the key's region only. A key
    referenced by alias (``kms.Alias.from_alias_name``) has no usable ARN for IAM, so the statement names the
    account's keys and relies on the kms:ViaService condition plus the bucket's own policy."""
    env = StackArns.of(key)
    resource = key.key_arn if getattr(key, "alias_name", None) is None else env.arn("kms", "key", "*")
    return allow(actions, [resource], {"StringEquals": {"kms:ViaService": f"s3.{env.region}.amazonaws.com"}})
