"""Rollout arithmetic: waits, steps, timeouts and timelines of each policy (plain numbers, no CDK)."""

import pytest

from constructs_lib.errors import ConfigError
from constructs_lib.rollout import RolloutSpec, TrafficSize


def spec(strategy, size=None, **kw):
    return RolloutSpec(strategy, size=TrafficSize("percent", size) if size else None, **kw)


@pytest.mark.parametrize("policy, capacity, steps, waits, timeout", [
    (spec("all_at_once", bake_seconds=600), 2, 1, 600, 2400),
    (spec("canary", 10, wait_seconds=300, bake_seconds=600), 4, 2, 900, 2700),
    (spec("linear", 25, wait_seconds=120, bake_seconds=60), 4, 4, 540, 2340),
    (spec("linear", 30, wait_seconds=60), 10, 4, 240, 2040),         # ceil(100/30) = 4 steps
    (spec("rolling", 25, wait_seconds=300), 8, 4, 1200, 8400),        # 4 batches, each provisioned
    (spec("rolling", 50, wait_seconds=3600), 2, 2, 7200, 10800),
])
def test_waits_steps_and_computed_timeout(policy, capacity, steps, waits, timeout):
    assert policy.steps_count(capacity) == steps
    assert policy.total_wait_seconds(capacity) == waits
    assert policy.max_execution_timeout(capacity) == timeout


def test_canary_timeline_shares_traffic_then_bakes():
    timeline = spec("canary", 10, wait_seconds=300, bake_seconds=600).timeline(4, provisioning_seconds=100)
    assert [(s.at_seconds, s.new_traffic_percent) for s in timeline] == [
        (0, 0.0), (100, 10.0), (400, 100.0), (1000, 100.0)]


def test_instance_sized_canary_share_of_traffic():
    canary = RolloutSpec("canary", size=TrafficSize("instances", 1), wait_seconds=60)
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
    (lambda: spec("rolling", 10, bake_seconds=5), "deployment.bake_time: does not apply to a rolling policy (use wait), got 5"),
    (lambda: RolloutSpec("canary", size=TrafficSize("percent", 10), rollback_size=TrafficSize("percent", 10)),
     "deployment.rollback_batch_size: applies only to a rolling policy"),
    (lambda: RolloutSpec("canary", size=TrafficSize("pct", 10)),
     "deployment.canary_size_unit: must be one of percent, instances, got 'pct'"),
])
def test_spec_rules(make, message):
    with pytest.raises(ConfigError) as error:
        make()
    assert str(error.value) == message
