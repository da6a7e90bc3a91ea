"""Multi-model endpoints: one endpoint, one container image, many models loaded on demand from an S3 prefix.

* ``MultiModelHost`` is the endpoint (a ``ModelEndpoint`` whose one variant runs ``ModelSource.multi_model``)
  with the bucket its models live in (KMS, versioned, retained, access-logged; models never expire: they are
  removed by hand once no caller names them). Changes to the host (image, instances) are released like any
  endpoint's, behind its guardrail and rollback alarms.
* ``MultiModelRelease`` releases one model onto it: an approved model version's artifact is copied (in the
  stack, by the release-check function: ``ops/release_check.py``, ``Check: artifact``) under a key of its own,
  ``<prefix>/<target>/v<version>.tar.gz``, and an SSM parameter names it. Callers read the parameter and send
  its value as ``InvokeEndpoint(TargetModel=...)``. A new version is a new key: SageMaker keeps serving a
  cached model whose artifact was overwritten, so nothing is overwritten, and every earlier version stays where
  it was. Going back is releasing the earlier version again (``mlops rollback``): its artifact is found in place
  and the parameter points at it.

What no alarm can do here: SageMaker publishes a multi-model endpoint's metrics per variant, not per model, so
a model's release has no rollback alarm of its own; the delivery pipeline's smoke check of the new target in
test is its gate (and in prod, when the stage has ``checks``).
"""

from __future__ import annotations

import re
from typing import Protocol

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from .access_logs import data_bucket
from .arns import StackArns
from .deployment import DeploymentPolicy
from .endpoint import ModelEndpoint, release_check_function
from .errors import ConfigError, check_sagemaker_name, cut
from .keys import customer_key
from .nag import acknowledge_wildcards
from .permissions import allow
from .variants import _MODEL_PACKAGE_ARN, ModelSource, ProductionVariant, RollbackAlarms

__all__ = ["IMultiModelHost", "MultiModelHost", "MultiModelRelease"]

_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class IMultiModelHost(Protocol):
    """A multi-model endpoint and where its models live."""

    endpoint_name: str
    endpoint_arn: str
    bucket_name: str
    prefix: str


class _ImportedHost(Construct):
    def __init__(self, scope: Construct, id: str, endpoint_name: str, bucket_name: str, prefix: str) -> None:
        super().__init__(scope, id)
        check_sagemaker_name("endpoint_name", endpoint_name)
        _check_prefix(prefix)
        self.endpoint_name, self.bucket_name, self.prefix = endpoint_name, bucket_name, prefix
        self.endpoint_arn = StackArns.of(Stack.of(self)).arn("sagemaker", "endpoint", endpoint_name.lower())


def _check_prefix(prefix: str, path: str = "prefix") -> None:
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigError(path, f"must be 1-63 lower-case letters, digits and hyphens, got {cut(prefix)}")


class MultiModelHost(Construct):
    """A multi-model endpoint and the bucket of its models.

    :param endpoint_name: the endpoint's name.
    :param image: the container image that serves many models (a multi-model capable one: SageMaker's XGBoost,
      scikit-learn, PyTorch, TensorFlow or Triton images, or your own with the multi-model server).
    :param instance_type: every CPU type; GPU types only those of SageMaker's Triton container.
    :param instance_count: instances; default 1.
    :param cache: keep loaded models on the instances (default ``True``; off for models used once).
    :param bucket_name: the bucket's name; default generated. Give one another stack can compute
      (``MultiModelHost.from_attributes``).
    :param prefix: the key prefix the models live under (default ``models``): ``s3://bucket/models/``.
    :param deployment: the guardrail for changes to the host itself; default all-at-once with a 10-minute bake.
    :param rollback_alarms: thresholds of the host's rollback alarms (``RollbackAlarms``).
    :param network_isolation: no network access for the container (default ``True``).

    ``endpoint`` is the ``ModelEndpoint`` (its alarms, topic, release check and ``grant_invoke``).
    """

    def __init__(self, scope: Construct, id: str, *, endpoint_name: str, image: str, instance_type: str,
                 instance_count: int = 1, cache: bool = True, bucket_name: str | None = None,
                 prefix: str = "models", deployment: DeploymentPolicy | None = None,
                 rollback_alarms: RollbackAlarms | None = None, network_isolation: bool = True) -> None:
        super().__init__(scope, id)
        _check_prefix(prefix)
        self.prefix = prefix
        key = customer_key(self, "Key", description=f"SageMaker multi-model endpoint {endpoint_name}: models, "
                                                      "storage volumes and alarm notifications")
        self.encryption_key: kms.IKey = key
        self.bucket: s3.Bucket = data_bucket(
            self, "Models", key=key, what=f"multi-model endpoint {endpoint_name}'s models", log_prefix="models/",
            rule="OldVersions", retention_days=None, bucket_name=bucket_name,
            # Kept on update and delete, but removed when the stack's creation fails: a retained bucket of a fixed
            # name would make every retry fail with "already exists".
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)
        self.bucket_name = bucket_name or self.bucket.bucket_name
        source = ModelSource.multi_model(image, f"s3://{self.bucket_name}/{prefix}/", cache=cache)
        self.endpoint = ModelEndpoint(
            self, "Endpoint", endpoint_name=endpoint_name, encryption_key=key,
            variants=[ProductionVariant("main", source, instance_type=instance_type,
                                        initial_instance_count=instance_count)],
            deployment=deployment or DeploymentPolicy.all_at_once(bake_time=Duration.minutes(10)),
            rollback_alarms=rollback_alarms, network_isolation=network_isolation)
        self.endpoint_name = endpoint_name
        self.endpoint_arn = self.endpoint.endpoint_arn
        # The container reads any model under the prefix (the bucket's key through S3).
        iam.Grant.add_to_principal(grantee=self.endpoint.role, actions=["s3:GetObject"],
                                   resource_arns=[self.bucket.arn_for_objects(f"{prefix}/*")])
        key.grant_decrypt(self.endpoint.role)
        acknowledge_wildcards(self.endpoint.role, {
            self.bucket.arn_for_objects(f"{prefix}/*"): "A multi-model container loads any model under its prefix "
                                                        "(each request's TargetModel names one)."})

    @staticmethod
    def from_attributes(scope: Construct, id: str, *, endpoint_name: str, bucket_name: str,
                        prefix: str = "models") -> IMultiModelHost:
        """A multi-model host made by another stack or app in this stack's account and region."""
        return _ImportedHost(scope, id, endpoint_name, bucket_name, prefix)


class MultiModelRelease(Construct):
    """One model version released onto a multi-model endpoint: its artifact under a key of its own, and the
    SSM parameter that names it for callers.

    :param host: the endpoint (``MultiModelHost`` or ``MultiModelHost.from_attributes``).
    :param model_package_arn: the versioned model package to release (one container; its model data is
      copied). The release function may describe it and read its artifact through ``registry_statements``.
    :param target: the model's name on the endpoint: its versions go under ``<prefix>/<target>/``.
    :param registry_statements: what reading the registry takes (``RegistryRef.consumer_read_statements``:
      statements and the reasons for their wildcards), for a package in another account.
    :param parameter_name: the SSM parameter (a String) holding the current target model; default
      ``/sagemaker/multi-model/<endpoint>/<target>``.

    ``target_model`` is what callers send as ``TargetModel`` (``<target>/v<version>.tar.gz``).
    """

    def __init__(self, scope: Construct, id: str, *, host: IMultiModelHost, model_package_arn: str, target: str,
                 registry_statements: tuple[list[dict], dict[str, str]] = ([], {}),
                 parameter_name: str | None = None) -> None:
        super().__init__(scope, id)
        match = _MODEL_PACKAGE_ARN.match(model_package_arn or "")
        if not match:
            raise ConfigError("model_package_arn", "must be a versioned model package ARN (arn:aws:sagemaker:REGION:"
                              f"ACCOUNT:model-package/GROUP/VERSION), got {cut(model_package_arn)}")
        _check_prefix(target, "target")
        version = model_package_arn.rsplit("/", 1)[1]
        self.host = host
        self.target = target
        self.target_model = f"{target}/v{version}.tar.gz"
        self.key = f"{host.prefix}/{self.target_model}"
        env = StackArns.of(Stack.of(self))
        bucket_arn = f"arn:{env.partition}:s3:::{host.bucket_name}"
        objects = f"{bucket_arn}/{host.prefix}/{target}/*"
        keys = f"arn:{env.partition}:kms:{env.region}:{env.account}:key/*"
        statements, wildcards = registry_statements
        statements = list(statements) + [
            # Is the version there already (a listing of this target's folder, then its metadata), and the copy.
            allow(["s3:ListBucket"], [bucket_arn], {"StringLike": {"s3:prefix": [f"{host.prefix}/{target}/*"]}}),
            allow(["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], [objects]),
            allow(["kms:GenerateDataKey", "kms:Decrypt"], [keys], {
                "StringEquals": {"kms:ViaService": f"s3.{env.region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, f"{bucket_arn}/*"]}}),
        ]
        wildcards = dict(wildcards) | {
            objects: "Each version of this model gets a key of its own under its folder (v<version>.tar.gz).",
            keys: "The host bucket's key is made by the host's stack and its id is not known here; its use is "
                  "limited to S3 in this region and to that bucket's encryption context."}
        _, token, _ = release_check_function(self, f"model {target} on multi-model endpoint {host.endpoint_name}",
                                             statements, wildcards)
        self.release = CfnResource(self, "Resource", type="Custom::SageMakerReleaseCheck", properties={
            "ServiceToken": token, "ServiceTimeout": 960, "Check": "artifact", "EndpointName": host.endpoint_name,
            "ModelPackageArn": model_package_arn, "Bucket": host.bucket_name, "Key": self.key})
        self.parameter_name = parameter_name or f"/sagemaker/multi-model/{host.endpoint_name}/{target}"
        self.parameter = ssm.StringParameter(
            self, "Target", parameter_name=self.parameter_name, string_value=self.target_model,
            description=f"The TargetModel of {target} on multi-model endpoint {host.endpoint_name}: send it with "
                        "InvokeEndpoint")
        # The callers' pointer moves only once the artifact is in place.
        self.parameter.node.add_dependency(self.release)
        self.parameter_arn = env.arn("ssm", "parameter", self.parameter_name.lstrip("/"))

    def grant_invoke(self, grantee: iam.IGrantable, *, this_version_only: bool = False) -> iam.Grant:
        """Let ``grantee`` call the endpoint for this model's versions only (``sagemaker:TargetModel``
        ``<target>/*``; with ``this_version_only``, the version this release made) and read the parameter naming
        the current one. Earlier versions stay on the endpoint (a rollback releases one again), so a caller that
        keeps an old value calls an old version: re-read the parameter every few minutes."""
        iam.Grant.add_to_principal(grantee=grantee, actions=["ssm:GetParameter"], resource_arns=[self.parameter_arn])
        target = self.target_model if this_version_only else f"{self.target}/*"
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[self.host.endpoint_arn],
            conditions={"StringLike": {"sagemaker:TargetModel": [target]}})
