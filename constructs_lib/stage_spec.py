"""A config stage turned into the endpoint's value objects, and checked by the endpoint's own rules.

One path from the YAML to ``ModelEndpoint``: ``platform/endpoint_stage.py`` builds the construct from
``StageSpec``, and ``python -m constructs_lib.config --check`` runs ``StageSpec.check`` (the same
``validate_endpoint`` and ``check_autoscaling`` the construct runs), so ``--check`` refuses what synth refuses
without loading CDK. Plain Python: no aws_cdk, no boto3.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import (APPROVED, AsyncConfig, ImageSource, ModelConfig, PackageSource, PipelineSource, StageConfig,
                     StreamingConfig)
from . import edge_rules
from .batch_rules import check_batch
from .component_rules import (COPIES, ComputeRequirements, check_component_model, check_component_rollout,
                              check_copy_scaling)
from .stream_rules import check_stream
from .errors import ConfigError, check_sagemaker_name, cut
from .monitoring_rules import check_monitoring
from .ops.release_phase import PHASES
from .rollout import CapacitySize, RolloutSpec
from .variants import (AsyncInference, DataCapture, ModelSource, ProductionVariant, RollbackAlarms, ShadowVariant,
                       check_autoscaling, validate_endpoint)

#: What ``--check`` deploys for ``model: approved`` when no version is known (its group and version do not
#: matter to any rule).
PLACEHOLDER_VERSION = "arn:aws:sagemaker:{region}:{account}:model-package/{group}/1"


@dataclass(frozen=True)
class StageSpec:
    """The value objects of one stage's endpoint (the data capture bucket, a CDK object, is the caller's)."""

    endpoint_name: str
    variants: list[ProductionVariant]
    shadow: ShadowVariant | None
    capture: DataCapture | None
    rollout: RolloutSpec
    alarms: RollbackAlarms
    autoscaling: dict[str, tuple[int, int, int | None, float | None, int, int]]
    """{variant: (min, max, target invocations, target backlog, scale-in cooldown s, scale-out cooldown s)}."""
    asynchronous: AsyncInference | None = None
    """Mode async's settings (the bucket, a CDK object, is the caller's); None in other modes."""

    @classmethod
    def from_config(cls, stage: StageConfig, *, model_name: str, stage_name: str, approved_arn: str | None,
                    approved_pipeline: bool = False) -> "StageSpec":
        """The stage's value objects; raises ``ConfigError`` with a path below the stage. ``approved_pipeline``:
        the approved versions are inference pipelines (the build's ``inference_preprocessing``)."""
        check_mode(stage)
        variants = [_variant(v, approved_arn, f"variants[{i}]", approved_pipeline)
                    for i, v in enumerate(stage.variants)]
        shadow = None
        if stage.shadow_variant is not None:
            shadow = ShadowVariant(_variant(stage.shadow_variant, approved_arn, "shadow_variant", approved_pipeline),
                                   sampling_percentage=stage.shadow_variant.sampling_percentage)
        capture = None
        if stage.data_capture is not None:
            c = stage.data_capture
            capture = DataCapture(sampling_percentage=c.sampling_percentage, capture_mode=c.capture_mode,
                                  prefix=c.prefix, csv_content_types=c.csv_content_types,
                                  json_content_types=c.json_content_types, retention_days=c.retention_days)
        scaling = {v.name: (v.autoscaling.min_capacity, v.autoscaling.max_capacity,
                            v.autoscaling.target_invocations_per_instance, v.autoscaling.target_backlog_per_instance,
                            v.autoscaling.scale_in_cooldown, v.autoscaling.scale_out_cooldown)
                   for v in stage.variants if v.autoscaling is not None}
        asynchronous = None
        if mode(stage) == "async":
            a = stage.async_inference or AsyncConfig()
            asynchronous = AsyncInference(
                max_concurrent_invocations_per_instance=a.max_concurrent_invocations_per_instance, prefix=a.prefix,
                retention_days=a.retention_days, include_response_in_notifications=a.include_response_in_notifications)
        return cls(endpoint_name=stage.endpoint_name or f"{model_name}-{stage_name}", variants=variants,
                   shadow=shadow, capture=capture, rollout=stage.deployment.to_spec(),
                   alarms=cls.rollback_alarms(stage),
                   autoscaling=scaling, asynchronous=asynchronous)

    @staticmethod
    def rollback_alarms(stage: StageConfig) -> RollbackAlarms:
        """The stage's ``alarms`` as the constructs' ``RollbackAlarms``."""
        return RollbackAlarms(**stage.alarms.model_dump(exclude={"notification_emails"}))

    def check(self, *, network_isolation: bool, subnets: int, security_groups: int) -> None:
        """Every rule ``ModelEndpoint`` enforces for this stage (paths below the stage, as the file names them)."""
        try:
            validate_endpoint(self.endpoint_name, self.variants, self.shadow, self.capture, self.rollout,
                              self.alarms, network_isolation=network_isolation, subnets=subnets,
                              security_groups=security_groups,
                              max_capacities={name: s[1] for name, s in self.autoscaling.items()},
                              asynchronous=self.asynchronous)
        except ConfigError as error:
            raise config_error(error) from None
        by_name = {v.name: (i, v) for i, v in enumerate(self.variants)}
        for name, (low, high, invocations, backlog, _, _) in self.autoscaling.items():
            index, variant = by_name[name]
            check_autoscaling(f"variants[{index}].autoscaling", variant, low, high, invocations,
                              asynchronous=self.asynchronous is not None, target_backlog_per_instance=backlog)


#: Where a drift check can run: an endpoint of the stage's own, capturing its requests.
MONITORED_MODES = ("realtime", "streaming")


def check_monitoring_stage(stage: StageConfig, approved_pipeline: bool) -> None:
    """The drift check's settings, its input (captured requests) and the version it compares with (the first
    production variant's: a registered version with a baseline of the features callers send)."""
    settings = stage.monitoring
    try:
        check_monitoring(settings.window_minutes, settings.min_records, settings.evaluation_periods,
                         settings.datapoints_to_alarm, window_path="window_minutes")
    except ConfigError as error:
        raise error.under("monitoring") from None
    capture = stage.data_capture
    if capture is None or capture.capture_mode == "output":
        raise ConfigError("monitoring", "needs the requests captured (data_capture with capture_mode input or "
                          f"both): the check reads them, got {'no data_capture' if capture is None else 'output'}")
    if capture.sampling_percentage == 0:
        raise ConfigError("monitoring", "needs data_capture.sampling_percentage above 0: the check reads the "
                          "captured requests, got 0 (nothing captured)")
    released = stage.variants[0].model if stage.variants else None
    if not (released == APPROVED or isinstance(released, PackageSource)):
        raise ConfigError("monitoring", "needs the first variant to serve a registered version (approved, or a "
                          "model_package_arn): the check compares with that version's drift baseline, got "
                          f"{cut(released)}")
    pipeline = approved_pipeline if released == APPROVED else bool(released.inference_pipeline)
    if pipeline:
        raise ConfigError("monitoring", "cannot check an inference pipeline's requests: its callers send raw "
                          "records, and the baseline describes the encoded features the model takes")


def check_stage(stage: StageConfig, *, model_name: str, stage_name: str, dev_account: str, dev_region: str,
                group_name: str, approved_pipeline: bool = False) -> None:
    """``StageSpec.check`` for a config stage, with a placeholder for ``model: approved``; a batch stage's own
    rules for mode batch. ``approved_pipeline``: the approved versions are inference pipelines."""
    placeholder = PLACEHOLDER_VERSION.format(region=dev_region, account=dev_account, group=group_name)
    if mode(stage) in ("batch", "component", "multi_model", "edge"):
        check_mode(stage)
        if mode(stage) == "component":
            check_component_model("component.model", model_source(
                stage.component.model, placeholder, "component.model", approved_pipeline=approved_pipeline))
        elif mode(stage) == "multi_model" and model_source(stage.multi_model.model, placeholder, "multi_model.model",
                                                           approved_pipeline=approved_pipeline).is_pipeline:
            raise ConfigError("multi_model.model", "must be a one-container version (a multi-model container loads "
                              "one artifact per model), got an inference pipeline (build.inference_preprocessing, "
                              "or inference_pipeline: true)")
        return
    spec = StageSpec.from_config(stage, model_name=model_name, stage_name=stage_name, approved_arn=placeholder,
                                 approved_pipeline=approved_pipeline)
    vpc = stage.vpc
    spec.check(network_isolation=network_isolation(stage), subnets=len(vpc.subnet_ids) if vpc else 0,
               security_groups=len(vpc.security_group_ids) if vpc else 0)
    direct = [v.name for v in spec.variants
              if v.model.parts and v.model.container["InferenceExecutionConfig"]["Mode"] == "Direct"]
    if direct and stage.checks is not None:
        raise ConfigError("checks", f"variant {direct[0]} is a direct-invocation pipeline, which answers only "
                          "requests naming a container (TargetContainerHostname) and the smoke check names none: "
                          "leave checks out of this stage or use mode serial")
    if stage.release is not None:
        check_release(stage, stage_name)
    if stage.monitoring is not None:
        check_monitoring_stage(stage, approved_pipeline)


#: Step Functions keeps at most 25,000 events per execution; one look at a gate costs about 10 (wait, task,
#: choice). The looks a phase may take, its deadline over its poll interval, stay well below.
MAX_LOOKS = 2000
#: CodePipeline's Step Functions action fails after 7 days (its default timeout); a phase must end before it,
#: with 12 hours left for the endpoint updates that start and end it.
MAX_PHASE_SECONDS = 7 * 86400 - 12 * 3600


def check_phase_timing(path: str, deadline_seconds: float, poll_seconds: float) -> None:
    """A release phase's deadline fits CodePipeline's action timeout, and its looks Step Functions' history."""
    if deadline_seconds > MAX_PHASE_SECONDS:
        raise ConfigError(f"{path}.deadline", f"must be at most {MAX_PHASE_SECONDS} seconds (6.5 days: CodePipeline's "
                          f"Step Functions action times out after 7 days), got {deadline_seconds:g}")
    if deadline_seconds / poll_seconds > MAX_LOOKS:
        raise ConfigError(f"{path}.poll_interval", f"must be at least {deadline_seconds / MAX_LOOKS:.0f} seconds for "
                          f"a deadline of {deadline_seconds:g} s (at most {MAX_LOOKS} looks: Step Functions keeps "
                          f"25,000 events per execution), got {poll_seconds:g}")


def mode(stage: StageConfig) -> str:
    """How the stage's endpoint serves: its ``mode``, or serverless when its variants are, else realtime."""
    if stage.mode is not None:
        return stage.mode
    return "serverless" if any(v.serverless_memory_mb is not None for v in stage.variants) else "realtime"


def network_isolation(stage: StageConfig) -> bool:
    """The stage's ``network_isolation``: as given, else on, except in mode serverless (which refuses it)."""
    if stage.network_isolation is not None:
        return stage.network_isolation
    return mode(stage) != "serverless"


def stream_settings(stage: StageConfig) -> dict:
    """Mode streaming's settings (``StreamingConfig``, defaults when the section is left out), times in seconds."""
    return (stage.streaming or StreamingConfig()).model_dump()


def check_mode(stage: StageConfig) -> None:
    """The stage's ``mode`` agrees with its variants and sections (what only one mode has)."""
    serving = mode(stage)
    if stage.monitoring is not None and serving not in MONITORED_MODES:
        raise ConfigError("monitoring", f"applies to modes {' and '.join(MONITORED_MODES)} (an endpoint of the "
                          f"stage's own whose requests are captured), got it in mode {serving}")
    serverless = [i for i, v in enumerate(stage.variants) if v.serverless_memory_mb is not None]
    if serving == "serverless" and len(serverless) != len(stage.variants):
        index = next(i for i in range(len(stage.variants)) if i not in serverless)
        raise ConfigError(f"variants[{index}].serverless_memory_mb", "is required in mode serverless (1024-6144 in "
                          f"steps of 1024), got {stage.variants[index].instance_type or 'none'}")
    if serving != "serverless" and serverless:
        raise ConfigError(f"variants[{serverless[0]}].serverless_memory_mb", f"must not be set in mode {serving} "
                          f"(mode serverless serves from serverless variants), got "
                          f"{stage.variants[serverless[0]].serverless_memory_mb}")
    for section, owner in (("async_inference", "async"), ("streaming", "streaming"), ("batch", "batch"),
                           ("component", "component"), ("multi_model", "multi_model"), ("edge", "edge")):
        if serving != owner and getattr(stage, section) is not None:
            raise ConfigError(section, f"applies to mode {owner} only, got it in mode {serving}")
    if serving == "batch":
        check_batch_stage(stage)
        return
    if serving == "component":
        check_component_stage(stage)
        return
    if serving == "multi_model":
        check_multi_model_stage(stage)
        return
    if serving == "edge":
        check_edge_stage(stage)
        return
    if stage.deployment is not None and stage.deployment.size_unit == "copies":
        raise ConfigError("deployment.size_unit", f"copies applies to mode component only (an endpoint's batches "
                          f"are instances or percent), got it in mode {serving}")
    if stage.deployment is None:
        raise ConfigError("deployment", f"is required in mode {serving}: the endpoint's guardrail (type "
                          "all_at_once, canary, linear, rolling or unguarded), got none")
    if serving == "streaming":
        try:
            check_stream(**stream_settings(stage))
        except ConfigError as error:
            raise error.under("streaming") from None
    if serving == "async":
        if "max_model_latency_ms" not in stage.alarms.model_fields_set:
            raise ConfigError("alarms.max_model_latency_ms", "is required in mode async: the rollback alarm's "
                              "budget for one request's processing (the default, 1000 ms, is a real-time one and "
                              "would roll back every release of a model that works for minutes), got none")
        if stage.release is not None:
            raise ConfigError("release", "must be left out in mode async (the shadow and A/B phases add a variant; "
                              "an asynchronous endpoint has exactly one), got a release plan")
        if stage.checks is not None and stage.checks.stream:
            raise ConfigError("checks.stream", "must be false in mode async (results are written to S3, not "
                              "streamed), got true")


#: What a batch stage leaves out: it has no endpoint (``batch`` names the model and the transform's instances).
_NOT_IN_BATCH = ("endpoint_name", "variants", "shadow_variant", "data_capture", "deployment", "alarms", "vpc",
                 "release", "dashboard")


def _own_section(stage: StageConfig, section: str, needs: str, left_out: tuple[str, ...], why: str) -> None:
    """A mode with a section of its own (``section``, the same name as the mode): the section is there
    (``needs`` says what it holds), and the keys of ``left_out`` are not (``why``)."""
    if getattr(stage, section) is None:
        raise ConfigError(section, f"is required in mode {section}: {needs}, got none")
    for key in left_out:
        if key in stage.model_fields_set and getattr(stage, key) not in (None, []):
            raise ConfigError(key, f"must be left out in mode {section} ({why}), got a value")


def check_batch_stage(stage: StageConfig) -> None:
    """Mode batch: the ``batch`` section, and nothing of an endpoint's."""
    _own_section(stage, "batch", "the model and the transform job's instances (instance_type)", _NOT_IN_BATCH,
                 "no endpoint: the batch section names the model and the transform job's instances; failed runs "
                 "go to batch.failure_emails")
    if stage.checks is not None:
        for key in ("invocations", "latency_p95_ms", "stream", "content_type"):
            if key in stage.checks.model_fields_set:
                raise ConfigError(f"checks.{key}", "does not apply in mode batch: the check runs every sample file "
                                  "through the pipeline once and needs a result for each; leave it out")
    batch = stage.batch  # its model is one container (the schema's SingleModelRef)
    try:
        check_batch(batch.instance_type, batch.instance_count, batch.max_payload_mb, batch.retention_days,
                    batch.prefix, content_type=batch.content_type, accept=batch.accept, split_type=batch.split_type,
                    strategy=batch.strategy)
    except ConfigError as error:
        raise error.under("batch") from None


#: What a component stage leaves out: the host is the endpoint (``component_hosts``), shared with other models.
_NOT_IN_COMPONENT = ("endpoint_name", "variants", "shadow_variant", "data_capture", "vpc", "release", "dashboard")


def check_component_stage(stage: StageConfig) -> None:
    """Mode component: the ``component`` section, a rolling (or unguarded) release of its copies, and nothing
    of an endpoint of its own."""
    _own_section(stage, "component", "the host (a component_hosts entry) and what each copy reserves (memory_mb)",
                 _NOT_IN_COMPONENT, "the model runs as an inference component on the shared host named by "
                 "component.host, which is the endpoint")
    settings = stage.component
    try:
        component_settings(stage)
    except ConfigError as error:
        raise error.under("component") from None
    spec = component_rollout(stage)
    if stage.deployment is not None and spec.size is not None and stage.deployment.size_unit == "instances":
        raise ConfigError("deployment.size_unit", "must be copies or percent in mode component (a component's "
                          "rolling update moves copies, not instances), got instances")
    scaling = settings.autoscaling
    try:
        check_component_rollout("deployment", spec, settings.copies, scaling.min_copies if scaling else None,
                                scaling.max_copies if scaling else None)
    except ConfigError as error:
        if stage.deployment is not None:
            raise
        raise ConfigError(error.path, f"{error.message} (the default deployment: rolling, one copy at a time)") \
            from None
    StageSpec.rollback_alarms(stage).validate("alarms")
    if stage.alarms.watch_whole_endpoint:
        raise ConfigError("alarms.watch_whole_endpoint", "does not apply in mode component (the component's alarms "
                          "already watch all of its copies), got true")


def component_settings(stage: StageConfig) -> dict:
    """Mode component's checked settings: ``copies``, ``compute`` (``ComputeRequirements``) and ``scaling``
    (``auto_scale_copies`` keywords, cooldowns in seconds, or None); errors below ``component``."""
    settings = stage.component
    assert settings is not None
    compute = ComputeRequirements(memory_mb=settings.memory_mb, cpu_cores=settings.cpu_cores,
                                  accelerators=settings.accelerators, max_memory_mb=settings.max_memory_mb)
    compute.validate("")
    COPIES.check("copies", settings.copies)
    scaling = None
    if settings.autoscaling is not None:
        a = settings.autoscaling
        check_copy_scaling("autoscaling", settings.copies, a.min_copies, a.max_copies, a.target_invocations_per_copy)
        scaling = dict(min_copies=a.min_copies, max_copies=a.max_copies,
                       target_invocations_per_copy=a.target_invocations_per_copy,
                       scale_in_cooldown=a.scale_in_cooldown, scale_out_cooldown=a.scale_out_cooldown)
    return {"copies": settings.copies, "compute": compute, "scaling": scaling}


#: What a multi_model stage leaves out: the host is the endpoint (``multi_model_hosts``), and a model's release is
#: an artifact and a parameter, with no rollout, no alarm of its own and nothing of an endpoint's to set.
_NOT_IN_MULTI_MODEL = ("endpoint_name", "variants", "shadow_variant", "data_capture", "vpc", "release", "dashboard",
                       "deployment", "alarms", "network_isolation")


def check_multi_model_stage(stage: StageConfig) -> None:
    """Mode multi_model: the ``multi_model`` section, and nothing of an endpoint of its own."""
    _own_section(stage, "multi_model", "the host (a multi_model_hosts entry)", _NOT_IN_MULTI_MODEL,
                 "the multi-model host named by multi_model.host is the endpoint and carries the endpoint's "
                 "settings; a model's release is its artifact and a parameter, with no rollout and no alarm of its "
                 "own (SageMaker publishes no per-model metric); the smoke check is the gate")
    if stage.checks is not None and stage.checks.stream:
        raise ConfigError("checks.stream", "must be false in mode multi_model (a streamed invocation cannot name "
                          "its target model), got true")


#: What an edge stage leaves out: no endpoint; the devices' rollout, abort and the pipeline's gate are the
#: edge section's.
_NOT_IN_EDGE = ("endpoint_name", "variants", "shadow_variant", "data_capture", "deployment", "alarms", "vpc",
                "release", "dashboard", "network_isolation", "checks")


def check_edge_stage(stage: StageConfig) -> None:
    """Mode edge: the ``edge`` section (the IoT job limits of its rollout, abort and timeout, the gate, the
    component names and versions), and nothing of an endpoint's."""
    _own_section(stage, "edge", "the thing group of the stage's devices", _NOT_IN_EDGE,
                 "the model runs on Greengrass devices: edge.rollout, edge.abort and edge.verify are its guardrail "
                 "and its check")
    settings = stage.edge
    try:
        settings.rollout.to_rollout().validate("rollout")
        settings.abort.to_abort().validate("abort")
        edge_rules.IN_PROGRESS_MINUTES.check("in_progress_timeout_minutes", settings.in_progress_timeout_minutes)
        settings.gate().validate("verify")
        if settings.component_name is not None:
            edge_rules.check_component_name("component_name", settings.component_name)
        for name, version in settings.components.items():
            edge_rules.check_component_name(f"components[{name!r}]", name, aws_allowed=True)
            edge_rules.check_component_version(f"components[{name!r}]", version)
        for name, requirement in settings.runtime.items():
            edge_rules.check_component_name(f"runtime[{name!r}]", name, aws_allowed=True)
            edge_rules.check_version_requirement(f"runtime[{name!r}]", requirement)
        if settings.devices is not None:
            edge_rules.DEVICES.check("devices", settings.devices)
        edge_rules.check_gate_reachable(settings.gate(), settings.rollout.to_rollout(), settings.devices)
    except ConfigError as error:
        raise error.under("edge") from None


#: A component's release when the stage gives none: one copy at a time, five minutes' bake after each.
DEFAULT_COMPONENT_ROLLOUT = RolloutSpec("rolling", size=CapacitySize.copies(1), wait_seconds=300)


def component_rollout(stage: StageConfig) -> RolloutSpec:
    """Mode component's release policy: the stage's ``deployment``, or ``DEFAULT_COMPONENT_ROLLOUT``."""
    return stage.deployment.to_spec() if stage.deployment is not None else DEFAULT_COMPONENT_ROLLOUT


def check_release(stage: StageConfig, stage_name: str) -> None:
    """The rules of a stage's progressive release (``release``): what SageMaker allows the phases to do with
    the stage's endpoint (a shadow needs exactly one instance-based production variant; the phases add their
    own variant next to it) and what makes the release mean something (the production variant serves the
    approved version, the one the phases test)."""
    release = stage.release
    assert release is not None
    if stage_name != "prod":
        raise ConfigError("release", f"applies to the prod stage only (the phases judge live traffic), got it "
                          f"in {stage_name}")
    if len(stage.variants) != 1:
        raise ConfigError("variants", f"a release with phases needs exactly one production variant (the shadow "
                          f"and the challenger are added next to it), got {len(stage.variants)}")
    variant = stage.variants[0]
    if variant.model != APPROVED:
        raise ConfigError("variants[0].model", "must be 'approved' in a stage with a release plan (the phases "
                          "test the approved version before the rollout gives it this variant), got a pinned model")
    if variant.serverless_memory_mb is not None:
        raise ConfigError("release", "needs an instance-based production variant (SageMaker has no shadow or "
                          "A/B variants on serverless endpoints), got serverless_memory_mb")
    if stage.shadow_variant is not None:
        raise ConfigError("shadow_variant", "must be left out when the release has phases (the shadow phase adds "
                          "the shadow), got one")
    if stage.deployment.type == "unguarded":
        raise ConfigError("deployment.type", "the rollout after the phases must be guarded (all_at_once, canary, "
                          "linear or rolling), got unguarded")
    for name in PHASES:
        phase = getattr(release, name)
        if phase is None:
            continue
        check_sagemaker_name(f"release.{name}.variant_name", phase.variant_name)
        check_phase_timing(f"release.{name}", phase.deadline, release.poll_interval)
        if phase.variant_name == variant.name:
            raise ConfigError(f"release.{name}.variant_name", f"must differ from the production variant's name, "
                              f"got {phase.variant_name!r} for both")
        try:
            phase_gate(name, phase)
        except ConfigError as error:
            from .ops.gates import CONFIG_KEYS as GATE_KEYS

            raise error.under(f"release.{name}", GATE_KEYS) from None
    shadow = release.shadow
    if shadow is not None and shadow.min_agreement_percent is not None:
        capture = stage.data_capture
        if capture is None or capture.capture_mode == "input":
            raise ConfigError("release.shadow.min_agreement_percent", "needs data_capture with capture_mode output "
                              "or both (the predictions are compared from the captured responses), got "
                              + ("no data_capture" if capture is None else "capture_mode input"))


def phase_gate(name: str, phase) -> dict:
    """The gate settings (``ops.gates.ShadowGate`` or ``ABGate`` fields) of a release phase's config."""
    from .ops.gates import ABGate, ShadowGate

    if name == "shadow":
        gate = dict(min_duration_seconds=phase.min_duration, min_requests=phase.min_requests,
                    max_latency_increase_pct=phase.max_latency_increase_percent,
                    max_error_rate_increase_points=phase.max_error_rate_increase_points,
                    deadline_seconds=phase.deadline)
        if phase.min_agreement_percent is not None:
            gate.update(min_agreement_pct=phase.min_agreement_percent, agreement_tolerance=phase.agreement_tolerance,
                        min_agreement_pairs=phase.min_agreement_pairs)
        ShadowGate(**gate)
    else:
        gate = dict(decision=phase.decision, margin=phase.margin, lower_is_better=phase.lower_is_better,
                    min_duration_seconds=phase.min_duration, min_samples=phase.min_samples,
                    deadline_seconds=phase.deadline)
        ABGate(**gate)
    return gate


def _source(ref, approved_arn: str | None, path: str, approved_pipeline: bool) -> ModelSource:
    if ref == APPROVED:
        if approved_arn is None:
            raise ConfigError(path, "is 'approved' but no approved model version is known for this model")
        source = ModelSource.from_model_package(approved_arn, inference_pipeline=approved_pipeline)
        if approved_pipeline:  # errors name the setting that made it a pipeline, not a placeholder version
            source.description = "the approved version, an inference pipeline (build.inference_preprocessing)"
        return source
    if isinstance(ref, PackageSource):
        return ModelSource.from_model_package(ref.model_package_arn, inference_pipeline=bool(ref.inference_pipeline))
    if isinstance(ref, PipelineSource):
        parts = []
        for i, part in enumerate(ref.containers):
            try:
                parts.append(ModelSource.from_image(part.image, model_data_url=part.model_data_url,
                                                    environment=part.environment))
            except ConfigError as error:
                raise error.under(f"containers[{i}]") from None
        try:
            return ModelSource.from_containers(parts, mode=ref.mode.capitalize(),
                                               hostnames=[part.hostname for part in ref.containers])
        except ConfigError as error:  # the construct names hostnames by position, the file per container
            raise error.under(renames={f"hostnames[{i}]": f"containers[{i}].hostname"
                                       for i in range(len(parts))}) from None
    assert isinstance(ref, ImageSource)
    return ModelSource.from_image(ref.image, model_data_url=ref.model_data_url, environment=ref.environment)


def model_source(ref, approved_arn: str | None, path: str, *, approved_pipeline: bool = False) -> ModelSource:
    """A config model reference (``approved``, a package, an image, an inference pipeline) as a
    ``ModelSource``; errors under ``path``. ``approved_pipeline``: the model's versions are inference pipelines
    (its build's ``inference_preprocessing``)."""
    try:
        return _source(ref, approved_arn, path, approved_pipeline)
    except ConfigError as error:
        raise error if error.path.startswith(path) else error.under(path) from None


def version_source(model: ModelConfig, ref, approved_arn: str | None, path: str) -> ModelSource:
    """``model_source`` for a stage of ``model``: its approved versions are inference pipelines when its build
    registers them (``build.inference_preprocessing``)."""
    return model_source(ref, approved_arn, path, approved_pipeline=model.build.inference_preprocessing)


def _variant(cfg, approved_arn: str | None, path: str, approved_pipeline: bool) -> ProductionVariant:
    model = model_source(cfg.model, approved_arn, f"{path}.model", approved_pipeline=approved_pipeline)
    if cfg.serverless_memory_mb is not None:
        return ProductionVariant.serverless(
            cfg.name, model, memory_size_mb=cfg.serverless_memory_mb,
            # 5 only when the key is absent: an explicit 0 is refused by the rules, not silently replaced.
            max_concurrency=5 if cfg.serverless_max_concurrency is None else cfg.serverless_max_concurrency,
            provisioned_concurrency=cfg.serverless_provisioned_concurrency, weight=cfg.weight)
    return ProductionVariant(
        cfg.name, model, weight=cfg.weight, instance_type=cfg.instance_type,
        initial_instance_count=cfg.initial_instance_count, volume_size_gb=cfg.volume_size_gb,
        startup_health_check_timeout=cfg.startup_health_check_timeout,
        model_data_download_timeout=cfg.model_data_download_timeout)


#: Construct property -> the stage's config key, where they differ.
CONFIG_KEYS = {"rollback_alarms": "alarms", "vpc_subnets": "vpc", "shadow_variant": "shadow_variant"}


def config_error(error: ConfigError, prefix: str = "") -> ConfigError:
    """A ``ModelEndpoint`` error at the stage's config keys (``rollback_alarms`` -> ``alarms``) under ``prefix``."""
    return error.under(prefix, CONFIG_KEYS)
