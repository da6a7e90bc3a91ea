"""Inference components: a host endpoint shared by two components, each with its own rolling update, rollback
alarms on its own metrics, autoscaled copies and a release check."""

from __future__ import annotations

import pytest
from aws_cdk import Duration, Stack

from constructs_lib.components import ComponentHost, ComputeRequirements, InferenceComponent
from constructs_lib.deployment import CapacitySize, DeploymentPolicy
from constructs_lib.errors import ConfigError
from constructs_lib.variants import ModelSource, RollbackAlarms
from support import check_assembly, nag_app, synth_checked
from test_endpoint import ENV, V1

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/lite:1"


@pytest.fixture(scope="module")
def template():
    app = nag_app()
    stack = Stack(app, "Shared", env=ENV)
    host = ComponentHost(stack, "Host", endpoint_name="shared-prod", instance_type="ml.m5.xlarge",
                         instance_count=2, max_instance_count=4)
    churn = InferenceComponent(stack, "Churn", host=host, model=V1,
                               component_name="churn-prod", compute=ComputeRequirements(memory_mb=2048, cpu_cores=1),
                               copies=4, deployment=DeploymentPolicy.rolling(CapacitySize.copies(1),
                                                                             wait=Duration.minutes(10)))
    churn.auto_scale_copies(min_copies=4, max_copies=8, target_invocations_per_copy=200)
    InferenceComponent(stack, "Lite", host=host, model=ModelSource.from_image(IMAGE), component_name="lite-prod",
                       compute=ComputeRequirements(memory_mb=1024), copies=2,
                       deployment=DeploymentPolicy.rolling(CapacitySize.percent(50), wait=Duration.minutes(5)),
                       rollback_alarms=RollbackAlarms(max_model_latency_ms=200))
    return check_assembly(synth_checked(app))["Shared"]  # cdk-nag and cfn-lint clean


def by_type(template: dict, type_: str) -> dict:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == type_}


def flat(value):
    """A ``Fn::Join`` of text and ``AWS::Partition`` as the ARN it makes in the aws partition."""
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join("aws" if part == {"Ref": "AWS::Partition"} else part for part in value["Fn::Join"][1])
    if isinstance(value, list):
        return [flat(v) for v in value]
    return value


def component(template: dict, name: str) -> dict:
    return next(c for c in by_type(template, "AWS::SageMaker::InferenceComponent").values()
                if c["InferenceComponentName"] == name)


def test_the_host_is_one_variant_without_a_model_scaled_by_sagemaker(template):
    (config,) = by_type(template, "AWS::SageMaker::EndpointConfig").values()
    (variant,) = config["ProductionVariants"]
    assert "ModelName" not in variant
    assert variant == {"VariantName": "main", "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 2,
                       "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
                       "ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": 2, "MaxInstanceCount": 4}}
    (role_id,) = [k for k in by_type(template, "AWS::IAM::Role") if k.startswith("HostExecutionRole")]
    assert config["ExecutionRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert "KmsKeyId" in config
    assert config["EnableNetworkIsolation"] is True  # the components' containers: the host has no model of its own
    (endpoint,) = by_type(template, "AWS::SageMaker::Endpoint").values()
    assert endpoint["RetainAllVariantProperties"] is True  # keeps the instances managed scaling added

def test_each_component_rolls_out_in_batches_of_copies_watched_by_its_own_alarms(template):
    churn = component(template, "churn-prod")
    policy = churn["DeploymentConfig"]["RollingUpdatePolicy"]
    # 8 copies at most (autoscaling), one per batch: 8 x (600 s bake + 1800 s provisioning allowance) = 19200 s.
    assert policy == {"MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1}, "WaitIntervalInSeconds": 600,
                      "MaximumExecutionTimeoutInSeconds": 19200}
    alarms = by_type(template, "AWS::CloudWatch::Alarm")
    names = [a["AlarmName"] for a in alarms.values()]
    assert sorted(n for n in names if "churn" in n) == [
        "shared-prod-churn-prod-5xx-rate", "shared-prod-churn-prod-latency", "shared-prod-churn-prod-model-error-rate"]
    rollback = churn["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert len(rollback) == 3 and all(set(a["AlarmName"]) == {"Ref"} for a in rollback)
    latency = next(a for a in alarms.values() if a["AlarmName"] == "shared-prod-lite-prod-latency")
    assert latency["Dimensions"] == [{"Name": "InferenceComponentName", "Value": "lite-prod"}]
    assert latency["Threshold"] == 200_000
    rate = next(a for a in alarms.values() if a["AlarmName"] == "shared-prod-churn-prod-5xx-rate")
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"] if "MetricStat" in m} == {
        "Invocation5XXErrors", "Invocations"}
    lite = component(template, "lite-prod")["DeploymentConfig"]["RollingUpdatePolicy"]
    assert lite["MaximumBatchSize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}


def test_a_component_names_its_model_compute_and_copies(template):
    churn = component(template, "churn-prod")
    assert churn["EndpointName"] == "shared-prod" and churn["VariantName"] == "main"
    assert churn["Specification"]["ComputeResourceRequirements"] == {"MinMemoryRequiredInMb": 2048,
                                                                     "NumberOfCpuCoresRequired": 1}
    assert churn["RuntimeConfig"] == {"CopyCount": 4}
    model_id = churn["Specification"]["ModelName"]["Fn::GetAtt"][0]
    assert by_type(template, "AWS::SageMaker::Model")[model_id]["PrimaryContainer"] == {
        "ModelPackageName": V1.container["ModelPackageName"]}


def test_copies_are_autoscaled_on_invocations_per_copy(template):
    (target,) = by_type(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert {k: target[k] for k in ("ResourceId", "ScalableDimension", "MinCapacity", "MaxCapacity")} == {
        "ResourceId": "inference-component/churn-prod", "ScalableDimension":
        "sagemaker:inference-component:DesiredCopyCount", "MinCapacity": 4, "MaxCapacity": 8}
    (policy,) = by_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}
    assert config["TargetValue"] == 200


def test_the_release_check_follows_each_component_and_may_read_only_it(template):
    checks = {r["Properties"]["InferenceComponentName"]: (k, r) for k, r in template["Resources"].items()
              if r["Type"] == "Custom::SageMakerReleaseCheck"}
    assert set(checks) == {"churn-prod", "lite-prod"}
    key, check = checks["churn-prod"]
    assert check["Properties"]["Check"] == "component"
    assert check["Properties"]["ModelName"]["Fn::GetAtt"][1] == "ModelName"
    component_id = next(k for k, r in template["Resources"].items()
                        if r["Type"] == "AWS::SageMaker::InferenceComponent"
                        and r["Properties"]["InferenceComponentName"] == "churn-prod")
    assert component_id in check["DependsOn"]
    role = next(r["Properties"] for k, r in template["Resources"].items()
                if k.startswith("ChurnReleaseCheckRole") and r["Type"] == "AWS::IAM::Role")
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert check["Properties"]["Compute"] == {"MinMemoryRequiredInMb": 2048, "NumberOfCpuCoresRequired": 1}
    assert statements[0]["Action"] == ["sagemaker:DescribeInferenceComponent"]
    assert flat(statements[0]["Resource"]) == ["arn:aws:sagemaker:eu-west-1:333333333333:inference-component/churn-prod"]
    assert flat(statements[1]["Resource"]) == [f"arn:aws:cloudwatch:eu-west-1:333333333333:alarm:shared-prod-churn-prod-{k}"
                                               for k in ("5xx-rate", "model-error-rate", "latency")]


def test_the_host_role_reads_the_components_alarms_by_the_endpoint_prefix(template):
    policies = by_type(template, "AWS::IAM::Policy")
    (host,) = [p for k, p in policies.items() if k.startswith("HostExecutionRolePermissions")]
    describe = [s for s in host["PolicyDocument"]["Statement"] if s["Action"] == "cloudwatch:DescribeAlarms"]
    assert [flat(s["Resource"]) for s in describe] == ["arn:aws:cloudwatch:eu-west-1:333333333333:alarm:shared-prod-*"]


def _component(**overrides):
    stack = Stack(nag_app(), "Bad", env=ENV)
    host = ComponentHost.from_endpoint_name(stack, "Host", "shared-prod")
    props = dict(host=host, model=ModelSource.from_image(IMAGE), component_name="lite-prod",
                 compute=ComputeRequirements(memory_mb=1024), copies=2)
    scaling = overrides.pop("scaling", None)
    props.update(overrides)
    built = InferenceComponent(stack, "Lite", **props)
    if scaling:
        built.auto_scale_copies(**scaling)
    return built


@pytest.mark.parametrize("overrides, message", [
    ({"compute": ComputeRequirements(memory_mb=64)},
     "compute.memory_mb: must be between 128 and 4194304 MB, got 64"),
    ({"compute": ComputeRequirements(memory_mb=1024, cpu_cores=0.1)},
     "compute.cpu_cores: must be between 0.25 and 1024 cores, got 0.1"),
    ({"compute": ComputeRequirements(memory_mb=1024, max_memory_mb=512)},
     "compute.max_memory_mb: must be at least memory_mb (1024), got 512"),
    ({"copies": 0}, "copies: must be between 1 and 10000 copies, got 0"),
    ({"copies": True}, "copies: must be a whole number, got true"),
    ({"deployment": DeploymentPolicy.canary(CapacitySize.percent(10))},
     "deployment.type: must be one of rolling, unguarded, got 'canary'"),
    ({"deployment": DeploymentPolicy.rolling(CapacitySize.copies(2))},
     "deployment.batch_size: must be at most 50% of the component's copies (2, so at most 1), got 2 copies"),
    ({"copies": 1, "deployment": DeploymentPolicy.rolling(CapacitySize.copies(1))},
     "deployment.batch_size: a rolling update in batches of copies needs at least 2 copies"),
    ({"copies": 21, "deployment": DeploymentPolicy.rolling(CapacitySize.copies(1))},
     "deployment.batch_size: must be at least 5% of the component's copies (21, so at least 2), got 1 copies"),
    ({"deployment": DeploymentPolicy.rolling(CapacitySize.copies(1), rollback_batch_size=CapacitySize.copies(3))},
     "deployment.rollback_batch_size: must be at most the component's copies (2), got 3"),
    ({"copies": 4, "deployment": DeploymentPolicy.rolling(CapacitySize.copies(2)),
      "scaling": {"min_copies": 2, "max_copies": 6, "target_invocations_per_copy": 10}},
     "deployment.batch_size: must be at most 50% of the component's copies (2 at the fewest autoscaling allows, "
     "so at most 1), got 2 copies"),
    ({"model": ModelSource.from_containers([ModelSource.from_image(IMAGE), ModelSource.from_image(IMAGE)])},
     "model: must be a one-container model (an inference component runs one container"),
    ({"model": ModelSource.from_model_package("arn:aws:sagemaker:eu-west-1:111111111111:model-package/lite/2",
                                              inference_pipeline=True)},
     "model: must be a one-container model (an inference component runs one container"),
    ({"host": None}, "host: must be a ComponentHost"),
    ({"component_name": "bad_name"}, "component_name:"),
    ({"rollback_alarms": RollbackAlarms(watch_whole_endpoint=True)},
     "rollback_alarms.watch_whole_endpoint: does not apply to an inference component"),
    ({"scaling": {"min_copies": 3, "max_copies": 4, "target_invocations_per_copy": 10}},
     "autoscaling.min_copies: copies (2) must be between min_copies and max_copies, got 3-4"),
    ({"scaling": {"min_copies": 0, "max_copies": 4, "target_invocations_per_copy": 10}},
     "autoscaling.min_copies: must be between 1 and 10000 copies, got 0"),
    ({"scaling": {"min_copies": 2, "max_copies": 4, "target_invocations_per_copy": 0}},
     "autoscaling.target_invocations_per_copy: must be between 1 and 1000000"),
])
def test_bad_component_settings_fail_with_one_line(overrides, message):
    with pytest.raises(ConfigError) as error:
        _component(**overrides)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("props, message", [
    ({"instance_type": "ml.t9.huge"}, "instance_type: must be a SageMaker real-time inference instance type"),
    ({"max_instance_count": 1, "instance_count": 2}, "max_instance_count: must be at least instance_count (2), got 1"),
    ({"min_instance_count": 1}, "min_instance_count: applies only with max_instance_count"),
    ({"routing": "ROUND_ROBIN"}, "routing: must be one of LEAST_OUTSTANDING_REQUESTS, RANDOM, got 'ROUND_ROBIN'"),
])
def test_bad_host_settings_fail_with_one_line(props, message):
    stack = Stack(nag_app(), "Bad", env=ENV)
    with pytest.raises(ConfigError, match=None) as error:
        ComponentHost(stack, "Host", **{"endpoint_name": "shared-prod", "instance_type": "ml.m5.xlarge", **props})
    assert str(error.value).startswith(message)


def test_the_model_role_reads_only_its_own_alarms(template):
    policies = by_type(template, "AWS::IAM::Policy")
    (churn,) = [p for k, p in policies.items() if k.startswith("ChurnExecutionRolePermissions")]
    (describe,) = [s for s in churn["PolicyDocument"]["Statement"] if s["Action"] == "cloudwatch:DescribeAlarms"]
    assert sorted(flat(describe["Resource"])) == sorted(
        f"arn:aws:cloudwatch:eu-west-1:333333333333:alarm:shared-prod-churn-prod-{k}"
        for k in ("5xx-rate", "model-error-rate", "latency"))


def test_a_rollback_batch_of_copies_is_a_copy_count():
    stack = Stack(nag_app(), "Rollback", env=ENV)
    host = ComponentHost.from_endpoint_name(stack, "Host", "shared-prod")
    built = InferenceComponent(stack, "Lite", host=host, model=ModelSource.from_image(IMAGE), component_name="lite",
                               compute=ComputeRequirements(memory_mb=1024), copies=4,
                               deployment=DeploymentPolicy.rolling(CapacitySize.copies(1),
                                                                   rollback_batch_size=CapacitySize.copies(2)))
    policy = Stack.of(built).resolve(built.cfn_component.deployment_config)["rollingUpdatePolicy"]
    assert policy["maximumBatchSize"] == {"type": "COPY_COUNT", "value": 1}
    assert policy["rollbackMaximumBatchSize"] == {"type": "COPY_COUNT", "value": 2}
    # 4 x (300 s bake + 1800 s provisioning allowance)
    assert policy["maximumExecutionTimeoutInSeconds"] == 8400


def test_more_than_ten_rollback_alarms_are_refused():
    from aws_cdk import aws_cloudwatch as cloudwatch

    stack = Stack(nag_app(), "Alarms", env=ENV)
    extra = [cloudwatch.Alarm.from_alarm_arn(stack, f"A{i}", f"arn:aws:cloudwatch:eu-west-1:333333333333:alarm:a{i}")
             for i in range(8)]
    with pytest.raises(ConfigError, match=r"^extra_rollback_alarms: at most 10 alarms can roll a release back "
                                          r"\(SageMaker's limit\), got 11$"):
        InferenceComponent(stack, "Lite", host=ComponentHost.from_endpoint_name(stack, "Host", "shared-prod"),
                           model=ModelSource.from_image(IMAGE), component_name="lite",
                           compute=ComputeRequirements(memory_mb=1024), extra_rollback_alarms=extra)
