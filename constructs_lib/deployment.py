"""Deployment policies: how SageMaker moves traffic to a new endpoint configuration, and when it rolls back.

A closed set of choices, built with factories in the style of ``aws_codedeploy.TrafficRouting``::

    DeploymentPolicy.all_at_once(bake_time=Duration.minutes(10))
    DeploymentPolicy.canary(CapacitySize.percent(10), wait=Duration.minutes(10))
    DeploymentPolicy.linear(CapacitySize.percent(25), wait=Duration.minutes(5))
    DeploymentPolicy.rolling(CapacitySize.instances(1), wait=Duration.minutes(5))

Every guarded policy is watched by the endpoint's auto-rollback alarms; ``unguarded()`` (no guardrail) exists
only for the one release that changes the production variants. The rules and arithmetic live in
``rollout.RolloutSpec`` (plain Python, shared with the config loader and ``mlops plan``).
"""

from __future__ import annotations

from aws_cdk import Duration

from .rollout import CapacitySize, RolloutSpec


def _seconds(duration: Duration | None) -> int | None:
    return None if duration is None else int(duration.to_seconds())


class DeploymentPolicy:
    """A deployment guardrail for an endpoint update. Create it with one of the factory methods."""

    def __init__(self, spec: RolloutSpec) -> None:
        self.spec = spec

    @classmethod
    def from_spec(cls, spec: RolloutSpec) -> "DeploymentPolicy":
        """A policy from a validated ``RolloutSpec`` (used by the config loader)."""
        return cls(spec)

    @classmethod
    def all_at_once(
        cls, *, bake_time: Duration | None = None, termination_wait: Duration | None = None,
        max_execution_timeout: Duration | None = None,
    ) -> "DeploymentPolicy":
        """Blue/green: all traffic moves to the new fleet at once, which is watched for ``bake_time`` (default 10
        minutes, 0-3600 s); the old fleet is then kept for ``termination_wait`` (default 0) and terminated."""
        return cls(RolloutSpec("all_at_once", wait_seconds=0,
                               bake_seconds=_seconds(bake_time) if bake_time is not None else 600,
                               termination_wait_seconds=_seconds(termination_wait) or 0,
                               max_execution_timeout_seconds=_seconds(max_execution_timeout)))

    @classmethod
    def canary(
        cls,
        size: CapacitySize,
        *,
        wait: Duration | None = None,
        termination_wait: Duration | None = None,
        max_execution_timeout: Duration | None = None,
    ) -> "DeploymentPolicy":
        """Blue/green canary: ``size`` (at most 50% of a variant's capacity) takes traffic first and is watched
        for ``wait`` (default 10 minutes); then all traffic moves and SageMaker's final baking period (``wait``
        again) runs; the old fleet is then kept for ``termination_wait`` (default 0) and terminated."""
        return cls(RolloutSpec("canary", size=size, wait_seconds=_seconds(wait) if wait is not None else 600,
                               termination_wait_seconds=_seconds(termination_wait) or 0,
                               max_execution_timeout_seconds=_seconds(max_execution_timeout)))

    @classmethod
    def linear(
        cls,
        step_size: CapacitySize,
        *,
        wait: Duration | None = None,
        termination_wait: Duration | None = None,
        max_execution_timeout: Duration | None = None,
    ) -> "DeploymentPolicy":
        """Blue/green linear: traffic moves in steps of ``step_size`` (10-50% of capacity), each watched for
        ``wait`` (default 5 minutes; the last step's bake is the final baking period); the old fleet is then
        kept for ``termination_wait`` (default 0) and terminated."""
        return cls(RolloutSpec("linear", size=step_size, wait_seconds=_seconds(wait) if wait is not None else 300,
                               termination_wait_seconds=_seconds(termination_wait) or 0,
                               max_execution_timeout_seconds=_seconds(max_execution_timeout)))

    @classmethod
    def rolling(
        cls,
        batch_size: CapacitySize,
        *,
        wait: Duration | None = None,
        rollback_batch_size: CapacitySize | None = None,
        max_execution_timeout: Duration | None = None,
    ) -> "DeploymentPolicy":
        """Rolling update: the fleet is replaced in batches of ``batch_size`` (5-50% of capacity), each watched
        for ``wait`` (default 5 minutes); no second fleet, so it costs at most one extra batch. A rollback
        restores ``rollback_batch_size`` instances at a time (default: all at once). Instance variants only,
        one production variant."""
        return cls(RolloutSpec("rolling", size=batch_size, wait_seconds=_seconds(wait) if wait is not None else 300,
                               rollback_size=rollback_batch_size,
                               max_execution_timeout_seconds=_seconds(max_execution_timeout)))

    @classmethod
    def unguarded(cls) -> "DeploymentPolicy":
        """No guardrail: SageMaker's plain blue/green update (all traffic at once, no baking, no alarm rollback).

        Only for the one release that renames, adds or removes a production variant, which SageMaker's guardrails
        refuse ("your new endpoint configuration must have the same variant name as the old endpoint
        configuration"); the in-stack release check and the pipeline's verification still run, and the
        endpoint stack's preflight refuses it for a release that keeps the variants. Restore the guarded policy
        with the next release."""
        return cls(RolloutSpec("unguarded"))

    @property
    def strategy(self) -> str:
        """``all_at_once``, ``canary``, ``linear``, ``rolling`` or ``unguarded``."""
        return self.spec.strategy

    def __repr__(self) -> str:
        return f"DeploymentPolicy({self.spec.describe()})"
