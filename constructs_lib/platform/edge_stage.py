"""Mode edge: one model's release to one stage's AWS IoT Greengrass v2 devices (``EdgeStack``)."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib.access_logs import data_bucket
from constructs_lib.arns import StackArns
from constructs_lib.config import APPROVED, ModelConfig, PlatformConfig
from constructs_lib.edge import EdgeFleetDeployment, EdgeModelComponent, device_policy
from constructs_lib.errors import ConfigError
from constructs_lib.keys import customer_key
from constructs_lib.nag import acknowledge_wildcards
from constructs_lib.permissions import allow, grant_statements
from constructs_lib.registry import RegistryRef, key_through_s3

from .stage_roles import stage_of, trusting_the_check_steps


class EdgeStack(Stack):
    """Mode edge: the model version on the stage's thing group (the ``edge`` section).

    * the version's Neo-compiled artifact is copied into a bucket of this stage's account (Greengrass takes
      artifacts from its own region only, and the devices' role reads nothing in the dev account), under
      ``<model>/v<version>.tar.gz``, a key never reused;
    * component ``<project>.<model>`` version ``1.0.<version>`` installs it (``EdgeModelComponent``: made once,
      found in place when the version is released again, never deleted);
    * the deployment to the thing group rolls it out in waves and cancels itself on failures
      (``EdgeFleetDeployment``), listing the group's other components (``edge.components``);
    * the devices' token exchange role (``edge.device_role``) may read this model's artifacts, and the
      delivery pipeline's wait step may watch the deployment.

    ``release_id`` (the delivery pipeline's run) names the deployment, so that each run deploys: a run after a
    cancelled deployment (an abort, a failed wait) releases the same version again.

    Outputs: ``ThingGroupName``, ``ComponentName``, ``ComponentVersion`` and ``DeploymentId``.
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig, stage_name: str,
                 approved_version_arn: str | None, release_id: str | None = None, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        index, stage = stage_of(self, scope, config, model, stage_name, "env" in kwargs)
        settings = stage.edge
        assert settings is not None  # check_mode: required in mode edge
        path = f"models[{index}].stages.{stage_name}.edge"
        version_arn = approved_version_arn if settings.model == APPROVED else settings.model.model_package_arn
        if version_arn is None:
            raise ConfigError(f"{path}.model", "is 'approved' but no approved model version is known for this model")
        version = version_arn.rsplit("/", 1)[1]
        name = settings.component(config.project, model.name)
        key = customer_key(self, "Key", description=f"Edge artifacts of model {model.name} ({stage_name})")
        self.bucket = data_bucket(self, "Artifacts", key=key, what=f"model {model.name}'s edge artifacts",
                                  log_prefix="artifacts/", rule="OldVersions", retention_days=None)
        """The compiled artifacts (kept: each component version downloads its own, for as long as it is used)."""
        target = model.build.edge.target().description if model.build.edge else "its edge target"
        try:
            self.component = EdgeModelComponent(
                self, "Component", component_name=name, component_version=f"1.0.{version}",
                artifact_bucket=self.bucket, artifact_key=f"{model.name}/v{version}.tar.gz",
                runtime=settings.runtime, model_package_arn=version_arn,
                registry_statements=RegistryRef.from_config(config, model).consumer_read_statements(),
                description=f"Model {model.name} version {version}, compiled by SageMaker Neo for {target}")
            self.deployment = EdgeFleetDeployment(
                self, "Fleet", thing_group_name=settings.thing_group,
                components={**settings.components, name: self.component},
                rollout=settings.rollout.to_rollout(), abort=settings.abort.to_abort(),
                in_progress_timeout=Duration.minutes(settings.in_progress_timeout_minutes),
                # Named after the pipeline run: each run is a deployment of its own (all its properties replace it),
                # so a run after a cancelled one deploys the same version again.
                deployment_name=f"{config.project}-{model.name}-{stage_name}"
                                + (f"-run-{release_id}" if release_id else ""))
        except ConfigError as error:
            raise error.under(path) from None
        self._grant_devices(model, settings.device_role)
        self.thing_group_output = CfnOutput(self, "ThingGroupName", value=settings.thing_group)
        CfnOutput(self, "ComponentName", value=name)
        self.component_version_output = CfnOutput(self, "ComponentVersion", value=self.component.component_version)
        self.deployment_id_output = CfnOutput(self, "DeploymentId", value=self.deployment.deployment_id,
                                              description="mlops edge wait/status read its IoT job")
        self.check_role = self._check_role(config, model, stage_name)

    def _grant_devices(self, model: ModelConfig, role_name: str) -> None:
        """The devices' token exchange role may download this model's artifacts (every version: a device that
        rolls back, or joins the group later, fetches the version it is given) and nothing else of the stack,
        through a policy named after this stack (the role is every edge model's)."""
        role = iam.Role.from_role_name(self, "DeviceRole", role_name)
        objects = self.bucket.arn_for_objects(f"{model.name}/*")
        policy = device_policy(self, "DevicePolicy", role, f"{self.stack_name}-artifacts", [
            allow(["s3:GetObject"], [objects]),
            # The nucleus asks for the bucket's region before it downloads.
            allow(["s3:GetBucketLocation"], [self.bucket.bucket_arn]),
            key_through_s3(self.bucket.encryption_key, ["kms:Decrypt"])])
        acknowledge_wildcards(policy, {objects: "The devices download the versions of this model (one key each, "
                                                "never reused) that their deployments name."})

    def _check_role(self, config: PlatformConfig, model: ModelConfig, stage_name: str) -> iam.Role:
        """The role the delivery pipeline's wait step assumes: read this deployment and its IoT job."""
        role = trusting_the_check_steps(self, config, model, stage_name,
                                         f"Delivery pipeline checks of {model.name}'s devices ({stage_name})")
        arns = StackArns.of(self)
        jobs = arns.arn("iot", "job", "*")
        grant_statements(role, [
            # A failed wait cancels the deployment: devices not yet reached never get the version.
            allow(["greengrass:GetDeployment", "greengrass:CancelDeployment"],
                  [arns.arn("greengrass", f"deployments:{self.deployment.deployment_id}")]),
            # Greengrass names the job at deploy time (GetDeployment's iotJobId), and cancels it as the caller.
            allow(["iot:DescribeJob", "iot:ListJobExecutionsForJob", "iot:CancelJob"], [jobs])])
        acknowledge_wildcards(role, {jobs: "The deployment's IoT job is named by Greengrass when it is created; "
                                           "the wait step reads the one GetDeployment names."})
        return role
