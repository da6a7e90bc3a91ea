"""The platform config file: one YAML file describing the accounts and the model projects.

Typed with pydantic; loading turns every error into one ``ConfigError`` line naming the YAML path
(``models[0].stages.prod.deployment.canary_size: ...``). Field names mirror the construct properties, so a
rule enforced by a construct reports the same path. Import-light: no aws_cdk, no boto3 (the operations
command reads this file too).

``python -m constructs_lib.config --schema`` prints the JSON Schema for editors (also kept in
``config/platform.schema.json``).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator,
                      model_validator)

from .errors import ConfigError, check_email, check_emails, check_sagemaker_name, cut
from . import batch_rules, build_spec, edge_rules, monitoring_rules, smoke, stream_rules
from .component_rules import ACCELERATORS, COPIES, CPU_CORES, HOST_INSTANCES, MEMORY_MB
from .ops import gates
from .schedules import check_schedule
from .rollout import RolloutSpec, CapacitySize
from .variants import (PIPELINE_CONTAINERS, ALARM_PERIODS, CAPTURE_RETENTION_DAYS, CAPTURE_SAMPLING_PERCENT, ERROR_RATE_PERCENT,
                       EVALUATION_PERIODS, LATENCY_MS, LATENCY_STATISTIC, MIN_INVOCATIONS, SHADOW_SAMPLING_PERCENT,
                       TARGET_INVOCATIONS, ModelSource, ASYNC_CONCURRENCY, TARGET_BACKLOG)

APPROVED = "approved"
"""Model source meaning "the approved model version being released" (resolved by the pipeline)."""

_ACCOUNT_ID = r"^\d{12}$"
_REGION = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$"


class _Strict(BaseModel):
    """Base: unknown keys are errors (a typo must not be silently ignored); types are strict (a YAML ``true``
    is not the number 1, ``"10"`` is not 10, ``2.5`` is not a whole number) and numbers are finite (``.nan``
    and ``.inf`` are refused before they reach a template)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True, allow_inf_nan=False)


# --------------------------------------------------------------------------------------------- accounts
class AccountConfig(_Strict):
    """An AWS account and region a stage deploys to."""

    account_id: str = Field(pattern=_ACCOUNT_ID, description="12-digit AWS account id")
    region: str = Field(pattern=_REGION, description="AWS region, for example eu-west-1")


class Accounts(_Strict):
    """The three accounts: dev (registry, build, delivery pipeline), test and prod (endpoints)."""

    dev: AccountConfig
    test: AccountConfig
    prod: AccountConfig

    @model_validator(mode="after")
    def _distinct(self) -> "Accounts":
        if len({self.dev.account_id, self.test.account_id, self.prod.account_id}) < 3:
            raise ValueError("dev, test and prod must be three different account ids (account isolation is "
                             "what keeps an untested model out of prod)")
        return self


# --------------------------------------------------------------------------------------------- models
class PackageSource(_Strict):
    """A pinned, versioned model package from the registry."""

    model_package_arn: str = Field(
        description="Versioned model package ARN: arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION",
    )
    inference_pipeline: bool | None = Field(
        default=None, description="the package lists several containers (an inference pipeline); required for a "
        "version of a group whose build has inference_preprocessing (its versions may be of either kind), else "
        "default false")

    @field_validator("model_package_arn")
    @classmethod
    def _versioned(cls, value: str) -> str:
        try:  # the construct's own rule (and its reason for Marketplace packages)
            ModelSource.from_model_package(value)
        except ConfigError as error:
            raise ValueError(error.message) from None
        return value


class ImageSource(_Strict):
    """A container image with optional model data (bypasses the registry; for baselines and tests)."""

    image: str = Field(description="ECR image URI")
    model_data_url: str | None = Field(default=None, pattern=r"^s3://.+", description="s3:// URI of model.tar.gz")
    environment: dict[str, str] = Field(default_factory=dict)


class PipelineContainer(ImageSource):
    """One container of an inference pipeline."""

    hostname: str | None = Field(default=None, description="ContainerHostname (logs, metrics, direct invocation); "
                                 "default container-<position>")


class PipelineSource(_Strict):
    """An inference pipeline: 2-15 image containers on the same instances (``ModelSource.from_containers``)."""

    containers: list[PipelineContainer] = Field(json_schema_extra={"minItems": int(PIPELINE_CONTAINERS.low),
                                                                   "maxItems": int(PIPELINE_CONTAINERS.high)})
    mode: Literal["serial", "direct"] = Field(default="serial", description="serial: each container's response "
                                              "is the next one's request; direct: a request names its container "
                                              "(TargetContainerHostname)")


def _model_kind(value: Any) -> str:
    if isinstance(value, str):
        return "approved"
    if isinstance(value, dict):
        return "image" if "image" in value else "pipeline" if "containers" in value else "package"
    return {ImageSource: "image", PipelineSource: "pipeline"}.get(type(value), "package")


ModelRef = Annotated[
    Union[
        Annotated[Literal["approved"], Tag("approved")],
        Annotated[PackageSource, Tag("package")],
        Annotated[ImageSource, Tag("image")],
        Annotated[PipelineSource, Tag("pipeline")],
    ],
    Discriminator(_model_kind),
    Field(description="'approved' (the version being released), {model_package_arn}, {image, model_data_url}, "
                      "or {containers: [...], mode} (an inference pipeline)"),
]


#: One container's model (mode batch: a transform job runs no inference pipeline here).
SingleModelRef = Annotated[
    Union[
        Annotated[Literal["approved"], Tag("approved")],
        Annotated[PackageSource, Tag("package")],
        Annotated[ImageSource, Tag("image")],
    ],
    Discriminator(_model_kind),
    Field(description="'approved' (the version being released), {model_package_arn} or {image, model_data_url}"),
]


def stage_model_refs(stage: "StageConfig"):
    """(path below the stage, model reference) of every model a stage names."""
    for i, variant in enumerate(stage.variants or ()):
        yield f"variants[{i}].model", variant.model
    for key in ("shadow_variant", "component", "batch", "multi_model", "edge"):
        section = getattr(stage, key, None)
        if section is not None:
            yield f"{key}.model", section.model


#: S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit.
_BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


class AutoscalingConfig(_Strict):
    """Target tracking for one instance variant: on invocations per instance (real-time), or on queued requests
    per instance (async, which may scale to zero)."""

    min_capacity: int = Field(default=1, json_schema_extra={"minimum": 0},
                              description="at most the variant's initial_instance_count; 0 only in mode async")
    max_capacity: int = Field(json_schema_extra={"minimum": 1}, description="at least min_capacity and the "
                              "variant's initial_instance_count")
    target_invocations_per_instance: int | None = Field(
        default=None, json_schema_extra=TARGET_INVOCATIONS.schema(),
        description="real-time: the SageMakerVariantInvocationsPerInstance target (requests per instance a minute)")
    target_backlog_per_instance: float | None = Field(
        default=None, json_schema_extra=TARGET_BACKLOG.schema(),
        description="mode async: the ApproximateBacklogSizePerInstance target (queued requests per instance)")
    scale_in_cooldown: int = Field(default=300, ge=0, description="seconds")
    scale_out_cooldown: int = Field(default=60, ge=0, description="seconds")


class VariantConfig(_Strict):
    """A production variant: instance-based (instance_type) or serverless (serverless_memory_mb)."""

    name: str
    model: ModelRef = APPROVED
    weight: float = 1.0
    instance_type: str | None = Field(default=None, description="ml.* instance type; omit for serverless")
    initial_instance_count: int = 1
    volume_size_gb: int | None = None
    startup_health_check_timeout: int | None = Field(default=None, description="seconds")
    model_data_download_timeout: int | None = Field(default=None, description="seconds")
    serverless_memory_mb: int | None = Field(default=None, description="1024-6144 in steps of 1024")
    serverless_max_concurrency: int | None = None
    serverless_provisioned_concurrency: int | None = None
    autoscaling: AutoscalingConfig | None = None


class ShadowConfig(VariantConfig):
    """The shadow variant: receives a copy of ``sampling_percentage`` % of requests; its responses are dropped."""

    sampling_percentage: float = Field(default=100.0, json_schema_extra=SHADOW_SAMPLING_PERCENT.schema())


class DataCaptureConfig(_Strict):
    """Request/response capture to a KMS-encrypted, TLS-only bucket (created unless ``bucket_name`` given)."""

    sampling_percentage: int = Field(default=100, json_schema_extra=CAPTURE_SAMPLING_PERCENT.schema(),
                                     description="whole percent of requests captured")
    capture_mode: Literal["input", "output", "both"] = "both"
    csv_content_types: list[str] = Field(default_factory=lambda: ["text/csv"])
    json_content_types: list[str] = Field(default_factory=lambda: ["application/json"])
    bucket_name: str | None = Field(default=None, pattern=_BUCKET_NAME,
                                    description="existing bucket; default: one is created")
    prefix: str = "datacapture"
    retention_days: int = Field(default=90, json_schema_extra=CAPTURE_RETENTION_DAYS.schema(),
                                description="days captured data is kept in the created bucket; a given bucket "
                                "keeps its own rules")


class AsyncConfig(_Strict):
    """Mode async: requests queued and answered through S3, notifications on SNS (``AsyncInference``)."""

    max_concurrent_invocations_per_instance: int | None = Field(
        default=None, json_schema_extra=ASYNC_CONCURRENCY.schema(), description="default: SageMaker chooses")
    bucket_name: str | None = Field(default=None, pattern=_BUCKET_NAME,
                                    description="existing bucket; default: one is created")
    prefix: str = Field(default="async", description="input/, output/ and failure/ go under it")
    retention_days: int = Field(default=30, json_schema_extra=CAPTURE_RETENTION_DAYS.schema(),
                                description="days requests, results and failures are kept in the created bucket")
    include_response_in_notifications: bool = Field(
        default=False, description="the result or error (up to 128 KB) in the notification, not only its location")
    success_emails: "Emails" = Field(default_factory=list, description="subscribed to the success topic")
    error_emails: "Emails" = Field(default_factory=list, description="subscribed to the error topic")


class StreamingConfig(_Strict):
    """Mode streaming: records from a Kinesis stream through the endpoint to another (``StreamInference``)."""

    content_type: str = Field(default="application/json", description="ContentType of each record sent")
    accept: str = Field(default="application/json", description="the answer's type")
    batch_size: int = Field(default=10, json_schema_extra=stream_rules.BATCH_SIZE.schema(),
                            description="records per invocation of the consumer")
    max_batching_window: int = Field(default=0, json_schema_extra=stream_rules.BATCHING_WINDOW_SECONDS.schema(),
                                     description="seconds Lambda gathers records before invoking")
    parallelization_factor: int = Field(default=1, json_schema_extra=stream_rules.PARALLELIZATION.schema(),
                                        description="batches per shard at once (1: strict order per shard)")
    retry_attempts: int = Field(default=3, json_schema_extra=stream_rules.RETRY_ATTEMPTS.schema(),
                                description="retries of a failing batch before its records are set aside")
    max_record_age: int = Field(default=3600, json_schema_extra=stream_rules.RECORD_AGE_SECONDS.schema(),
                                description="seconds: older records are set aside unprocessed")
    timeout: int = Field(default=60, json_schema_extra=stream_rules.TIMEOUT_SECONDS.schema(),
                         description="seconds: the consumer's timeout (a batch's endpoint calls must fit)")
    shards: int = Field(default=1, json_schema_extra=stream_rules.SHARDS.schema(),
                        description="shards of each created stream")
    max_iterator_age: int = Field(default=300, json_schema_extra=stream_rules.ITERATOR_AGE_SECONDS.schema(),
                                  description="seconds behind the stream that raise the alarm")


class BatchConfig(_Strict):
    """Mode batch: the model scores whole files with batch transform, run by a SageMaker pipeline
    (``BatchInference``); no endpoint."""

    model: SingleModelRef = APPROVED
    instance_type: str = Field(description="the transform job's instances (ml.*)")
    instance_count: int = Field(default=1, json_schema_extra=batch_rules.INSTANCE_COUNT.schema())
    content_type: str = Field(default="text/csv", description="each input file's MIME type")
    accept: str = Field(default="text/csv", description="the results' MIME type")
    split_type: Literal["None", "Line", "RecordIO", "TFRecord"] = Field(
        default="Line", description="how input files are cut into records")
    strategy: Literal["MultiRecord", "SingleRecord"] = "MultiRecord"
    max_payload_mb: int = Field(default=6, json_schema_extra=batch_rules.MAX_PAYLOAD_MB.schema())
    schedule: str | None = Field(default=None, description="EventBridge schedule of runs over the whole input "
                                 "prefix: cron(...) or rate(...); default: runs are started by hand")
    bucket_name: str | None = Field(default=None, pattern=_BUCKET_NAME,
                                    description="existing bucket; default: one is created")
    prefix: str = Field(default="batch", description="input/ and output/ go under it")
    retention_days: int = Field(default=30, json_schema_extra=CAPTURE_RETENTION_DAYS.schema(),
                                description="days inputs and results are kept in the created bucket")
    failure_emails: "Emails" = Field(default_factory=list, description="told of every failed run (the execution "
                                     "that failed)")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_schedule("", value)
            except ConfigError as error:
                raise ValueError(error.message) from None
        return value


class DeploymentConfig(_Strict):
    """The deployment guardrail. ``type`` picks the policy; sizes are percent of a variant's capacity by
    default (``size_unit: instances`` for counts); times are seconds."""

    type: Literal["all_at_once", "canary", "linear", "rolling", "unguarded"] = Field(
        description="unguarded: no guardrail, only for the one release that changes the production variants")
    canary_size: int | None = None
    step_size: int | None = None
    batch_size: int | None = None
    rollback_batch_size: int | None = None
    size_unit: Literal["percent", "instances", "copies"] = Field(
        default="percent", description="copies: mode component's batches of copies (instances elsewhere)")
    wait: int = Field(default=0, description="seconds of baking after every traffic step or batch (canary, "
                      "linear, rolling), the last one included")
    bake_time: int = Field(default=0, description="all_at_once only: seconds of baking after the shift")
    termination_wait: int = Field(default=0, description="blue/green: seconds the old fleet is kept after the "
                                  "final baking period")
    max_execution_timeout: int | None = None

    @property
    def _unit(self) -> str:
        # A component's copies are counted as a variant's instances are (CapacitySize.copies).
        return "instances" if self.size_unit == "copies" else self.size_unit

    def to_spec(self) -> RolloutSpec:
        """The validated rollout spec (raises ConfigError with a ``deployment.*`` path)."""
        sizes = {"canary": self.canary_size, "linear": self.step_size, "rolling": self.batch_size}
        for strategy, field_name in (("canary", "canary_size"), ("linear", "step_size"), ("rolling", "batch_size")):
            if getattr(self, field_name) is not None and self.type != strategy:
                raise ConfigError(f"deployment.{field_name}", f"applies only to a {strategy} policy, "
                                  f"not {self.type}")
        size = sizes.get(self.type)
        return RolloutSpec(
            strategy=self.type,
            size=CapacitySize(self._unit, size) if size is not None else None,
            wait_seconds=self.wait,
            bake_seconds=self.bake_time,
            termination_wait_seconds=self.termination_wait,
            rollback_size=CapacitySize(self._unit, self.rollback_batch_size)
            if self.rollback_batch_size is not None else None,
            max_execution_timeout_seconds=self.max_execution_timeout,
        )


def _email(value: str) -> str:
    try:
        check_email("", value)
    except ConfigError as error:
        raise ValueError(error.message) from None
    return value


def _distinct(values: list[str]) -> list[str]:
    try:
        check_emails("", values)
    except ConfigError as error:
        raise ValueError(error.message) from None
    return values


#: A list of distinct e-mail addresses (``check_emails``).
Emails = Annotated[list[Annotated[str, AfterValidator(_email)]], AfterValidator(_distinct)]


class AlarmsConfig(_Strict):
    """Thresholds of the auto-rollback alarms created per production variant, on the new fleet only (see
    ``RollbackAlarms``): 5XX and model-error rates over Invocations, and model latency at a statistic."""

    # The rules are RollbackAlarms' (checked when the stage is built from this section); the schema shows them.
    max_5xx_error_rate_percent: float = Field(default=1.0, json_schema_extra=ERROR_RATE_PERCENT.schema())
    max_model_error_rate_percent: float = Field(default=1.0, json_schema_extra=ERROR_RATE_PERCENT.schema())
    max_model_latency_ms: float = Field(default=1000.0, json_schema_extra=LATENCY_MS.schema())
    latency_statistic: str = Field(default="p99", json_schema_extra={"pattern": f"^({LATENCY_STATISTIC})$"})
    min_invocations: int | None = Field(
        default=None, json_schema_extra=MIN_INVOCATIONS.schema(), description="smallest denominator of the error "
        "rates per period; default: the request count at which one failure equals the threshold (100 at 1 %)")
    period_seconds: int = Field(default=60, json_schema_extra={"enum": list(ALARM_PERIODS)})
    evaluation_periods: int = Field(default=3, json_schema_extra=EVALUATION_PERIODS.schema())
    datapoints_to_alarm: int = Field(default=2, json_schema_extra=EVALUATION_PERIODS.schema(),
                                     description="at most evaluation_periods")
    watch_whole_endpoint: bool = Field(
        default=False, description="also a 5XX-rate alarm per variant over both fleets: a failing old fleet then "
        "stops the deployment too")
    notification_emails: Emails = Field(
        default_factory=list, description="addresses subscribed to the stage's alarm topic (each confirms by "
        "email), told when a rollback alarm fires")


class VpcConfig(_Strict):
    """Subnets and security groups for the model containers."""

    subnet_ids: list[str] = Field(min_length=1)
    security_group_ids: list[str] = Field(min_length=1)


#: A folder below another: names that do not start with a dot (so no '..'), separated by '/'.
_FOLDER = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$"


class ChecksConfig(_Strict):
    """Post-deploy checks of a stage: smoke (sample payloads succeed) and latency (p95 over N calls)."""

    # The rules are SmokeTest's (checked when the stage's pipeline is built); the schema shows them.
    invocations: int = Field(default=20, json_schema_extra=smoke.INVOCATIONS.schema())
    latency_p95_ms: int = Field(default=1000, json_schema_extra=smoke.LATENCY_P95_MS.schema(),
                                description="whole milliseconds")
    content_type: str | None = Field(default=None, description="default: from each payload file's extension")
    payloads: str = Field(default="sample_payloads", json_schema_extra={"pattern": _FOLDER}, description="folder of "
                          "the sample request bodies, relative to the model folder (each file is one request)")

    @field_validator("payloads")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not re.fullmatch(_FOLDER, value):
            raise ValueError("must be a folder inside the model folder (names separated by '/', none starting "
                             f"with '.'), got {cut(value)}")
        return value
    stream: bool = Field(default=False, description="the endpoint streams its responses: the smoke check calls "
                         "InvokeEndpointWithResponseStream and reads each stream to its end")


class ShadowPhaseConfig(_Strict):
    """The release's shadow phase: the approved version as a shadow of the unchanged production variant (0 % of
    answers), judged by the shadow gate (``ops.gates.ShadowGate``; the defaults are its cautious ones)."""

    variant_name: str = "shadow"
    sampling_percentage: int = Field(default=100, ge=1, le=100, description="percent of requests copied to the "
                                     "shadow (whole percent)")
    instance_count: int | None = Field(default=None, ge=1, description="default: the production variant's "
                                       "initial_instance_count")
    # The gate's rules are ShadowGate's (checked when the stage is checked); the schema shows them.
    min_duration: int = Field(default=3600, json_schema_extra=gates.DURATION_SECONDS.schema(),
                              description="seconds the phase runs at least")
    min_requests: int = Field(default=1000, json_schema_extra=gates.SAMPLES.schema(),
                              description="shadow requests needed before the gate decides")
    max_latency_increase_percent: float = Field(default=10.0, json_schema_extra=gates.LATENCY_INCREASE_PCT.schema(),
                                                description="at p50 and at p99")
    max_error_rate_increase_points: float = Field(default=0.5, json_schema_extra=gates.ERROR_INCREASE_POINTS.schema(),
                                                  description="5XX and model errors, percentage points above "
                                                  "production's")
    deadline: int = Field(default=86400, ge=60, description="seconds: a phase still short of data then fails")
    min_agreement_percent: float | None = Field(
        default=None, json_schema_extra=gates.AGREEMENT_PCT.schema(), description="prediction agreement from data "
        "capture: at least this share of "
        "paired predictions agree within agreement_tolerance (needs data_capture of outputs); default: not checked")
    agreement_tolerance: float = Field(default=1e-6, json_schema_extra=gates.AGREEMENT_TOLERANCE.schema(),
                                       description="largest difference of two numeric "
                                       "predictions that still agree (other predictions must be equal)")
    min_agreement_pairs: int = Field(default=100, json_schema_extra=gates.SAMPLES.schema(),
                                     description="paired predictions needed before agreement "
                                     "is judged")


class ABPhaseConfig(_Strict):
    """The release's A/B phase: the approved version as a challenger on ``weight`` % of requests, judged on a
    business metric the application publishes per variant (``mlops ab-report``'s statistics)."""

    variant_name: str = "challenger"
    weight: int = Field(default=10, ge=1, le=50, description="percent of requests the challenger answers")
    instance_count: int | None = Field(default=None, ge=1, description="default: the production variant's "
                                       "initial_instance_count")
    metric: str = Field(pattern=r"^[^/\s].*/[^/\s]+$", description="NAMESPACE/NAME of the business metric, "
                        "published with the dimensions EndpointName and VariantName")
    kind: Literal["rate", "mean"] = Field(description="rate: the metric's Sum counts successes among the "
                                          "variant's invocations; mean: one value per observation")
    decision: Literal["non_inferiority", "superiority"] = "non_inferiority"
    # The gate's rules are ABGate's (checked when the stage is checked); the schema shows them.
    margin: float = Field(default=0.01, json_schema_extra=gates.MARGIN.schema(),
                          description="non-inferiority margin in the metric's unit")
    lower_is_better: bool = False
    min_duration: int = Field(default=86400, json_schema_extra=gates.DURATION_SECONDS.schema(),
                              description="seconds the phase runs at least")
    min_samples: int = Field(default=1000, json_schema_extra=gates.SAMPLES.schema(),
                             description="the planned sample per variant")
    deadline: int = Field(default=6 * 86400, ge=60, description="seconds: a phase still short of data then fails "
                          "(at most 6.5 days: CodePipeline's Step Functions action times out after 7)")


class ReleaseConfig(_Strict):
    """A progressive release in this stage: the approved version goes through the phases given (shadow, then
    A/B), each judged by its gate, before the guarded rollout (``deployment``) replaces the production model."""

    shadow: ShadowPhaseConfig | None = None
    ab: ABPhaseConfig | None = None
    poll_interval: int = Field(default=300, ge=60, le=3600, description="seconds between two looks at a gate")

    @model_validator(mode="after")
    def _phases(self) -> "ReleaseConfig":
        if self.shadow is None and self.ab is None:
            raise ValueError("needs at least one phase (shadow, ab), got none")
        return self


def target_parameter_name(config: "PlatformConfig", model_name: str, stage_name: str) -> str:
    """``/<project>/<model>/<stage>/target-model``: the SSM parameter naming a multi-model target's TargetModel
    (what callers send)."""
    return f"/{config.project}/{model_name}/{stage_name}/target-model"


def _named(entries: list, name: str, path: str, key: str):
    """The entry of ``entries`` (a hosts list, the file's ``key``) called ``name``."""
    for entry in entries:
        if entry.name == name:
            return entry
    raise ConfigError(path, f"must name an entry of {key} ({', '.join(e.name for e in entries) or 'there are none'}), "
                      f"got {name!r}")


def _stack_name(value: str, what: str) -> str:
    """A model's or a host's name: SageMaker-safe, at most 40 characters, starting with a letter (it names CDK
    stages and stacks, which must)."""
    try:
        check_sagemaker_name("", value, max_length=40)
    except ConfigError as error:
        raise ValueError(error.message) from None
    if not value[0].isalpha():
        raise ValueError(f"must start with a letter (it names the {what}'s stacks), got {value!r}")
    return value


class CopyScalingConfig(_Strict):
    """Target tracking of an inference component's copies."""

    min_copies: int = Field(default=1, json_schema_extra=COPIES.schema())
    max_copies: int = Field(json_schema_extra=COPIES.schema())
    target_invocations_per_copy: int = Field(json_schema_extra={"minimum": 1},
                                             description="requests per copy per minute to keep")
    scale_in_cooldown: int = Field(default=300, ge=0, description="seconds")
    scale_out_cooldown: int = Field(default=60, ge=0, description="seconds")


class ComponentConfig(_Strict):
    """Mode component: the model as an inference component on a shared host (``component_hosts``)."""

    host: str = Field(description="the name of an entry of component_hosts")
    model: SingleModelRef = APPROVED
    copies: int = Field(default=2, json_schema_extra=COPIES.schema(), description="copies at release time "
                        "(default 2: a rolling update's batch is 5-50% of the copies)")
    memory_mb: int = Field(json_schema_extra=MEMORY_MB.schema(), description="memory reserved per copy (MiB)")
    max_memory_mb: int | None = Field(default=None, json_schema_extra=MEMORY_MB.schema())
    cpu_cores: float | None = Field(default=None, json_schema_extra=CPU_CORES.schema(),
                                    description="CPU cores reserved per copy")
    accelerators: int | None = Field(default=None, json_schema_extra=ACCELERATORS.schema(),
                                     description="GPUs or Neuron devices per copy")
    autoscaling: CopyScalingConfig | None = None


class HostStageConfig(_Strict):
    """A component host's instances in one stage."""

    instance_type: str = Field(description="ml.* real-time hosting type")
    instance_count: int = Field(default=1, json_schema_extra=HOST_INSTANCES.schema())
    max_instance_count: int | None = Field(
        default=None, json_schema_extra=HOST_INSTANCES.schema(),
        description="with it, SageMaker adds instances when copies do not fit (managed instance scaling)")
    min_instance_count: int | None = Field(default=None, json_schema_extra=HOST_INSTANCES.schema(),
                                           description="managed scaling's floor; default instance_count")
    routing: Literal["least_outstanding_requests", "random"] = "least_outstanding_requests"


class ComponentHostConfig(_Strict):
    """An endpoint whose instances several models' inference components share (mode component)."""

    name: str = Field(description="SageMaker-safe; the endpoint is <name>-<stage>")
    test: HostStageConfig
    prod: HostStageConfig
    network_isolation: bool = Field(default=True, description="no network access for any model container on "
                                    "the endpoint (SageMaker's EnableNetworkIsolation)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _stack_name(value, "host")

    def endpoint_name(self, stage_name: str) -> str:
        return f"{self.name}-{stage_name}"


class MultiModelHostStageConfig(_Strict):
    """A multi-model host's instances in one stage."""

    instance_type: str = Field(description="ml.* type: any CPU type, or a GPU type of SageMaker's Triton container")
    instance_count: int = Field(default=1, json_schema_extra=HOST_INSTANCES.schema())


class MultiModelHostConfig(_Strict):
    """A multi-model endpoint whose models are several model projects (mode multi_model)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$", description="lower case (it names the models' bucket); "
                      "the endpoint is <name>-<stage>")
    image: str = Field(description="a multi-model capable container image URI (for the example's XGBoost "
                       "models, SageMaker's XGBoost image)")
    cache: bool = Field(default=True, description="keep loaded models on the instances")
    network_isolation: bool = True
    test: MultiModelHostStageConfig
    prod: MultiModelHostStageConfig

    #: Where the models live in the bucket. Fixed: moving it would move every model of the host at once.
    prefix: ClassVar[str] = "models"

    def endpoint_name(self, stage_name: str) -> str:
        return f"{self.name}-{stage_name}"

    def bucket_name(self, project: str, account: "AccountConfig") -> str:
        """The models' bucket, named so that each model's stack can compute it."""
        return f"{project}-{self.name}-models-{account.account_id}-{account.region}"


class MultiModelTargetConfig(_Strict):
    """Mode multi_model: the model as one of the models of a multi-model host (``multi_model_hosts``)."""

    host: str = Field(description="the name of an entry of multi_model_hosts")
    model: Literal["approved"] | PackageSource = Field(default=APPROVED, description="approved, or a pinned "
                                                       "{model_package_arn} (its one container's artifact is served)")


class EdgeRolloutConfig(_Strict):
    """Mode edge: how fast a version reaches the thing group's devices (``EdgeRollout``)."""

    # The rules are EdgeRollout's (checked with the stage); the schema shows the limits.
    base_rate_per_minute: int = Field(default=2, json_schema_extra=edge_rules.RATE_PER_MINUTE.schema(),
                                      description="devices notified per minute at first")
    increment_factor: float = Field(default=2.0, json_schema_extra=edge_rules.INCREMENT_FACTOR.schema(),
                                    description="what the rate is multiplied by at each step (one decimal)")
    rate_increase_after: int = Field(default=10, json_schema_extra=edge_rules.DEVICES.schema(),
                                     description="devices that must succeed (or be notified) before each increase")
    count: Literal["succeeded", "notified"] = Field(default="succeeded", description="succeeded: a version that "
                                                    "fails everywhere never speeds up")
    maximum_per_minute: int = Field(default=100, json_schema_extra=edge_rules.RATE_PER_MINUTE.schema())

    def to_rollout(self) -> "edge_rules.EdgeRollout":
        return edge_rules.EdgeRollout(**self.model_dump())


class EdgeAbortConfig(_Strict):
    """Mode edge: when the rollout is cancelled (``EdgeAbort``)."""

    threshold_percent: float = Field(default=10.0, json_schema_extra=edge_rules.THRESHOLD_PERCENT.schema(),
                                     description="failure share of the finished devices that cancels the rollout")
    min_executed: int = Field(default=10, json_schema_extra=edge_rules.DEVICES.schema(),
                              description="devices that must have finished before the share is judged")
    failure_types: list[Literal["FAILED", "REJECTED", "TIMED_OUT", "ALL"]] = Field(default_factory=lambda: ["ALL"])

    def to_abort(self) -> "edge_rules.EdgeAbort":
        return edge_rules.EdgeAbort(self.threshold_percent, self.min_executed, tuple(self.failure_types))


class EdgeVerifyConfig(_Strict):
    """Mode edge: when the delivery pipeline calls the stage's release good (``EdgeGate``)."""

    wait_minutes: int = Field(default=30, json_schema_extra=edge_rules.WAIT_MINUTES.schema(),
                              description="how long the pipeline watches the devices (the check role's session "
                              "lasts an hour, with a margin)")
    min_succeeded_devices: int | None = Field(default=None, json_schema_extra=edge_rules.DEVICES.schema(),
                                              description="devices that must succeed; default every device the "
                                              "deployment targets (offline devices stay queued: then give a number)")
    max_failed_percent: float = Field(default=0.0, json_schema_extra=edge_rules.FAILED_PERCENT.schema(),
                                      description="share of the finished devices allowed to fail (judged once "
                                      "abort.min_executed devices finished, or all of them)")


#: The role the Greengrass nucleus installer makes for a core device (``--provision true``).
DEFAULT_DEVICE_ROLE = "GreengrassV2TokenExchangeRole"


class EdgeStageConfig(_Strict):
    """Mode edge: the model on a thing group's AWS IoT Greengrass v2 core devices, compiled by SageMaker Neo in
    the build (``build.edge``)."""

    thing_group: str = Field(pattern=f"^{edge_rules.THING_GROUP.pattern}$", description="the stage's devices (an IoT thing "
                             "group in the stage's account and region)")
    device_role: str = Field(default=DEFAULT_DEVICE_ROLE, pattern=r"^[\w+=,.@-]{1,64}$",
                             description="the devices' token exchange role (a name in the stage's account): it may "
                             "read this model's artifacts and nothing else of the stack's")
    component_name: str | None = Field(default=None, description="the Greengrass component; default "
                                       "<project>.<model>")
    components: dict[str, str] = Field(default_factory=dict, description="every other component the group runs "
                                       "({name: version}, AWS's too): a deployment replaces the group's previous "
                                       "one, and devices remove what it leaves out")
    runtime: dict[str, str] = Field(default_factory=lambda: dict(edge_rules.DLR_RUNTIME), description="components "
                                    "the model needs ({name: version requirement}); default AWS's DLR runtime "
                                    "(variant.DLR ~1.6.0); {} when the devices' own application runs the model")
    model: Literal["approved"] | PackageSource = Field(default=APPROVED, description="approved, or a pinned "
                                                       "{model_package_arn} built with build.edge")
    rollout: EdgeRolloutConfig = Field(default_factory=EdgeRolloutConfig)
    abort: EdgeAbortConfig = Field(default_factory=EdgeAbortConfig)
    in_progress_timeout_minutes: int = Field(default=60, json_schema_extra=edge_rules.IN_PROGRESS_MINUTES.schema(),
                                             description="how long a device may take once it started")
    verify: EdgeVerifyConfig = Field(default_factory=EdgeVerifyConfig)
    devices: int | None = Field(default=None, json_schema_extra=edge_rules.DEVICES.schema(),
                                description="the fleet's size, for mlops plan's waves (nothing is deployed from it)")

    def component(self, project: str, model_name: str) -> str:
        return self.component_name or f"{project}.{model_name}"

    def gate(self) -> "edge_rules.EdgeGate":
        """The delivery pipeline's gate (``verify``), judging failures on the abort's sample size."""
        return edge_rules.EdgeGate(**self.verify.model_dump(), min_executed=self.abort.min_executed)


class QualityConfig(_Strict):
    """The model's quality against ground truth (``ModelQualityCheck``): the predictions of a window
    ``label_delay_hours`` back against the 0/1 labels the application wrote under the stack's
    ``GroundTruthLocation``, each request named by the ``InferenceId`` its caller gave."""

    metric: Literal["accuracy", "precision", "recall", "f1", "auc"] | None = Field(
        default=None, description="the build's evaluation metric to judge (a probability of 0.5 or more is the "
        "positive class); default build.metric")
    threshold: float | None = Field(default=None, json_schema_extra=monitoring_rules.QUALITY_THRESHOLD.schema(),
                                    description="the metric's lowest acceptable value, above 0; default build.threshold "
                                    "(when metric is build.metric)")
    label_delay_hours: int = Field(default=24, json_schema_extra=monitoring_rules.LABEL_DELAY_HOURS.schema(),
                                   description="how long after a request its label may arrive: each run judges "
                                   "the window this long before its own")
    min_labels: int = Field(default=200, json_schema_extra=monitoring_rules.MIN_LABELS.schema(),
                            description="labelled rows a window needs before it is judged")

    def settings(self, build: "BuildConfig", *, window_minutes: int, retention_days: int | None) -> dict:
        """The check's settings, the build's metric and threshold for those not given; checked."""
        metric = self.metric if self.metric is not None else build.metric
        if self.metric is None and metric not in monitoring_rules.QUALITY_METRICS:
            raise ConfigError("metric", "must be given: its default, build.metric, must be one of "
                              f"{', '.join(monitoring_rules.QUALITY_METRICS)}, got {cut(metric)}")
        if self.threshold is None and metric != build.metric:
            raise ConfigError("threshold", f"must be given for metric {metric}: its default, build.threshold, is "
                              f"the bar of build.metric ({build.metric}), got none")
        threshold = self.threshold if self.threshold is not None else build.threshold
        monitoring_rules.check_quality(metric, threshold, self.label_delay_hours, self.min_labels,
                                       window_minutes=window_minutes, retention_days=retention_days)
        return {"metric": metric, "threshold": threshold, "label_delay_hours": self.label_delay_hours,
                "min_labels": self.min_labels}


class MonitoringConfig(_Strict):
    """The drift check (``DriftMonitor``): the endpoint's captured requests against the released version's
    drift baseline, once per window; with ``quality``, the model's predictions against ground-truth labels."""

    # The rules are DriftMonitor's (checked with the stage); the schema shows the limits.
    window_minutes: int = Field(default=60, json_schema_extra=monitoring_rules.WINDOW_MINUTES.schema(),
                                description="the requests each run reads (and how often it runs)")
    min_records: int = Field(default=500, json_schema_extra=monitoring_rules.MIN_RECORDS.schema(),
                             description="captured rows a window needs before it is judged (below 500, the PSI "
                             "of unchanged data crosses 0.2 by chance too often)")
    evaluation_periods: int = Field(default=2, json_schema_extra=monitoring_rules.PERIODS.schema(),
                                    description="runs the drift alarm looks at")
    datapoints_to_alarm: int = Field(default=2, json_schema_extra=monitoring_rules.PERIODS.schema(),
                                     description="runs among them with a drifted feature (or, with quality, the "
                                     "metric below its threshold) that raise it")
    quality: QualityConfig | None = Field(default=None, description="also judge the predictions against the "
                                          "labels the application writes (needs data_capture.capture_mode both)")

    def quality_settings(self, stage: "StageConfig", build: "BuildConfig") -> dict | None:
        """``quality``'s settings for ``stage`` (checked; errors name ``quality``), None without it."""
        if self.quality is None:
            return None
        capture = stage.data_capture
        if stage.mode == "streaming":
            raise ConfigError("quality", "needs mode realtime: mode streaming's consumer invokes the endpoint "
                              "without an InferenceId, so labels have nothing to name their request by, got mode "
                              "streaming")
        if capture is None or capture.capture_mode != "both":
            raise ConfigError("quality", "needs the predictions captured with the requests (data_capture."
                              "capture_mode both), got " + ("no data_capture" if capture is None
                                                            else capture.capture_mode))
        try:
            return self.quality.settings(build, window_minutes=self.window_minutes,
                                         retention_days=None if capture.bucket_name else capture.retention_days)
        except ConfigError as error:
            raise error.under("quality") from None


class StageConfig(_Strict):
    """One model's endpoint in one stage (test or prod)."""

    endpoint_name: str | None = Field(default=None, description="default: <model name>-<stage>")
    mode: Literal["realtime", "serverless", "async", "streaming", "batch", "component", "multi_model",
                  "edge"] | None = Field(
        default=None, description="how the stage serves: realtime (instances), serverless (serverless_memory_mb "
        "variants), async (queued through S3, one instance variant), streaming (a real-time endpoint fed from "
        "a Kinesis stream, predictions to another), batch (whole files, no endpoint: the batch section) or "
        "component (an inference component on a shared host: the component section) or multi_model (one model "
        "of a multi-model host: the multi_model section) or edge (Greengrass devices: the edge section); "
        "default: serverless when the variants are, else realtime")
    async_inference: AsyncConfig | None = Field(default=None, description="mode async's settings (defaults when "
                                                "left out)")
    streaming: StreamingConfig | None = Field(default=None, description="mode streaming's settings (defaults "
                                              "when left out)")
    batch: BatchConfig | None = Field(default=None, description="mode batch's settings (required in it)")
    component: ComponentConfig | None = Field(default=None, description="mode component's settings (required "
                                              "in it)")
    multi_model: MultiModelTargetConfig | None = Field(default=None, description="mode multi_model's settings "
                                                       "(required in it)")
    edge: EdgeStageConfig | None = Field(default=None, description="mode edge's settings (required in it)")
    variants: list[VariantConfig] = Field(default_factory=list, description="1-10 production variants (every "
                                          "mode but batch)")
    shadow_variant: ShadowConfig | None = None
    data_capture: DataCaptureConfig | None = None
    monitoring: MonitoringConfig | None = Field(default=None, description="a drift check of the captured "
                                                "requests against the released version's baseline, with alarms "
                                                "(modes realtime and streaming; needs data_capture of the input)")
    deployment: DeploymentConfig | None = Field(default=None, description="the endpoint's guardrail (every mode "
                                                "but batch)")
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    network_isolation: bool | None = Field(default=None, description="no network access for the model "
                                           "containers; default true, false in mode serverless (which refuses it)")
    dashboard: bool = Field(default=True, description="a CloudWatch dashboard for the endpoint (traffic, latency, "
                            "error rates per variant and shadow, rollback alarms), named after it; ~3 USD a month "
                            "each beyond the account's free three")
    vpc: VpcConfig | None = None
    checks: ChecksConfig | None = None
    release: ReleaseConfig | None = Field(default=None, description="prod only: shadow and/or A/B phases, each "
                                          "gated, before the guarded rollout")


def _test_stage() -> StageConfig:
    return StageConfig(
        variants=[VariantConfig(name="main", instance_type="ml.m5.large")],
        deployment=DeploymentConfig(type="all_at_once", bake_time=300),
        checks=ChecksConfig(),
    )


def _prod_stage() -> StageConfig:
    return StageConfig(
        variants=[VariantConfig(name="main", instance_type="ml.m5.large", initial_instance_count=2)],
        deployment=DeploymentConfig(type="canary", canary_size=10, wait=600),
        data_capture=DataCaptureConfig(sampling_percentage=20),
    )


class Stages(_Strict):
    """The endpoint stages. Defaults: test = one ml.m5.large, all-at-once; prod = two instances, canary 10%."""

    test: StageConfig = Field(default_factory=_test_stage)
    prod: StageConfig = Field(default_factory=_prod_stage)


class RegistryConfig(_Strict):
    """The model package group in the dev account, shared with test and prod."""

    group_name: str | None = Field(default=None, description="default: <project>-<model name> (a retained "
                                   "group's name must not collide with another platform's)")
    description: str = ""

    @field_validator("group_name")
    @classmethod
    def _group_name(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_sagemaker_name("", value, max_length=63)
            except ConfigError as error:
                raise ValueError(error.message) from None
        return value


class EdgeBuildConfig(_Strict):
    """Compile each version with SageMaker Neo for a device or a platform (``EdgeTarget``)."""

    # The rules are EdgeTarget's (checked with the build); the schema shows the choices.
    device: str | None = Field(default=None, json_schema_extra={"enum": list(edge_rules.EDGE_DEVICES)},
                               description="a Neo target device (rasp4b, jetson_nano...); or os and arch")
    os: Literal["LINUX", "ANDROID"] | None = None
    arch: Literal["X86_64", "X86", "ARM64", "ARM_EABI", "ARM_EABIHF"] | None = None
    accelerator: Literal["INTEL_GRAPHICS", "MALI", "NVIDIA", "NNA"] | None = None
    compiler_options: str | None = Field(default=None, description="Neo's compiler options as JSON text "
                                         "(required for NVIDIA)")

    def target(self) -> "edge_rules.EdgeTarget":
        return edge_rules.EdgeTarget(**self.model_dump())


class RetrainOnDriftConfig(_Strict):
    """Retraining when prod's drift alarm fires (``DriftRetraining``): the build starts, at most once per
    interval."""

    min_interval_hours: int = Field(default=24, json_schema_extra=monitoring_rules.RETRAIN_INTERVAL_HOURS.schema(),
                                      description="hours between two retrainings on drift, at least (the alarm "
                                      "stays in ALARM until the data or the model changes)")


def retraining_alarm_names(model: "ModelConfig", stage_name: str) -> list[str]:
    """The alarms of a model's stage endpoint that call for retraining (``DriftMonitor``'s
    ``<endpoint>-data-drift``, and ``<endpoint>-model-quality`` with a quality check)."""
    stage = getattr(model.stages, stage_name)
    endpoint = stage.endpoint_name or f"{model.name}-{stage_name}"
    return [f"{endpoint}-data-drift"] + ([f"{endpoint}-model-quality"] if stage.monitoring.quality else [])


class BuildConfig(_Strict):
    """The SageMaker model-build pipeline (dev account)."""

    # The build rules are ModelBuildPipeline's (build_spec, checked by PlatformConfig.check); the schema shows them.
    approval: Literal["manual", "automatic"] = "manual"
    schedule: str | None = Field(default=None, description="EventBridge schedule: cron(...) or rate(...)")
    input_data: str | None = Field(
        default=None, json_schema_extra={"pattern": f"^{build_spec.INPUT_DATA}$"}, description="s3:// URI of the raw data, in the "
        "dev account's region (processing jobs read S3 in their own region); default: AWS's synthetic churn sample "
        "there")

    def input_data_in(self, region: str) -> str:
        """``input_data``, or AWS's synthetic churn sample in ``region`` (the example bucket is regional)."""
        return self.input_data or f"s3://sagemaker-example-files-prod-{region}/datasets/tabular/synthetic/churn.txt"
    metric: str = Field(default="accuracy", json_schema_extra={"pattern": f"^{build_spec.METRIC}$"},
                        description="evaluation report metric the condition step compares")
    threshold: float = Field(default=0.7, json_schema_extra=build_spec.THRESHOLD.schema())
    processing_instance_type: str = Field(default="ml.m5.large",
                                          json_schema_extra={"pattern": f"^{build_spec.INSTANCE_TYPE}$"},
                                          description="a CPU type (the scikit-learn image has no GPU build)")
    training_instance_type: str = Field(default="ml.m5.large",
                                        json_schema_extra={"pattern": f"^{build_spec.INSTANCE_TYPE}$"})
    inference_instance_types: list[str] = Field(default_factory=lambda: ["ml.m5.large"],
                                                description="SageMaker real-time inference instance types")
    edge: EdgeBuildConfig | None = Field(default=None, description="compile each version with SageMaker Neo for "
                                         "an edge device or platform and register the compiled artifact with it "
                                         "(the model trains with XGBoost 1.3-1, the newest Neo documents)")
    retrain_on_drift: RetrainOnDriftConfig | None = Field(
        default=None, description="start the build when prod's drift alarm fires (stages.prod.monitoring), across "
        "accounts, at most once per min_interval_hours; the version goes through approval and release as any other")
    inference_preprocessing: bool = Field(
        default=False, description="register each version as an inference pipeline: preprocess.py serves in a "
        "scikit-learn container before the model, so callers send raw records (text/csv rows of the raw columns, "
        "or application/json records); not in modes serverless (serverless variants), async, component or "
        "multi_model")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_schedule("", value)
            except ConfigError as error:
                raise ValueError(error.message) from None
        return value


class ModelConfig(_Strict):
    """One model project."""

    name: str = Field(description="model name: SageMaker-safe, at most 40 characters")
    project_dir: str | None = Field(default=None, description="model folder (scripts, sample payloads); "
                                    "default: models/<name>")
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    build: BuildConfig = Field(default_factory=BuildConfig)
    stages: Stages = Field(default_factory=Stages)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _stack_name(value, "model")

    @property
    def group_name(self) -> str:
        """The model package group: ``registry.group_name`` (``PlatformConfig`` fills in
        ``<project>-<model>`` when the file leaves it out)."""
        return self.registry.group_name or self.name

    @property
    def folder(self) -> str:
        return self.project_dir or f"models/{self.name}"


# --------------------------------------------------------------------------------------------- pipeline
class CodeConnectionsSource(_Strict):
    """A GitHub/GitLab/Bitbucket repository through an AWS CodeConnections connection."""

    type: Literal["codeconnections"]
    connection_arn: str = Field(pattern=r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):.+")
    repository: str = Field(pattern=r"^[^/\s]+/[^/\s]+$", description="owner/name")
    branch: str = "main"


class CodeCommitSource(_Strict):
    """A CodeCommit repository in the dev account."""

    type: Literal["codecommit"]
    repository: str
    branch: str = "main"


class S3Source(_Strict):
    """A zipped copy of this repository in a versioned S3 bucket."""

    type: Literal["s3"]
    bucket_name: str
    object_key: str = "source.zip"


Source = Annotated[Union[CodeConnectionsSource, CodeCommitSource, S3Source], Field(discriminator="type")]


class PipelineConfig(_Strict):
    """The delivery pipeline (CDK Pipelines) in the dev account."""

    source: Source
    second_approver_group: str | None = Field(
        default=None, description="IAM group whose members must also approve before prod (two approvals)")
    notification_emails: Emails = Field(default_factory=list)


class PlatformConfig(_Strict):
    """The whole config file."""

    project: str = Field(default="mlops", pattern=r"^[a-z][a-z0-9-]{1,19}$",
                         description="prefix for stack and resource names")
    accounts: Accounts
    pipeline: PipelineConfig
    models: list[ModelConfig] = Field(min_length=1)
    component_hosts: list[ComponentHostConfig] = Field(
        default_factory=list, description="endpoints shared by inference components (mode component)")
    multi_model_hosts: list[MultiModelHostConfig] = Field(
        default_factory=list, description="multi-model endpoints whose models are model projects (mode multi_model)")

    @model_validator(mode="after")
    def _unique_names(self) -> "PlatformConfig":
        seen: set[str] = set()
        for model in self.models:
            if model.name in seen:
                raise ValueError(f"model names must be unique, got {model.name!r} twice")
            seen.add(model.name)
        # Registry groups are retained when a stack goes, and group names are per account and region: the
        # default name carries the project prefix so that two platforms in one dev account cannot collide on a
        # model's name. (A group launched from the Studio product gets the same name on purpose; adopting it
        # in the dev stack is an open gap: the dev stack would try to create it again.)
        object.__setattr__(self, "models", [
            m if m.registry.group_name else m.model_copy(update={"registry": m.registry.model_copy(
                update={"group_name": f"{self.project}-{m.name}"})}) for m in self.models])
        return self

    def _check_multi_model_hosts(self, component_hosts: dict[str, int]) -> None:
        """Each multi-model host: a unique name (among component hosts too: both name ``<host>-<stage>``
        endpoints and stacks), a bucket name S3 takes, and the rules its endpoint gets from ``ModelEndpoint``."""
        from .rollout import RolloutSpec
        from .variants import ModelSource, ProductionVariant, RollbackAlarms, validate_endpoint

        seen: dict[str, int] = {}
        for i, host in enumerate(self.multi_model_hosts):
            path = f"multi_model_hosts[{i}]"
            if host.name in seen or host.name in component_hosts:
                other = (f"multi_model_hosts[{seen[host.name]}]" if host.name in seen
                         else f"component_hosts[{component_hosts[host.name]}]")
                raise ConfigError(f"{path}.name", f"must be unique among the hosts; {other} uses it too, got "
                                  f"{host.name!r}")
            seen[host.name] = i
            for stage_name in ("test", "prod"):
                region = getattr(self.accounts, stage_name).region
                ecr = re.match(r"^\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com", host.image)
                if ecr and ecr.group(1) != region:
                    raise ConfigError(f"{path}.image", f"must be in the {stage_name} stage's region ({region}: "
                                      "SageMaker pulls a model's image from its own region; one image serves both "
                                      f"stages), got one in {ecr.group(1)}")
                bucket = host.bucket_name(self.project, getattr(self.accounts, stage_name))
                if len(bucket) > 63:
                    raise ConfigError(f"{path}.name", f"is too long for its models' bucket name ({bucket!r} is "
                                      f"{len(bucket)} characters, S3 allows 63): shorten the host or project name")
                settings = getattr(host, stage_name)
                try:
                    source = ModelSource.multi_model(host.image, f"s3://{bucket}/{host.prefix}/", cache=host.cache)
                    validate_endpoint(host.endpoint_name(stage_name), [ProductionVariant(
                        "main", source, instance_type=settings.instance_type,
                        initial_instance_count=settings.instance_count)], None, None,
                        RolloutSpec("all_at_once", bake_seconds=600), RollbackAlarms(),
                        network_isolation=host.network_isolation)
                except ConfigError as error:
                    # The endpoint's variant is the host stage's settings.
                    key = error.path.removeprefix("variants[0].").replace("initial_instance_count", "instance_count")
                    raise ConfigError(f"{path}.{stage_name}.{key}" if key else f"{path}.{stage_name}",
                                      error.message) from None

    def _check_multi_model_target(self, model: "ModelConfig", stage: StageConfig) -> None:
        """A multi_model stage: its host exists; the model's name is a key prefix (lower case); a pinned version
        is one of the model's own (``_check_own_version``)."""
        settings = stage.multi_model
        self.multi_model_host(settings.host)
        if not re.match(r"^[a-z0-9][a-z0-9-]*$", model.name):
            raise ConfigError("mode", "multi_model needs a lower-case model name (it names the model's folder on "
                              f"the host, the start of every TargetModel), got {model.name!r}")
        self._check_own_version(model, settings.model, "multi_model.model", "the artifact on the host")

    def _check_own_version(self, model: "ModelConfig", ref, path: str, named: str) -> None:
        """A pinned version is one of the model's own: the release reads only its registry group, and the
        version number names what the release makes (``named``)."""
        if isinstance(ref, PackageSource):
            dev = self.accounts.dev
            expected = f"arn:aws:sagemaker:{dev.region}:{dev.account_id}:model-package/{model.group_name}/"
            if not re.match(re.escape(expected).replace("aws", "aws[a-z-]*", 1) + r"\d+$", ref.model_package_arn):
                raise ConfigError(f"{path}.model_package_arn", f"must be a version of this model's group "
                                  f"({expected}<version>): the release may read only it, and the version number "
                                  f"names {named}, got {cut(ref.model_package_arn)}")

    def _check_edge_target(self, model: "ModelConfig", stage: StageConfig, stage_name: str,
                           groups: dict[tuple[str, ...], str]) -> None:
        """An edge stage: the build compiles for the devices (an approved version has an edge artifact only
        then); a pinned version is the model's own; one model per thing group (a deployment replaces the
        group's previous one, so two models would remove each other's component)."""
        settings = stage.edge
        if settings.model == APPROVED and model.build.edge is None:
            raise ConfigError("edge", "needs build.edge (the device or platform Neo compiles each version for): "
                              "without it the approved versions have no compiled artifact, got no build.edge")
        self._check_own_version(model, settings.model, "edge.model", "the component version (1.0.<version>)")
        name = settings.component(self.project, model.name)
        edge_rules.check_component_name("edge.component_name", name)
        if name in settings.components:
            raise ConfigError(f"edge.components[{name!r}]", "is this model's own component, which the release "
                              "deploys: leave it out")
        if settings.devices is not None:
            for path, value, why in (
                    ("edge.abort.min_executed", settings.abort.min_executed, "the abort could never judge"),
                    ("edge.verify.min_succeeded_devices", settings.verify.min_succeeded_devices,
                     "the pipeline's wait could never pass")):
                if value is not None and value > settings.devices:
                    default = "" if path.rsplit(".", 1)[-1] in getattr(
                        settings.abort if ".abort." in path else settings.verify, "model_fields_set") else " (its default)"
                    raise ConfigError(path, f"must be at most edge.devices ({settings.devices}: {why}), got "
                                      f"{value}{default}")
        account = getattr(self.accounts, stage_name)
        for key, value, what in (("thing_group", settings.thing_group, "thing group (a deployment replaces the "
                                  "group's previous one, so each release would remove the other model's component)"),
                                 ("component_name", name, "component (versions 1.0.<version> of two models would "
                                  "collide)")):
            where = (account.account_id, account.region, key, value)
            if where in groups:
                raise ConfigError(f"edge.{key}", f"is {groups[where]}'s too: one model per {what}, got {value!r}")
            groups[where] = f"model {model.name}"

    @staticmethod
    def _check_pinned_pipelines(stage: StageConfig, pipelines: set[str]) -> None:
        """A pinned version of a group whose build registers inference pipelines (``pipelines``, lower case) says
        which kind it is: the versions registered before ``inference_preprocessing`` was turned on have one
        container."""
        for path, ref in stage_model_refs(stage):
            if isinstance(ref, PackageSource) and ref.inference_pipeline is None:
                group = ref.model_package_arn.split(":model-package/", 1)[-1].rsplit("/", 1)[0]
                if group.lower() in pipelines:
                    raise ConfigError(f"{path}.inference_pipeline", f"is required for a version of group {group}, "
                                      "whose build registers inference pipelines (build.inference_preprocessing): "
                                      "true for a version with the preprocessing container, false for one "
                                      "registered before, got none")

    def multi_model_host(self, name: str) -> MultiModelHostConfig:
        """The ``multi_model_hosts`` entry called ``name``."""
        return _named(self.multi_model_hosts, name, "multi_model.host", "multi_model_hosts")

    def _check_component_host(self, stage: StageConfig, stage_name: str) -> None:
        """A component stage's host exists, and has the accelerators its copies reserve."""
        from .instance_types import ACCELERATED

        settings = stage.component
        host_type = getattr(self.component_host(settings.host), stage_name).instance_type
        if settings.accelerators and not ACCELERATED.match(host_type):
            raise ConfigError("component.accelerators", f"needs a host with accelerators (ml.g*, ml.p*, ml.inf*, "
                              f"ml.trn*), and host {settings.host} runs {host_type} in {stage_name}, got "
                              f"{settings.accelerators}")

    def component_host(self, name: str) -> ComponentHostConfig:
        """The ``component_hosts`` entry called ``name``."""
        return _named(self.component_hosts, name, "component.host", "component_hosts")

    def model(self, name: str) -> ModelConfig:
        for model in self.models:
            if model.name == name:
                return model
        raise ConfigError("models", f"no model named {name!r}; known: {', '.join(m.name for m in self.models)}")

    def check(self) -> "PlatformConfig":
        """The constructs' own rules for every stage, in plain Python (``stage_spec.check_stage``: the same
        validators ``ModelEndpoint`` runs) and every build section (``build_spec``: ``ModelBuildPipeline``'s),
        so a file that passes here passes synth. Returns self."""
        from .build_spec import CONFIG_KEYS as BUILD_KEYS
        from .build_spec import check_build_inputs
        from .stage_spec import check_stage

        from .component_rules import check_host

        dev = self.accounts.dev
        hosts: dict[str, int] = {}
        for i, host in enumerate(self.component_hosts):
            if host.name in hosts:
                raise ConfigError(f"component_hosts[{i}].name", f"must be unique; component_hosts[{hosts[host.name]}] "
                                  f"uses it too, got {host.name!r}")
            hosts[host.name] = i
            for stage_name in ("test", "prod"):
                h = getattr(host, stage_name)
                try:
                    check_host(h.instance_type, h.instance_count, h.max_instance_count, h.min_instance_count,
                               h.routing.upper())
                except ConfigError as error:
                    raise error.under(f"component_hosts[{i}].{stage_name}") from None
        self._check_multi_model_hosts(hosts)
        groups: dict[str, int] = {}
        thing_groups: dict[tuple[str, ...], str] = {}
        pipeline_groups = {m.group_name.lower() for m in self.models if m.build.inference_preprocessing}
        for i, model in enumerate(self.models):
            if model.group_name.lower() in groups:  # SageMaker group names are case-insensitive
                raise ConfigError(f"models[{i}].registry.group_name", "model package group names must be unique "
                                  f"(default <project>-<model>); models[{groups[model.group_name.lower()]}] uses "
                                  f"it too, got {model.group_name!r}")
            groups[model.group_name.lower()] = i
            build = model.build
            try:
                check_build_inputs(
                    input_data=build.input_data_in(dev.region), metric=build.metric, threshold=build.threshold,
                    processing_instance_type=build.processing_instance_type,
                    training_instance_type=build.training_instance_type,
                    inference_instance_types=build.inference_instance_types, approval=build.approval)
            except ConfigError as error:
                raise error.under(f"models[{i}]", BUILD_KEYS) from None
            if build.edge is not None:
                try:
                    build.edge.target().validate("")
                except ConfigError as error:
                    raise error.under(f"models[{i}].build.edge") from None
                if build.inference_preprocessing:
                    raise ConfigError(f"models[{i}].build.edge", "cannot go with inference_preprocessing: Neo "
                                      "compiles the model container alone, which takes encoded features, while the "
                                      "version's callers send raw records; got both")
            for stage_name in ("test", "prod"):
                stage: StageConfig = getattr(model.stages, stage_name)
                try:
                    self._check_pinned_pipelines(stage, pipeline_groups)
                    check_stage(stage, model_name=model.name, stage_name=stage_name, dev_account=dev.account_id,
                                dev_region=dev.region, group_name=model.group_name,
                                approved_pipeline=build.inference_preprocessing)
                    if stage.component is not None:
                        self._check_component_host(stage, stage_name)
                    elif stage.multi_model is not None:
                        self._check_multi_model_target(model, stage)
                    elif stage.edge is not None:
                        self._check_edge_target(model, stage, stage_name, thing_groups)
                    elif stage.mode not in ("batch", "edge") and (stage.endpoint_name or f"{model.name}-{stage_name}") in {
                            h.endpoint_name(stage_name) for h in [*self.component_hosts, *self.multi_model_hosts]}:
                        raise ConfigError("endpoint_name", "must differ from the component and multi-model hosts' "
                                          "endpoints (<host name>-<stage>), got "
                                          f"{stage.endpoint_name or f'{model.name}-{stage_name}'!r} (the default "
                                          "<model>-<stage> when not given): rename the host or give endpoint_name")
                    if stage.checks is not None:
                        try:
                            smoke.check_smoke(stage.checks.invocations, stage.checks.latency_p95_ms)
                        except ConfigError as error:
                            raise error.under("checks") from None
                    if stage.monitoring is not None:
                        try:
                            stage.monitoring.quality_settings(stage, build)
                        except ConfigError as error:
                            raise error.under("monitoring") from None
                except ConfigError as error:
                    raise error.under(f"models[{i}].stages.{stage_name}") from None
            if build.retrain_on_drift is not None:
                try:
                    monitoring_rules.RETRAIN_INTERVAL_HOURS.check("min_interval_hours",
                                                                  build.retrain_on_drift.min_interval_hours)
                except ConfigError as error:
                    raise error.under(f"models[{i}].build.retrain_on_drift") from None
                if model.stages.prod.monitoring is None:
                    raise ConfigError(f"models[{i}].build.retrain_on_drift", "needs stages.prod.monitoring: prod's "
                                      "drift alarm is what starts the build, got no monitoring in prod")
        return self


# --------------------------------------------------------------------------------------------- loading
_SOURCE_TYPES = ("codeconnections", "codecommit", "s3")


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) or abs(value) >= 1e15 else str(value)


def _config_path(loc: tuple, root: str = "") -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part) in ("approved", "package", "image", "pipeline") and path.endswith(".model"):
            continue  # the model source's union tag is not a key of the file
        elif str(part) in _SOURCE_TYPES and path.endswith(".source"):
            continue  # nor the pipeline source's
        else:
            path += f".{part}" if path else str(part)
    return path


def format_validation_error(error: ValidationError, root: str = "") -> ConfigError:
    """The first pydantic error as one ``ConfigError`` line with the YAML path (given values cut to a line)."""
    errors = error.errors(include_url=False)
    first = errors[0]
    path = _config_path(first["loc"], root)
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    given = first.get("input")
    kind = first["type"]
    if kind == "missing":
        # A misspelt required key shows up twice: missing, and an unknown key next to it. Say both.
        parent, key = first["loc"][:-1], str(first["loc"][-1])
        unknown = [str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent]
        close = difflib.get_close_matches(key, unknown, n=1, cutoff=0.6)
        if close:
            return ConfigError(path, f"is required; the unknown key {close[0]!r} next to it looks like a misspelling")
        if unknown:
            return ConfigError(path, f"is required (unknown key(s) next to it: {cut(', '.join(unknown))})")
        return ConfigError(path, "is required")
    if kind == "union_tag_invalid" and path.endswith(".source"):
        return ConfigError(f"{path}.type", f"must be one of {', '.join(_SOURCE_TYPES)}, got "
                           f"{cut(first.get('ctx', {}).get('tag'))}")
    if path.endswith(".model") and kind not in ("value_error", "extra_forbidden", "missing"):
        return ConfigError(path, "must be 'approved', {model_package_arn: ARN} or {image: URI, model_data_url: "
                           f"s3://...}}, got {cut(given)}")
    if kind == "string_type" and isinstance(given, (int, float)) and not isinstance(given, bool):
        return ConfigError(path, f"must be a string: quote it (YAML read it as the number {_number(given)})")
    if kind == "extra_forbidden":
        return ConfigError(path, f"is not a known setting{_known_hint(str(first['loc'][-1]), first['loc'][:-1])} "
                           "(see config/platform.schema.json)")
    if kind == "value_error":  # our own validators' messages already say what was given
        return ConfigError(path, message)
    if kind in _NUMBER_ERRORS:
        return ConfigError(path, _number_message(kind, given, _field_at(first["loc"])))
    if kind in ("bool_type", "bool_parsing"):
        return ConfigError(path, f"must be true or false, got {'null' if given is None else cut(given)}")
    if kind in ("model_type", "dict_type"):  # a section given as a scalar or a list: not pydantic's class name
        return ConfigError(path, f"must be a section of key: value settings (see config/platform.schema.json), got "
                           f"{str(given).lower() if isinstance(given, bool) else cut(given)}")
    if kind == "string_pattern_mismatch" and str(first.get("ctx", {}).get("pattern", "")).startswith("^[a-z][a-z0-9-]{0,39}"):
        return ConfigError(path, f"must be 1-40 lower-case letters, digits and hyphens, starting with a letter, "
                           f"got {cut(given)}")
    shown = str(given).lower() if isinstance(given, bool) else cut(given)
    return ConfigError(path, f"{message[0].lower()}{message[1:]}, got {shown}")


#: pydantic's errors for a value that is not the number a field takes.
_NUMBER_ERRORS = ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing", "finite_number")


def _number_message(kind: str, given: object, field: Any) -> str:
    """What a number field takes (whole or not, its range from the field's schema) and what was given."""
    whole = kind.startswith("int")
    extra = (field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {})
    low, high = extra.get("minimum"), extra.get("maximum")
    taken = ("a whole number" if whole else "a finite number" if kind == "finite_number" else "a number") + (
        f" between {_number(low)} and {_number(high)}" if low is not None and high is not None
        else f" of at least {_number(low)}" if low is not None else "")
    if isinstance(given, bool):
        return f"must be {taken}, not a boolean, got {str(given).lower()}"
    if given is None:
        return f"must be {taken}, got null (an empty value)"
    if isinstance(given, str):
        return f"must be {taken}, got the string {cut(given)}" + (
            " (write it without quotes)" if _is_number(given) else "")
    return f"must be {taken}, got {given!r}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config sections (models) a field's annotation holds: itself, or in a list, Optional or union."""
    import typing

    models, stack = [], [annotation]
    while stack:
        annotation = stack.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            models.append(annotation)
        else:
            stack.extend(typing.get_args(annotation))
    return models


def _field_at(loc: tuple) -> Any:
    """The pydantic field a validation error's location names (list indexes and union tags skipped), or None."""
    model: Any = PlatformConfig
    field = None
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            continue  # a union member's tag (model sources, pipeline sources)
        field = fields[part]
        model = (_models_in(field.annotation) or [None])[0]
    return field


@functools.cache
def _sections() -> dict[str, list[str]]:
    """Every config key, with the sections (parent keys) it belongs to, from the models themselves."""
    found: dict[str, list[str]] = {}
    seen: set[type] = set()

    def visit(model: type, section: str) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            found.setdefault(name, [])
            if section not in found[name]:
                found[name].append(section)
            for section_model in _models_in(info.annotation):
                visit(section_model, name)

    visit(PlatformConfig, "the file")
    return found


def _known_hint(key: str, parent: tuple = ()) -> str:
    """``; did you mean 'x'?`` for a misspelt key (a key of its own section first), where a key given in the wrong
    place belongs, or the keys its section takes."""
    sections = _sections()
    own = _section_keys(parent)
    close = sorted(name for name in own if key.startswith(name + "_") or name.startswith(key + "_")
                   or name.endswith("_" + key))[:1] or difflib.get_close_matches(key, own, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if key in sections:
        return f" here; {key!r} belongs under " + " or ".join(sorted(sections[key]))
    close = difflib.get_close_matches(key, list(sections), n=1, cutoff=0.75) or sorted(
        name for name in sections if name.startswith(key + "_"))[:1]
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; this section takes {', '.join(own)}" if own else " (check the spelling)"


def _section_keys(loc: tuple) -> list[str]:
    """The keys of the section at ``loc`` (the file's own at ``()``), in the model's order; [] when unknown."""
    if not loc:
        return list(PlatformConfig.model_fields)
    field = _field_at(loc)
    models = _models_in(field.annotation) if field is not None else []
    if len(models) > 1:  # a union (sources): the member its tag names, by class name
        tag = str(loc[-1]).replace("_", "").lower()
        models = [m for m in models if m.__name__.lower().startswith(tag)]
    return list(models[0].model_fields) if len(models) == 1 else []


def parse_config(data: Any) -> PlatformConfig:
    """Validate a parsed YAML/JSON document; raises ``ConfigError`` naming the path."""
    if not isinstance(data, dict):
        raise ConfigError("", f"the config must be a mapping with accounts, pipeline and models, got {type(data).__name__}")
    try:
        return PlatformConfig.model_validate(data).check()
    except ValidationError as error:
        raise format_validation_error(error) from None


def read_yaml(text: str) -> Any:
    """``yaml.safe_load`` with libyaml's parser where PyYAML has it (its wheels do): ~7x faster, which a
    50-model config (45 KB, 80 ms in pure Python) shows on every synth. A key given twice in one mapping is an
    error (PyYAML keeps the last silently: a second ``deployment:`` would quietly replace the first)."""
    import yaml

    return yaml.load(text, Loader=_unique_key_loader())


@functools.cache
def _unique_key_loader() -> type:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class UniqueKeyLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # keys a merge brings in may be overridden: that is what merges are for
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line)
                except TypeError:  # an unhashable key: the constructor reports it
                    continue
                if first != key_node.start_mark.line:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first + 1}); a YAML mapping keeps only "
                        "the last, so one of them would be ignored", key_node.start_mark)
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def load_config(path: str | Path) -> PlatformConfig:
    """Read and validate the YAML config file at ``path``."""
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(str(file), f"cannot read the config file ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ConfigError(str(file), f"is not a UTF-8 text file (byte {error.start}); is it the config file?") \
            from None
    try:
        data = read_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(str(file), f"is not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    try:
        return parse_config(data)
    except ConfigError as error:
        raise error.in_file(file) from None


def json_schema() -> dict:
    """The config file's JSON Schema (for editor completion and validation)."""
    schema = PlatformConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "SageMaker safe-release platform config"
    return schema


#: The example's placeholder values: a config that still holds one deploys to an account that is not yours.
PLACEHOLDER_ACCOUNTS = ("111111111111", "222222222222", "333333333333")
_PLACEHOLDER_UUID = "00000000-0000-0000-0000-000000000000"


def placeholders(config: PlatformConfig) -> list[str]:
    """One line per value of ``config`` that is still one of the example's placeholders (account ids, the
    all-zero CodeConnections connection), naming its config path: the file is valid, but not yet yours."""
    found = [f"accounts.{name}.account_id is the example's placeholder {account.account_id}"
             for name in ("dev", "test", "prod") if (account := getattr(config.accounts, name)).account_id
             in PLACEHOLDER_ACCOUNTS]
    arn = getattr(config.pipeline.source, "connection_arn", "")
    if _PLACEHOLDER_UUID in arn:
        found.append(f"pipeline.source.connection_arn is the example's placeholder connection {cut(arn)}")
    for i, model in enumerate(config.models):
        for stage_name in ("test", "prod"):
            stage = getattr(model.stages, stage_name)
            for j, variant in enumerate(stage.variants):
                if isinstance(variant.model, PackageSource) and any(
                        f":{a}:" in variant.model.model_package_arn for a in PLACEHOLDER_ACCOUNTS):
                    found.append(f"models[{i}].stages.{stage_name}.variants[{j}].model.model_package_arn names the "
                                 f"example's placeholder account: {variant.model.model_package_arn}")
    return found


#: What an omitted stage deploys (``Stages``' defaults), in words.
_DEFAULT_STAGES = {"test": "one ml.m5.large, all-at-once with a 5-minute bake, smoke checks",
                   "prod": "two ml.m5.large, canary 10 % with 10-minute waits, data capture at 20 %"}


def implicit_stages(config: PlatformConfig) -> list[str]:
    """One line per stage a model leaves out of the file, saying what its default deploys (an endpoint the file
    does not show, in the prod account too)."""
    return [f"models[{i}].stages.{name} is not in the file: the default is deployed ({_DEFAULT_STAGES[name]})"
            for i, model in enumerate(config.models) for name in ("test", "prod")
            if "stages" not in model.model_fields_set or name not in model.stages.model_fields_set]


def config_warnings(config: PlatformConfig) -> list[str]:
    """What ``--check`` and synth warn about in a valid file: the example's placeholders still in it, and stages
    left to their defaults."""
    return [f"{line}: replace it with yours before deploying" for line in placeholders(config)] + implicit_stages(config)


def main(argv: list[str] | None = None) -> int:
    """``python -m constructs_lib.config --schema [FILE]`` writes the JSON Schema; ``--check FILE`` validates."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--schema"]:
        text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
        if len(args) > 1:
            Path(args[1]).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    if args[:1] == ["--check"] and len(args) == 2:
        try:
            config = load_config(args[1])
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        for line in config_warnings(config):
            print(f"warning: {line}", file=sys.stderr)
        print(f"{args[1]}: ok ({len(config.models)} model(s))")
        return 0
    print("usage: python -m constructs_lib.config --schema [FILE] | --check FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    # Run the importable module's main, not this __main__ copy: the validators compare against its classes.
    from constructs_lib.config import main as _main

    raise SystemExit(_main())
