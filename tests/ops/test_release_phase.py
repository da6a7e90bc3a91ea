"""A release phase on a live endpoint, against the moto server: the trial model and config made from the steady
config, the update that starts the phase and the one that ends it. moto has no UpdateEndpoint (HTTP 500) and
drops shadow variants, so UpdateEndpoint is stubbed (its parameters asserted) and CreateEndpointConfig's request
is read from botocore's provide-client-params event."""

import boto3
import pytest
from ops_support import ENDPOINT, IMAGE, ROLE, OperationStubber, create_versions, endpoint_description

from constructs_lib.ops.release_phase import (READY_TAG, STEADY_TAG, EndpointBusy, PhaseError, restore, start,
                                                 status, trial_name)

STEADY = "churn-prod-config-0a1b2c3d"
RETAIN = {"RetainAllVariantProperties": True,
          "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}]}


@pytest.fixture
def sagemaker(moto_server):
    client = boto3.client("sagemaker", region_name="eu-west-1")
    client.create_model(ModelName="churn-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE},
                        EnableNetworkIsolation=True)
    client.create_endpoint_config(EndpointConfigName=STEADY, ProductionVariants=[
        {"VariantName": "main", "ModelName": "churn-model", "InitialInstanceCount": 2,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 20,
                           "DestinationS3Uri": "s3://capture/datacapture",
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    client.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=STEADY, Tags=[{"Key": READY_TAG, "Value": "phases"}])
    requests = []
    client.meta.events.register("provide-client-params.sagemaker.CreateEndpointConfig",
                                lambda params, **kwargs: requests.append(dict(params)))
    client.config_requests = requests
    client.model_requests = []
    client.meta.events.register("provide-client-params.sagemaker.CreateModel",
                                lambda params, **kwargs: client.model_requests.append(dict(params)))
    return client


@pytest.fixture
def version(sagemaker):
    return create_versions(sagemaker, "churn", ["Approved"])[0]


def stub_update(client, config, *describes):
    stubber = OperationStubber(client, ["UpdateEndpoint", "DescribeEndpoint"] if describes else ["UpdateEndpoint"])
    for description in describes:
        stubber.add_response("describe_endpoint", description, {"EndpointName": ENDPOINT})
    if config is not None:
        stubber.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/x"},
                             {"EndpointName": ENDPOINT, "EndpointConfigName": config, **RETAIN})
    stubber.activate()
    return stubber


def test_a_shadow_phase_copies_the_steady_config_and_adds_the_version_as_a_shadow(sagemaker, version):
    trial = trial_name(STEADY, "shadow", version)
    stubber = stub_update(sagemaker, trial)
    result = start(sagemaker, endpoint=ENDPOINT, phase="shadow", version_arn=version, variant_name="shadow",
                   percent=50)
    stubber.assert_no_pending_responses()
    # 2 production instances (moto reports the initial count as current), half of their requests copied: 1
    assert result == {"steady_config": STEADY, "trial_config": trial, "status": "Updating", "candidate_instances": 1}
    request = sagemaker.config_requests[-1]
    assert request["ProductionVariants"] == [{"VariantName": "main", "ModelName": "churn-model",
                                              "InitialInstanceCount": 2, "InstanceType": "ml.m5.large",
                                              "InitialVariantWeight": 1.0}]
    assert request["ShadowProductionVariants"] == [{"VariantName": "shadow", "ModelName": trial,
                                                    "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
                                                    "InitialVariantWeight": 0.5}]
    assert request["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    production = sagemaker.describe_model(ModelName="churn-model")  # moto answers isolation False whatever was set
    assert sagemaker.model_requests[-1] == {
        "ModelName": trial, "PrimaryContainer": {"ModelPackageName": version}, "ExecutionRoleArn": ROLE,
        "EnableNetworkIsolation": production["EnableNetworkIsolation"], "Tags": sagemaker.model_requests[-1]["Tags"]}
    assert sagemaker.describe_model(ModelName=trial)["PrimaryContainer"]["ModelPackageName"] == version
    arn = sagemaker.describe_endpoint_config(EndpointConfigName=trial)["EndpointConfigArn"]
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]}
    assert tags[STEADY_TAG] == STEADY


def test_an_ab_phase_gives_the_challenger_its_weight_and_the_production_variant_the_rest(sagemaker, version):
    trial = trial_name(STEADY, "ab", version)
    stubber = stub_update(sagemaker, trial)
    start(sagemaker, endpoint=ENDPOINT, phase="ab", version_arn=version, variant_name="challenger", percent=10,
          instance_count=1)
    stubber.assert_no_pending_responses()
    variants = sagemaker.config_requests[-1]["ProductionVariants"]
    assert [(v["VariantName"], v["ModelName"], v["InitialVariantWeight"], v["InitialInstanceCount"])
            for v in variants] == [("main", "churn-model", 90.0, 2), ("challenger", trial, 10.0, 1)]
    assert "ShadowProductionVariants" not in sagemaker.config_requests[-1]


def test_a_retried_start_finds_the_update_under_way_and_changes_nothing(sagemaker, version):
    trial = trial_name(STEADY, "shadow", version)
    stubber = stub_update(sagemaker, None, endpoint_description(
        "Updating", STEADY, PendingDeploymentSummary={"EndpointConfigName": trial}))
    assert start(sagemaker, endpoint=ENDPOINT, phase="shadow", version_arn=version, variant_name="shadow",
                 percent=100)["status"] == "Updating"
    stubber.assert_no_pending_responses()
    assert sagemaker.config_requests == []


def test_a_phase_refuses_an_endpoint_left_on_another_phase_s_trial(sagemaker, version):
    other = trial_name(STEADY, "ab", "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/9")
    sagemaker.create_endpoint_config(EndpointConfigName=other, Tags=[{"Key": STEADY_TAG, "Value": STEADY}],
                                     ProductionVariants=[{"VariantName": "main", "ModelName": "churn-model",
                                                          "InitialInstanceCount": 1,
                                                          "InstanceType": "ml.m5.large"}])
    stub_update(sagemaker, None, endpoint_description("InService", other))
    with pytest.raises(PhaseError, match=f"runs {other}, a trial config of another release phase: return it to "
                       rf"{STEADY} first \(`mlops release restore`\)"):
        start(sagemaker, endpoint=ENDPOINT, phase="shadow", version_arn=version, variant_name="shadow", percent=100)


@pytest.mark.parametrize("kwargs, message", [
    ({"phase": "canary"}, "phase must be one of shadow, ab, got 'canary'"),
    ({"phase": "ab", "percent": 60}, "percent out of range for a ab phase, got 60"),
    ({"variant_name": "main"}, "the shadow variant needs a name other than the production variant's, got main"),
])
def test_bad_phase_settings_are_refused_before_anything_changes(sagemaker, version, kwargs, message):
    settings = {"endpoint": ENDPOINT, "phase": "shadow", "version_arn": version, "variant_name": "shadow",
                "percent": 100} | kwargs
    with pytest.raises(PhaseError, match=message):
        start(sagemaker, **settings)
    assert sagemaker.config_requests == []


def test_the_end_of_a_phase_returns_to_the_steady_config_then_removes_the_trial(sagemaker, version):
    trial = trial_name(STEADY, "shadow", version)
    stubber = stub_update(sagemaker, trial)
    start(sagemaker, endpoint=ENDPOINT, phase="shadow", version_arn=version, variant_name="shadow", percent=100)
    stubber.deactivate()
    # On the trial config: the update back to the steady config starts (production weight from the steady config).
    stubber = stub_update(sagemaker, STEADY, endpoint_description("InService", trial))
    assert restore(sagemaker, endpoint=ENDPOINT, steady_config=STEADY) == {"status": "Updating", "reached": False}
    stubber.assert_no_pending_responses()
    stubber.deactivate()
    # Still updating: nothing is called again.
    stubber = stub_update(sagemaker, None, endpoint_description(
        "Updating", trial, PendingDeploymentSummary={"EndpointConfigName": STEADY}))
    assert restore(sagemaker, endpoint=ENDPOINT, steady_config=STEADY) == {"status": "Updating", "reached": False}
    stubber.deactivate()
    # Back on the steady config (the moto endpoint never left it): the trial config and model are deleted.
    assert restore(sagemaker, endpoint=ENDPOINT, steady_config=STEADY) == {"status": "InService", "reached": True}
    names = [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]]
    assert names == [STEADY]
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["churn-model"]


@pytest.mark.parametrize("description, message", [
    (endpoint_description("Failed", STEADY, FailureReason="no capacity"), "is Failed: no capacity"),
    (endpoint_description("InService", STEADY), f"is InService on {STEADY}, not on the-trial: the update to it was "
                                                 "rolled back or replaced"),
])
def test_a_failed_or_rolled_back_move_to_the_trial_is_an_error(sagemaker, description, message):
    stub_update(sagemaker, None, description)
    with pytest.raises(PhaseError, match=message):
        status(sagemaker, endpoint=ENDPOINT, config="the-trial")


def test_status_says_when_the_trial_config_is_reached(sagemaker):
    stub_update(sagemaker, None, endpoint_description("Updating", STEADY,
                                                      PendingDeploymentSummary={"EndpointConfigName": "the-trial"}),
                endpoint_description("InService", "the-trial"))
    assert status(sagemaker, endpoint=ENDPOINT, config="the-trial")["reached"] is False
    assert status(sagemaker, endpoint=ENDPOINT, config="the-trial")["reached"] is True


def test_trial_names_fit_sagemaker_s_63_characters_and_differ_by_phase_and_version():
    long = "x" * 63
    names = {trial_name(long, phase, f"arn:.../{n}") for phase in ("shadow", "ab") for n in (1, 2)}
    assert len(names) == 4 and all(len(n) <= 63 for n in names)


def test_the_first_release_or_a_re_run_has_nothing_to_compare_and_skips_the_phase(sagemaker, version):
    assert "does not exist yet" in start(sagemaker, endpoint="no-such-endpoint", phase="shadow", version_arn=version,
                                         variant_name="shadow", percent=100)["skipped"]
    sagemaker.create_model(ModelName="serving-version", ExecutionRoleArn=ROLE,
                           PrimaryContainer={"ModelPackageName": version})
    sagemaker.create_endpoint_config(EndpointConfigName="released", ProductionVariants=[
        {"VariantName": "main", "ModelName": "serving-version", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName="released-endpoint", EndpointConfigName="released",
                              Tags=[{"Key": READY_TAG, "Value": "phases"}])
    result = start(sagemaker, endpoint="released-endpoint", phase="ab", version_arn=version,
                   variant_name="challenger", percent=10)
    assert result == {"skipped": f"endpoint released-endpoint already serves {version} (a re-run release)"}
    assert sagemaker.config_requests[-1]["EndpointConfigName"] == "released"  # no trial config was made


@pytest.mark.parametrize("live, phase, percent, expected", [
    (2, "shadow", 100, 2), (6, "shadow", 50, 3), (5, "shadow", 10, 1),   # autoscaled to 6: half of 6
    (6, "ab", 10, 1), (9, "ab", 10, 1), (10, "ab", 10, 2), (4, "ab", 50, 4),  # w / (100 - w) of production's
])
def test_the_candidate_is_sized_from_the_live_production_count(live, phase, percent, expected):
    from constructs_lib.ops.release_phase import candidate_instances

    described = {"ProductionVariants": [{"VariantName": "main", "CurrentInstanceCount": live}]}
    assert candidate_instances(described, {"VariantName": "main", "InitialInstanceCount": 2}, phase, percent) == expected


def test_an_endpoint_deployed_before_the_release_plan_skips_the_phase(sagemaker, version):
    sagemaker.create_endpoint(EndpointName="older", EndpointConfigName=STEADY)  # no READY_TAG: an older stack
    result = start(sagemaker, endpoint="older", phase="shadow", version_arn=version, variant_name="shadow", percent=50)
    assert result == {"skipped": "endpoint older was deployed without the release phases' grants (its stack "
                                 "predates the release plan): this release goes straight to the guarded rollout, the "
                                 "next one has phases"}
    assert sagemaker.config_requests == []


def test_an_endpoint_busy_with_autoscaling_is_retried_not_failed(sagemaker, version):
    stub_update(sagemaker, None, endpoint_description("Updating", STEADY))
    with pytest.raises(EndpointBusy, match="endpoint churn-prod is Updating"):
        start(sagemaker, endpoint=ENDPOINT, phase="shadow", version_arn=version, variant_name="shadow", percent=50)


def test_a_restore_refused_while_the_endpoint_scales_waits_and_tries_again(sagemaker):
    stubber = OperationStubber(sagemaker, ["UpdateEndpoint", "DescribeEndpoint"])
    stubber.add_response("describe_endpoint", endpoint_description("InService", "the-trial"), {"EndpointName": ENDPOINT})
    stubber.add_client_error("update_endpoint", "ValidationException", "Cannot update in-progress endpoint")
    stubber.add_response("describe_endpoint", endpoint_description("Updating", "the-trial"), {"EndpointName": ENDPOINT})
    stubber.activate()
    assert restore(sagemaker, endpoint=ENDPOINT, steady_config=STEADY) == {"status": "Updating", "reached": False}
    stubber.assert_no_pending_responses()


def test_a_trial_model_whose_config_was_never_made_is_deleted_too(sagemaker, version):
    orphan = trial_name(STEADY, "ab", version)
    sagemaker.create_model(ModelName=orphan, ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": version},
                           Tags=[{"Key": STEADY_TAG, "Value": STEADY}])
    sagemaker.create_model(ModelName=f"{STEADY}-someone-else", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    assert restore(sagemaker, endpoint=ENDPOINT, steady_config=STEADY) == {"status": "InService", "reached": True}
    assert sorted(m["ModelName"] for m in sagemaker.list_models()["Models"]) == ["churn-model",
                                                                                f"{STEADY}-someone-else"]
