"""Value objects for an endpoint: model sources, production and shadow variants, data capture, rollback alarms.

Plain Python (aws_cdk only for ``Duration`` and the interfaces in type hints): each object validates itself
eagerly and raises ``ConfigError`` naming the property, so bad input fails before any template is written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from .errors import (ConfigError, Limit, check_choice, check_number, check_sagemaker_name,
                     check_whole, cut)
from .rollout import RolloutSpec
from .instance_types import INFERENCE_INSTANCE_TYPES, LOCAL_STORAGE_FAMILIES, family

if TYPE_CHECKING:  # pragma: no cover
    from aws_cdk import Duration
    from aws_cdk import aws_s3 as s3

_MODEL_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}/\d+$"
)
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/([^:@]+)")
_S3_URI = re.compile(r"^s3://([^/]+)/(.+)$")
_SERVERLESS_MEMORY = (1024, 2048, 3072, 4096, 5120, 6144)
#: The most instances a variant may count (initial or autoscaled): far above any account's endpoint quota, and
#: small enough that a typo (10**30) is refused instead of reaching the template as 1e+30.
MAX_INSTANCES = 10000


def _seconds(duration: "Duration | int | None") -> int | None:
    """A ``Duration`` (or whole seconds, as the config file gives them) in seconds."""
    if duration is None or isinstance(duration, (int, float)) and not isinstance(duration, bool):
        return duration  # type: ignore[return-value]
    return int(duration.to_seconds())  # type: ignore[union-attr]


def _is_token(value: str) -> bool:
    return "${Token[" in value


class InferenceMode:
    """How the containers of an inference pipeline (``ModelSource.from_containers``) serve a request."""

    #: Each container's response is the next one's request; the last one's is the answer.
    SERIAL = "Serial"
    #: A request names the one container that answers it (``TargetContainerHostname``).
    DIRECT = "Direct"


#: SageMaker's CreateModel takes at most 15 containers; a pipeline has at least two.
PIPELINE_CONTAINERS = Limit(2, 15, "containers", whole=True)


class ModelSource:
    """Where a variant's model comes from: a versioned model package (the registry path), an image, or an
    inference pipeline of images."""

    def __init__(self, container: dict, description: str, ecr_repository: tuple[str, str, str] | None,
                 model_data: tuple[str, str] | None, parts: Sequence["ModelSource"] = (),
                 package_pipeline: bool = False) -> None:
        self.container = container
        self.description = description
        #: (account, region, repository) of the image when known at synth.
        self.ecr_repository = ecr_repository
        #: (bucket, key) of the model data when known at synth.
        self.model_data = model_data
        #: An inference pipeline's containers, in order (empty for one container).
        self.parts = tuple(parts)
        #: A model package registered with several containers (``from_model_package(inference_pipeline=True)``).
        self.package_pipeline = package_pipeline

    @classmethod
    def from_containers(cls, containers: Sequence["ModelSource"], *, mode: str = InferenceMode.SERIAL,
                        hostnames: Sequence[str | None] | None = None) -> "ModelSource":
        """An inference pipeline: 2-15 image containers on the same instances (``from_image`` sources).

        ``InferenceMode.SERIAL`` (default) chains them, preprocessing -> model -> postprocessing;
        ``InferenceMode.DIRECT`` runs only the container a request names with ``TargetContainerHostname``.
        ``hostnames`` name the containers (SageMaker's ``ContainerHostname``: logs, metrics and direct
        invocation); default (the list, or a None in it) ``container-<position>``. A model package cannot be a part: register a
        package whose inference specification lists the containers instead (SageMaker serves it as a pipeline).
        """
        if isinstance(containers, (str, ModelSource)) or not isinstance(containers, Sequence):
            raise ConfigError("containers", f"must be a list of 2-15 image sources, got {cut(containers)}")
        PIPELINE_CONTAINERS.check("containers", len(containers))
        check_choice("mode", mode, (InferenceMode.SERIAL, InferenceMode.DIRECT))
        for i, part in enumerate(containers):
            if not isinstance(part, ModelSource) or part.parts or part.is_model_package or part.is_multi_model:
                raise ConfigError(f"containers[{i}]", "must be an image source (ModelSource.from_image), got "
                                  + (part.description if isinstance(part, ModelSource) else cut(part)))
        names = list(hostnames) if hostnames is not None else [None] * len(containers)
        if len(names) != len(containers):
            raise ConfigError("hostnames", f"must name each of the {len(containers)} containers, got {len(names)}")
        names = [f"container-{i + 1}" if name is None else name for i, name in enumerate(names)]
        for i, name in enumerate(names):
            check_sagemaker_name(f"hostnames[{i}]", name)
            if name in names[:i]:
                raise ConfigError(f"hostnames[{i}]", f"must be unique in the pipeline, got {name!r} twice")
        definitions = [dict(part.container, ContainerHostname=name) for part, name in zip(containers, names)]
        return cls({"Containers": definitions, "InferenceExecutionConfig": {"Mode": mode}},
                   f"{mode.lower()} pipeline of " + ", ".join(part.description for part in containers), None, None,
                   parts=containers)

    def model_properties(self) -> dict:
        """The ``AWS::SageMaker::Model`` properties that name the model's containers (API casing)."""
        if self.parts:
            return {"Containers": self.container["Containers"],
                    "InferenceExecutionConfig": self.container["InferenceExecutionConfig"]}
        return {"PrimaryContainer": self.container}

    @classmethod
    def from_model_package(cls, model_package_arn: str, *, inference_pipeline: bool = False) -> "ModelSource":
        """A versioned model package: ``arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION``.

        Only versioned ARNs are accepted: a group ARN would let the deployed model change without a
        template change. The package may live in another account when its group's policy shares it.
        ``inference_pipeline``: the package lists several containers (``ModelBuildPipeline``'s
        ``inference_preprocessing``); SageMaker serves it as an inference pipeline, so it is refused where
        pipelines are (serverless, asynchronous, inference components).
        """
        if not _is_token(model_package_arn) and not _MODEL_PACKAGE_ARN.match(model_package_arn):
            # AWS Marketplace packages have unversioned ARNs (model-package/NAME): SageMaker applies no deployment
            # guardrail to Marketplace containers (all at once, no baking), so they have no place here.
            marketplace = re.match(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[^/]+$",
                                   str(model_package_arn))
            raise ConfigError("model_package_arn", "must be a versioned model package ARN "
                              "(arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION)"
                              + ("; an unversioned AWS Marketplace package cannot be released behind a guardrail "
                                 "(SageMaker deploys Marketplace containers all at once, without baking)"
                                 if marketplace else "") + f", got {cut(model_package_arn)}")
        if not isinstance(inference_pipeline, bool):
            raise ConfigError("inference_pipeline", f"must be true or false, got {cut(inference_pipeline)}")
        return cls({"ModelPackageName": model_package_arn}, model_package_arn
                   + (" (an inference pipeline)" if inference_pipeline else ""), None, None,
                   package_pipeline=inference_pipeline)

    @classmethod
    def from_image(cls, image_uri: str, *, model_data_url: str | None = None,
                   environment: dict[str, str] | None = None) -> "ModelSource":
        """A container image with optional ``s3://`` model data and environment variables."""
        if not image_uri:
            raise ConfigError("image", "must be a container image URI, got ''")
        container: dict = {"Image": image_uri}
        model_data = None
        if model_data_url is not None:
            match = _S3_URI.match(model_data_url)
            if not match and not _is_token(model_data_url):
                raise ConfigError("model_data_url", f"must be an s3://bucket/key URI, got {model_data_url!r}")
            container["ModelDataUrl"] = model_data_url
            model_data = (match.group(1), match.group(2)) if match else None
        if environment:
            container["Environment"] = dict(sorted(environment.items()))
        ecr = _ECR_IMAGE.match(image_uri)
        repository = (ecr.group(1), ecr.group(2), ecr.group(4)) if ecr else None
        return cls(container, f"{image_uri} {model_data_url or ''}".strip(), repository, model_data)

    @classmethod
    def multi_model(cls, image_uri: str, model_data_prefix: str, *, cache: bool = True,
                    environment: dict[str, str] | None = None) -> "ModelSource":
        """A multi-model container: one image that loads any model under ``model_data_prefix`` (``s3://bucket/
        prefix/``) on demand, the model a request names with ``InvokeEndpoint(TargetModel="<path under the
        prefix>")``. ``cache`` keeps loaded models on the instances (SageMaker's ``ModelCacheSetting``; off
        for models used once). A new model version goes under a new name: SageMaker keeps serving a cached
        model whose artifact was overwritten."""
        match = _S3_URI.match(model_data_prefix or "")
        if not match or not model_data_prefix.endswith("/"):
            if not (model_data_prefix and _is_token(model_data_prefix)):
                raise ConfigError("model_data_prefix", "must be an s3://bucket/prefix/ URI ending with /, got "
                                  f"{cut(model_data_prefix)}")
        source = cls.from_image(image_uri, environment=environment)
        container = dict(source.container, ModelDataUrl=model_data_prefix, Mode="MultiModel",
                         MultiModelConfig={"ModelCacheSetting": "Enabled" if cache else "Disabled"})
        return cls(container, f"{image_uri} serving the models under {model_data_prefix}", source.ecr_repository,
                   (match.group(1), f"{match.group(2)}*") if match else None)

    @property
    def is_pipeline(self) -> bool:
        """The model is an inference pipeline: of images (``from_containers``), or a package of several."""
        return bool(self.parts) or self.package_pipeline

    @property
    def is_model_package(self) -> bool:
        return "ModelPackageName" in self.container

    @property
    def is_multi_model(self) -> bool:
        return self.container.get("Mode") == "MultiModel"

    def image_repositories(self, partition: str, region: str, account: str) -> dict[str, str]:
        """The ECR repositories (ARNs) an execution role in ``account`` and ``region`` must pull this source's
        image from, each with the reason its wildcard is the narrowest possible ("" for an exact repository).

        An image URI names its repository exactly. A model package's image is known only when SageMaker creates
        the model: pulls are limited to the accounts it can come from, the package's own (the registry's), the
        role's and SageMaker's image accounts for the region (framework, algorithm and deep learning container
        images). An image given as a reference (a token), or a region whose image accounts are unknown, leaves
        only the region."""
        if self.parts:
            needed: dict[str, str] = {}
            for part in self.parts:
                needed.update(part.image_repositories(partition, region, account))
            return needed
        if self.ecr_repository is not None:
            owner, repository_region, name = self.ecr_repository
            return {f"arn:{partition}:ecr:{repository_region}:{owner}:repository/{name}": ""}
        from .image_accounts import sagemaker_image_accounts

        aws_accounts = () if _is_token(region) else sagemaker_image_accounts(region)
        if not self.is_model_package or not aws_accounts:
            return {f"arn:{partition}:ecr:{region}:*:repository/*": _REGION_PULLS}
        package = self.container["ModelPackageName"]
        if _is_token(package):
            from aws_cdk import Fn

            owner = Fn.select(4, Fn.split(":", package))
        else:
            owner = package.split(":")[4]
        return {f"arn:{partition}:ecr:{region}:{a}:repository/*": _PACKAGE_PULLS
                for a in sorted({account, owner, *aws_accounts})}

    def model_objects(self, partition: str) -> list[str]:
        """The S3 objects (ARNs) an execution role must read to serve this source (its model data, when known
        at synth; a model package's artifacts are granted by its registry)."""
        if self.parts:
            return [arn for part in self.parts for arn in part.model_objects(partition)]
        return [f"arn:{partition}:s3:::{bucket}/{key}" for bucket, key in [self.model_data]] if self.model_data else []


_REGION_PULLS = ("An image known only at deploy time (a reference, or a model package in a region whose SageMaker "
                 "image accounts the SDK does not list): pulls are limited to ECR repositories in this region.")
_PACKAGE_PULLS = ("A registered model package's image is known only at deploy time: pulls are limited to the "
                  "repositories of the registry's account, this account and SageMaker's own image accounts for "
                  "this region (from the SageMaker SDK's image tables).")


class ProductionVariant:
    """A production variant: a model on instances or serverless, with a traffic weight.

    Requests are split between production variants by weight; a client can also pin a request to one
    variant with ``InvokeEndpoint(..., TargetVariant="<name>")`` (A/B tests with sticky assignment).
    """

    def __init__(self, name: str, model: ModelSource, *, weight: float = 1.0, instance_type: str | None = None,
                 initial_instance_count: int = 1, volume_size_gb: int | None = None,
                 startup_health_check_timeout: "Duration | int | None" = None,
                 model_data_download_timeout: "Duration | int | None" = None,
                 serverless_memory_mb: int | None = None, serverless_max_concurrency: int | None = None,
                 serverless_provisioned_concurrency: int | None = None) -> None:
        self.name = name
        self.model = model
        self.weight = weight
        self.instance_type = instance_type
        self.initial_instance_count = initial_instance_count
        self.volume_size_gb = volume_size_gb
        self.startup_health_check_timeout_seconds = _seconds(startup_health_check_timeout)
        self.model_data_download_timeout_seconds = _seconds(model_data_download_timeout)
        self.serverless_memory_mb = serverless_memory_mb
        self.serverless_max_concurrency = serverless_max_concurrency
        self.serverless_provisioned_concurrency = serverless_provisioned_concurrency

    @classmethod
    def instance(cls, name: str, model: ModelSource, *, instance_type: str, initial_instance_count: int = 1,
                 weight: float = 1.0, volume_size_gb: int | None = None,
                 startup_health_check_timeout: "Duration | None" = None,
                 model_data_download_timeout: "Duration | None" = None) -> "ProductionVariant":
        """An instance-based variant. ``volume_size_gb`` 1-512 (not on instances with local NVMe storage);
        timeouts 60-3600 s."""
        return cls(name, model, weight=weight, instance_type=instance_type,
                   initial_instance_count=initial_instance_count, volume_size_gb=volume_size_gb,
                   startup_health_check_timeout=startup_health_check_timeout,
                   model_data_download_timeout=model_data_download_timeout)

    @classmethod
    def serverless(cls, name: str, model: ModelSource, *, memory_size_mb: int = 2048, max_concurrency: int = 5,
                   provisioned_concurrency: int | None = None, weight: float = 1.0) -> "ProductionVariant":
        """A serverless variant: memory 1024-6144 MB in steps of 1024, max concurrency 1-200, provisioned
        concurrency at most max concurrency. A serverless endpoint has exactly this one variant."""
        return cls(name, model, weight=weight, serverless_memory_mb=memory_size_mb,
                   serverless_max_concurrency=max_concurrency,
                   serverless_provisioned_concurrency=provisioned_concurrency)

    @property
    def is_serverless(self) -> bool:
        return self.serverless_memory_mb is not None

    @property
    def has_local_storage(self) -> bool:
        return self.instance_type is not None and family(self.instance_type) in LOCAL_STORAGE_FAMILIES

    def validate(self, path: str) -> None:
        """Raise ``ConfigError`` (under ``path``) for anything SageMaker would reject at deploy time."""
        check_sagemaker_name(f"{path}.name", self.name)
        check_number(f"{path}.weight", self.weight)
        if self.weight < 0:
            raise ConfigError(f"{path}.weight", f"must be 0 or more, got {self.weight}")
        if self.is_serverless:
            if self.instance_type is not None:
                raise ConfigError(f"{path}.instance_type", "must not be set on a serverless variant "
                                  f"(serverless_memory_mb is set), got {self.instance_type!r}")
            if self.serverless_memory_mb not in _SERVERLESS_MEMORY:
                raise ConfigError(f"{path}.serverless_memory_mb", "must be one of "
                                  f"{', '.join(map(str, _SERVERLESS_MEMORY))}, got {self.serverless_memory_mb}")
            if self.model.is_pipeline:
                raise ConfigError(f"{path}.serverless_memory_mb", "must not be set on an inference pipeline's variant "
                                  "(SageMaker's serverless inference excludes inference pipelines: give "
                                  f"instance_type), got {self.serverless_memory_mb} for "
                                  + (self.model.description if self.model.package_pipeline else "an image pipeline"))
            check_whole(f"{path}.serverless_max_concurrency", self.serverless_max_concurrency, 1, 200)
            if self.serverless_provisioned_concurrency is not None:
                check_whole(f"{path}.serverless_provisioned_concurrency", self.serverless_provisioned_concurrency,
                            1, self.serverless_max_concurrency, "(at most serverless_max_concurrency)")
            return
        if self.instance_type is None:
            raise ConfigError(f"{path}.instance_type", "is required (or serverless_memory_mb for a serverless "
                              "variant)")
        if self.instance_type not in INFERENCE_INSTANCE_TYPES:
            raise ConfigError(f"{path}.instance_type", "must be a SageMaker real-time inference instance type "
                              f"from the ml. families (for example ml.m5.large), got {self.instance_type!r}")
        check_whole(f"{path}.initial_instance_count", self.initial_instance_count, 1, MAX_INSTANCES)
        if self.volume_size_gb is not None:
            if self.has_local_storage:
                raise ConfigError(f"{path}.volume_size_gb", f"must not be set on {self.instance_type} (it has local "
                                  f"NVMe instance storage; SageMaker rejects VolumeSizeInGB), got {self.volume_size_gb}")
            check_whole(f"{path}.volume_size_gb", self.volume_size_gb, 1, 512, "GB")
        for name, value in (("startup_health_check_timeout", self.startup_health_check_timeout_seconds),
                            ("model_data_download_timeout", self.model_data_download_timeout_seconds)):
            if value is not None:
                check_whole(f"{path}.{name}", value, 60, 3600, "seconds")

    def to_cfn(self, model_name: str, weight: float) -> dict:
        """The ``ProductionVariant`` structure (CloudFormation casing)."""
        variant: dict = {"VariantName": self.name, "ModelName": model_name, "InitialVariantWeight": weight}
        if self.is_serverless:
            serverless = {"MemorySizeInMB": self.serverless_memory_mb, "MaxConcurrency": self.serverless_max_concurrency}
            if self.serverless_provisioned_concurrency is not None:
                serverless["ProvisionedConcurrency"] = self.serverless_provisioned_concurrency
            variant["ServerlessConfig"] = serverless
            return variant
        variant["InstanceType"] = self.instance_type
        variant["InitialInstanceCount"] = self.initial_instance_count
        if self.volume_size_gb is not None:
            variant["VolumeSizeInGB"] = self.volume_size_gb
        if self.startup_health_check_timeout_seconds is not None:
            variant["ContainerStartupHealthCheckTimeoutInSeconds"] = self.startup_health_check_timeout_seconds
        if self.model_data_download_timeout_seconds is not None:
            variant["ModelDataDownloadTimeoutInSeconds"] = self.model_data_download_timeout_seconds
        return variant


class ShadowVariant:
    """A shadow variant: receives a copy of ``sampling_percentage`` % (0-100) of the production variant's
    requests; its responses are logged (data capture) but never returned to callers."""

    def __init__(self, variant: ProductionVariant, *, sampling_percentage: float = 100.0) -> None:
        self.variant = variant
        self.sampling_percentage = sampling_percentage

    def validate(self, path: str) -> None:
        self.variant.validate(path)
        SHADOW_SAMPLING_PERCENT.check(f"{path}.sampling_percentage", self.sampling_percentage)
        if self.variant.is_serverless:
            raise ConfigError(f"{path}.serverless_memory_mb", "a shadow variant must be instance-based, got "
                              f"{self.variant.serverless_memory_mb}")


CAPTURE_MODES = ("input", "output", "both")


class CaptureMode:
    """What data capture records: requests, responses, or both."""

    INPUT = "input"
    OUTPUT = "output"
    BOTH = "both"


@dataclass
class DataCapture:
    """Request/response capture to S3. The bucket is created (KMS-encrypted with the endpoint's key,
    TLS-only, versioned, retained, with server access logs) unless ``bucket`` is given.

    Captured requests and responses are personal data more often than not: in the created bucket they expire
    after ``retention_days`` (default 90, 1-3650; drift checks and the shadow reports read recent data), and
    overwritten or deleted object versions after a further 7 days. A given bucket keeps its own rules.
    """

    sampling_percentage: int = 100
    capture_mode: str = CaptureMode.BOTH
    bucket: "s3.IBucket | None" = None
    prefix: str = "datacapture"
    csv_content_types: Sequence[str] = ("text/csv",)
    json_content_types: Sequence[str] = ("application/json",)
    retention_days: int = 90

    @property
    def folder(self) -> str:
        """``prefix`` without a leading or trailing '/': the destination SageMaker adds ``/<endpoint>/...`` to,
        and what every grant and reader of the captured data names."""
        return self.prefix.strip("/")

    def validate(self, path: str) -> None:
        CAPTURE_SAMPLING_PERCENT.check(f"{path}.sampling_percentage", self.sampling_percentage)
        if int(self.sampling_percentage) != self.sampling_percentage:
            raise ConfigError(f"{path}.sampling_percentage", "must be a whole percentage (SageMaker's "
                              f"InitialSamplingPercentage is an integer), got {self.sampling_percentage}")
        check_choice(f"{path}.capture_mode", self.capture_mode, CAPTURE_MODES)
        if not self.csv_content_types and not self.json_content_types:
            raise ConfigError(f"{path}.json_content_types", "at least one content type must be captured, got none")
        check_prefix(f"{path}.prefix", self.prefix)
        CAPTURE_RETENTION_DAYS.check(f"{path}.retention_days", self.retention_days)


#: SageMaker's ``MaxConcurrentInvocationsPerInstance`` (AsyncInferenceClientConfig).
ASYNC_CONCURRENCY = Limit(1, 1000, "requests per instance", whole=True)
#: How long a created data bucket keeps its objects: captured data, async requests and results, batch inputs and
#: results (one rule for all three; named after the first).
CAPTURE_RETENTION_DAYS = Limit(1, 3650, "days", whole=True)
#: Autoscaling's target for an async endpoint: queued requests per instance (``ApproximateBacklogSizePerInstance``).
TARGET_BACKLOG = Limit(0.1, 1_000_000, "queued requests per instance")
#: What SageMaker's async inference does not combine with (its hosting feature matrix).
ASYNC_STRATEGIES = ("all_at_once", "unguarded")


@dataclass
class AsyncInference:
    """Asynchronous inference: requests are queued, read from S3 and answered into S3 (payloads up to 1 GB,
    processing up to an hour), with an SNS notification when each one succeeds or fails.

    The bucket is created (KMS-encrypted with the endpoint's key, TLS-only, versioned, retained, with server
    access logs) unless ``bucket`` is given. Under ``prefix``: ``input/`` (callers put requests here; the
    endpoint's role reads them), ``output/`` (results) and ``failure/`` (error reports); in the created bucket
    all three expire after ``retention_days`` (default 30, 1-3650). A given bucket keeps its own rules.

    :param max_concurrent_invocations_per_instance: requests one instance processes at once, 1-1000; default:
      SageMaker chooses.
    :param include_response_in_notifications: put the result (or error) in the success and error
      notifications too, when it is at most 128 KB (SageMaker's ``IncludeInferenceResponseIn``); default
      ``False``: a notification names the output location only.
    """

    max_concurrent_invocations_per_instance: int | None = None
    bucket: "s3.IBucket | None" = None
    prefix: str = "async"
    retention_days: int = 30
    include_response_in_notifications: bool = False

    def validate(self, path: str) -> None:
        if self.max_concurrent_invocations_per_instance is not None:
            ASYNC_CONCURRENCY.check(f"{path}.max_concurrent_invocations_per_instance",
                                    self.max_concurrent_invocations_per_instance)
        check_prefix(f"{path}.prefix", self.prefix)
        CAPTURE_RETENTION_DAYS.check(f"{path}.retention_days", self.retention_days)
        if not isinstance(self.include_response_in_notifications, bool):
            raise ConfigError(f"{path}.include_response_in_notifications", "must be true or false, got "
                              f"{cut(self.include_response_in_notifications)}")

    def key(self, part: str) -> str:
        """The key prefix of ``input``, ``output`` or ``failure`` in the bucket."""
        return f"{self.prefix.rstrip('/')}/{part}"


#: A key prefix the library writes into IAM policies and S3 URIs: S3's safe characters only (no '*' or '?',
#: which IAM would read as wildcards), folders separated by single slashes.
_PREFIX = re.compile(r"^[A-Za-z0-9!_.'()-]+(/[A-Za-z0-9!_.'()-]+)*/?$")
MAX_PREFIX = 200


def check_prefix(path: str, prefix: object) -> None:
    """An S3 key prefix: S3's safe characters (letters, digits, ``!_.'()-``) in '/'-separated folders, no
    leading '/', at most 200 characters (SageMaker's S3 paths take 512 with the bucket and the file name)."""
    if not isinstance(prefix, str) or not _PREFIX.match(prefix) or len(prefix) > MAX_PREFIX:
        raise ConfigError(path, f"must be a key prefix of at most {MAX_PREFIX} letters, digits and !_.'()- in "
                          f"'/'-separated folders, without a leading '/', got {cut(prefix)}")


#: ``latency_statistic``: CloudWatch's Average, Maximum, or a percentile (p0-p99.9...).
LATENCY_STATISTIC = r"Average|Maximum|p\d{1,2}(\.\d+)?"

#: The rollback alarms' numeric rules (``RollbackAlarms``; the config's ``alarms`` section shows the same).
ERROR_RATE_PERCENT = Limit(0.01, 100, "percent")
LATENCY_MS = Limit(0.001, 3_600_000, "ms")
MIN_INVOCATIONS = Limit(1, 1_000_000, "requests per period", whole=True)
EVALUATION_PERIODS = Limit(1, 10, whole=True)
#: Data capture's (``DataCapture``): SageMaker's InitialSamplingPercentage is a whole percentage.
CAPTURE_SAMPLING_PERCENT = Limit(0, 100, "percent")
#: A shadow variant's share of the production variant's requests (``ShadowVariant``).
SHADOW_SAMPLING_PERCENT = Limit(0, 100, "percent")
#: Autoscaling's target (``check_autoscaling``); its capacities are bounded by the variant's instance count.
TARGET_INVOCATIONS = Limit(1, 1_000_000, whole=True)

#: Alarm periods: SageMaker publishes endpoint invocation metrics once a minute, so shorter (high-resolution)
#: periods would see no data most of the time and a rollback alarm would never fire.
ALARM_PERIODS = (60, 120, 180, 300)


@dataclass
class RollbackAlarms:
    """Thresholds of the auto-rollback alarms created for every production variant, on the **new fleet** only.

    During a guarded deployment SageMaker publishes the new fleet's metrics with a third dimension,
    ``EndpointConfigName`` (the config being deployed, which the endpoint names by content at synth). Every
    alarm watches ``EndpointName`` + ``VariantName`` + ``EndpointConfigName``, so a flaky old fleet cannot roll
    a healthy release back and a small canary's failures are not diluted by the old fleet's traffic:

    * 5XX error rate: ``Invocation5XXErrors`` / ``Invocations`` (percent) above ``max_5xx_error_rate_percent``;
    * model error rate: ``InvocationModelErrors`` / ``Invocations`` (percent) above
      ``max_model_error_rate_percent``;
    * model latency: ``ModelLatency`` (microseconds) at ``latency_statistic`` above ``max_model_latency_ms``.

    Rates are metric math over ``Invocations``; a period with fewer than ``min_invocations`` requests is judged
    as if it had ``min_invocations`` (the denominator is ``max(requests, min_invocations)``). So a single
    failed request in a quiet minute cannot breach the threshold on its own, yet a model failing every request
    is caught from two requests per period. The default ``min_invocations`` is, per alarm, the
    number of requests at which one failure equals the threshold (``ceil(100 / threshold_percent)``: 100 at
    1 %), so two failures in a period are needed to breach; at busy endpoints it changes nothing.

    ``watch_whole_endpoint=True`` adds, per variant, a 5XX-rate alarm over both fleets (no
    ``EndpointConfigName``): SageMaker then also stops a deployment when the *old* fleet fails. Missing data
    (no traffic yet on the new fleet) is not breaching. ``enabled=False`` creates none (give your own alarms).
    """

    max_5xx_error_rate_percent: float = 1.0
    max_model_error_rate_percent: float = 1.0
    max_model_latency_ms: float = 1000.0
    latency_statistic: str = "p99"
    min_invocations: int | None = None
    period_seconds: int = 60
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 2
    watch_whole_endpoint: bool = False
    enabled: bool = True

    def validate(self, path: str) -> None:
        ERROR_RATE_PERCENT.check(f"{path}.max_5xx_error_rate_percent", self.max_5xx_error_rate_percent)
        ERROR_RATE_PERCENT.check(f"{path}.max_model_error_rate_percent", self.max_model_error_rate_percent)
        LATENCY_MS.check(f"{path}.max_model_latency_ms", self.max_model_latency_ms)
        if not isinstance(self.latency_statistic, str) or not re.fullmatch(LATENCY_STATISTIC,
                                                                           self.latency_statistic):
            raise ConfigError(f"{path}.latency_statistic", "must be Average, Maximum or a percentile like p99, got "
                              f"{self.latency_statistic!r}")
        if self.min_invocations is not None:
            MIN_INVOCATIONS.check(f"{path}.min_invocations", self.min_invocations)
        check_choice(f"{path}.period_seconds", self.period_seconds, ALARM_PERIODS)
        EVALUATION_PERIODS.check(f"{path}.evaluation_periods", self.evaluation_periods)
        check_whole(f"{path}.datapoints_to_alarm", self.datapoints_to_alarm, 1, self.evaluation_periods,
                    "(at most evaluation_periods)")

    def min_invocations_for(self, threshold_percent: float) -> int:
        """The rate's smallest denominator for an alarm at ``threshold_percent``: the configured
        ``min_invocations``, else the request count at which a single failure equals the threshold."""
        if self.min_invocations is not None:
            return self.min_invocations
        return max(1, math.ceil(100 / threshold_percent - 1e-9))

    @property
    def per_variant(self) -> int:
        """Alarms created per production variant."""
        if not self.enabled:
            return 0
        return 4 if self.watch_whole_endpoint else 3


def fleet_capacity(variants: Sequence[ProductionVariant], max_capacities: dict[str, int] | None = None) -> int:
    """The largest instance count a production variant can have when a deployment starts: autoscaling's
    maximum (``max_capacities``, by variant) where it scales (the endpoint keeps scaled-out counts across
    updates), else the initial count; 1 for a serverless endpoint. Rolling batches and linear instance steps
    are counted at this size."""
    return max(((max_capacities or {}).get(v.name, v.initial_instance_count)
                for v in variants if not v.is_serverless), default=1)


MAX_PRODUCTION_VARIANTS = 10
#: SageMaker's limit on a deployment's auto-rollback alarms (AlarmList, 1-10).
MAX_ROLLBACK_ALARMS = 10
#: The rollback alarms of a production variant (or an inference component: the first three), in order;
#: ``endpoint-5xx-rate`` only with ``RollbackAlarms.watch_whole_endpoint``. Each is named ``<prefix>-<kind>``.
ALARM_KINDS = ("5xx-rate", "model-error-rate", "latency", "endpoint-5xx-rate")


def check_autoscaling(path: str, variant: ProductionVariant, min_capacity: int, max_capacity: int,
                      target_invocations_per_instance: int | None, *, asynchronous: bool = False,
                      target_backlog_per_instance: float | None = None) -> None:
    """The rules of target-tracking autoscaling on one production variant (``path`` names its settings): on
    invocations per instance for a real-time endpoint; on queued requests per instance for an asynchronous one,
    which may scale down to zero instances."""
    if variant.is_serverless:
        raise ConfigError(path, "autoscaling applies to instance variants only; serverless variants scale "
                          "by max concurrency")
    check_whole(f"{path}.min_capacity", min_capacity, 0 if asynchronous else 1, variant.initial_instance_count,
                f"(at most initial_instance_count {variant.initial_instance_count}"
                + ("" if asynchronous else "; only an asynchronous endpoint scales to zero") + ")")
    check_whole(f"{path}.max_capacity", max_capacity, max(min_capacity, variant.initial_instance_count, 1),
                MAX_INSTANCES, "(at least min_capacity and initial_instance_count)")
    wanted, unwanted = ("target_backlog_per_instance", "target_invocations_per_instance")
    if not asynchronous:
        wanted, unwanted = unwanted, wanted
    given = {"target_backlog_per_instance": target_backlog_per_instance,
             "target_invocations_per_instance": target_invocations_per_instance}
    if given[unwanted] is not None:
        kind = "an asynchronous" if asynchronous else "a real-time"
        raise ConfigError(f"{path}.{unwanted}", f"does not apply to {kind} endpoint (it scales on {wanted}), "
                          f"got {cut(given[unwanted])}")
    if given[wanted] is None:
        raise ConfigError(f"{path}.{wanted}", "is required: " + (
            "the queued requests per instance (ApproximateBacklogSizePerInstance) autoscaling keeps"
            if asynchronous else "the invocations per instance and minute autoscaling keeps") + ", got none")
    (TARGET_BACKLOG if asynchronous else TARGET_INVOCATIONS).check(f"{path}.{wanted}", given[wanted])


#: GPU instances a multi-model endpoint runs on (SageMaker's Triton container only); every CPU type works.
MULTI_MODEL_GPU_TYPES = frozenset({
    "ml.p2.xlarge", "ml.p3.2xlarge", *(f"ml.g5.{size}" for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge",
                                                                      "16xlarge")),
    *(f"ml.g4dn.{size}" for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"))})


def check_multi_model(variants: list[ProductionVariant], multi_model: list[int], shadow: ShadowVariant | None,
                      asynchronous: AsyncInference | None) -> None:
    """What a multi-model endpoint excludes (SageMaker's multi-model, serverless and shadow-test pages): a
    serverless variant, a shadow variant, asynchronous inference (its invocation names no target model), and
    instance types beyond every CPU type and the GPU types of SageMaker's Triton container."""
    from .instance_types import ACCELERATED

    if shadow is not None:
        raise ConfigError("shadow_variant", "is not supported on a multi-model endpoint (SageMaker's shadow "
                          "variants and shadow tests exclude them), got one")
    if asynchronous is not None:
        raise ConfigError("async_inference", "is not supported with a multi-model container (an asynchronous "
                          "invocation cannot name its target model), got one")
    for i in multi_model:
        variant = variants[i]
        if variant.is_serverless:
            raise ConfigError(f"variants[{i}].serverless_memory_mb", "must not be set on a multi-model variant "
                              "(serverless endpoints exclude multi-model containers), got "
                              f"{variant.serverless_memory_mb}")
        if variant.instance_type and ACCELERATED.match(variant.instance_type):
            if variant.instance_type not in MULTI_MODEL_GPU_TYPES:
                raise ConfigError(f"variants[{i}].instance_type", "must be a CPU type or one of the GPU types "
                                  f"multi-model endpoints run on ({', '.join(sorted(MULTI_MODEL_GPU_TYPES))}), got "
                                  f"{variant.instance_type!r}")
            image = str(variant.model.container.get("Image", ""))
            if "tritonserver" not in image and not _is_token(image):
                raise ConfigError(f"variants[{i}].instance_type", f"{variant.instance_type} is a GPU type: a "
                                  "multi-model endpoint runs on GPUs only with SageMaker's Triton container "
                                  f"(sagemaker-tritonserver), got image {cut(image)}")


def validate_endpoint(endpoint_name: str, variants: list[ProductionVariant], shadow: ShadowVariant | None,
                      capture: DataCapture | None, rollout: RolloutSpec, alarms: RollbackAlarms, *,
                      extra_alarms: int = 0, network_isolation: bool = True, subnets: int = 0,
                      security_groups: int = 0, max_capacities: dict[str, int] | None = None,
                      asynchronous: AsyncInference | None = None) -> None:
    """Every rule of an endpoint as a whole (each value object checks itself), in plain Python: what
    ``ModelEndpoint`` enforces at construction and ``python -m constructs_lib.config --check`` runs without
    CDK. ``max_capacities`` are the autoscaled variants' maxima (the rollout's waits are counted at them)."""
    if asynchronous is not None:
        check_async(variants, shadow, capture, rollout, alarms, asynchronous)
    if "${Token[" not in endpoint_name:
        check_sagemaker_name("endpoint_name", endpoint_name)
    if not 1 <= len(variants) <= MAX_PRODUCTION_VARIANTS:
        raise ConfigError("variants", f"must hold 1 to {MAX_PRODUCTION_VARIANTS} production variants, got "
                          f"{len(variants)}")
    for i, variant in enumerate(variants):
        variant.validate(f"variants[{i}]")
    if all(v.weight == 0 for v in variants):
        raise ConfigError("variants", "at least one production variant needs a weight above 0, got all 0")
    names = [v.name for v in variants] + ([shadow.variant.name] if shadow else [])
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError("variants", f"variant names must be unique (shadow included), got {duplicates[0]!r} twice")
    if shadow is not None:
        shadow.validate("shadow_variant")
        if len(variants) != 1:
            raise ConfigError("shadow_variant", f"needs exactly one production variant, got {len(variants)}")
        if variants[0].weight == 0:
            raise ConfigError("variants[0].weight", "must be above 0 when a shadow variant samples its traffic, got 0")
    if capture is not None:
        capture.validate("data_capture")
    if bool(subnets) != bool(security_groups):
        raise ConfigError("vpc_subnets", "subnets and security groups go together; got "
                          f"{subnets} subnet(s) and {security_groups} security group(s)")
    serverless = [v for v in variants if v.is_serverless]
    if serverless:
        if len(variants) != 1:
            raise ConfigError("variants", f"a serverless endpoint has exactly one production variant, got "
                              f"{len(variants)}")
        for prop, present in (("shadow_variant", shadow is not None), ("data_capture", capture is not None),
                              ("vpc_subnets", bool(subnets)), ("network_isolation", network_isolation)):
            if present:
                raise ConfigError(prop, f"is not supported on a serverless endpoint, got "
                                  f"{'true' if prop == 'network_isolation' else 'a value'}")
        if rollout.strategy not in ("all_at_once", "unguarded"):
            raise ConfigError("deployment.type", "a serverless endpoint supports only all_at_once, got "
                              f"{rollout.strategy!r}")
    multi_model = [i for i, v in enumerate(variants) if v.model.is_multi_model]
    if multi_model or shadow is not None and shadow.variant.model.is_multi_model:
        check_multi_model(variants, multi_model, shadow, asynchronous)
    if rollout.strategy == "rolling" and len(variants) > 1:
        raise ConfigError("deployment.type", "a rolling update needs exactly one production variant, got "
                          f"{len(variants)}; use canary or linear for A/B endpoints")
    instance_counts = [v.initial_instance_count for v in variants if not v.is_serverless]
    rollout.check_capacity(min(instance_counts, default=0), waits_capacity=fleet_capacity(variants, max_capacities))
    alarms.validate("rollback_alarms")
    total = alarms.per_variant * len(variants) + extra_alarms
    if total > MAX_ROLLBACK_ALARMS:
        raise ConfigError("rollback_alarms", f"at most {MAX_ROLLBACK_ALARMS} alarms can roll a deployment back "
                          f"(SageMaker's limit), got {total} ({alarms.per_variant} per production variant x "
                          f"{len(variants)} + {extra_alarms} extra); use fewer variants or give your own")




def check_async(variants: list[ProductionVariant], shadow: ShadowVariant | None, capture: DataCapture | None,
                rollout: RolloutSpec, alarms: RollbackAlarms, asynchronous: AsyncInference) -> None:
    """What an asynchronous endpoint cannot combine with (SageMaker's hosting feature matrix: one production
    variant, no shadow variant, no data capture, no inference pipeline, not serverless) and what its rollback
    alarms cannot judge: async endpoints publish no ``EndpointConfigName`` dimension, so an alarm cannot tell
    the new fleet from the old, and only a rollout that moves all traffic at once bakes the new fleet alone."""
    asynchronous.validate("async_inference")
    if len(variants) != 1:
        raise ConfigError("variants", f"an asynchronous endpoint has exactly one production variant, got "
                          f"{len(variants)}")
    variant = variants[0]
    if variant.is_serverless:
        raise ConfigError("variants[0].serverless_memory_mb", "an asynchronous endpoint runs on instances "
                          f"(instance_type), not serverless, got {variant.serverless_memory_mb}")
    if variant.model.is_pipeline:
        raise ConfigError("variants[0].model", "an asynchronous endpoint serves one container (SageMaker "
                          f"supports no inference pipeline with async inference), got {variant.model.description}")
    for prop, present in (("shadow_variant", shadow is not None), ("data_capture", capture is not None)):
        if present:
            raise ConfigError(prop, "is not supported on an asynchronous endpoint, got a value")
    if rollout.strategy not in ASYNC_STRATEGIES:
        raise ConfigError("deployment.type", f"must be one of {', '.join(ASYNC_STRATEGIES)} on an asynchronous "
                          "endpoint (its metrics carry no EndpointConfigName, so the rollback alarms cannot tell "
                          f"a {rollout.strategy} rollout's new fleet from the old one), got {rollout.strategy!r}")
    if alarms.watch_whole_endpoint:
        raise ConfigError("rollback_alarms.watch_whole_endpoint", "must be false on an asynchronous endpoint (its "
                          "alarms watch the whole variant already: async metrics carry no EndpointConfigName), "
                          "got true")
