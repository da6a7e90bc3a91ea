"""The rules of an edge release, in plain Python (no aws_cdk, no boto3): a Greengrass v2 deployment to a thing
group is an IoT job, with a staged rollout and abort criteria. The constructs (``edge.py``) and ``mlops plan``
use the same value objects, and their limits are botocore's ``greengrassv2`` ``CreateDeployment`` shapes
(``IoTJobExponentialRolloutRate``, ``IoTJobAbortCriteria``, ``IoTJobTimeoutConfig``).

How a rollout reaches devices, as the plan counts it:

* devices are notified at ``base_rate_per_minute``; each time ``rate_increase_after`` more devices have
  *succeeded* (or been *notified*, ``count="notified"``) the rate is multiplied by ``increment_factor``, up to
  ``maximum_per_minute``. Counting successes (the default) means a version that fails on every device never
  speeds up: it keeps reaching devices at the base rate until the abort;
* the job is cancelled (queued devices are never updated; those already installing go on) once
  ``min_executed`` devices have finished and ``threshold_percent`` of them failed in one of ``failure_types``
  (AWS's pages say "exceeds" and "at least": both are in the documentation);
* a device that has not finished ``in_progress_timeout_minutes`` after it *started* counts as ``TIMED_OUT``
  (a device that is offline stays queued and times out never).

``exposed_if_every_device_fails`` counts what a version that fails on every device reaches before the abort:
every device notified until the ``min_executed``-th failure is known, at the latest one timeout after that
device was notified (when devices start at once, and timeouts are counted). It is a bound for that case only:
a version that fails on a share of the devices, below the threshold or above it but with its failures coming
late (timeouts) while successes come early, can reach the whole fleet first. The abort judges a share, not a
count.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import ConfigError, Limit, check_choice, cut

__all__ = ["ABORT_FAILURE_TYPES", "DLR_RUNTIME", "check_gate_reachable", "check_version_requirement", "EDGE_DEVICES", "EdgeAbort", "EdgeGate", "EdgeRollout", "EdgeTarget", "Wave", "check_component_name",
           "check_component_version", "IN_PROGRESS_MINUTES", "exposed_if_every_device_fails", "rollout_waves"]

#: AWS's DLR runtime component (DLR 1.6.0, which runs SageMaker Neo's compiled models), as a dependency.
DLR_RUNTIME = MappingProxyType({"variant.DLR": "~1.6.0"})
#: ``IoTJobRolloutBaseRatePerMinute`` and ``IoTJobMaxExecutionsPerMin``.
RATE_PER_MINUTE = Limit(1, 1000, "devices per minute", whole=True)
#: ``IoTJobRolloutIncrementFactor`` (one digit after the decimal point).
INCREMENT_FACTOR = Limit(1, 5)
#: ``IoTJobNumberOfThings`` (CloudFormation's upper bound).
DEVICES = Limit(1, 2 ** 31 - 1, "devices", whole=True)
#: ``IoTJobAbortCriteria.thresholdPercentage`` (two digits after the decimal point). Not 100: AWS documents the
#: share as having to *exceed* the threshold (the IoT guide says "at least"), and no share exceeds 100 %.
THRESHOLD_PERCENT = Limit(0, 99.99, "percent")
#: ``IoTJobInProgressTimeoutInMinutes``: "between 1 minute and 7 days (10080 minutes)".
IN_PROGRESS_MINUTES = Limit(1, 10080, "minutes", whole=True)
ABORT_FAILURE_TYPES = ("FAILED", "REJECTED", "TIMED_OUT", "ALL")
RATE_COUNTS = ("succeeded", "notified")

#: IoT thing group names (what a Greengrass deployment to a group targets).
THING_GROUP = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
#: Greengrass component names: letters, digits, dots, hyphens, underscores (the recipe reference), at most 128.
_COMPONENT_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
#: Semantic versions as Greengrass takes them: major.minor.patch, numbers only here (no pre-release tag, so
#: every version the library makes sorts as its model version does).
_COMPONENT_VERSION = r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})"


def _decimals(path: str, value: float, digits: int) -> None:
    if round(value, digits) != value:
        raise ConfigError(path, f"may have at most {digits} digit{'s' if digits > 1 else ''} after the decimal "
                          f"point (IoT jobs round nothing), got {value!r}")


@dataclass(frozen=True)
class EdgeRollout:
    """How fast a new version reaches a thing group's devices (an IoT job's exponential rollout).

    :param base_rate_per_minute: devices notified per minute at first (1-1000); default 2.
    :param increment_factor: what the rate is multiplied by at each step (1-5, one decimal); default 2.
    :param rate_increase_after: devices that must succeed (or be notified) before each increase; default 10.
    :param count: ``"succeeded"`` (default: a failing version never speeds up) or ``"notified"``.
    :param maximum_per_minute: the rate's ceiling (1-1000, at least the base rate); default 100.
    """

    base_rate_per_minute: int = 2
    increment_factor: float = 2.0
    rate_increase_after: int = 10
    count: str = "succeeded"
    maximum_per_minute: int = 100

    def validate(self, path: str = "rollout") -> None:
        at = f"{path}." if path else ""
        RATE_PER_MINUTE.check(f"{at}base_rate_per_minute", self.base_rate_per_minute)
        INCREMENT_FACTOR.check(f"{at}increment_factor", self.increment_factor)
        _decimals(f"{at}increment_factor", self.increment_factor, 1)
        DEVICES.check(f"{at}rate_increase_after", self.rate_increase_after)
        check_choice(f"{at}count", self.count, RATE_COUNTS)
        RATE_PER_MINUTE.check(f"{at}maximum_per_minute", self.maximum_per_minute)
        if self.maximum_per_minute < self.base_rate_per_minute:
            raise ConfigError(f"{at}maximum_per_minute", f"must be at least base_rate_per_minute "
                              f"({self.base_rate_per_minute}), got {self.maximum_per_minute}")

    def to_job_config(self) -> dict:
        """``JobExecutionsRolloutConfig`` (CloudFormation casing)."""
        criteria = {"succeeded": "NumberOfSucceededThings", "notified": "NumberOfNotifiedThings"}[self.count]
        return {"ExponentialRate": {"BaseRatePerMinute": self.base_rate_per_minute,
                                    "IncrementFactor": float(self.increment_factor),
                                    "RateIncreaseCriteria": {criteria: self.rate_increase_after}},
                "MaximumPerMinute": self.maximum_per_minute}


@dataclass(frozen=True)
class EdgeAbort:
    """When the rollout stops: once at least ``min_executed`` devices have finished and more than
    ``threshold_percent`` of them failed (in one of ``failure_types``), devices not yet notified never get the
    version (an IoT job's abort criteria, action CANCEL).

    :param threshold_percent: failure share that cancels the rollout (0-99.99, two decimals); default 10.
    :param min_executed: devices that must have finished before the share is judged (at least 1); default 10.
    :param failure_types: which failures count, each a criterion of its own: ``FAILED`` (the deployment
        failed on the device), ``REJECTED``, ``TIMED_OUT`` or ``ALL``; default ``("ALL",)``.
    """

    threshold_percent: float = 10.0
    min_executed: int = 10
    failure_types: tuple[str, ...] = field(default=("ALL",))

    def validate(self, path: str = "abort") -> None:
        at = f"{path}." if path else ""
        THRESHOLD_PERCENT.check(f"{at}threshold_percent", self.threshold_percent)
        _decimals(f"{at}threshold_percent", self.threshold_percent, 2)
        DEVICES.check(f"{at}min_executed", self.min_executed)
        if isinstance(self.failure_types, str) or not self.failure_types:
            raise ConfigError(f"{at}failure_types", f"must list one or more of {', '.join(ABORT_FAILURE_TYPES)}, "
                              f"got {cut(self.failure_types)}")
        for i, kind in enumerate(self.failure_types):
            check_choice(f"{at}failure_types[{i}]", kind, ABORT_FAILURE_TYPES)
            if kind in self.failure_types[:i]:
                raise ConfigError(f"{at}failure_types[{i}]", f"must not repeat a failure type, got {kind} twice")
        if "ALL" in self.failure_types and len(self.failure_types) > 1:
            raise ConfigError(f"{at}failure_types", "ALL counts every failure already: give it alone, got "
                              + ", ".join(self.failure_types))

    def to_job_config(self) -> dict:
        """``AbortConfig`` (CloudFormation casing)."""
        return {"CriteriaList": [{"FailureType": kind, "Action": "CANCEL",
                                  "ThresholdPercentage": float(self.threshold_percent),
                                  "MinNumberOfExecutedThings": self.min_executed} for kind in self.failure_types]}


def check_component_name(path: str, value: object, aws_allowed: bool = False) -> None:
    """A Greengrass component name; one of this library's own must not take AWS's ``aws.greengrass.`` prefix
    (``aws_allowed``: a dependency may be one of AWS's components)."""
    if not isinstance(value, str) or not re.fullmatch(_COMPONENT_NAME, value):
        raise ConfigError(path, "must be a Greengrass component name: 1-128 letters, digits, '.', '-' or '_', "
                          f"starting with a letter or digit, got {cut(value)}")
    if not aws_allowed and value.startswith("aws.greengrass."):
        raise ConfigError(path, f"must not start with aws.greengrass. (AWS's own components), got {cut(value)}")


def check_component_version(path: str, value: object) -> None:
    if not isinstance(value, str) or not re.fullmatch(_COMPONENT_VERSION, value):
        raise ConfigError(path, f"must be a version major.minor.patch of whole numbers (for example 1.0.7), got "
                          f"{cut(value)}")


#: Greengrass version requirements (npm-style semantic version ranges): comparators of versions, ranges joined
#: by ``||``.
_VERSION = r"\d+(\.(\d+|x|\*)){0,2}"
_COMPARATOR = rf"((\^|~|[<>]=?|=)?\s*{_VERSION}|\*)"
_RANGE = rf"({_COMPARATOR}(\s+{_COMPARATOR})*|{_VERSION}\s+-\s+{_VERSION})"
_REQUIREMENT = rf"\s*{_RANGE}(\s*\|\|\s*{_RANGE})*\s*"


def check_version_requirement(path: str, value: object) -> None:
    """A component dependency's version requirement, such as ``~1.6.0``, ``>=2.0.0 <3.0.0`` or ``^1.2``."""
    if not isinstance(value, str) or not re.fullmatch(_REQUIREMENT, value):
        raise ConfigError(path, "must be a version requirement such as ~1.6.0, ^1.2 or >=2.0.0 <3.0.0, got "
                          f"{cut(value)}")


# ------------------------------------------------------------------------------------------- the Neo target
#: botocore's ``TargetDevice`` values that are devices (not SageMaker instance families, Lambda or Core ML, nor
#: AWS DeepLens, which reached its end of life); a test pins them to botocore's enum.
EDGE_DEVICES = ("jetson_tx1", "jetson_tx2", "jetson_nano", "jetson_xavier", "rasp3b", "rasp4b", "imx8qm",
                "rk3399", "rk3288", "aisage", "sbe_c", "qcs605", "qcs603", "sitara_am57x", "amba_cv2", "amba_cv22",
                "amba_cv25", "x86_win32", "x86_win64", "jacinto_tda4vm", "imx8mplus")
#: ``TargetPlatform``: Os, Arch, Accelerator.
PLATFORM_OS = ("LINUX", "ANDROID")
PLATFORM_ARCH = ("X86_64", "X86", "ARM64", "ARM_EABI", "ARM_EABIHF")
PLATFORM_ACCELERATORS = ("INTEL_GRAPHICS", "MALI", "NVIDIA", "NNA")


@dataclass(frozen=True)
class EdgeTarget:
    """What SageMaker Neo compiles a model version for: a device (``device``, one of ``EDGE_DEVICES``), or a
    platform (``os`` and ``arch``, optional ``accelerator``). ``compiler_options`` is Neo's JSON text of
    options, which AWS requires for NVIDIA accelerators."""

    device: str | None = None
    os: str | None = None
    arch: str | None = None
    accelerator: str | None = None
    compiler_options: str | None = None

    def validate(self, path: str = "edge") -> None:
        at = f"{path}." if path else ""
        if (self.device is None) == (self.os is None and self.arch is None):
            raise ConfigError(f"{at}device", "give a device, or a platform (os and arch), not both or neither, got "
                              f"device {cut(self.device)}, os {cut(self.os)}, arch {cut(self.arch)}")
        if self.device is not None:
            check_choice(f"{at}device", self.device, EDGE_DEVICES)
            if self.accelerator is not None:
                raise ConfigError(f"{at}accelerator", f"goes with a platform (os, arch), not a device, got "
                                  f"{cut(self.accelerator)}")
        else:
            check_choice(f"{at}os", self.os, PLATFORM_OS)
            check_choice(f"{at}arch", self.arch, PLATFORM_ARCH)
            if self.accelerator is not None:
                check_choice(f"{at}accelerator", self.accelerator, PLATFORM_ACCELERATORS)
            if self.accelerator == "NVIDIA" and (self.os, self.arch) not in (("LINUX", "X86_64"), ("LINUX", "ARM64")):
                raise ConfigError(f"{at}arch", "with an NVIDIA accelerator must be X86_64 or ARM64 on LINUX (Neo's "
                                  f"supported platforms), got {self.os} {self.arch}")
        if self.compiler_options is not None:
            if not isinstance(self.compiler_options, str) or not 3 <= len(self.compiler_options) <= 1024:
                raise ConfigError(f"{at}compiler_options", "must be Neo's options as JSON text of 3-1024 characters "
                                  f"(for example {{\"mattr\": [\"+neon\"]}}), got {cut(self.compiler_options)}")
            try:
                options = json.loads(self.compiler_options)
            except ValueError:
                options = None
            if not isinstance(options, dict):
                raise ConfigError(f"{at}compiler_options", "must be a JSON object as text (for example "
                                  f"'{{\"mattr\": [\"+neon\"]}}'), got {cut(self.compiler_options)}")
        elif self.accelerator == "NVIDIA":
            raise ConfigError(f"{at}compiler_options", "is required for an NVIDIA accelerator (AWS: gpu-code, trt-ver "
                              "and cuda-ver, for example {\"gpu-code\": \"sm_72\", \"trt-ver\": \"6.0.1\", "
                              "\"cuda-ver\": \"10.1\"}), got none")

    def output_config(self) -> dict:
        """The target part of CreateCompilationJob's ``OutputConfig`` (API casing)."""
        if self.device is not None:
            target: dict = {"TargetDevice": self.device}
        else:
            target = {"TargetPlatform": {"Os": self.os, "Arch": self.arch,
                                         **({"Accelerator": self.accelerator} if self.accelerator else {})}}
        if self.compiler_options is not None:
            target["CompilerOptions"] = self.compiler_options
        return target

    @property
    def description(self) -> str:
        if self.device is not None:
            return self.device
        return "-".join(part.lower() for part in (self.os, self.arch, self.accelerator) if part)


# ------------------------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Wave:
    """Devices notified at one rate: from minute ``start`` to ``end`` (fractions of minutes)."""

    rate_per_minute: float
    devices: int
    start: float
    end: float


def rollout_waves(devices: int, rollout: EdgeRollout) -> list[Wave]:
    """The waves that take a healthy version to ``devices`` devices: each device succeeding at once (with
    ``count="succeeded"`` real devices take their install time between notification and success, so the real
    rollout is slower, never faster). The last wave holds every device left at the ceiling rate."""
    DEVICES.check("devices", devices)
    rollout.validate("rollout")
    waves: list[Wave] = []
    rate, notified, minute = float(rollout.base_rate_per_minute), 0, 0.0
    while notified < devices:
        rate = min(rate, float(rollout.maximum_per_minute))
        last = rate >= rollout.maximum_per_minute or rollout.increment_factor == 1  # the rate grows no more
        size = devices - notified if last else min(rollout.rate_increase_after, devices - notified)
        waves.append(Wave(rate, size, minute, minute + size / rate))
        notified, minute = notified + size, minute + size / rate
        rate *= rollout.increment_factor
    return waves


def _growing_or_flat(devices: int, rollout: EdgeRollout, grows: bool) -> list[Wave]:
    """The rollout's waves, or (``grows=False``: the rate never increases, as for a version that fails on every
    device when increases count successes) one wave at the base rate."""
    if grows:
        return rollout_waves(devices, rollout)
    rate = float(rollout.base_rate_per_minute)
    return [Wave(rate, devices, 0.0, devices / rate)]


def notified_by(minute: float, waves: list[Wave]) -> int:
    """Devices ``waves`` have notified by ``minute``."""
    total = 0
    for wave in waves:
        if minute >= wave.end:
            total += wave.devices
        else:
            total += max(0, math.floor((minute - wave.start) * wave.rate_per_minute + 1e-9))
            break
    return total


def minutes_to_notify(count: int, waves: list[Wave]) -> float:
    """When ``waves`` notify their ``count``-th device (the last one's minute when they hold fewer)."""
    done = 0
    for wave in waves:
        if done + wave.devices >= count:
            return wave.start + (count - done) / wave.rate_per_minute
        done += wave.devices
    return waves[-1].end


def exposed_if_every_device_fails(devices: int, rollout: EdgeRollout, abort: EdgeAbort, timeout_minutes: int) -> int:
    """Devices a version that fails on every device reaches before the abort (see the module docstring for
    what this does not bound): every device notified until the ``min_executed``-th failure is known, at the
    latest ``timeout_minutes`` after that device was notified, devices starting at once. With
    ``count="succeeded"`` such a version never raises the rate. Unless failures and timeouts both count
    (``ALL``, or ``FAILED`` with ``TIMED_OUT``), a failure may go uncounted and nothing bounds the exposure:
    then it is every device."""
    DEVICES.check("devices", devices)
    rollout.validate("rollout")
    abort.validate("abort")
    IN_PROGRESS_MINUTES.check("timeout_minutes", timeout_minutes)
    counted = set(abort.failure_types)
    if "ALL" not in counted and not {"FAILED", "TIMED_OUT"} <= counted:
        return devices
    waves = _growing_or_flat(devices, rollout, grows=rollout.count == "notified")
    known = minutes_to_notify(min(abort.min_executed, devices), waves) + timeout_minutes
    return max(min(abort.min_executed, devices), notified_by(known, waves))


# ------------------------------------------------------------------------------------------------- the gate
#: How long the delivery pipeline's wait step watches a deployment: at most 55 minutes (the check role's session,
#: assumed once from the pipeline's role, lasts one hour; the last look and the cancellation need a margin).
WAIT_MINUTES = Limit(1, 55, "minutes", whole=True)
FAILED_PERCENT = Limit(0, 100, "percent")


@dataclass(frozen=True)
class EdgeGate:
    """When the delivery pipeline calls a stage's edge release good (``mlops edge wait``), watching the
    deployment's IoT job for at most ``wait_minutes``; a failed gate cancels the deployment (devices not yet
    reached never get the version).

    A deployment to a thing group is a *continuous* job: it stays IN_PROGRESS while it is the group's deployment
    (devices added later get it too), so the gate judges the devices, not the job's status:

    * it fails at once when the job was cancelled (its abort criteria, a person, or a newer deployment), or when
      more than ``max_failed_percent`` of the devices that finished failed (failed, timed out or rejected), once
      ``min_executed`` devices finished (or all of them did);
    * it passes once ``min_succeeded_devices`` succeeded, or (by default) once every device the job targets has
      finished, none still queued or installing, and IoT is no longer rolling out (``processingTargets``);
    * it fails when the wait ends first, saying how many are still queued (offline devices stay queued).

    :param wait_minutes: 1-55 (the check role's session is one hour); default 30.
    :param min_succeeded_devices: devices that must succeed (at least 1); default every targeted device.
    :param max_failed_percent: share of finished devices allowed to fail, 0-100; default 0 (any failure fails).
    :param min_executed: finished devices before the share is judged (the abort's ``min_executed``); default 1.
    """

    wait_minutes: int = 30
    min_succeeded_devices: int | None = None
    max_failed_percent: float = 0.0
    min_executed: int = 1

    def validate(self, path: str = "verify") -> None:
        at = f"{path}." if path else ""
        WAIT_MINUTES.check(f"{at}wait_minutes", self.wait_minutes)
        if self.min_succeeded_devices is not None:
            DEVICES.check(f"{at}min_succeeded_devices", self.min_succeeded_devices)
        FAILED_PERCENT.check(f"{at}max_failed_percent", self.max_failed_percent)
        DEVICES.check(f"{at}min_executed", self.min_executed)

    def judge(self, job_status: str, devices: dict[str, int], rolling_out: bool = False) -> tuple[str, str]:
        """``("passed" | "failed" | "waiting", why)`` for a job's status, its device counts (``succeeded``,
        ``failed``, ``timed out``, ``rejected``, ``in progress``, ``queued``) and whether IoT is still rolling
        it out to targets (``processingTargets``)."""
        succeeded = devices.get("succeeded", 0)
        bad = sum(devices.get(key, 0) for key in ("failed", "timed out", "rejected"))
        pending = devices.get("in progress", 0) + devices.get("queued", 0)
        targeted = succeeded + bad + pending
        if job_status in ("CANCELED", "DELETION_IN_PROGRESS"):
            return "failed", (f"the rollout was cancelled (its abort criteria, a person or a newer deployment) with "
                              f"{succeeded} device(s) succeeded, {bad} failed and {pending} not finished")
        finished = succeeded + bad
        if bad and bad * 100 > self.max_failed_percent * finished and (finished >= self.min_executed or not pending):
            return "failed", (f"{bad} of {finished} finished device(s) failed ({bad * 100 / finished:.4g} %, at most "
                              f"{self.max_failed_percent:g} % allowed)")
        if not targeted:
            return "waiting", "the job targets no device yet (an empty thing group targets none)"
        counts = f"{succeeded} device(s) succeeded, {bad} failed, {pending} not finished"
        if self.min_succeeded_devices is None:
            if not pending and not rolling_out:
                return ("passed", f"every targeted device finished: {counts}") if succeeded else \
                    ("failed", f"no device succeeded: {counts}")
            return "waiting", counts + (" (IoT is still rolling the job out to the group)" if rolling_out else "")
        if succeeded >= self.min_succeeded_devices:
            return "passed", f"{counts} ({self.min_succeeded_devices} had to succeed)"
        return "waiting", f"{counts} ({self.min_succeeded_devices} must succeed)"


def check_gate_reachable(gate: EdgeGate, rollout: EdgeRollout, devices: int | None) -> None:
    """The gate's wait outlasts the rollout's notifying the devices it needs (``min_succeeded_devices``, or
    every device when ``devices`` gives the fleet's size): a wait that ends first can never pass."""
    needed = gate.min_succeeded_devices if gate.min_succeeded_devices is not None else devices
    if needed is None:
        return
    rollout.validate("rollout")
    minute = rollout_waves(needed, rollout)[-1].end
    if minute > gate.wait_minutes:
        raise ConfigError("verify.wait_minutes", f"must be at least {math.ceil(minute)} minutes: the rollout "
                          f"notifies device {needed} (the {'min_succeeded_devices' if gate.min_succeeded_devices else 'last of devices'}) "
                          f"at minute {minute:.1f} at best, so a wait that ends first can never pass; got "
                          f"{gate.wait_minutes}")
