"""Rollout arithmetic: waits, steps, timeouts and timelines of each policy (plain numbers, no CDK)."""

import pytest

from constructs_lib.errors import ConfigError
from constructs_lib.rollout import CapacitySize, RolloutSpec


def spec(strategy, size=None, **kw):
    return RolloutSpec(strategy, size=CapacitySize("percent", size) if size else None, **kw)


@pytest.mark.parametrize("policy, capacity, steps, waits, timeout", [
    (spec("all_at_once", bake_seconds=600), 2, 1, 600, 2400),
    (spec("all_at_once", bake_seconds=600, termination_wait_seconds=300), 2, 1, 900, 2700),
    # canary: canary bake + final bake (both WaitIntervalInSeconds) + termination wait
    (spec("canary", 10, wait_seconds=300, termination_wait_seconds=600), 4, 2, 1200, 3000),
    (spec("linear", 25, wait_seconds=120, termination_wait_seconds=60), 4, 4, 540, 2340),
    (spec("linear", 30, wait_seconds=60), 10, 4, 240, 2040),         # ceil(100/30) = 4 steps
    (spec("rolling", 25, wait_seconds=300), 8, 4, 1200, 8400),        # 4 batches, each provisioned
    (spec("rolling", 50, wait_seconds=3600), 2, 2, 7200, 10800),
])
def test_waits_steps_and_computed_timeout(policy, capacity, steps, waits, timeout):
    assert policy.steps_count(capacity) == steps
    assert policy.total_wait_seconds(capacity) == waits
    assert policy.max_execution_timeout(capacity) == timeout


def test_rolling_timeout_counts_the_autoscaled_fleet():
    """Rolling by one instance with 10-minute waits: 2 initial instances need 2 batches, but an endpoint that
    autoscaling grew to 20 needs 20 batches (12,000 s of waits alone)."""
    rolling = RolloutSpec("rolling", size=CapacitySize("instances", 1), wait_seconds=600)
    assert rolling.total_wait_seconds(2) == 1200
    assert rolling.total_wait_seconds(20) == 12000
    assert rolling.needed_timeout(20) == 12000 + 20 * 1800
    assert rolling.max_execution_timeout(20) == 28800  # SageMaker's maximum
    with pytest.raises(ConfigError) as error:
        RolloutSpec("rolling", size=CapacitySize("instances", 1), wait_seconds=1800).check_capacity(
            2, waits_capacity=20)
    assert str(error.value) == ("deployment.wait: the policy's waits add up to 36000 s over 20 steps, more than "
                                "the 28800 s SageMaker allows a deployment; shorten wait or take larger steps")


def test_canary_timeline_shares_traffic_then_bakes_then_keeps_the_old_fleet():
    timeline = spec("canary", 10, wait_seconds=300, termination_wait_seconds=600).timeline(
        4, provisioning_seconds=100)
    assert [(s.at_seconds, s.new_traffic_percent) for s in timeline] == [
        (0, 0.0), (100, 10.0), (400, 100.0), (700, 100.0), (1300, 100.0)]
    assert [s.what for s in timeline][-2:] == ["final bake over; old fleet kept (termination wait)",
                                               "terminate old fleet"]
    assert spec("canary", 10, wait_seconds=300).watched_seconds(4) == 600


def test_instance_sized_canary_share_of_traffic():
    canary = RolloutSpec("canary", size=CapacitySize("instances", 1), wait_seconds=60)
    assert canary.timeline(4, provisioning_seconds=0)[1].new_traffic_percent == 25.0


def test_deployment_config_shapes():
    config = spec("all_at_once", bake_seconds=300).to_deployment_config(1, ["a"])
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
    assert config["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "a"}]}
    rolling = spec("rolling", 20, wait_seconds=60).to_deployment_config(5, [])
    assert "AutoRollbackConfiguration" not in rolling
    assert rolling["RollingUpdatePolicy"]["MaximumBatchSize"] == {"Type": "CAPACITY_PERCENT", "Value": 20}


@pytest.mark.parametrize("make, message", [
    (lambda: spec("canary"), "deployment.canary_size: is required for a canary policy"),
    (lambda: spec("rolling", 10, bake_seconds=5), "deployment.bake_time: does not apply to a rolling policy "
     "(SageMaker bakes for `wait` after every step, the last one included), got 5"),
    (lambda: spec("canary", 10, bake_seconds=600), "deployment.bake_time: does not apply to a canary policy "
     "(SageMaker bakes for `wait` after every step, the last one included; termination_wait keeps the old fleet "
     "longer), got 600"),
    (lambda: spec("rolling", 10, termination_wait_seconds=60),
     "deployment.termination_wait: does not apply to a rolling policy (it has no second fleet), got 60"),
    (lambda: RolloutSpec("canary", size=CapacitySize("percent", 10), rollback_size=CapacitySize("percent", 10)),
     "deployment.rollback_batch_size: applies only to a rolling policy"),
    (lambda: RolloutSpec("canary", size=CapacitySize("pct", 10)),
     "deployment.canary_size_unit: must be one of percent, instances, got 'pct'"),
])
def test_spec_rules(make, message):
    with pytest.raises(ConfigError) as error:
        make()
    assert str(error.value) == message
