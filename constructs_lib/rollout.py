"""Rollout arithmetic for SageMaker deployment guardrails, in plain Python.

This module is the single source of truth for what a deployment policy *means*: its validation rules, the
SageMaker ``DeploymentConfig`` it becomes, how long it waits, and the timeline of traffic on the new fleet.
It imports neither aws_cdk nor boto3, so the constructs (``deployment.py``), the config loader and the
operations command (``mlops plan``) all share it.

Timing model, from AWS's guardrail pages (blue/green all-at-once, canary, linear; rolling):

* ``wait``: ``WaitIntervalInSeconds``, the baking period after each traffic step, alarms watching: after the
  canary and again after the final shift (canary: "all of the traffic shifts to the green fleet and there is
  a final baking period"), after every linear step (the last step's bake is the final baking period), after
  every rolling batch. Not used by all-at-once (it has one step).
* ``bake_time``: all-at-once only, its one baking period (``WaitIntervalInSeconds``: "Once the green fleet
  starts receiving traffic, the baking period begins"). Canary and linear bake for ``wait`` after the last
  shift too, so they have no separate bake.
* ``termination_wait``: ``TerminationWaitInSeconds`` (blue/green), how long the old fleet is kept *after* the
  final baking period before it is terminated ("SageMaker waits ... after the final baking period before
  terminating the blue fleet"). The alarms are not counted on during it.
* ``max_execution_timeout``: ``MaximumExecutionTimeoutInSeconds``, 600-28800 s, "larger than the total waiting
  time specified in TerminationWaitInSeconds and WaitIntervalInSeconds"; when not given it is computed as the
  waits plus a provisioning allowance per fleet (blue/green) or per batch (rolling), counted at the largest
  fleet the deployment may meet: an autoscaled variant keeps its scaled-out count across updates
  (``RetainAllVariantProperties``), so its ``max_capacity`` sets the number of rolling batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigError, check_choice, check_range, check_whole

STRATEGIES = ("all_at_once", "canary", "linear", "rolling", "unguarded")
#: The strategy that sends no DeploymentConfig: SageMaker's plain blue/green update (no baking, no alarm
#: rollback). Only for the one release that changes the production variants, which guarded updates refuse.
UNGUARDED = "unguarded"
SIZE_UNITS = ("percent", "instances")

MAX_WAIT_SECONDS = 3600
MIN_TIMEOUT_SECONDS = 600
MAX_TIMEOUT_SECONDS = 28800
#: Allowance for SageMaker to provision one fleet (blue/green) or one batch (rolling) when the maximum
#: execution timeout is computed. Large GPU models can take longer: give ``max_execution_timeout`` then.
PROVISIONING_ALLOWANCE_SECONDS = 1800
#: Typical provisioning time used only for the rollout timeline shown by ``mlops plan``.
TYPICAL_PROVISIONING_SECONDS = 480

# (low, high) percent of a variant's instance count, per strategy, as SageMaker enforces them.
_PERCENT_LIMITS = {"canary": (1, 50), "linear": (10, 50), "rolling": (5, 50)}
_SIZE_FIELD = {"canary": "canary_size", "linear": "step_size", "rolling": "batch_size"}


@dataclass(frozen=True)
class CapacitySize:
    """A share of a variant's capacity: a percentage of its instances or a number of instances (SageMaker's
    ``CapacitySize``: a canary, a linear step, a rolling batch)."""

    unit: str
    value: int

    @classmethod
    def percent(cls, value: int) -> "CapacitySize":
        """``value`` percent of each instance variant's capacity (SageMaker ``CAPACITY_PERCENT``)."""
        return cls("percent", value)

    @classmethod
    def instances(cls, count: int) -> "CapacitySize":
        """``count`` instances of each instance variant (SageMaker ``INSTANCE_COUNT``)."""
        return cls("instances", count)

    @classmethod
    def copies(cls, count: int) -> "CapacitySize":
        """``count`` copies of an inference component (SageMaker ``COPY_COUNT``; counted as instances are)."""
        return cls("instances", count)

    @property
    def api_type(self) -> str:
        """SageMaker's ``CapacitySize.Type``."""
        return "CAPACITY_PERCENT" if self.unit == "percent" else "INSTANCE_COUNT"

    def to_api(self, count_type: str = "INSTANCE_COUNT") -> dict:
        """SageMaker's ``CapacitySize`` structure; a count is of ``count_type`` (an inference component's
        batches count copies: ``COPY_COUNT``)."""
        return {"Type": count_type if self.unit == "instances" else self.api_type, "Value": self.value}

    def instances_of(self, capacity: int) -> int:
        """Instances this size covers in a variant of ``capacity`` instances (at least one)."""
        if self.unit == "instances":
            return min(self.value, capacity)
        return max(1, min(capacity, math.ceil(capacity * self.value / 100)))

    def percent_of(self, capacity: int) -> float:
        """Share of traffic (percent) this size carries in a variant of ``capacity`` instances."""
        return 100.0 * self.instances_of(capacity) / capacity if self.unit == "instances" else float(self.value)

    def describe(self) -> str:
        return f"{self.value}%" if self.unit == "percent" else f"{self.value} instance(s)"


@dataclass(frozen=True)
class Step:
    """One point of a rollout timeline: at ``at_seconds`` the new fleet serves ``new_traffic_percent``."""

    at_seconds: int
    new_traffic_percent: float
    what: str


@dataclass(frozen=True)
class RolloutSpec:
    """A validated deployment policy in plain numbers (seconds, sizes)."""

    strategy: str
    size: CapacitySize | None = None
    wait_seconds: int = 0
    bake_seconds: int = 0
    termination_wait_seconds: int = 0
    rollback_size: CapacitySize | None = None
    max_execution_timeout_seconds: int | None = None

    def __post_init__(self) -> None:
        check_choice("deployment.type", self.strategy, STRATEGIES)
        size_field = _SIZE_FIELD.get(self.strategy)
        if size_field and self.size is None:
            raise ConfigError(f"deployment.{size_field}", f"is required for a {self.strategy} policy")
        if self.size is not None:
            _check_size(f"deployment.{size_field}", self.size, *_PERCENT_LIMITS[self.strategy])
        if self.rollback_size is not None:
            if self.strategy != "rolling":
                raise ConfigError("deployment.rollback_batch_size", "applies only to a rolling policy")
            _check_size("deployment.rollback_batch_size", self.rollback_size, 5, 100)
        check_range("deployment.wait", self.wait_seconds, 0, MAX_WAIT_SECONDS, "seconds")
        check_range("deployment.bake_time", self.bake_seconds, 0, MAX_WAIT_SECONDS, "seconds")
        check_range("deployment.termination_wait", self.termination_wait_seconds, 0, MAX_WAIT_SECONDS, "seconds")
        if self.strategy == "all_at_once" and self.wait_seconds:
            raise ConfigError("deployment.wait", "does not apply to an all-at-once policy (it has one step; use "
                              f"bake_time), got {self.wait_seconds}")
        if self.strategy == UNGUARDED:
            given = [name for name, value in (("wait", self.wait_seconds), ("bake_time", self.bake_seconds),
                     ("termination_wait", self.termination_wait_seconds),
                     ("max_execution_timeout", self.max_execution_timeout_seconds)) if value]
            if given:
                raise ConfigError(f"deployment.{given[0]}", "does not apply to an unguarded update (SageMaker's plain "
                                  "blue/green: no baking, no alarm rollback)")
        if self.strategy != "all_at_once" and self.bake_seconds:
            raise ConfigError("deployment.bake_time", f"does not apply to a {self.strategy} policy (SageMaker bakes "
                              "for `wait` after every step, the last one included"
                              + ("; termination_wait keeps the old fleet longer" if self.is_blue_green else "")
                              + f"), got {self.bake_seconds}")
        if self.strategy == "rolling" and self.termination_wait_seconds:
            raise ConfigError("deployment.termination_wait", "does not apply to a rolling policy (it has no second "
                              f"fleet), got {self.termination_wait_seconds}")
        if self.max_execution_timeout_seconds is not None:
            check_range("deployment.max_execution_timeout", self.max_execution_timeout_seconds,
                        MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, "seconds")

    # ---------------------------------------------------------------- capacity-dependent rules and numbers
    @property
    def is_blue_green(self) -> bool:
        return self.strategy != "rolling"

    def check_capacity(self, capacity: int, path: str = "deployment", waits_capacity: int | None = None) -> None:
        """Rules that depend on the smallest instance variant's count (``capacity``: step sizes) and on the
        largest fleet the rollout may meet (``waits_capacity``, default ``capacity``: the sum of the waits)."""
        if self.size is not None and self.size.unit == "instances" and capacity:
            limit = max(1, capacity // 2) if self.strategy == "rolling" else capacity // 2
            if self.size.value > limit:
                raise ConfigError(
                    f"{path}.{_SIZE_FIELD[self.strategy]}",
                    f"must be at most 50% of the smallest instance variant ({capacity} instances, so at most "
                    f"{limit}), got {self.size.value} instances",
                )
        waits_capacity = capacity if waits_capacity is None else waits_capacity
        waits = self.total_wait_seconds(waits_capacity)
        if self.max_execution_timeout_seconds is not None and self.max_execution_timeout_seconds <= waits:
            raise ConfigError(
                f"{path}.max_execution_timeout",
                f"must be longer than the policy's waits ({waits} s), got {self.max_execution_timeout_seconds}",
            )
        if waits >= MAX_TIMEOUT_SECONDS:
            raise ConfigError(
                f"{path}.wait",
                f"the policy's waits add up to {waits} s over {self.steps_count(waits_capacity)} steps, more than the "
                f"{MAX_TIMEOUT_SECONDS} s SageMaker allows a deployment; shorten wait or take larger steps",
            )

    @property
    def is_guarded(self) -> bool:
        """Whether SageMaker's deployment guardrails (baking, alarm rollback) apply."""
        return self.strategy != UNGUARDED

    def steps_count(self, capacity: int) -> int:
        """Traffic steps (blue/green) or batches (rolling) for a variant of ``capacity`` instances."""
        if self.strategy in ("all_at_once", UNGUARDED):
            return 1
        if self.strategy == "canary":
            return 2
        assert self.size is not None
        if self.strategy == "linear" and self.size.unit == "percent":
            return math.ceil(100 / self.size.value)
        return math.ceil(max(capacity, 1) / self.size.instances_of(max(capacity, 1)))

    def total_wait_seconds(self, capacity: int) -> int:
        """Seconds the policy waits by design, excluding provisioning: a baking period after every step (the
        last one is the final baking period), plus the termination wait of canary and linear."""
        return self.watched_seconds(capacity) + self.termination_wait_seconds

    def watched_seconds(self, capacity: int) -> int:
        """Seconds during which the rollback alarms can still stop the rollout after the new fleet takes its
        first traffic (every baking period; not the termination wait, which follows the final bake)."""
        if self.strategy == "all_at_once":
            return self.bake_seconds
        return self.steps_count(capacity) * self.wait_seconds

    def fleets_provisioned(self, capacity: int) -> int:
        """How many provisioning rounds the rollout needs (one green fleet, or one per rolling batch)."""
        return self.steps_count(capacity) if self.strategy == "rolling" else 1

    def needed_timeout(self, capacity: int) -> int:
        """The waits plus a provisioning allowance per fleet or batch, for a fleet of ``capacity`` instances
        (uncapped: compare with ``MAX_TIMEOUT_SECONDS``)."""
        return self.total_wait_seconds(capacity) + PROVISIONING_ALLOWANCE_SECONDS * self.fleets_provisioned(capacity)

    def max_execution_timeout(self, capacity: int) -> int:
        """The given timeout, or ``needed_timeout`` within SageMaker's 600-28800 s. ``capacity`` is the largest
        fleet the deployment may meet (an autoscaled variant's ``max_capacity``)."""
        if self.max_execution_timeout_seconds is not None:
            return self.max_execution_timeout_seconds
        return max(MIN_TIMEOUT_SECONDS, min(MAX_TIMEOUT_SECONDS, self.needed_timeout(capacity)))

    # ---------------------------------------------------------------- SageMaker API shape
    def to_deployment_config(self, capacity: int, alarm_names: list[str],
                             count_type: str = "INSTANCE_COUNT") -> dict | None:
        """SageMaker's ``DeploymentConfig`` (CloudFormation casing), with the auto-rollback alarms; ``None`` for
        an unguarded update. ``count_type``: what a batch counted in units is (``COPY_COUNT`` for an inference
        component's rolling update)."""
        if not self.is_guarded:
            return None
        timeout = self.max_execution_timeout(capacity)
        config: dict = {}
        if self.strategy == "rolling":
            assert self.size is not None
            rolling: dict = {
                "MaximumBatchSize": self.size.to_api(count_type),
                "WaitIntervalInSeconds": self.wait_seconds,
                "MaximumExecutionTimeoutInSeconds": timeout,
            }
            if self.rollback_size is not None:
                rolling["RollbackMaximumBatchSize"] = self.rollback_size.to_api(count_type)
            config["RollingUpdatePolicy"] = rolling
        else:
            all_at_once = self.strategy == "all_at_once"
            routing: dict = {
                "Type": self.strategy.upper(),
                "WaitIntervalInSeconds": self.bake_seconds if all_at_once else self.wait_seconds,
            }
            if self.strategy == "canary":
                assert self.size is not None
                routing["CanarySize"] = self.size.to_api()
            elif self.strategy == "linear":
                assert self.size is not None
                routing["LinearStepSize"] = self.size.to_api()
            config["BlueGreenUpdatePolicy"] = {
                "TrafficRoutingConfiguration": routing,
                "TerminationWaitInSeconds": self.termination_wait_seconds,
                "MaximumExecutionTimeoutInSeconds": timeout,
            }
        if alarm_names:
            config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarm_names]}
        return config

    # ---------------------------------------------------------------- timeline
    def timeline(self, capacity: int, provisioning_seconds: int = TYPICAL_PROVISIONING_SECONDS) -> list[Step]:
        """Share of traffic on the new fleet over time, for a variant of ``capacity`` instances."""
        t = provisioning_seconds
        steps = [Step(0, 0.0, "provision new fleet" if self.is_blue_green else "provision first batch")]
        if self.strategy == "all_at_once":
            steps.append(Step(t, 100.0, "shift all traffic; bake"))
        elif self.strategy == UNGUARDED:
            steps.append(Step(t, 100.0, "shift all traffic (no baking, no alarm rollback)"))
        elif self.strategy == "canary":
            assert self.size is not None
            share = self.size.percent_of(capacity)
            steps.append(Step(t, share, f"canary {self.size.describe()}; bake"))
            t += self.wait_seconds
            steps.append(Step(t, 100.0, "shift remaining traffic; final bake"))
            t += self.wait_seconds
        elif self.strategy == "linear":
            count = self.steps_count(capacity)
            for i in range(1, count + 1):
                share = min(100.0, 100.0 * i / count)
                steps.append(Step(t, round(share, 1), f"step {i}/{count}; bake"))
                t += self.wait_seconds
        else:
            count = self.steps_count(capacity)
            for i in range(1, count + 1):
                if i > 1:
                    t += provisioning_seconds
                share = min(100.0, 100.0 * i / count)
                steps.append(Step(t, round(share, 1), f"batch {i}/{count} in service; bake"))
                t += self.wait_seconds
        if self.is_blue_green:
            t += self.bake_seconds  # all-at-once's baking period (0 for canary and linear)
            if self.termination_wait_seconds:
                steps.append(Step(t, 100.0, "final bake over; old fleet kept (termination wait)"))
            t += self.termination_wait_seconds
            steps.append(Step(t, 100.0, "terminate old fleet"))
        else:
            steps.append(Step(t, 100.0, "rollout complete"))
        return steps

    def describe(self) -> str:
        if not self.is_guarded:
            return "unguarded (no baking, no alarm rollback)"
        parts = [self.strategy.replace("_", "-")]
        if self.size is not None:
            parts.append(self.size.describe())
        if self.strategy != "all_at_once":
            parts.append(f"wait {self.wait_seconds}s")
        if self.strategy == "all_at_once":
            parts.append(f"bake {self.bake_seconds}s")
        if self.termination_wait_seconds:
            parts.append(f"keep old {self.termination_wait_seconds}s")
        return ", ".join(parts)


def _check_size(path: str, size: CapacitySize, low_percent: int, high_percent: int) -> None:
    check_choice(f"{path}_unit", size.unit, SIZE_UNITS)
    if size.unit == "percent":
        check_range(path, size.value, low_percent, high_percent, "percent of capacity")
    else:
        check_whole(path, size.value, 1, unit="instance")
