"""Edge releases: a model component version on Greengrass devices and its staged, self-aborting deployment to a
thing group; the rollout's waves and what a bad version reaches before the abort."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs_lib.edge import DLR_RUNTIME, EdgeFleetDeployment, EdgeModelComponent
from constructs_lib.edge_rules import EdgeAbort, EdgeRollout, Wave, exposed_if_every_device_fails, rollout_waves
from constructs_lib.errors import ConfigError
from support import check_assembly, nag_app, synth_checked
from test_components import by_type
from test_endpoint import ENV

BUCKET = "mlops-edge-artifacts-333333333333-eu-west-1"
KEY = "churn-edge/v7/model.tar.gz"
NAME = "com.example.churn.model"


def _component(stack, **overrides):
    props = dict(component_name=NAME, component_version="1.0.7", artifact_key=KEY, artifact_bucket=s3.Bucket.from_bucket_attributes(
        stack, "Artifacts", bucket_name=BUCKET,
        encryption_key=kms.Key.from_key_arn(stack, "Key", "arn:aws:kms:eu-west-1:333333333333:key/1111-2222")))
    props.update(overrides)
    return EdgeModelComponent(stack, "Model", **props)


@pytest.fixture(scope="module")
def template():
    app = nag_app()
    stack = Stack(app, "Edge", env=ENV)
    component = _component(stack)
    EdgeFleetDeployment(stack, "Fleet", thing_group_name="churn-devices-prod",
                        components=[component], rollout=EdgeRollout(base_rate_per_minute=5, maximum_per_minute=50),
                        abort=EdgeAbort(threshold_percent=5, min_executed=20, failure_types=("FAILED", "TIMED_OUT")),
                        in_progress_timeout=Duration.minutes(30))
    devices = iam.Role(stack, "DeviceRole", assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"))
    component.grant_artifact_read(devices)
    return check_assembly(synth_checked(app))["Edge"]  # cdk-nag and cfn-lint clean


def _release(template):
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::SageMakerReleaseCheck"]
    return resource["Properties"]


def test_the_component_installs_the_artifact_and_depends_on_the_runtime(template):
    props = _release(template)
    assert props["Check"] == "edge"
    assert props["ComponentArn"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":greengrass:eu-west-1:"
                                                       f"333333333333:components:{NAME}:versions:1.0.7"]]}
    assert "ModelPackageArn" not in props  # the artifact is there already: nothing to copy
    recipe = json.loads(props["Recipe"])
    assert (recipe["ComponentName"], recipe["ComponentVersion"]) == (NAME, "1.0.7")
    assert recipe["ComponentDependencies"] == {"variant.DLR": {"VersionRequirement": "~1.6.0", "DependencyType": "HARD"}}
    (manifest,) = recipe["Manifests"]
    assert manifest["Platform"] == {"os": "linux"}
    assert manifest["Artifacts"] == [{"URI": f"s3://{BUCKET}/{KEY}", "Unarchive": "NONE",
                                      "Permission": {"Read": "OWNER", "Execute": "NONE"}}]
    # The unpacked folder is the nucleus's (read-only to the component user): privileged, once per version.
    model = "{artifacts:decompressedPath}/model"
    assert manifest["Lifecycle"]["Install"] == {
        "Script": f"mkdir -p {model} && tar --no-same-owner -xzf {{artifacts:path}}/model.tar.gz -C {model} && "
                  f"chmod -R a+rX {model} && touch {model}/.unpacked",
        "Skipif": f"exists {model}/.unpacked", "RequiresPrivilege": True, "Timeout": 600}


def test_the_release_function_may_make_only_this_version(template):
    (role,) = [r for r in by_type(template, "AWS::IAM::Role").values() if r.get("Description", "").startswith("Release checks")]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    by_action = {tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],): s for s in statements}
    component = f":greengrass:eu-west-1:333333333333:components:{NAME}"
    # CreateComponentVersion is authorised on the component (the service authorization reference).
    assert by_action[("greengrass:CreateComponentVersion",)]["Resource"] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, component]]}]
    assert by_action[("greengrass:DescribeComponent", "greengrass:GetComponent", "greengrass:DeleteComponent")][
        "Resource"] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f"{component}:versions:1.0.7"]]}]
    # Greengrass reads the artifact as the caller (its digest); no write without a version to copy from.
    assert ("s3:GetObject",) in by_action and ("s3:PutObject", "s3:AbortMultipartUpload") not in by_action


def test_the_deployment_rolls_out_in_waves_and_aborts_on_failures(template):
    (deployment_id, resource), = [(k, r) for k, r in template["Resources"].items()
                                  if r["Type"] == "AWS::GreengrassV2::Deployment"]
    deployment = resource["Properties"]
    assert deployment["TargetArn"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                                         ":iot:eu-west-1:333333333333:thinggroup/churn-devices-prod"]]}
    (component_id,) = [k for k, r in template["Resources"].items() if r["Type"] == "Custom::SageMakerReleaseCheck"]
    # The version by its string, once the release function made it (and found it DEPLOYABLE).
    assert deployment["Components"] == {NAME: {"ComponentVersion": "1.0.7"}}
    assert resource["DependsOn"] == [component_id]
    jobs = deployment["IotJobConfiguration"]
    assert jobs["JobExecutionsRolloutConfig"] == {"ExponentialRate": {
        "BaseRatePerMinute": 5, "IncrementFactor": 2, "RateIncreaseCriteria": {"NumberOfSucceededThings": 10}},
        "MaximumPerMinute": 50}
    assert jobs["AbortConfig"] == {"CriteriaList": [
        {"FailureType": kind, "Action": "CANCEL", "ThresholdPercentage": 5, "MinNumberOfExecutedThings": 20}
        for kind in ("FAILED", "TIMED_OUT")]}
    assert jobs["TimeoutConfig"] == {"InProgressTimeoutInMinutes": 30}
    assert deployment["DeploymentPolicies"]["FailureHandlingPolicy"] == "ROLLBACK"


def test_the_devices_read_only_the_artifact(template):
    (policy,) = by_type(template, "AWS::IAM::Policy").values()
    assert policy["PolicyName"] == f"{NAME}-1.0.7-artifact-read"  # its own name: other stacks grant the role too
    read, location, decrypt = policy["PolicyDocument"]["Statement"]
    assert (read["Action"], read["Resource"]) == ("s3:GetObject", {"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, f":s3:::{BUCKET}/{KEY}"]]})
    assert (location["Action"], location["Resource"]) == ("s3:GetBucketLocation", {"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"}, f":s3:::{BUCKET}"]]})
    assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", "arn:aws:kms:eu-west-1:333333333333:key/1111-2222")
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


@pytest.mark.parametrize("rollout, message", [
    (EdgeRollout(base_rate_per_minute=0), "rollout.base_rate_per_minute: must be between 1 and 1000 devices per minute, got 0"),
    (EdgeRollout(base_rate_per_minute=True), "rollout.base_rate_per_minute: must be a whole number, got true"),
    (EdgeRollout(increment_factor=5.5), "rollout.increment_factor: must be between 1 and 5, got 5.5"),
    (EdgeRollout(increment_factor=1.25), "rollout.increment_factor: may have at most 1 digit after the decimal point"),
    (EdgeRollout(increment_factor=float("nan")), "rollout.increment_factor: must be a finite number, got nan"),
    (EdgeRollout(rate_increase_after=0), "rollout.rate_increase_after: must be between 1 and 2147483647 devices"),
    (EdgeRollout(count="failed"), "rollout.count: must be one of succeeded, notified, got 'failed'"),
    (EdgeRollout(base_rate_per_minute=20, maximum_per_minute=10),
     "rollout.maximum_per_minute: must be at least base_rate_per_minute (20), got 10"),
])
def test_rollout_limits_are_iot_jobs(rollout, message):
    with pytest.raises(ConfigError) as error:
        rollout.validate()
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize("abort, message", [
    (EdgeAbort(threshold_percent=100), "abort.threshold_percent: must be between 0 and 99.99 percent, got 100"),
    (EdgeAbort(threshold_percent=2.555), "abort.threshold_percent: may have at most 2 digits after the decimal point"),
    (EdgeAbort(min_executed=0), "abort.min_executed: must be between 1 and 2147483647 devices, got 0"),
    (EdgeAbort(failure_types=()), "abort.failure_types: must list one or more of FAILED, REJECTED, TIMED_OUT, ALL"),
    (EdgeAbort(failure_types="ALL"), "abort.failure_types: must list one or more of"),
    (EdgeAbort(failure_types=("FAILED", "CRASHED")), "abort.failure_types[1]: must be one of FAILED, REJECTED, "
                                                     "TIMED_OUT, ALL, got 'CRASHED'"),
    (EdgeAbort(failure_types=("FAILED", "FAILED")), "abort.failure_types[1]: must not repeat a failure type"),
    (EdgeAbort(failure_types=("ALL", "FAILED")), "abort.failure_types: ALL counts every failure already"),
])
def test_abort_limits_are_iot_jobs(abort, message):
    with pytest.raises(ConfigError) as error:
        abort.validate()
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize("overrides, message", [
    ({"thing_group_name": "churn devices"}, "thing_group_name: must be 1-128 letters, digits, ':', '_' or '-'"),
    ({"components": {}}, "components: must name at least one component"),
    ({"components": {"com.example.x": "1.0"}}, "components['com.example.x']: must be a version major.minor.patch"),
    ({"components": {"com.example..x": "1.0.0", "bad name": "1.0.0"}}, "components['bad name']: must be a "
                                                                         "Greengrass component name"),
    ({"rollout": EdgeAbort()}, "rollout: must be an EdgeRollout, got"),
    ({"components": [{"aws.greengrass.Nucleus": "2.12.0"}]}, "components[0]: must be an EdgeModelComponent; to list "
                                                            "other components (AWS's too), map names to versions"),
    ({"deployment_name": "x" * 257}, "deployment_name: must be 1-256 characters"),
    ({"in_progress_timeout": Duration.days(8)}, "in_progress_timeout: must be between 1 and 10080 minutes, got 11520"),
    ({"in_progress_timeout": Duration.seconds(90)}, "in_progress_timeout: must be whole minutes (IoT jobs count "
                                                    "minutes), got 90 s"),
    ({"abort": EdgeAbort(min_executed=0)}, "abort.min_executed: must be between 1"),
    ({"rollback_failed_devices": "yes"}, "rollback_failed_devices: must be true or false, got 'yes'"),
])
def test_bad_deployment_input_is_one_line(overrides, message):
    stack = Stack(None, "S", env=ENV)
    props = dict(thing_group_name="churn-devices-test", components={"com.example.churn.model": "1.0.3"})
    props.update(overrides)
    with pytest.raises(ConfigError) as error:
        EdgeFleetDeployment(stack, "Fleet", **props)
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("overrides, message", [
    ({"component_name": "aws.greengrass.Model"}, "component_name: must not start with aws.greengrass."),
    ({"component_version": "v1"}, "component_version: must be a version major.minor.patch of whole numbers"),
    ({"artifact_key": "models/*.tar.gz"}, "artifact_key: must be the key of a .tar.gz object"),
    ({"artifact_key": "model.zip"}, "artifact_key: must be the key of a .tar.gz object"),
    ({"runtime": {"variant.DLR": ""}}, "runtime['variant.DLR']: must be a version requirement such as ~1.6.0"),
    ({"platforms": [{"os": "windows"}]}, "platforms[0].os: must be linux: the install step unpacks the model with tar"),
    ({"platforms": [{"os": "linux", "architecture": "riscv"}]}, "platforms[0].architecture: must be one of amd64, "
                                                                "x86, aarch64, arm, got 'riscv'"),
    ({"platforms": []}, "platforms: must be a list of {os, architecture}"),
])
def test_bad_component_input_is_one_line(overrides, message):
    with pytest.raises(ConfigError) as error:
        _component(Stack(None, "S", env=ENV), **overrides)
    assert str(error.value).startswith(message), str(error.value)


def test_a_model_run_by_the_devices_own_application_needs_no_runtime():
    from aws_cdk.assertions import Template

    stack = Stack(None, "S", env=ENV)
    _component(stack, runtime={}, platforms=[{"os": "linux", "architecture": "aarch64"}])
    (resource,) = Template.from_stack(stack).find_resources("Custom::SageMakerReleaseCheck").values()
    recipe = json.loads(resource["Properties"]["Recipe"])
    assert "ComponentDependencies" not in recipe and DLR_RUNTIME == {"variant.DLR": "~1.6.0"}
    assert recipe["Manifests"][0]["Platform"] == {"os": "linux", "architecture": "aarch64"}


def test_a_healthy_rollout_s_waves_double_up_to_the_ceiling():
    waves = rollout_waves(1000, EdgeRollout())
    assert [(w.rate_per_minute, w.devices) for w in waves] == [
        (2, 10), (4, 10), (8, 10), (16, 10), (32, 10), (64, 10), (100, 940)]
    assert waves[0] == Wave(2, 10, 0, 5) and waves[-1].end == pytest.approx(19.24375)
    assert [(w.rate_per_minute, w.devices) for w in rollout_waves(30, EdgeRollout(increment_factor=1))] == [(2, 30)]
    assert sum(w.devices for w in rollout_waves(7, EdgeRollout())) == 7


@pytest.mark.parametrize("rollout, abort, timeout, exposed", [
    # counting successes, a failing version stays at 2 a minute: 10 devices by minute 5, the 10th failure known
    # at the latest 60 minutes later, 2 a minute meanwhile
    (EdgeRollout(), EdgeAbort(), 60, 130),
    (EdgeRollout(), EdgeAbort(), 5, 20),
    # counting notifications, the rate grows whatever happens: the whole fleet within the hour
    (EdgeRollout(count="notified"), EdgeAbort(), 60, 1000),
    # failures of the deployment itself not counted, or timeouts not counted: nothing bounds it
    (EdgeRollout(), EdgeAbort(failure_types=("TIMED_OUT",)), 60, 1000),
    (EdgeRollout(), EdgeAbort(failure_types=("FAILED",)), 60, 1000),
    (EdgeRollout(), EdgeAbort(failure_types=("FAILED", "TIMED_OUT")), 60, 130),
    # a larger sample before judging: 50 devices by minute 25, then an hour at 2 a minute
    (EdgeRollout(), EdgeAbort(min_executed=50), 60, 170),
])
def test_what_a_version_failing_everywhere_reaches_before_the_abort(rollout, abort, timeout, exposed):
    assert exposed_if_every_device_fails(1000, rollout, abort, timeout) == exposed


def test_the_group_s_aws_components_can_be_listed_and_a_version_given_back_by_its_string():
    """The deployment lists everything the group runs (devices uninstall the rest), AWS's components too; going
    back is the previous version's string, since that version was kept."""
    from aws_cdk.assertions import Template

    stack = Stack(None, "S", env=ENV)
    EdgeFleetDeployment(stack, "Fleet", thing_group_name="churn-devices-prod", components={
        "aws.greengrass.Nucleus": "2.12.0", NAME: "1.0.6"})
    (deployment,) = Template.from_stack(stack).find_resources("AWS::GreengrassV2::Deployment").values()
    assert deployment["Properties"]["Components"] == {"aws.greengrass.Nucleus": {"ComponentVersion": "2.12.0"},
                                                      NAME: {"ComponentVersion": "1.0.6"}}


def test_a_key_known_only_at_deploy_time_unpacks_the_component_s_one_archive():
    from aws_cdk import CfnParameter
    from aws_cdk.assertions import Template

    stack = Stack(None, "S", env=ENV)
    _component(stack, artifact_key=CfnParameter(stack, "ArtifactKey").value_as_string)
    (resource,) = Template.from_stack(stack).find_resources("Custom::SageMakerReleaseCheck").values()
    assert "tar --no-same-owner -xzf {artifacts:path}/*.tar.gz" in json.dumps(resource["Properties"]["Recipe"])


def test_the_plan_refuses_a_rollout_iot_jobs_would_refuse():
    with pytest.raises(ConfigError, match=r"^rollout.base_rate_per_minute: must be between 1 and 1000"):
        rollout_waves(1000, EdgeRollout(base_rate_per_minute=0))


def test_a_version_to_copy_needs_what_reading_the_registry_takes():
    with pytest.raises(ConfigError, match=r"^registry_statements: are required with model_package_arn"):
        _component(Stack(None, "S", env=ENV),
                   model_package_arn="arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/7")
