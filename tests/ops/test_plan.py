"""``mlops plan`` on the example config: table, numbers from rollout.py, and a real PNG chart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.image
import pytest

from constructs_lib.config import load_config
from constructs_lib.ops import plan
from constructs_lib.ops.cli import main
from constructs_lib.rollout import TYPICAL_PROVISIONING_SECONDS, CapacitySize, RolloutSpec, Step

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "ab-test.yaml"  # two production variants: the fleet arithmetic below


def with_policies(tmp_path, test_policy, prod_policy):
    """The example config with the test and prod deployment policies replaced (in that order in the file)."""
    text = EXAMPLE.read_text()
    lines = iter([test_policy, prod_policy])
    text = re.sub(r"deployment: \{[^}]*\}", lambda _: f"deployment: {next(lines)}", text, count=2)
    path = tmp_path / "platform.yaml"
    path.write_text(text)
    return path


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_plan_prints_the_table_and_writes_the_chart(tmp_path, capsys):
    chart = tmp_path / "rollout.png"
    code, out, err = run(capsys, "plan", str(EXAMPLE), "--chart", str(chart))
    assert code == 0, err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert any(line.startswith("churn-predictor prod ") for line in lines), out
    assert any(line.startswith("churn-predictor test ") and " yes " in line for line in lines), out
    assert f"chart written to {chart}" in out
    image = matplotlib.image.imread(chart)
    assert image.shape[:2] == (500, 900)  # figsize 9 x 5 inches at 100 dpi
    assert image[..., :3].std() > 0.05  # lines and text on the white background, not a blank canvas
    assert (image[..., :3] < 0.5).mean() > 0.005


def test_plan_numbers_come_from_the_rollout_spec(tmp_path, capsys):
    config = with_policies(tmp_path, "{type: all_at_once, bake_time: 300}",
                           "{type: canary, canary_size: 50, wait: 600, termination_wait: 600}")
    code, out, _ = run(capsys, "--json", "plan", str(config), "--stage", "prod")
    assert code == 0
    (prod,) = json.loads(out)["stages"]
    stage = load_config(config).models[0].stages.prod
    spec = stage.deployment.to_spec()
    timeline = spec.timeline(2)
    # provisioning, canary bake, final bake, termination wait
    assert prod["expected_seconds"] == timeline[-1].at_seconds == TYPICAL_PROVISIONING_SECONDS + 600 + 600 + 600
    # the timeout is computed for the autoscaled champion's max_capacity (6), as the template's is
    assert prod["max_seconds"] == spec.max_execution_timeout(6) == 600 + 600 + 600 + 1800
    assert prod["detection_seconds"] == 60 * 2 + plan.METRIC_DELIVERY_DELAY_SECONDS  # period x datapoints + delay
    assert prod["exposed_percent"] == 50.0  # the alarm fires during the 50% canary step
    assert prod["extra_instance_hours"] == round(4 * 2280 / 3600, 2)  # champion 2 + challenger 2, 38 minutes
    assert prod["detection_arithmetic"] == (
        "60 s period x 2 breaching of 3 + 120 s metric delivery = 240 s after the new fleet's first request; "
        "new-fleet rates over at least 100 (5XX) and 100 (model errors) requests per period")
    text = run(capsys, "plan", str(config), "--stage", "prod")[1]
    assert "canary, 50%, wait 600s, keep old 600s 2 2 38 min" in " ".join(text.split())
    assert "alarms: 60 s period x 2 breaching of 3" in text
    assert [s["new_traffic_percent"] for s in prod["timeline"]] == [0.0, 50.0, 100.0, 100.0, 100.0]


def test_plan_warns_when_the_rollout_ends_before_the_alarms_can_fire(tmp_path, capsys):
    config = with_policies(tmp_path, "{type: all_at_once, bake_time: 60}", "{type: canary, canary_size: 50, wait: 600}")
    code, out, _ = run(capsys, "plan", str(config), "--stage", "test")
    assert code == 0
    assert "100% (after rollout!)" in out
    assert "warning: the alarms need 4 min but the last baking period ends first" in out


def test_rolling_policy_costs_one_batch_and_rolls_back_by_reprovisioning():
    spec = RolloutSpec("rolling", size=CapacitySize("percent", 25), wait_seconds=300)
    assert plan.extra_instance_hours(spec, [4, 8], 3600) == 1 + 2  # one batch of each variant for an hour
    assert plan.rollback_seconds(spec, 4, 50.0) == TYPICAL_PROVISIONING_SECONDS  # 2 instances, all at once
    batched = RolloutSpec("rolling", size=CapacitySize("percent", 25), wait_seconds=300,
                          rollback_size=CapacitySize("instances", 1))
    assert plan.rollback_seconds(batched, 4, 50.0) == 2 * TYPICAL_PROVISIONING_SECONDS
    assert plan.rollback_seconds(RolloutSpec("canary", size=CapacitySize("percent", 10), wait_seconds=60), 4,
                                 10.0) == plan.BLUE_GREEN_ROLLBACK_SECONDS


def test_share_at_is_a_step_function():
    timeline = [Step(0, 0.0, "provision"), Step(480, 10.0, "canary"), Step(1080, 100.0, "all")]
    assert [plan.share_at(timeline, t) for t in (0, 479, 480, 1079, 5000)] == [0.0, 0.0, 10.0, 10.0, 100.0]
    assert plan.first_traffic_seconds(timeline) == 480


@pytest.mark.parametrize("argv, message", [
    (["--model", "ghost"], "no model named 'ghost'"),
    (["--stage", "dev"], "invalid choice: 'dev'"),
])
def test_plan_bad_arguments(capsys, argv, message):
    code, _, err = run(capsys, "plan", str(EXAMPLE), *argv)
    assert code == 2 and message in err


def test_plan_missing_config_file(tmp_path, capsys):
    code, _, err = run(capsys, "plan", str(tmp_path / "nope.yaml"))
    assert code == 2 and "cannot read the config file" in err


def test_an_unguarded_release_is_shown_as_such(tmp_path, capsys):
    config = with_policies(tmp_path, "{type: all_at_once, bake_time: 300}", "{type: unguarded}")
    code, out, _ = run(capsys, "--json", "plan", str(config), "--stage", "prod")
    assert code == 0
    (prod,) = json.loads(out)["stages"]
    assert prod["policy"] == "unguarded (no baking, no alarm rollback)"
    assert prod["condition_based"] == "no: no guardrail, nothing rolls back automatically"
    assert prod["alarm_after_rollout"] is False  # no alarms to be late
    assert (prod["detection_seconds"], prod["rollback_seconds"]) == (None, None)
    assert prod["max_seconds"] == prod["expected_seconds"]  # no SageMaker timeout either
    text = run(capsys, "plan", str(config), "--stage", "prod")[1]
    assert "alarms: none can roll this release back (unguarded)" in text and "warning" not in text


def with_autoscaled_rolling(tmp_path, wait: int, max_capacity: int):
    """Prod rolls one instance at a time over one champion that starts with 2 and autoscales to max_capacity."""
    config = with_policies(tmp_path, "{type: all_at_once, bake_time: 300}",
                           f"{{type: rolling, batch_size: 1, size_unit: instances, wait: {wait}}}")
    text = config.read_text()
    start = text.index("        variants:\n          - name: champion")
    end = text.index("        data_capture:")
    config.write_text(text[:start] + f"""        variants:
          - name: champion
            instance_type: ml.m5.large
            initial_instance_count: 2
            autoscaling: {{min_capacity: 2, max_capacity: {max_capacity}, target_invocations_per_instance: 1000}}
""" + text[end:])
    return config


def test_an_autoscaled_rolling_fleet_counts_in_the_maximum(tmp_path, capsys):
    """Rolling by one instance: the endpoint starts with 2 but autoscaling may have grown it to 6."""
    config = with_autoscaled_rolling(tmp_path, wait=300, max_capacity=6)
    code, out, err = run(capsys, "--json", "plan", str(config), "--stage", "prod")
    assert code == 0, err
    (prod,) = json.loads(out)["stages"]
    assert (prod["steps"], prod["fleet_capacity"], prod["fleet_steps"]) == (2, 6, 6)
    assert prod["max_seconds"] == 6 * (300 + 1800)  # what the template's timeout is computed from
    text = run(capsys, "plan", str(config), "--stage", "prod")[1]
    assert "autoscaling may grow the fleet to 6 instances: then 6 steps" in text
    assert "warning: at" not in text  # 6 x (300 + 1800) s fits SageMaker's 8 hours


def test_plan_warns_when_the_autoscaled_rollout_outgrows_sagemakers_limit(tmp_path, capsys):
    code, out, err = run(capsys, "plan", str(with_autoscaled_rolling(tmp_path, wait=600, max_capacity=20)),
                         "--stage", "prod")
    assert code == 0, err
    assert "warning: at 20 instances this rollout needs more than SageMaker's 480 min limit" in out


# --------------------------------------------------------------------------------------------- release phases
MAIN_EXAMPLE = ROOT / "config" / "platform.yaml"  # prod: shadow, then A/B, then the canary


def test_the_release_phases_show_their_exposure_length_and_worst_case(capsys):
    code, out, err = run(capsys, "--json", "plan", str(MAIN_EXAMPLE), "--stage", "prod")
    assert code == 0, err
    (prod,) = [s for s in json.loads(out)["stages"] if s["model"] == "churn-predictor"]
    update = TYPICAL_PROVISIONING_SECONDS
    assert prod["phases"] == [
        {"phase": "shadow", "answers_percent": 0.0, "requests_percent": 50.0, "candidate_instances": 1,
         "min_seconds": 3600, "deadline_seconds": 86400, "poll_seconds": 300,
         "stopped_within_seconds": 86400 + 300 + 2 * update},
        {"phase": "ab", "answers_percent": 10.0, "requests_percent": 10.0, "candidate_instances": 1,
         "min_seconds": 86400, "deadline_seconds": 6 * 86400, "poll_seconds": 300,
         "stopped_within_seconds": 6 * 86400 + 300 + 2 * update}]
    code, out, _ = run(capsys, "plan", str(MAIN_EXAMPLE), "--stage", "prod")
    lines = [" ".join(line.split()) for line in out.splitlines()]
    # instances at the phase's start: its share of production's 2 (more when production has scaled out)
    assert "shadow 0% 50% 1 1 h 24 h 5 min 24.4 h" in lines
    assert "ab 10% 10% 1 24 h 6 d 5 min 6 d" in lines
    # 1 h + 1 d of phases, four endpoint updates of 8 min, the 33 min canary
    assert any(line.startswith("then the rollout below: at least 26.1 h from the approval to 100%") for line in lines)


def test_the_release_timeline_goes_through_the_phases_to_the_rollout(tmp_path, capsys):
    from constructs_lib.ops.plan import plan_stage, release_timeline

    stage = load_config(MAIN_EXAMPLE).models[0].stages.prod
    points = release_timeline(plan_stage("churn-predictor", "prod", stage))
    update = TYPICAL_PROVISIONING_SECONDS / 3600
    assert [(round(t, 3), share) for t, share, _ in points[:6]] == [
        (0, 0), (round(update, 3), 0), (round(update + 1, 3), 0), (round(2 * update + 1, 3), 0),
        (round(3 * update + 1, 3), 10), (round(3 * update + 25, 3), 0)]
    assert points[-1][1] == 100
    code, _, err = run(capsys, "plan", str(MAIN_EXAMPLE), "--chart", str(tmp_path / "release.png"))
    assert code == 0, err
    image = matplotlib.image.imread(tmp_path / "release.png")
    assert image.shape[:2] == (500, 900) and (image[..., :3] < 0.5).mean() > 0.005


def test_an_async_stage_says_its_alarms_watch_the_whole_variant(capsys):
    code, out, err = run(capsys, "--json", "plan", str(MAIN_EXAMPLE), "--stage", "prod")
    assert code == 0, err
    (scorer,) = [s for s in json.loads(out)["stages"] if s["model"] == "churn-scorer"]
    assert scorer["policy"] == "all-at-once, bake 600s"
    assert scorer["detection_arithmetic"].endswith(
        "whole-variant rates (async metrics carry no config dimension: after the shift only the new fleet "
        "processes requests, the first periods still hold the old fleet's last minutes) over at least 100 (5XX) "
        "and 100 (failures) processed requests per period")


def test_a_multi_model_target_has_no_rollout_and_says_why(mlops):
    result = mlops("plan", "config/platform.yaml", "--model", "churn-regional")
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert lines == [
        "churn-regional / test: mode multi_model on host many, no rollout: a release copies the version's artifact "
        "under a new name, then the target parameter (/mlops/churn-regional/test/target-model) names it for "
        "callers, all at once; no alarm judges one model "
        "(SageMaker publishes no per-model metrics); the delivery pipeline's smoke check invokes the new target "
        "model first",
        "churn-regional / prod: mode multi_model on host many, no rollout: a release copies the version's artifact "
        "under a new name, then the target parameter (/mlops/churn-regional/prod/target-model) names it for "
        "callers, all at once; no alarm judges one model "
        "(SageMaker publishes no per-model metrics); no smoke check in this stage"]


PLATFORM = ROOT / "config" / "platform.yaml"


def test_an_edge_stage_shows_its_device_waves_and_what_a_bad_version_reaches(capsys):
    """The example's churn-edge in prod: 2000 devices, 5 a minute doubling after each 10 successes up to 100, the
    abort judging at least 20 devices, a 30-minute in-progress timeout."""
    code, out, err = run(capsys, "plan", str(PLATFORM), "--model", "churn-edge", "--stage", "prod", "--json")
    assert code == 0, err
    (edge,) = json.loads(out)["edge"]
    assert [(w["rate_per_minute"], w["devices"]) for w in edge["waves"]] == [
        (5, 10), (10, 10), (20, 10), (40, 10), (80, 10), (100, 1950)]
    assert edge["minutes_to_reach_all"] == 23.38 and edge["devices"] == 2000 and not edge["devices_assumed"]
    # A version failing everywhere never speeds the rollout up: 20 devices by minute 4, their failures known at
    # the latest 30 minutes later, 5 a minute meanwhile.
    assert edge["exposed_if_every_device_fails"] == 170


def test_an_edge_plan_for_another_fleet_size_and_the_gate_in_words(capsys):
    code, out, _ = run(capsys, "plan", str(PLATFORM), "--model", "churn-edge", "--stage", "test", "--devices", "12")
    assert code == 0
    assert out.splitlines()[:4] == [
        "churn-edge / test: mode edge, thing group churn-devices-test, 12 devices",
        "  waves (each device succeeding at once; real installs take longer):",
        "    2/min for 10 devices, minute 0.0 to 5.0",
        "    4/min for 2 devices, minute 5.0 to 5.5"]
    assert out.splitlines()[-1] == ("  gate: the pipeline waits up to 20 min for every targeted device to succeed, at "
                                    "most 0 % of the finished ones failed")
    code, _, err = run(capsys, "plan", str(PLATFORM), "--model", "churn-edge", "--devices", "0")
    assert code == 2 and "--devices: must be at least 1" in err
    # The chart draws endpoint rollouts: an edge-only plan says so instead of an empty picture.
    code, _, err = run(capsys, "plan", str(PLATFORM), "--model", "churn-edge", "--chart", "/tmp/never-written.png")
    assert code == 2 and "--chart draws endpoint rollouts, and the selected stages have none" in err
