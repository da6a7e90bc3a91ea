"""``mlops edge status`` (a fleet's latest Greengrass deployment and its devices' progress, by thing group or per
edge stage of a model) and ``mlops edge wait`` (the delivery pipeline's gate on a deployment). The thing group
lives in the moto server; Greengrass v2 (which moto lacks) and the IoT job's progress (moto's jobs never move)
come from Stubber."""

import json
from pathlib import Path

import pytest
from botocore.stub import ANY

from constructs_lib.edge_rules import EdgeGate
from constructs_lib.ops.base import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE

CONFIG = Path(__file__).resolve().parents[2] / "config" / "platform.yaml"
GROUP = "churn-devices-prod"
JOB = "a1b2c3d4-job"
DEPLOYMENT = "d-1234"


def _deployment(status="ACTIVE"):
    return {"deploymentId": DEPLOYMENT, "deploymentName": "ChurnEdge/Fleet", "deploymentStatus": status,
            "revisionId": "3", "iotJobId": JOB, "targetArn": "arn:aws:iot:eu-west-1:123456789012:thinggroup/" + GROUP,
            "components": {"com.example.churn.model": {"componentVersion": "1.0.7"},
                           "aws.greengrass.Nucleus": {"componentVersion": "2.12.0"}},
            "deploymentPolicies": {"failureHandlingPolicy": "ROLLBACK"}}


def _job(status, **counts):
    details = {f"numberOf{key}Things": value for key, value in counts.items()}
    return {"job": {"jobId": JOB, "status": status, "jobProcessDetails": details,
                    "jobExecutionsRolloutConfig": {"exponentialRate": {
                        "baseRatePerMinute": 2, "incrementFactor": 2.0,
                        "rateIncreaseCriteria": {"numberOfSucceededThings": 10}}, "maximumPerMinute": 100},
                    "abortConfig": {"criteriaList": [{"failureType": "ALL", "action": "CANCEL",
                                                      "thresholdPercentage": 10.0, "minNumberOfExecutedThings": 10}]},
                    **({"reasonCode": "ABORTED"} if status == "CANCELED" else {})}}


@pytest.fixture
def fleet(aws_client, stub_client):
    """The thing group in moto; Greengrass and the job's progress stubbed."""
    arn = aws_client("iot").create_thing_group(thingGroupName=GROUP)["thingGroupArn"]
    greengrass, iot = stub_client("greengrassv2"), stub_client("iot", ["DescribeJob"])

    def deployed(deployment, job):
        greengrass.add_response("list_deployments", {"deployments": [{"deploymentId": DEPLOYMENT}]},
                                {"targetArn": arn, "historyFilter": "LATEST_ONLY"})
        greengrass.add_response("get_deployment", deployment, {"deploymentId": DEPLOYMENT})
        iot.add_response("describe_job", job, {"jobId": JOB})
    return deployed, greengrass


def test_a_rollout_in_progress_says_how_far_it_got(mlops, fleet):
    deployed, greengrass = fleet
    deployed(_deployment(), _job("IN_PROGRESS", Succeeded=12, Failed=1, InProgress=3, Queued=984))
    result = mlops("edge", "status", "--thing-group", GROUP)
    assert result.code == 0, result.err
    assert result.out.splitlines()[:2] == [
        f"thing group: {GROUP}",
        "release:     ROLLING OUT: aws.greengrass.Nucleus 2.12.0, com.example.churn.model 1.0.7 reached 16 devices "
        "(12 succeeded, 1 failed, 3 in progress), 984 queued"]
    assert result.out.splitlines()[-3:] == ["job:     a1b2c3d4-job (IN_PROGRESS)", "rollout: 2/min x2 up to 100/min",
                                            "abort:   ALL over 10% of at least 10"]
    greengrass.assert_no_pending_responses()


def test_an_aborted_rollout_says_who_keeps_what(mlops, fleet):
    deployed, _ = fleet
    deployed(_deployment("CANCELED"), _job("CANCELED", Succeeded=4, Failed=9, TimedOut=1, Queued=986))
    result = mlops("edge", "status", "--thing-group", GROUP, "--json")
    facts = json.loads(result.out)
    assert facts["job"]["reached"] == 14 and facts["job"]["devices"]["queued"] == 986
    assert facts["verdict"] == (
        "STOPPED: the rollout of aws.greengrass.Nucleus 2.12.0, com.example.churn.model 1.0.7 was cancelled "
        "(ABORTED) after reaching 14 devices, 10 of them failed; 986 queued devices keep what they run, the others "
        "keep the new version until a deployment of the previous one")


def test_a_group_without_a_deployment_says_so(mlops, aws_client, stub_client):
    aws_client("iot").create_thing_group(thingGroupName=GROUP)
    stub_client("greengrassv2").add_response("list_deployments", {"deployments": []},
                                             {"targetArn": ANY, "historyFilter": "LATEST_ONLY"})
    result = mlops("edge", "status", "--thing-group", GROUP)
    assert result.code == 0 and f"release:     no deployment targets thing group {GROUP} yet" in result.out


def test_an_unknown_group_is_not_found(mlops):
    result = mlops("edge", "status", "--thing-group", "nope")
    assert result.code == EXIT_NOT_FOUND, result.err
    assert result.err.startswith("error: not found: DescribeThingGroup:")


def test_edge_without_a_command_is_a_usage_error(mlops):
    result = mlops("edge")
    assert (result.code, result.err) == (EXIT_USAGE, "error: mlops edge needs a command: mlops edge status MODEL | "
                                                     "--thing-group NAME, or mlops edge wait DEPLOYMENT_ID\n")


def test_a_thing_group_name_iot_would_refuse_is_a_usage_error(mlops):
    result = mlops("edge", "status", "--thing-group", "bad name/x")
    assert (result.code, result.err) == (EXIT_USAGE, "error: --thing-group must be 1-128 letters, digits, ':', '_' "
                                                     "or '-' (an IoT thing group name), got 'bad name/x'\n")


def test_a_model_s_edge_stage_says_which_version_its_devices_run(mlops, fleet):
    """The example's churn-edge: thing group and component from the config file, the stage's region."""
    deployed, greengrass = fleet
    deployment = _deployment()
    deployment["components"] = {"mlops.churn-edge": {"componentVersion": "1.0.7"}}
    deployed(deployment, _job("IN_PROGRESS", Succeeded=40, Queued=1960))
    # The fleet fixture's group is churn-devices-prod; the example's prod stage names it.
    result = mlops("edge", "status", "churn-edge", "--config", str(CONFIG), "--stage", "prod", "--json")
    assert result.code == 0, result.err
    (stage,) = json.loads(result.out)["stages"]
    assert (stage["stage"], stage["component"], stage["component_version"], stage["model_version"]) == (
        "prod", "mlops.churn-edge", "1.0.7", "7")
    assert stage["job"]["devices"]["succeeded"] == 40


def test_each_edge_stage_is_reported_even_when_one_cannot_be_read(mlops, fleet):
    deployed, _ = fleet
    deployed(_deployment(), _job("IN_PROGRESS", Succeeded=3))
    result = mlops("edge", "status", "churn-edge", "--config", str(CONFIG))
    # test's group does not exist in this account: its line says so, prod's report follows, and the exit code is
    # that error's (3, not found), as for one thing group.
    assert result.code == EXIT_NOT_FOUND
    assert result.out.startswith("test: thing group churn-devices-test: not found: DescribeThingGroup:")
    assert "prod: model version none (component mlops.churn-edge not deployed)" in result.out


@pytest.mark.parametrize("argv, message", [
    (("edge", "status"), "mlops edge status needs a MODEL (with --config) or --thing-group NAME, one of them"),
    (("edge", "status", "churn-predictor", "--config", str(CONFIG)), "model churn-predictor has no stage in mode "
                                                                       "edge"),
    (("edge", "status", "nope", "--config", str(CONFIG)), "models: no model named 'nope'"),
    (("edge", "wait", "bad id!"), "DEPLOYMENT_ID must be a Greengrass deployment id"),
])
def test_edge_usage_errors_are_one_line(mlops, argv, message):
    result = mlops(*argv)
    assert result.code == EXIT_USAGE and result.err.startswith(f"error: {message}"), result.err


def _wait_stubs(stub_client, *jobs, failed=(), cancel=False):
    """The wait's calls: each look (the deployment, its job), then, when it fails, the failed devices and (the
    deployment still active) the cancellation."""
    greengrass, iot = stub_client("greengrassv2"), stub_client("iot")
    for job in jobs:
        greengrass.add_response("get_deployment", _deployment(), {"deploymentId": DEPLOYMENT})
        iot.add_response("describe_job", job, {"jobId": JOB})
    for status in ("FAILED", "TIMED_OUT", "REJECTED") if failed is not None and jobs else ():
        iot.add_response("list_job_executions_for_job", {"executionSummaries": [
            {"thingArn": f"arn:aws:iot:eu-west-1:123456789012:thing/{name}"} for name, kind in failed if kind == status]},
            {"jobId": JOB, "status": status, "maxResults": 10})
    if cancel:
        greengrass.add_response("cancel_deployment", {"message": "cancelled"}, {"deploymentId": DEPLOYMENT})
    return greengrass, iot


def test_the_wait_passes_once_every_targeted_device_installed_the_version(mlops, stub_client):
    _wait_stubs(stub_client, _job("IN_PROGRESS", Succeeded=2, InProgress=1),
                _job("IN_PROGRESS", Succeeded=3), failed=None)
    result = mlops("edge", "wait", DEPLOYMENT, "--poll-interval", "1")
    assert result.code == 0, result.err
    assert "verdict:    PASSED: every targeted device finished: 3 device(s) succeeded, 0 failed, 0 not finished" \
        in result.out


def test_the_wait_fails_on_a_failed_device_names_it_and_stops_the_rollout(mlops, stub_client):
    greengrass, iot = _wait_stubs(stub_client, _job("IN_PROGRESS", Succeeded=2, Failed=1, Queued=5),
                                  failed=[("pi-17", "FAILED")], cancel=True)
    result = mlops("edge", "wait", DEPLOYMENT, "--json")
    assert result.code == EXIT_FAILED, result.err
    facts = json.loads(result.out)
    assert facts["why"] == "1 of 3 finished device(s) failed (33.33 %, at most 0 % allowed)"
    assert facts["failed_devices"] == [{"device": "pi-17", "status": "FAILED"}]
    # The 5 queued devices never get the version: the deployment was cancelled.
    assert facts["cancelled"] is True
    iot.assert_no_pending_responses()
    greengrass.assert_no_pending_responses()


def test_the_failure_share_is_judged_on_the_abort_s_sample(mlops, stub_client):
    """One failure among the first two finished is 50 %, but the gate judges the share only once 20 devices
    finished (the abort's sample): at 50 finished, one failure is 2 %, within the 2 % allowed."""
    _wait_stubs(stub_client, _job("IN_PROGRESS", Succeeded=1, Failed=1, Queued=1998),
                _job("IN_PROGRESS", Succeeded=49, Failed=1, Queued=1950), failed=None)
    result = mlops("edge", "wait", DEPLOYMENT, "--min-succeeded", "40", "--max-failed-percent", "2",
                   "--min-executed", "20", "--poll-interval", "1")
    assert result.code == 0, result.out + result.err
    assert "PASSED: 49 device(s) succeeded, 1 failed, 1950 not finished (40 had to succeed)" in result.out


def test_the_wait_fails_when_the_rollout_was_aborted(mlops, stub_client):
    # IoT cancelled the job already: nothing more to cancel.
    _wait_stubs(stub_client, _job("CANCELED", Succeeded=30, Failed=2, TimedOut=1, Queued=1967), failed=[])
    result = mlops("edge", "wait", DEPLOYMENT, "--min-succeeded", "20", "--max-failed-percent", "10")
    assert result.code == EXIT_FAILED
    assert ("FAILED: the rollout was cancelled (its abort criteria, a person or a newer deployment) with 30 device(s) "
            "succeeded, 3 failed and 1967 not finished") in result.out


def test_the_wait_passes_a_large_fleet_on_enough_devices(mlops, stub_client):
    _wait_stubs(stub_client, _job("IN_PROGRESS", Succeeded=20, Failed=0, Queued=1980), failed=None)
    result = mlops("edge", "wait", DEPLOYMENT, "--min-succeeded", "20", "--max-failed-percent", "2")
    assert result.code == 0 and "PASSED: 20 device(s) succeeded, 0 failed, 1980 not finished (20 had to succeed)" \
        in result.out


def test_the_wait_gives_up_after_its_minutes_saying_what_is_still_queued(stub_client):
    from constructs_lib.ops.aws import Context
    from constructs_lib.ops.edge import wait_for_devices

    _wait_stubs(stub_client, *[_job("IN_PROGRESS", Succeeded=4, Queued=1)] * 3, failed=[], cancel=True)
    now = [0.0]
    facts = wait_for_devices(Context(region="eu-west-1"), DEPLOYMENT, EdgeGate(wait_minutes=1), poll_seconds=30,
                             clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert (facts["state"], now[0]) == ("failed", 60)
    assert facts["why"] == ("not done after 1 minute(s): 4 device(s) succeeded, 0 failed, 1 not finished (offline "
                            "devices stay queued: a stage that may have some sets edge.verify.min_succeeded_devices)")
    assert facts["cancelled"] is True


@pytest.mark.parametrize("status, devices, expected", [
    ("IN_PROGRESS", {}, ("waiting", "the job targets no device yet (an empty thing group targets none)")),
    ("IN_PROGRESS", {"failed": 5}, ("failed", "5 of 5 finished device(s) failed (100 %, at most 2 % allowed)")),
    ("IN_PROGRESS", {"succeeded": 98, "failed": 2}, ("passed", "every targeted device finished: 98 device(s) "
                                                                "succeeded, 2 failed, 0 not finished")),
    ("IN_PROGRESS", {"succeeded": 97, "timed out": 3}, ("failed", "3 of 100 finished device(s) failed (3 %, at "
                                                                   "most 2 % allowed)")),
])
def test_the_gate_judges_devices_not_the_continuous_job_s_status(status, devices, expected):
    assert EdgeGate(max_failed_percent=2).judge(status, devices) == expected


def test_the_default_gate_waits_while_iot_still_rolls_the_job_out():
    """Devices the rollout has not reached are not counted yet: while processingTargets is set (botocore: null
    once the job reached every target), 'every targeted device finished' does not pass."""
    gate = EdgeGate()
    assert gate.judge("IN_PROGRESS", {"succeeded": 2}, rolling_out=True) == (
        "waiting", "2 device(s) succeeded, 0 failed, 0 not finished (IoT is still rolling the job out to the group)")
    assert gate.judge("IN_PROGRESS", {"succeeded": 2})[0] == "passed"
    # With a sample size, one early failure waits; once every device finished it is judged whatever the sample.
    sampled = EdgeGate(max_failed_percent=5, min_executed=20)
    assert sampled.judge("IN_PROGRESS", {"succeeded": 1, "failed": 1, "queued": 3})[0] == "waiting"
    assert sampled.judge("IN_PROGRESS", {"succeeded": 4, "failed": 1}) == (
        "failed", "1 of 5 finished device(s) failed (20 %, at most 5 % allowed)")
