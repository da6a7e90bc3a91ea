"""``mlops edge status``: a fleet's latest Greengrass deployment and its devices' progress. The thing group lives
in the moto server; Greengrass v2 (which moto lacks) and the IoT job's progress (moto's jobs never move) come
from Stubber."""

import json

import pytest
from botocore.stub import ANY

from constructs_lib.ops.base import EXIT_NOT_FOUND, EXIT_USAGE

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
    assert (result.code, result.err) == (EXIT_USAGE, "error: mlops edge needs a command: mlops edge status "
                                                     "--thing-group NAME\n")


def test_a_thing_group_name_iot_would_refuse_is_a_usage_error(mlops):
    result = mlops("edge", "status", "--thing-group", "bad name/x")
    assert (result.code, result.err) == (EXIT_USAGE, "error: --thing-group must be 1-128 letters, digits, ':', '_' "
                                                     "or '-' (an IoT thing group name), got 'bad name/x'\n")
