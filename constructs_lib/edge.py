"""Edge releases: a model version on a fleet of AWS IoT Greengrass v2 core devices, with the same staged,
self-aborting rollout an endpoint's guardrail gives.

* ``EdgeModelComponent`` is one version of a Greengrass component that puts a model artifact on the devices
  (``AWS::GreengrassV2::ComponentVersion``): the artifact (a ``.tar.gz``, what SageMaker Neo writes) is
  downloaded and unpacked to ``{artifacts:decompressedPath}/model`` at install; it depends on the inference
  runtime that runs it (by default AWS's DLR runtime component ``variant.DLR``, which runs Neo-compiled
  models). Versions are immutable: a changed recipe needs a new version, and every version is kept when the
  stack changes or goes, because going back is deploying an earlier one and Greengrass deletes a version's
  artifacts with it. The version is made by the stack's release function (``ops/release_check.py``, ``Check:
  edge``), which takes a version that exists with the same artifact as it is: releasing an earlier model
  version again (a rollback) finds its component version in place. Given a registered model version
  (``model_package_arn``), it first copies the version's Neo-compiled artifact (its ``edge-artifact`` customer
  metadata, ``build.edge``) under ``artifact_key``, a key never reused.
* ``EdgeFleetDeployment`` deploys component versions to a thing group (``AWS::GreengrassV2::Deployment``, an
  IoT job): devices are notified at a rate that grows as they succeed (``EdgeRollout``), the job is cancelled
  once too many of them fail (``EdgeAbort``), a device that has not finished within the in-progress timeout
  (counted from when it starts) has timed out, and a device whose update fails goes back to what it ran
  (``FailureHandlingPolicy: ROLLBACK``).
  A deployment replaces the group's previous one, and devices uninstall the components it leaves out: it lists
  everything the group runs (AWS's ``aws.greengrass.*`` components included). Going back is deploying the
  previous version by its version string (``components={name: "1.0.6"}``): the earlier version was kept.

What a stack rollback does not do: a deployment cannot be taken back from devices that already took it.
CloudFormation restoring the previous deployment resource leaves the devices where they are (Greengrass
deletes a deployment without touching devices), so going back is a new deployment of the previous version,
never a stack rollback. The rules (limits, waves, worst-case exposure) are ``edge_rules.py``.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from aws_cdk import CfnResource, Duration, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .arns import StackArns
from .endpoint import release_check_function
from .edge_rules import (DLR_RUNTIME, IN_PROGRESS_MINUTES, THING_GROUP, EdgeAbort, EdgeRollout, check_component_name,
                         check_component_version, check_version_requirement)
from .errors import ConfigError, cut
from .permissions import allow
from .registry import key_through_s3
from .variants import _MODEL_PACKAGE_ARN

__all__ = ["DLR_RUNTIME", "EdgeFleetDeployment", "EdgeModelComponent", "device_policy"]

#: Greengrass platform keys and the values the nucleus reports (``os``, ``architecture``).
_OSES = ("linux", "windows")
_ARCHITECTURES = ("amd64", "x86", "aarch64", "arm")
_ARTIFACT_KEY = re.compile(r"^[^*?\s]+\.tar\.gz$")


class EdgeModelComponent(Construct):
    """One version of a Greengrass v2 component that installs a model artifact (see the module docstring).

    :param component_name: the component (1-128 letters, digits, ``.``, ``-``, ``_``), for example
        ``com.example.churn.model``.
    :param component_version: ``major.minor.patch``; a new artifact or recipe needs a new version.
    :param artifact_bucket: the bucket holding the artifact, in the stack's region (Greengrass takes no
        artifact from another region).
    :param artifact_key: the artifact's key, a ``.tar.gz`` never overwritten: Greengrass records its digest
        when the version is created and devices refuse a download that differs.
    :param runtime: the components the model needs to run, ``{name: version requirement}``; default
        ``DLR_RUNTIME``. ``{}`` for a model the devices' own application runs.
    :param platforms: where the component installs, each ``{"os": ..., "architecture": ...}`` (the latter
        optional); default every Linux device.
    :param description: the component's description.
    :param model_package_arn: a registered model version whose Neo-compiled artifact (customer metadata
        ``edge-artifact``) is copied to ``artifact_key`` first (the key must then be new to this version: an
        existing key from another source fails the release); default none (the artifact is there already).
    :param registry_statements: what reading that version and its artifact takes
        (``RegistryRef.consumer_read_statements``), for a version in another account.
    """

    def __init__(self, scope: Construct, id: str, *, component_name: str, component_version: str,
                 artifact_bucket: s3.IBucket, artifact_key: str, runtime: Mapping[str, str] | None = None,
                 platforms: Sequence[Mapping[str, str]] = ({"os": "linux"},), description: str = "",
                 model_package_arn: str | None = None,
                 registry_statements: tuple[list[dict], dict[str, str]] = ([], {})) -> None:
        super().__init__(scope, id)
        check_component_name("component_name", component_name)
        check_component_version("component_version", component_version)
        if not isinstance(artifact_key, str) or not (Token.is_unresolved(artifact_key)
                                                     or _ARTIFACT_KEY.match(artifact_key)):
            raise ConfigError("artifact_key", f"must be the key of a .tar.gz object (no wildcards), got "
                              f"{cut(artifact_key)}")
        runtime = dict(DLR_RUNTIME if runtime is None else runtime)
        for name, requirement in runtime.items():
            check_component_name(f"runtime[{name!r}]", name, aws_allowed=True)
            check_version_requirement(f"runtime[{name!r}]", requirement)
        manifests = [_manifest(i, platform) for i, platform in enumerate(_platforms(platforms))]
        if model_package_arn is not None and not _MODEL_PACKAGE_ARN.match(model_package_arn):
            raise ConfigError("model_package_arn", "must be a versioned model package ARN (arn:aws:sagemaker:REGION:"
                              f"ACCOUNT:model-package/GROUP/VERSION), got {cut(model_package_arn)}")
        if model_package_arn is not None and not registry_statements[0]:
            raise ConfigError("registry_statements", "are required with model_package_arn: the release function "
                              "describes the version and reads its artifact (RegistryRef.consumer_read_statements()), "
                              "got none")
        self.component_name, self.component_version = component_name, component_version
        self.artifact_bucket, self.artifact_key = artifact_bucket, artifact_key
        # The nucleus saves the artifact under its key's last segment; a key known only at deploy time is the
        # component's one .tar.gz.
        file = "{artifacts:path}/" + ("*.tar.gz" if Token.is_unresolved(artifact_key) else artifact_key.rsplit("/", 1)[-1])
        model = "{artifacts:decompressedPath}/model"
        artifact_uri = f"s3://{artifact_bucket.bucket_name}/{artifact_key}"
        recipe = {
            "RecipeFormatVersion": "2020-01-25",
            "ComponentName": component_name,
            "ComponentVersion": component_version,
            "ComponentDescription": description or f"Model artifact {component_name} {component_version}",
            "ComponentPublisher": "sagemaker-safe-release",
            "ComponentDependencies": {name: {"VersionRequirement": requirement, "DependencyType": "HARD"}
                                      for name, requirement in sorted(runtime.items())},
            "Manifests": [dict(manifest, Artifacts=[{
                "URI": artifact_uri, "Unarchive": "NONE",
                "Permission": {"Read": "OWNER", "Execute": "NONE"}}], Lifecycle={"Install": {
                    # Greengrass unpacks only zip files: the .tar.gz is unpacked here, where applications find it.
                    # The folder is the nucleus's, read-only to the component user: the step runs privileged,
                    # once per version (Install also runs at every nucleus start), and leaves the files readable.
                    "Script": f"mkdir -p {model} && tar --no-same-owner -xzf {file} -C {model} && chmod -R a+rX "
                              f"{model} && touch {model}/.unpacked",
                    "Skipif": f"exists {model}/.unpacked",
                    "RequiresPrivilege": True,
                    "Timeout": 600}}) for manifest in manifests],
        }
        if not runtime:
            del recipe["ComponentDependencies"]
        stack = Stack.of(self)
        env = StackArns.of(stack)
        self.component_arn = env.arn("greengrass", f"components:{component_name}:versions:{component_version}")
        """The component version's ARN."""
        component = env.arn("greengrass", f"components:{component_name}")
        statements = [
            # Greengrass reads the artifact as the caller when it makes the version (its digest).
            allow(["greengrass:CreateComponentVersion"], [component]),
            # A version Greengrass failed to make is deleted and made again (nothing can deploy it).
            allow(["greengrass:DescribeComponent", "greengrass:GetComponent", "greengrass:DeleteComponent"],
                  [self.component_arn]),
            allow(["s3:GetObject"], [artifact_bucket.arn_for_objects(artifact_key)]),
            allow(["s3:GetBucketLocation"], [artifact_bucket.bucket_arn]),
        ]
        properties = {"Check": "edge", "ComponentArn": self.component_arn, "Recipe": stack.to_json_string(recipe)}
        if model_package_arn is not None:
            registry, wildcards = registry_statements
            statements += list(registry) + [
                # Is the version's artifact there already (a listing of its key, then its metadata), and the copy.
                allow(["s3:ListBucket"], [artifact_bucket.bucket_arn], {"StringLike": {"s3:prefix": [artifact_key]}}),
                allow(["s3:PutObject", "s3:AbortMultipartUpload"], [artifact_bucket.arn_for_objects(artifact_key)])]
            properties |= {"ModelPackageArn": model_package_arn, "Bucket": artifact_bucket.bucket_name,
                           "Key": artifact_key}
        else:
            wildcards = {}
        if artifact_bucket.encryption_key is not None:
            statements.append(key_through_s3(artifact_bucket.encryption_key, ["kms:Decrypt", "kms:GenerateDataKey"]))
        _, token, _ = release_check_function(self, f"component {component_name}", statements, dict(wildcards))
        # Deleting the resource keeps the version (the handler deletes nothing): going back deploys it again.
        self.resource = CfnResource(self, "Resource", type="Custom::SageMakerReleaseCheck", properties={
            "ServiceToken": token, "ServiceTimeout": 960, **properties})

    def grant_artifact_read(self, device_role: iam.IRole) -> iam.Policy:
        """Let the devices' token exchange role download the artifact, and nothing else: ``s3:GetObject`` on
        this object, ``s3:GetBucketLocation`` on its bucket and, when the bucket has a key, its decrypt through
        S3 (Greengrass's default token exchange policy reads no object). The statements are a policy of their
        own, named after this component version: the role is usually shared by every model's stacks, and CDK's
        default policy of an imported role has the same name in each of them (one stack's would replace, or
        refuse, another's)."""
        # The nucleus asks for the bucket's region before it downloads (GetBucketLocation; without it the
        # download fails with S3_GET_BUCKET_LOCATION_ACCESS_DENIED).
        statements = [allow(["s3:GetObject"], [self.artifact_bucket.arn_for_objects(self.artifact_key)]),
                      allow(["s3:GetBucketLocation"], [self.artifact_bucket.bucket_arn])]
        if self.artifact_bucket.encryption_key is not None:
            statements.append(key_through_s3(self.artifact_bucket.encryption_key, ["kms:Decrypt"]))
        return device_policy(self, "ArtifactRead", device_role, f"{self.component_name}-{self.component_version}"
                             "-artifact-read", statements)


class EdgeFleetDeployment(Construct):
    """Component versions deployed to one thing group with a staged rollout (see the module docstring).

    :param thing_group_name: the thing group of the stage's devices (1-128 letters, digits, ``:``, ``_``,
        ``-``), in the stack's account and region.
    :param components: every component the group runs, ``{name: version}``, or ``EdgeModelComponent`` values:
        what the deployment leaves out, devices uninstall.
    :param rollout: how fast devices are notified; default ``EdgeRollout()`` (2 a minute, doubling after each
        10 successes, at most 100 a minute).
    :param abort: when the rollout is cancelled; default ``EdgeAbort()`` (more than 10 % of at least 10).
    :param in_progress_timeout: how long a device may take to finish; 1 minute to 7 days, whole minutes;
        default 60 minutes.
    :param rollback_failed_devices: a device whose update fails returns to its previous components (default
        ``True``; Greengrass's ``FailureHandlingPolicy: ROLLBACK``).
    :param deployment_name: the deployment's name; default the construct path.
    """

    def __init__(self, scope: Construct, id: str, *, thing_group_name: str,
                 components: Mapping[str, str | EdgeModelComponent] | Sequence[EdgeModelComponent],
                 rollout: EdgeRollout | None = None, abort: EdgeAbort | None = None,
                 in_progress_timeout: Duration | None = None, rollback_failed_devices: bool = True,
                 deployment_name: str | None = None) -> None:
        super().__init__(scope, id)
        if not isinstance(thing_group_name, str) or not THING_GROUP.fullmatch(thing_group_name):
            raise ConfigError("thing_group_name", "must be 1-128 letters, digits, ':', '_' or '-' (an IoT thing "
                              f"group name), got {cut(thing_group_name)}")
        self.rollout, self.abort = rollout or EdgeRollout(), abort or EdgeAbort()
        for name, value, kind in (("rollout", self.rollout, EdgeRollout), ("abort", self.abort, EdgeAbort)):
            if not isinstance(value, kind):
                raise ConfigError(name, f"must be an {kind.__name__}, got {cut(value)}")
            value.validate(name)
        if deployment_name is not None and not (isinstance(deployment_name, str) and 1 <= len(deployment_name) <= 256):
            raise ConfigError("deployment_name", f"must be 1-256 characters, got {cut(deployment_name)}")
        timeout = in_progress_timeout or Duration.minutes(60)
        if not isinstance(timeout, Duration):
            raise ConfigError("in_progress_timeout", f"must be a Duration (whole minutes), got {cut(timeout)}")
        seconds = timeout.to_seconds()
        if seconds % 60:
            raise ConfigError("in_progress_timeout", f"must be whole minutes (IoT jobs count minutes), got {seconds} s")
        minutes = int(seconds // 60)
        IN_PROGRESS_MINUTES.check("in_progress_timeout", minutes)
        if not isinstance(rollback_failed_devices, bool):
            raise ConfigError("rollback_failed_devices", f"must be true or false, got {cut(rollback_failed_devices)}")
        self.in_progress_timeout_minutes = int(minutes)
        versions, made = _component_versions(components)
        stack = Stack.of(self)
        self.thing_group_arn = stack.format_arn(service="iot", resource="thinggroup", resource_name=thing_group_name)
        properties = {
            "TargetArn": self.thing_group_arn,
            "DeploymentName": deployment_name or "/".join(self.node.path.split("/")[-3:]),
            "Components": {name: {"ComponentVersion": version} for name, version in versions.items()},
            "DeploymentPolicies": {
                "FailureHandlingPolicy": "ROLLBACK" if rollback_failed_devices else "DO_NOTHING",
                "ComponentUpdatePolicy": {"Action": "NOTIFY_COMPONENTS", "TimeoutInSeconds": 60},
                "ConfigurationValidationPolicy": {"TimeoutInSeconds": 30}},
            "IotJobConfiguration": {
                "JobExecutionsRolloutConfig": self.rollout.to_job_config(),
                "AbortConfig": self.abort.to_job_config(),
                "TimeoutConfig": {"InProgressTimeoutInMinutes": self.in_progress_timeout_minutes}},
        }
        self.resource = CfnResource(self, "Resource", type="AWS::GreengrassV2::Deployment", properties=properties)
        for component in made:  # the deployment waits until each version it names is made and DEPLOYABLE
            self.resource.node.add_dependency(component.resource)
        self.deployment_id = self.resource.get_att("DeploymentId").to_string()
        """The deployment's id (``mlops`` reads its IoT job from it)."""


def device_policy(scope: Construct, id: str, role: iam.IRole, policy_name: str, statements: list[dict]) -> iam.Policy:
    """``statements`` as an inline policy of ``role`` named ``policy_name`` (unique per account: the devices'
    role is shared by every model's stacks)."""
    return iam.Policy(scope, id, policy_name=policy_name[:128], roles=[role],
                      statements=[iam.PolicyStatement.from_json(statement) for statement in statements])


def _platforms(platforms: Sequence[Mapping[str, str]]) -> list[dict]:
    if isinstance(platforms, Mapping) or not isinstance(platforms, Sequence) or not platforms:
        raise ConfigError("platforms", f"must be a list of {{os, architecture}}, got {cut(platforms)}")
    return [dict(platform) if isinstance(platform, Mapping) else platform for platform in platforms]


def _manifest(index: int, platform) -> dict:
    path = f"platforms[{index}]"
    if not isinstance(platform, dict) or not set(platform) <= {"os", "architecture"} or "os" not in platform:
        raise ConfigError(path, f"must be {{os, architecture}} (architecture optional), got {cut(platform)}")
    if platform["os"] not in _OSES:
        raise ConfigError(f"{path}.os", f"must be one of {', '.join(_OSES)}, got {cut(platform['os'])}")
    if platform["os"] == "windows":
        raise ConfigError(f"{path}.os", "must be linux: the install step unpacks the model with tar, got 'windows'")
    if "architecture" in platform and platform["architecture"] not in _ARCHITECTURES:
        raise ConfigError(f"{path}.architecture", f"must be one of {', '.join(_ARCHITECTURES)}, got "
                          f"{cut(platform['architecture'])}")
    return {"Platform": {key: platform[key] for key in ("os", "architecture") if key in platform}}


def _component_versions(components) -> tuple[dict[str, str], list[EdgeModelComponent]]:
    if isinstance(components, Mapping):
        items = list(components.items())
    elif isinstance(components, Sequence) and not isinstance(components, str):
        for i, component in enumerate(components):
            if not isinstance(component, EdgeModelComponent):
                raise ConfigError(f"components[{i}]", "must be an EdgeModelComponent; to list other components "
                                  "(AWS's too), map names to versions or components instead "
                                  f"({{name: '1.0.6' or component}}), got {cut(component)}")
        items = [(c.component_name, c) for c in components]
    else:
        raise ConfigError("components", f"must map component names to versions, got {cut(components)}")
    if not items:
        raise ConfigError("components", "must name at least one component (a deployment without one would "
                          "uninstall every component of the group), got none")
    versions: dict[str, str] = {}
    for name, value in items:
        if isinstance(value, EdgeModelComponent):
            if name != value.component_name:
                raise ConfigError(f"components[{name!r}]", f"is component {value.component_name}, not {name}")
            version = value.component_version
        else:
            check_component_name(f"components[{name!r}]", name, aws_allowed=True)  # the group's AWS components too
            check_component_version(f"components[{name!r}]", value)
            version = value
        if name in versions:
            raise ConfigError("components", f"names {name} twice: a deployment runs one version of a component")
        versions[name] = version
    return versions, [value for _, value in items if isinstance(value, EdgeModelComponent)]
