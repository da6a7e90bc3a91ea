"""The dev account's stacks: the platform's shared artifacts (once), and one stack per model.

``<project>-platform``
    ``PlatformArtifacts`` under deterministic names: the artifacts bucket
    ``<project>-model-artifacts-<dev account>-<region>`` and its key ``alias/<project>-model-artifacts``.
``<project>-<model>-dev`` (one per model, independent of the other models)
    the model's registry group (shared with test and prod), its build pipeline, its retraining schedule (when
    ``build.schedule`` is set) and, when a target is given, its approval trigger.

A model stack references the artifacts by name (no cross-stack exports), so it depends on the platform stack
for deployment order only, and the endpoint stacks in test/prod compute the same names (``RegistryRef``).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Environment, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_lib.approval import ApprovalTrigger, RetrainingSchedule
from constructs_lib.retraining import DriftRetraining
from constructs_lib.arns import StackArns
from constructs_lib.build_pipeline import ModelBuildPipeline
from constructs_lib.config import ModelConfig, PlatformConfig, retraining_alarm_names
from constructs_lib.build_spec import CONFIG_KEYS as BUILD_KEYS
from constructs_lib.errors import ConfigError
from constructs_lib.registry import ModelRegistry, PlatformArtifacts, artifacts_bucket_name, artifacts_key_alias

__all__ = ["ModelDevStack", "PlatformStack", "model_dev_stack_name", "pipeline_name", "platform_stack_name"]

def platform_stack_name(config: PlatformConfig) -> str:
    """``<project>-platform``."""
    return f"{config.project}-platform"


def model_dev_stack_name(config: PlatformConfig, model: ModelConfig) -> str:
    """``<project>-<model>-dev``."""
    return f"{config.project}-{model.name}-dev"


def pipeline_name(config: PlatformConfig, model: ModelConfig) -> str:
    """``<project>-<model>-build``: the model-build pipeline's name (for the on-demand command)."""
    return f"{config.project}-{model.name}-build"


def _dev_env(config: PlatformConfig, env: Environment | None) -> Environment:
    dev = config.accounts.dev
    if env is None:
        return Environment(account=dev.account_id, region=dev.region)
    if env.account != dev.account_id or env.region != dev.region:
        raise ConfigError("accounts.dev", f"the dev stacks deploy to the dev account and region "
                          f"({dev.account_id}/{dev.region}), got env {env.account}/{env.region}")
    return env


class PlatformStack(Stack):
    """``<project>-platform``: the model artifacts bucket and key shared by every model (dev account).

    :param config: the platform config (project prefix, accounts).
    :param env: the dev account and region; default: ``accounts.dev`` of the config (anything else is an error).
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, env: Environment | None = None,
                 **kwargs) -> None:
        env = _dev_env(config, env)
        super().__init__(scope, id, env=env, **kwargs)
        dev = config.accounts.dev
        StackArns.remember(self, account=dev.account_id, region=dev.region)
        self.artifacts = PlatformArtifacts(
            self, "Artifacts",
            consumer_accounts=[config.accounts.test.account_id, config.accounts.prod.account_id],
            bucket_name=artifacts_bucket_name(config.project, dev.account_id, dev.region),
            key_alias=artifacts_key_alias(config.project),
        )


class ModelDevStack(Stack):
    """``<project>-<model>-dev``: one model's registry group, build pipeline, schedule and approval trigger.

    :param config: the platform config.
    :param model: the model's section of ``config``.
    :param config_dir: the config file's folder; the model folder (``project_dir``, default
        ``models/<name>``) is resolved relative to it.
    :param artifacts: the platform stack (or its ``PlatformArtifacts``), only to order deployments; the
        artifacts are always referenced by their deterministic names. Default: no ordering.
    :param approval_target: what an approval starts (the delivery pipeline); default: none yet (add one later
        with ``add_approval_trigger``).
    :param env: the dev account and region; default: ``accounts.dev`` of the config.
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig,
                 config_dir: Path | str, artifacts: "PlatformStack | PlatformArtifacts | None" = None,
                 approval_target: events.IRuleTarget | None = None, env: Environment | None = None,
                 **kwargs) -> None:
        env = _dev_env(config, env)
        kwargs.setdefault("stack_name", model_dev_stack_name(config, model))
        kwargs.setdefault("description", f"Registry, build pipeline and approval trigger of model {model.name}")
        super().__init__(scope, id, env=env, **kwargs)
        index = next(i for i, m in enumerate(config.models) if m.name == model.name)
        dev, build = config.accounts.dev, model.build
        StackArns.remember(self, account=dev.account_id, region=dev.region)
        if artifacts is not None:
            self.add_stack_dependency(artifacts if isinstance(artifacts, Stack) else Stack.of(artifacts))
        bucket = s3.Bucket.from_bucket_name(
            self, "ArtifactsBucket", artifacts_bucket_name(config.project, dev.account_id, dev.region))
        key = kms.Alias.from_alias_name(self, "ArtifactsKey", artifacts_key_alias(config.project))
        try:
            self.registry = ModelRegistry(
                self, "Registry", group_name=model.group_name, description=model.registry.description,
                consumer_accounts=[config.accounts.test.account_id, config.accounts.prod.account_id],
                artifacts_bucket=bucket, encryption_key=key)
            self.build_pipeline = ModelBuildPipeline(
                self, "BuildPipeline", pipeline_name=pipeline_name(config, model),
                model_package_group_name=model.group_name, artifacts_bucket=bucket, encryption_key=key,
                project_dir=Path(config_dir) / model.folder, input_data=build.input_data_in(config.accounts.dev.region),
                metric=build.metric,
                threshold=build.threshold, processing_instance_type=build.processing_instance_type,
                training_instance_type=build.training_instance_type,
                inference_instance_types=build.inference_instance_types, approval=build.approval,
                inference_preprocessing=build.inference_preprocessing,
                edge_target=build.edge.target() if build.edge is not None else None)
            self.retraining = RetrainingSchedule(self, "Retraining", pipeline=self.build_pipeline,
                                                 schedule=build.schedule) if build.schedule else None
            self.drift_retraining = DriftRetraining(
                self, "DriftRetraining", pipeline_name=pipeline_name(config, model),
                source_accounts=[config.accounts.prod.account_id], alarm_names=retraining_alarm_names(model, "prod"),
                min_interval=Duration.hours(build.retrain_on_drift.min_interval_hours),
                statement_id=f"{config.project}-{model.name}-drift"[:40]) if build.retrain_on_drift else None
            """Retraining on prod's drift alarm (``build.retrain_on_drift``)."""
        except ConfigError as error:
            raise error.under(f"models[{index}]", BUILD_KEYS) from None
        self.approval_trigger: ApprovalTrigger | None = None
        if approval_target is not None:
            self.add_approval_trigger(approval_target)

    def add_approval_trigger(self, target: events.IRuleTarget) -> ApprovalTrigger:
        """Start ``target`` (the delivery pipeline) when a version of this model is approved. Create the
        target in this stack's scope (for example ``targets.CodePipeline(Pipeline.from_pipeline_arn(stack,
        ...))``) to keep the stack self-contained. At most one per stack."""
        if self.approval_trigger is not None:
            raise ConfigError("approval_target", "this model stack already has an approval trigger")
        self.approval_trigger = ApprovalTrigger(self, "ApprovalTrigger",
                                                model_package_group_name=self.registry.group_name, target=target)
        return self.approval_trigger
