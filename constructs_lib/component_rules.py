"""The rules of inference components and their hosts, in plain Python (no aws_cdk, no boto3): the
constructs (``components.py``) and the config loader (``--check``) run the same checks, and the config's
JSON Schema shows the same limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError, Limit, check_choice, cut
from .instance_types import INFERENCE_INSTANCE_TYPES
from .rollout import RolloutSpec
from .variants import MAX_INSTANCES, ModelSource

#: botocore ``InferenceComponentComputeResourceRequirements``: at least a quarter core, 128 MB, one accelerator
#: (the upper bounds are typo guards above any instance's size, not SageMaker's).
CPU_CORES = Limit(0.25, 1024, "cores")
MEMORY_MB = Limit(128, 4 * 1024 * 1024, "MB", whole=True)
ACCELERATORS = Limit(1, 64, "devices", whole=True)
#: Copies a component runs (``RuntimeConfig.CopyCount``; 0 is scale-to-zero, not built here).
COPIES = Limit(1, MAX_INSTANCES, "copies", whole=True)
HOST_INSTANCES = Limit(1, MAX_INSTANCES, "instances", whole=True)
INVOCATIONS_PER_COPY = Limit(1, 10 ** 6, "requests per copy per minute", whole=True)


class RoutingStrategy:
    """How the host's router picks the copy (instance) that answers a request (``RoutingConfig``)."""

    #: The copy with the fewest requests in flight.
    LEAST_OUTSTANDING_REQUESTS = "LEAST_OUTSTANDING_REQUESTS"
    #: Any copy at random.
    RANDOM = "RANDOM"


@dataclass(frozen=True)
class ComputeRequirements:
    """What one copy of a component reserves on an instance (``ComputeResourceRequirements``).

    :param memory_mb: memory reserved per copy (MiB, at least 128; SageMaker's ``MinMemoryRequiredInMb``).
    :param cpu_cores: CPU cores per copy (at least 0.25); default none reserved.
    :param accelerators: GPUs or Inferentia/Trainium devices per copy; default none.
    :param max_memory_mb: memory a copy may grow to; default ``memory_mb``'s reservation only.
    """

    memory_mb: int
    cpu_cores: float | None = None
    accelerators: int | None = None
    max_memory_mb: int | None = None

    def validate(self, path: str = "compute") -> None:
        """Raise ``ConfigError`` (keys under ``path``, none when empty) unless SageMaker would take these."""
        at = f"{path}." if path else ""
        MEMORY_MB.check(f"{at}memory_mb", self.memory_mb)
        if self.cpu_cores is not None:
            CPU_CORES.check(f"{at}cpu_cores", self.cpu_cores)
        if self.accelerators is not None:
            ACCELERATORS.check(f"{at}accelerators", self.accelerators)
        if self.max_memory_mb is not None:
            MEMORY_MB.check(f"{at}max_memory_mb", self.max_memory_mb)
            if self.max_memory_mb < self.memory_mb:
                raise ConfigError(f"{at}max_memory_mb", f"must be at least memory_mb ({self.memory_mb}), got "
                                  f"{self.max_memory_mb}")

    def to_api(self) -> dict:
        api: dict = {"MinMemoryRequiredInMb": self.memory_mb}
        if self.max_memory_mb is not None:
            api["MaxMemoryRequiredInMb"] = self.max_memory_mb
        if self.cpu_cores is not None:
            api["NumberOfCpuCoresRequired"] = self.cpu_cores
        if self.accelerators is not None:
            api["NumberOfAcceleratorDevicesRequired"] = self.accelerators
        return api


def check_component_model(path: str, model) -> None:
    """An inference component runs one container: a model package registered with several (an inference
    pipeline) or a pipeline of images has no place in one."""
    if not isinstance(model, ModelSource) or model.is_pipeline:
        raise ConfigError(path, "must be a one-container model (an inference component runs one container; "
                          "an inference pipeline cannot be a component), got "
                          + (model.description if isinstance(model, ModelSource) else cut(model)))


def check_component_rollout(path: str, spec: RolloutSpec, copies: int, min_copies: int | None = None,
                            max_copies: int | None = None) -> None:
    """A component's release policy: SageMaker updates components by rolling update only (or, ``unguarded``,
    without a deployment config). A batch "must be between 5% to 50% of the copy count" (SageMaker's API
    reference): a batch counted in copies is at most half the fewest copies the component may have when a
    release starts (``min_copies`` when autoscaled) and at least 5% of the most (``max_copies``), so a component
    released in batches of copies has at least two; a rollback batch is at most the copies. The waits fit the
    maximum execution time at the most copies."""
    check_choice(f"{path}.type", spec.strategy, ("rolling", "unguarded"))
    if spec.strategy != "rolling":
        return
    assert spec.size is not None
    fewest, most = min(copies, min_copies or copies), max(copies, max_copies or copies)
    if spec.size.unit == "instances":
        batch = spec.size.value
        if batch > fewest // 2:
            raise ConfigError(f"{path}.batch_size", (
                f"must be at most 50% of the component's copies ({fewest}" + (" at the fewest autoscaling allows"
                                                                            if fewest < copies else "")
                + f", so at most {fewest // 2}), got {batch} copies") if fewest >= 2 else (
                f"a rolling update in batches of copies needs at least 2 copies (each batch is 5-50% of them), the "
                f"component has {fewest}" + (" at the fewest" if fewest < copies else "")
                + ": give it 2 copies, or deployment type unguarded"))
        if batch * 20 < most:
            raise ConfigError(f"{path}.batch_size", f"must be at least 5% of the component's copies ({most}"
                              + (" at the most autoscaling allows" if most > copies else "")
                              + f", so at least {-(-most // 20)}), got {batch} copies")
    if spec.rollback_size is not None and spec.rollback_size.unit == "instances" and spec.rollback_size.value > most:
        raise ConfigError(f"{path}.rollback_batch_size", f"must be at most the component's copies ({most}), got "
                          f"{spec.rollback_size.value}")
    spec.check_capacity(max(fewest, 2), path=path, waits_capacity=most)


def check_copy_scaling(path: str, copies: int, min_copies: int, max_copies: int, target_invocations_per_copy: int) -> None:
    """Autoscaling of a component's copies: 1 <= min_copies <= copies <= max_copies (scale to zero is not
    offered: it needs the host at zero instances and a step policy to leave zero), a positive target."""
    COPIES.check(f"{path}.min_copies", min_copies)
    COPIES.check(f"{path}.max_copies", max_copies)
    if max_copies < min_copies:
        raise ConfigError(f"{path}.max_copies", f"must be at least min_copies ({min_copies}), got {max_copies}")
    if not min_copies <= copies <= max_copies:
        raise ConfigError(f"{path}.min_copies", f"copies ({copies}) must be between min_copies and max_copies, got "
                          f"{min_copies}-{max_copies}")
    INVOCATIONS_PER_COPY.check(f"{path}.target_invocations_per_copy", target_invocations_per_copy)


def check_host(instance_type: str, instance_count: int, max_instance_count: int | None,
               min_instance_count: int | None, routing: str) -> None:
    """A component host's instances: a real-time hosting type, counts within SageMaker's, the routing."""
    if instance_type not in INFERENCE_INSTANCE_TYPES:
        raise ConfigError("instance_type", "must be a SageMaker real-time inference instance type from the ml. "
                          f"families (for example ml.m5.xlarge), got {cut(instance_type)}")
    HOST_INSTANCES.check("instance_count", instance_count)
    check_choice("routing", routing, (RoutingStrategy.LEAST_OUTSTANDING_REQUESTS, RoutingStrategy.RANDOM))
    if max_instance_count is not None:
        HOST_INSTANCES.check("max_instance_count", max_instance_count)
        if max_instance_count < instance_count:
            raise ConfigError("max_instance_count", f"must be at least instance_count ({instance_count}), got "
                              f"{max_instance_count}")
    if min_instance_count is not None:
        if max_instance_count is None:
            raise ConfigError("min_instance_count", "applies only with max_instance_count (managed instance "
                              "scaling)")
        Limit(1, instance_count, "instances", whole=True).check("min_instance_count", min_instance_count)
