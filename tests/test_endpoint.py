"""ModelEndpoint: every feature asserted on one synthesised template per scenario, and every rule's message."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Annotations, Match, Template

from constructs_lib.deployment import CapacitySize, DeploymentPolicy
from constructs_lib.endpoint import ModelEndpoint
from constructs_lib.errors import ConfigError
from constructs_lib.variants import (AsyncInference, DataCapture, ModelSource, ProductionVariant, RollbackAlarms,
                                     ShadowVariant)
from support import check_assembly, nag_app, synth_checked

ENV = Environment(account="333333333333", region="eu-west-1")
V1 = ModelSource.from_model_package("arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/1")
V2 = ModelSource.from_model_package("arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/2")
IMAGE = ModelSource.from_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/baseline:1",
                               model_data_url="s3://models-bucket/baseline/model.tar.gz",
                               environment={"SAGEMAKER_PROGRAM": "serve.py"})


def instance(name="main", model=V1, **kw):
    kw.setdefault("instance_type", "ml.m5.large")
    return ProductionVariant.instance(name, model, **kw)


@pytest.fixture(scope="module")
def scenarios():
    """All scenarios in one app: one synth, nag-checked and linted."""
    app = nag_app()
    ab = Stack(app, "AB", env=ENV)
    endpoint = ModelEndpoint(
        ab, "Endpoint", endpoint_name="churn-prod",
        variants=[instance("champion", V1, initial_instance_count=2, weight=90),
                  instance("challenger", V2, initial_instance_count=2, weight=10,
                           startup_health_check_timeout=Duration.minutes(10),
                           model_data_download_timeout=Duration.minutes(15), volume_size_gb=30)],
        data_capture=DataCapture(sampling_percentage=20, capture_mode="input"),
        deployment=DeploymentPolicy.canary(CapacitySize.percent(50), wait=Duration.minutes(5),
                                           termination_wait=Duration.minutes(10)),
        rollback_alarms=RollbackAlarms(max_model_latency_ms=250, latency_statistic="p95"),
    )
    endpoint.auto_scale_variant("champion", min_capacity=2, max_capacity=6, target_invocations_per_instance=800)
    invoker = iam.Role(ab, "Invoker", assumed_by=iam.AccountRootPrincipal())
    endpoint.grant_invoke(invoker)

    shadow = Stack(app, "Shadow", env=ENV)
    extra = cloudwatch.Alarm(shadow, "BusinessKpi", metric=cloudwatch.Metric(namespace="App", metric_name="Conv"),
                             threshold=1, evaluation_periods=1)
    ModelEndpoint(shadow, "Endpoint", endpoint_name="churn-shadow",
                  variants=[instance("prod", V1, initial_instance_count=4)],
                  shadow_variant=ShadowVariant(instance("shadow", V2), sampling_percentage=25),
                  deployment=DeploymentPolicy.linear(CapacitySize.percent(25), wait=Duration.minutes(2)),
                  extra_rollback_alarms=[extra])

    rolling = Stack(app, "Rolling", env=ENV)
    ModelEndpoint(rolling, "Endpoint", endpoint_name="churn-rolling",
                  variants=[instance("main", IMAGE, initial_instance_count=4, instance_type="ml.g5.xlarge")],
                  deployment=DeploymentPolicy.rolling(CapacitySize.instances(1), wait=Duration.minutes(3),
                                                      rollback_batch_size=CapacitySize.percent(50)))

    whole = Stack(app, "Whole", env=ENV)
    ModelEndpoint(whole, "Endpoint", endpoint_name="whole", variants=[instance("main")],
                  rollback_alarms=RollbackAlarms(watch_whole_endpoint=True, min_invocations=20,
                                                 max_5xx_error_rate_percent=2))

    serverless = Stack(app, "Serverless", env=ENV)
    ModelEndpoint(serverless, "Endpoint", endpoint_name="churn-serverless", network_isolation=False,
                  variants=[ProductionVariant.serverless("main", V1, memory_size_mb=3072, max_concurrency=20,
                                                         provisioned_concurrency=2)])
    # Serverless models may not use network isolation, and have no VPC: SM1 is a real, reviewed trade-off here.
    from constructs_lib.nag import acknowledge
    acknowledge(serverless, "SM1", "Test scenario: a serverless endpoint supports neither VPC nor network isolation.")
    asynchronous = Stack(app, "Async", env=ENV)
    endpoint = ModelEndpoint(asynchronous, "Endpoint", endpoint_name="transcribe",
                             variants=[instance("main", V1, instance_type="ml.g5.xlarge")],
                             async_inference=AsyncInference(max_concurrent_invocations_per_instance=4,
                                                            include_response_in_notifications=True),
                             deployment=DeploymentPolicy.all_at_once(bake_time=Duration.minutes(10)))
    endpoint.auto_scale_variant("main", min_capacity=0, max_capacity=4, target_backlog_per_instance=5)
    endpoint.grant_invoke(iam.Role(asynchronous, "Caller", assumed_by=iam.AccountRootPrincipal()))
    templates = check_assembly(synth_checked(app))
    return {name: Template.from_json(t) for name, t in templates.items()}, templates


def resources(template: Template, type_: str) -> dict:
    return template.find_resources(type_)


def only(template: Template, type_: str) -> dict:
    found = list(resources(template, type_).values())
    assert len(found) == 1, f"{len(found)} {type_}"
    return found[0]["Properties"]


def test_ab_variants_split_traffic_by_weight(scenarios):
    config = only(scenarios[0]["AB"], "AWS::SageMaker::EndpointConfig")
    variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
    assert {n: v["InitialVariantWeight"] for n, v in variants.items()} == {"champion": 90, "challenger": 10}
    assert variants["challenger"]["ContainerStartupHealthCheckTimeoutInSeconds"] == 600
    assert variants["challenger"]["ModelDataDownloadTimeoutInSeconds"] == 900
    assert variants["challenger"]["VolumeSizeInGB"] == 30
    models = resources(scenarios[0]["AB"], "AWS::SageMaker::Model")
    packages = sorted(m["Properties"]["PrimaryContainer"]["ModelPackageName"] for m in models.values())
    assert packages == [V1.container["ModelPackageName"], V2.container["ModelPackageName"]]
    assert all(m["Properties"]["EnableNetworkIsolation"] is True for m in models.values())


def test_endpoint_config_name_derives_from_content(scenarios):
    config = only(scenarios[0]["AB"], "AWS::SageMaker::EndpointConfig")
    assert config["EndpointConfigName"].startswith("churn-prod-") and len(config["EndpointConfigName"]) == 23
    endpoint = only(scenarios[0]["AB"], "AWS::SageMaker::Endpoint")
    assert endpoint["EndpointConfigName"] == {"Fn::GetAtt": [Match.any_value(), "EndpointConfigName"]} or \
        "Fn::GetAtt" in endpoint["EndpointConfigName"]


def _config_name(**changes) -> str:
    """The content name of a one-variant endpoint, with ``changes`` applied to its variant."""
    stack = Stack(None, "Names", env=ENV)
    kw = {"initial_instance_count": 1, "weight": 1.0} | changes
    return ModelEndpoint(stack, "E", endpoint_name="names", variants=[instance("main", **kw)]).endpoint_config_name


def test_endpoint_config_name_changes_with_content_and_only_then():
    base = _config_name()
    assert _config_name() == base  # deterministic
    assert _config_name(model=V2) != base  # a new model version gets a new config name
    assert _config_name(initial_instance_count=2) != base
    assert _config_name(weight=2.0) != base


def test_endpoint_config_name_covers_every_input_that_replaces_a_model():
    """Every Model property replaces the model, and a replaced model under an unchanged custom config name
    fails the stack: the name must change with the container's environment, the role, isolation and VPC."""
    def name(source=None, **props):
        stack = Stack(None, "Names", env=ENV)
        variant = instance("main", model=source or IMAGE)
        return ModelEndpoint(stack, "E", endpoint_name="names", variants=[variant], **props).endpoint_config_name

    base = name()
    other_env = ModelSource.from_image(IMAGE.container["Image"], model_data_url=IMAGE.container["ModelDataUrl"],
                                       environment={"SAGEMAKER_PROGRAM": "serve2.py"})
    assert name(other_env) != base
    assert name(network_isolation=False) != base
    role = iam.Role.from_role_arn(Stack(None, "R", env=ENV), "Role", "arn:aws:iam::333333333333:role/given")
    assert name(role=role) != base
    assert name() == base


def test_canary_timeout_is_its_waits_plus_one_fleet(scenarios):
    template = scenarios[0]["AB"]
    endpoint = only(template, "AWS::SageMaker::Endpoint")
    policy = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}, "WaitIntervalInSeconds": 300}
    assert policy["TerminationWaitInSeconds"] == 600
    # computed: canary bake 300 + final bake 300 + termination wait 600 + one provisioning allowance (1800)
    assert policy["MaximumExecutionTimeoutInSeconds"] == 3000


def _alarms_by_name(template):
    return {a["Properties"]["AlarmName"]: a["Properties"]
            for a in resources(template, "AWS::CloudWatch::Alarm").values() if "AlarmName" in a["Properties"]}


def test_rollback_alarms_watch_the_new_fleet_with_guarded_rates(scenarios):
    template = scenarios[0]["AB"]
    endpoint = only(template, "AWS::SageMaker::Endpoint")
    config_name = only(template, "AWS::SageMaker::EndpointConfig")["EndpointConfigName"]
    alarm_refs = [a["AlarmName"]["Ref"] for a in endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    assert sorted(alarm_refs) == sorted(resources(template, "AWS::CloudWatch::Alarm"))
    by_name = _alarms_by_name(template)
    assert sorted(by_name) == sorted(f"churn-prod-{v}-{k}" for v in ("champion", "challenger")
                                     for k in ("5xx-rate", "latency", "model-error-rate"))

    def dims(variant):
        return [{"Name": "EndpointConfigName", "Value": config_name}, {"Name": "EndpointName", "Value": "churn-prod"},
                {"Name": "VariantName", "Value": variant}]

    for name, alarm in by_name.items():
        variant = name.split("-")[2]
        assert alarm["TreatMissingData"] == "notBreaching"
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        stats = [q["MetricStat"] for q in alarm.get("Metrics", []) if "MetricStat" in q]
        for stat in stats:  # every metric of every alarm is the new fleet's: EndpointConfigName = this config
            assert sorted(stat["Metric"]["Dimensions"], key=lambda d: d["Name"]) == dims(variant)
    rate = by_name["churn-prod-champion-5xx-rate"]
    expression = next(q for q in rate["Metrics"] if "Expression" in q)
    assert expression["Expression"] == "100 * errors / IF(requests >= 100, requests, 100)"
    assert expression["ReturnData"] is True
    assert {q["Id"]: (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"], q["ReturnData"])
            for q in rate["Metrics"] if "MetricStat" in q} == {
        "errors": ("Invocation5XXErrors", "Sum", False), "requests": ("Invocations", "Sum", False)}
    assert rate["Threshold"] == 1
    model_errors = by_name["churn-prod-challenger-model-error-rate"]
    assert {q["MetricStat"]["Metric"]["MetricName"] for q in model_errors["Metrics"] if "MetricStat" in q} == {
        "InvocationModelErrors", "Invocations"}
    latency = by_name["churn-prod-champion-latency"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == ("ModelLatency", "p95", 250000)
    assert sorted(latency["Dimensions"], key=lambda d: d["Name"]) == dims("champion")


def test_execution_role_may_describe_exactly_its_rollback_alarms(scenarios):
    for name, expected in (("AB", 6), ("Shadow", 4)):
        template = scenarios[0][name]
        statements = [s for key, p in resources(template, "AWS::IAM::Policy").items() if "ExecutionRole" in key
                      for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "cloudwatch:DescribeAlarms"]
        assert len(statements) == 1
        arns = statements[0]["Resource"]
        assert len(arns) == expected
        rendered = json.dumps(arns)
        assert "*" not in rendered
        for alarm in _alarms_by_name(template):
            assert f":alarm:{alarm}" in rendered
    # the user's alarm (Shadow) by its ARN
    assert any("Fn::GetAtt" in json.dumps(a) and "BusinessKpi" in json.dumps(a) for a in arns)


def test_a_rollback_alarm_added_after_construction_is_wired_like_an_extra_one():
    """``add_rollback_alarm``: the deployment config (rendered again), the execution role's and the release
    check's ``cloudwatch:DescribeAlarms`` and the check's alarm list all name it; the eleventh alarm is refused."""
    stack = Stack(App(), "Late", env=ENV)
    endpoint = ModelEndpoint(stack, "Endpoint", endpoint_name="churn-late", variants=[instance()],
                             deployment=DeploymentPolicy.canary(CapacitySize.percent(50), wait=Duration.minutes(5)))
    kpi = cloudwatch.Alarm(stack, "Kpi", metric=cloudwatch.Metric(namespace="ChurnApp", metric_name="Retained"),
                           threshold=1, evaluation_periods=1,
                           comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD)
    endpoint.add_rollback_alarm(kpi)
    template = Template.from_stack(stack)
    kpi_id = stack.get_logical_id(kpi.node.default_child)
    deployment = only(template, "AWS::SageMaker::Endpoint")["DeploymentConfig"]
    alarms = deployment["AutoRollbackConfiguration"]["Alarms"]
    assert len(alarms) == 4 and alarms[-1] == {"AlarmName": {"Ref": kpi_id}}
    check = next(
        r["Properties"] for r in resources(template, "Custom::SageMakerReleaseCheck").values()
        if r["Properties"]["Check"] == "after")
    assert check["AlarmNames"][-1] == {"Ref": kpi_id} and len(check["AlarmNames"]) == 4
    kpi_arn = {"Fn::GetAtt": [kpi_id, "Arn"]}
    execution = [s for key, p in resources(template, "AWS::IAM::Policy").items() if "ExecutionRole" in key
                 for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Action": "cloudwatch:DescribeAlarms", "Effect": "Allow", "Resource": kpi_arn} in execution
    (check_role,) = [r for k, r in resources(template, "AWS::IAM::Role").items() if "ConfigCheck" in k]
    statements = check_role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert {"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"], "Resource": [kpi_arn]} in statements
    with pytest.raises(ConfigError, match=r"^rollback_alarms: Late/Kpi already rolls this endpoint's deployments "
                                          r"back \(SageMaker's alarm list takes each alarm once\)$"):
        endpoint.add_rollback_alarm(kpi)
    for index in range(6):
        endpoint.add_rollback_alarm(cloudwatch.Alarm(stack, f"More{index}", metric=kpi.metric, threshold=1,
                                                     evaluation_periods=1))
    with pytest.raises(ConfigError, match=r"^rollback_alarms: at most 10 alarms can roll a deployment back "
                                          r"\(SageMaker's limit\), got 11 with Late/Last$"):
        endpoint.add_rollback_alarm(cloudwatch.Alarm(stack, "Last", metric=kpi.metric, threshold=1,
                                                     evaluation_periods=1))


def test_whole_endpoint_alarm_is_opt_in_and_min_invocations_configurable(scenarios):
    template = scenarios[0]["Whole"]
    by_name = _alarms_by_name(template)
    assert sorted(by_name) == ["whole-main-5xx-rate", "whole-main-endpoint-5xx-rate", "whole-main-latency",
                               "whole-main-model-error-rate"]
    whole = by_name["whole-main-endpoint-5xx-rate"]
    assert next(q for q in whole["Metrics"] if "Expression" in q)["Expression"] == (
        "100 * errors / IF(requests >= 20, requests, 20)")
    for query in whole["Metrics"]:
        if "MetricStat" in query:  # both fleets: no EndpointConfigName
            assert sorted(d["Name"] for d in query["MetricStat"]["Metric"]["Dimensions"]) == [
                "EndpointName", "VariantName"]


def test_data_capture_to_encrypted_tls_only_bucket(scenarios):
    template = scenarios[0]["AB"]
    capture = only(template, "AWS::SageMaker::EndpointConfig")["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 20
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}]
    assert capture["KmsKeyId"] == {"Fn::GetAtt": [Match.any_value(), "Arn"]} or "Fn::GetAtt" in capture["KmsKeyId"]
    buckets = resources(template, "AWS::S3::Bucket")
    capture_bucket = next(b for k, b in buckets.items() if "DataCaptureBucket" in k)
    encryption = capture_bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert capture_bucket["DeletionPolicy"] == "Retain"
    policies = resources(template, "AWS::S3::BucketPolicy")
    assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} and s["Effect"] == "Deny"
               for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"])
    key = only(template, "AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True
    # captured payloads are not kept forever: 90 days by default, replaced versions 7 more
    (rule,) = capture_bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert (rule["ExpirationInDays"], rule["NoncurrentVersionExpiration"]["NoncurrentDays"], rule["Status"]) == (
        90, 7, "Enabled")


def test_autoscaling_retains_instance_counts_across_releases(scenarios):
    template = scenarios[0]["AB"]
    target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["ResourceId"] == "endpoint/churn-prod/variant/champion"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    policy = only(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 800
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    endpoint = only(template, "AWS::SageMaker::Endpoint")
    assert endpoint["RetainAllVariantProperties"] is True
    assert endpoint["ExcludeRetainedVariantProperties"] == [
        {"VariantPropertyType": "DesiredWeight"}, {"VariantPropertyType": "DataCaptureConfig"}]


def test_grant_invoke_and_least_privilege_role(scenarios):
    template = scenarios[0]["AB"]
    statements = [s for p in resources(template, "AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    invoke = [s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert len(invoke) == 1 and "endpoint/churn-prod" in str(invoke[0]["Resource"])
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any(a.endswith("*") for a in actions), actions  # no wildcard actions anywhere
    assert "s3:PutObject" in actions and "ecr:BatchGetImage" in actions


def test_an_endpoint_imported_by_name_can_be_invoked_and_watched():
    """``from_endpoint_name``: the same grant and metrics as a ``ModelEndpoint`` (CloudWatch's options passed
    on), with the ARN SageMaker writes (lower-case name); there is no new fleet to watch on it."""
    stack = Stack(App(), "Consumer", env=ENV)
    endpoint = ModelEndpoint.from_endpoint_name(stack, "Churn", "Churn-Prod")
    endpoint.grant_invoke(iam.Role(stack, "App", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")))
    metric = endpoint.metric_model_latency("main", label="p99 latency", unit=cloudwatch.Unit.MICROSECONDS)
    cloudwatch.Alarm(stack, "Slow", metric=metric, threshold=1e6, evaluation_periods=1)
    template = Template.from_stack(stack)
    (policy,) = resources(template, "AWS::IAM::Policy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sagemaker:InvokeEndpoint"
    assert statement["Resource"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                                       ":sagemaker:eu-west-1:333333333333:endpoint/churn-prod"]]}
    (alarm,) = resources(template, "AWS::CloudWatch::Alarm").values()
    ((watched,),) = [alarm["Properties"]["Metrics"]]
    assert watched["Label"] == "p99 latency"
    assert watched["MetricStat"] == {"Metric": {"Dimensions": [{"Name": "EndpointName", "Value": "Churn-Prod"},
                                                               {"Name": "VariantName", "Value": "main"}],
                                                "MetricName": "ModelLatency", "Namespace": "AWS/SageMaker"},
                                     "Period": 60, "Stat": "p99", "Unit": "Microseconds"}
    with pytest.raises(ConfigError, match="^new_fleet: endpoint Churn-Prod was imported by name"):
        endpoint.metric_invocations("main", new_fleet=True)
    with pytest.raises(ConfigError, match="^endpoint_name: must be 1-63 characters .* got 'bad_name'$"):
        ModelEndpoint.from_endpoint_name(stack, "Bad", "bad_name")


def _ecr_pull_resources(template: Template) -> list:
    statements = [s for p in resources(template, "AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    (pull,) = [s for s in statements if "ecr:BatchGetImage" in s["Action"]]
    return pull["Resource"] if isinstance(pull["Resource"], list) else [pull["Resource"]]


def test_model_package_images_are_pulled_only_from_the_accounts_they_can_come_from(scenarios):
    """A model package's image is known only at deploy time: the registry's account (111...), the endpoint's
    own (333...) and SageMaker's image accounts for eu-west-1 (the DLC account 763104351884 among them);
    no other account's repositories."""
    from constructs_lib.image_accounts import sagemaker_image_accounts

    pulls = _ecr_pull_resources(scenarios[0]["AB"])
    owners = sorted({json.dumps(r).split(":ecr:eu-west-1:")[1].split(":")[0] for r in pulls})
    # Pinned by hand from AWS's image URIs: the deep learning containers' account, and the scikit-learn and
    # XGBoost images' account in eu-west-1 (the build pipeline's framework images).
    assert {"111111111111", "333333333333", "763104351884", "141502667606"} <= set(owners)
    assert owners == sorted({"111111111111", "333333333333", *sagemaker_image_accounts("eu-west-1")})
    assert all(json.dumps(r).endswith(':repository/*"]]}') for r in pulls)
    # An image URI names its repository exactly.
    assert _ecr_pull_resources(scenarios[0]["Rolling"]) == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ecr:eu-west-1:123456789012:repository/baseline"]]}]


def test_sagemaker_image_accounts_come_from_the_sdk_tables():
    """The vendored table is what the pinned SDK's image-URI tables give (run `python -m
    constructs_lib.image_accounts --write` after changing the SDK pin)."""
    from constructs_lib.image_accounts import _table, sagemaker_image_accounts, table_from_sdk

    assert _table() == table_from_sdk(), "stale: python -m constructs_lib.image_accounts --write"
    assert {"763104351884", "683313688378"} <= set(sagemaker_image_accounts("us-east-1"))  # DLC, XGBoost/sklearn
    assert "141502667606" not in sagemaker_image_accounts("us-east-1")  # eu-west-1's, not us-east-1's
    assert sagemaker_image_accounts("xx-nowhere-1") == ()


def test_rollback_alarms_notify_an_encrypted_topic_only_this_endpoints_alarms_may_publish_to(scenarios):
    template = scenarios[0]["AB"]
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    (key_id,) = resources(template, "AWS::KMS::Key")
    assert only(template, "AWS::SNS::Topic")["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 6 and all(a["Properties"]["AlarmActions"] == [{"Ref": topic_id}] for a in alarms.values())
    own_alarms = {"StringEquals": {"aws:SourceAccount": "333333333333"}, "ArnLike": {"aws:SourceArn": {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudwatch:eu-west-1:333333333333:alarm:churn-prod-*"]]}}}
    statements = only(template, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"]
    (publish,) = [s for s in statements if s.get("Sid") == "RollbackAlarmNotifications"]
    assert (publish["Action"], publish["Principal"], publish["Condition"]) == (
        "sns:Publish", {"Service": "cloudwatch.amazonaws.com"}, own_alarms)
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in statements)  # TLS only
    key_statements = only(template, "AWS::KMS::Key")["KeyPolicy"]["Statement"]
    (use,) = [s for s in key_statements if s.get("Sid") == "RollbackAlarmNotifications"]
    assert (sorted(use["Action"]), use["Condition"]) == (["kms:Decrypt", "kms:GenerateDataKey*"], own_alarms)
    # A serverless endpoint has no volume to encrypt, but its topic still gets a key.
    serverless = scenarios[0]["Serverless"]
    (key_id,) = resources(serverless, "AWS::KMS::Key")
    assert only(serverless, "AWS::SNS::Topic")["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_every_key_refuses_grants_that_are_not_for_aws_resources(scenarios):
    """A grant outlives the permission that made it and is invisible in IAM: only AWS services (SageMaker for
    volumes) may create grants on the endpoint's key, never a direct call."""
    for name, template in scenarios[1].items():
        for key in [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]:
            assert {"Sid": "GrantsOnlyForAwsServices", "Effect": "Deny", "Principal": {"AWS": "*"},
                    "Action": "kms:CreateGrant", "Resource": "*",
                    "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "false",
                                                   "aws:PrincipalIsAWSService": "false"}}} \
                in key["Properties"]["KeyPolicy"]["Statement"], name


def test_a_given_alarm_topic_is_used_and_none_is_created():
    from aws_cdk import aws_sns as sns

    stack = Stack(None, "Given", env=ENV)
    topic = sns.Topic(stack, "Pager")
    endpoint = ModelEndpoint(stack, "E", endpoint_name="given", variants=[instance()], alarm_topic=topic,
                             release_check=False)
    assert endpoint.alarm_topic is topic
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Topic", 1)
    (topic_id,) = template.find_resources("AWS::SNS::Topic")
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
               for a in template.find_resources("AWS::CloudWatch::Alarm").values())


def test_shadow_variant_samples_by_weight_and_linear_policy(scenarios):
    template = scenarios[0]["Shadow"]
    config = only(template, "AWS::SageMaker::EndpointConfig")
    assert config["ShadowProductionVariants"][0]["VariantName"] == "shadow"
    assert config["ShadowProductionVariants"][0]["InitialVariantWeight"] == 0.25
    routing = only(template, "AWS::SageMaker::Endpoint")["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert routing["TrafficRoutingConfiguration"]["Type"] == "LINEAR"
    assert routing["TrafficRoutingConfiguration"]["LinearStepSize"] == {"Type": "CAPACITY_PERCENT", "Value": 25}
    alarms = only(template, "AWS::SageMaker::Endpoint")["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert len(alarms) == 4  # 3 for the production variant (none for the shadow) + the user's alarm


def test_rolling_policy_image_model_and_local_storage_instances(scenarios):
    template = scenarios[0]["Rolling"]
    rolling = only(template, "AWS::SageMaker::Endpoint")["DeploymentConfig"]["RollingUpdatePolicy"]
    assert rolling["MaximumBatchSize"] == {"Type": "INSTANCE_COUNT", "Value": 1}
    assert rolling["RollbackMaximumBatchSize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}
    assert rolling["WaitIntervalInSeconds"] == 180
    assert rolling["MaximumExecutionTimeoutInSeconds"] == 7920  # 4 batches x (180 s wait + 1800 s provisioning)
    config = only(template, "AWS::SageMaker::EndpointConfig")
    assert "KmsKeyId" not in config  # g5 has local NVMe storage: SageMaker rejects KmsKeyId
    model = only(template, "AWS::SageMaker::Model")
    assert model["PrimaryContainer"]["Environment"] == {"SAGEMAKER_PROGRAM": "serve.py"}
    statements = [s for p in resources(template, "AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    resources_ = str([s["Resource"] for s in statements])
    assert "repository/baseline" in resources_ and "models-bucket/baseline/model.tar.gz" in resources_


def test_serverless_variant(scenarios):
    config = only(scenarios[0]["Serverless"], "AWS::SageMaker::EndpointConfig")
    assert config["ProductionVariants"][0]["ServerlessConfig"] == {
        "MemorySizeInMB": 3072, "MaxConcurrency": 20, "ProvisionedConcurrency": 2}
    assert "KmsKeyId" not in config


# ------------------------------------------------------------------------------------------- validation rules
def many(n):
    return [instance(f"v{i}") for i in range(n)]


def serverless(name="main", **kw):
    return ProductionVariant.serverless(name, V1, **kw)


NO_ISOLATION = {"network_isolation": False}
RULES = [
    ({"variants": []}, "variants: must hold 1 to 10 production variants, got 0"),
    ({"variants": many(11)}, "variants: must hold 1 to 10 production variants, got 11"),
    ({"variants": many(2), "shadow_variant": ShadowVariant(instance("s"))},
     "shadow_variant: needs exactly one production variant, got 2"),
    ({"variants": [instance("main")], "shadow_variant": ShadowVariant(instance("main"))},
     "variants: variant names must be unique (shadow included), got 'main' twice"),
    ({"endpoint_name": "x" * 64}, "endpoint_name: must be 1-63 characters"),
    ({"endpoint_name": "bad_name"}, "endpoint_name: must be 1-63 characters"),
    ({"variants": [instance("-lead")]}, "variants[0].name: must be 1-63 characters"),
    ({"variants": [instance("a", weight=-1)]}, "variants[0].weight: must be 0 or more, got -1"),
    ({"variants": [instance("a", weight=0), instance("b", weight=0)]},
     "variants: at least one production variant needs a weight above 0, got all 0"),
    ({"variants": [instance("a", initial_instance_count=0)]},
     "variants[0].initial_instance_count: must be between 1 and 10000, got 0"),
    ({"variants": [instance("a", initial_instance_count=10**30)]},
     "variants[0].initial_instance_count: must be between 1 and 10000, got 1e+30"),
    ({"variants": [instance("a", instance_type="m5.large")]},
     "variants[0].instance_type: must be a SageMaker real-time inference instance type from the ml. families "
     "(for example ml.m5.large), got 'm5.large'"),
    ({"variants": [instance("a", instance_type="ml.g5.xlarge", volume_size_gb=50)]},
     "variants[0].volume_size_gb: must not be set on ml.g5.xlarge"),
    ({"variants": [instance("a", volume_size_gb=600)]}, "variants[0].volume_size_gb: must be between 1 and 512 GB, got 600"),
    ({"variants": [instance("a", startup_health_check_timeout=Duration.seconds(30))]},
     "variants[0].startup_health_check_timeout: must be between 60 and 3600 seconds, got 30"),
    ({"variants": [serverless(memory_size_mb=1500)], **NO_ISOLATION},
     "variants[0].serverless_memory_mb: must be one of 1024, 2048, 3072, 4096, 5120, 6144, got 1500"),
    ({"variants": [serverless(max_concurrency=201)], **NO_ISOLATION},
     "variants[0].serverless_max_concurrency: must be between 1 and 200, got 201"),
    ({"variants": [serverless(max_concurrency=5, provisioned_concurrency=6)], **NO_ISOLATION},
     "variants[0].serverless_provisioned_concurrency: must be between 1 and 5 (at most serverless_max_concurrency), got 6"),
    ({"deployment": DeploymentPolicy.canary(CapacitySize.instances(2)), "variants": [instance(initial_instance_count=3)]},
     "deployment.canary_size: must be at most 50% of the smallest instance variant (3 instances, so at most 1), got 2"),
    ({"variants": [instance(initial_instance_count=100)],
      "deployment": DeploymentPolicy.linear(CapacitySize.instances(10), wait=Duration.hours(1))},
     "deployment.wait: the policy's waits add up to 36000 s over 10 steps, more than the 28800 s"),
    ({"deployment": DeploymentPolicy.canary(CapacitySize.percent(10), wait=Duration.minutes(30),
                                            max_execution_timeout=Duration.minutes(35))},
     "deployment.max_execution_timeout: must be longer than the policy's waits (3600 s), got 2100"),
    ({"shadow_variant": ShadowVariant(instance("s"), sampling_percentage=101)},
     "shadow_variant.sampling_percentage: must be between 0 and 100 percent, got 101"),
    ({"data_capture": DataCapture(sampling_percentage=101)},
     "data_capture.sampling_percentage: must be between 0 and 100 percent, got 101"),
    ({"data_capture": DataCapture(capture_mode="everything")},
     "data_capture.capture_mode: must be one of input, output, both, got 'everything'"),
    ({"variants": many(4)}, "rollback_alarms: at most 10 alarms can roll a deployment back (SageMaker's limit), got 12"),
    ({"variants": [serverless("a"), serverless("b")], **NO_ISOLATION},
     "variants: a serverless endpoint has exactly one production variant, got 2"),
    ({"variants": [serverless()], "data_capture": DataCapture(), **NO_ISOLATION},
     "data_capture: is not supported on a serverless endpoint"),
    ({"variants": [serverless()]}, "network_isolation: is not supported on a serverless endpoint, got true"),
    ({"variants": [serverless()], "deployment": DeploymentPolicy.rolling(CapacitySize.percent(10)), **NO_ISOLATION},
     "deployment.type: a serverless endpoint supports only all_at_once, got 'rolling'"),
    ({"variants": many(2), "deployment": DeploymentPolicy.rolling(CapacitySize.percent(10))},
     "deployment.type: a rolling update needs exactly one production variant, got 2"),
    ({"rollback_alarms": RollbackAlarms(period_seconds=10)},
     "rollback_alarms.period_seconds: must be one of 60, 120, 180, 300, got 10"),
    ({"rollback_alarms": RollbackAlarms(min_invocations=0)},
     "rollback_alarms.min_invocations: must be between 1 and 1000000 requests per period, got 0"),
    ({"rollback_alarms": RollbackAlarms(watch_whole_endpoint=True), "variants": many(3)},
     "rollback_alarms: at most 10 alarms can roll a deployment back (SageMaker's limit), got 12"),
    ({"rollback_alarms": RollbackAlarms(latency_statistic="median")},
     "rollback_alarms.latency_statistic: must be Average, Maximum or a percentile like p99, got 'median'"),
]


@pytest.mark.parametrize("props, message", RULES, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(RULES)])
def test_endpoint_rules(props, message):
    stack = Stack(None, "Bad", env=ENV)
    kw = {"endpoint_name": "bad", "variants": [instance()]} | props
    with pytest.raises(ConfigError) as error:
        ModelEndpoint(stack, "Endpoint", **kw)
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


POLICY_RULES = [
    (lambda: DeploymentPolicy.canary(CapacitySize.percent(70)),
     "deployment.canary_size: must be between 1 and 50 percent of capacity, got 70"),
    (lambda: DeploymentPolicy.linear(CapacitySize.percent(5)),
     "deployment.step_size: must be between 10 and 50 percent of capacity, got 5"),
    (lambda: DeploymentPolicy.linear(CapacitySize.percent(60)),
     "deployment.step_size: must be between 10 and 50 percent of capacity, got 60"),
    (lambda: DeploymentPolicy.rolling(CapacitySize.percent(4)),
     "deployment.batch_size: must be between 5 and 50 percent of capacity, got 4"),
    (lambda: DeploymentPolicy.rolling(CapacitySize.percent(55)),
     "deployment.batch_size: must be between 5 and 50 percent of capacity, got 55"),
    (lambda: DeploymentPolicy.canary(CapacitySize.percent(10), wait=Duration.seconds(3601)),
     "deployment.wait: must be between 0 and 3600 seconds, got 3601"),
    (lambda: DeploymentPolicy.all_at_once(bake_time=Duration.hours(2)),
     "deployment.bake_time: must be between 0 and 3600 seconds, got 7200"),
    (lambda: DeploymentPolicy.all_at_once(max_execution_timeout=Duration.seconds(500)),
     "deployment.max_execution_timeout: must be between 600 and 28800 seconds, got 500"),
    (lambda: DeploymentPolicy.all_at_once(max_execution_timeout=Duration.hours(9)),
     "deployment.max_execution_timeout: must be between 600 and 28800 seconds, got 32400"),
    (lambda: DeploymentPolicy.canary(CapacitySize.instances(0)), "deployment.canary_size: must be at least 1 instance, got 0"),
]


@pytest.mark.parametrize("make, message", POLICY_RULES, ids=[m.split(",")[0][:40] for _, m in POLICY_RULES])
def test_policy_rules(make, message):
    with pytest.raises(ConfigError) as error:
        make()
    assert str(error.value) == message


def test_model_package_must_be_versioned():
    with pytest.raises(ConfigError, match=r"^model_package_arn: must be a versioned model package ARN"):
        ModelSource.from_model_package("arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/churn")


def test_autoscaling_rules():
    stack = Stack(None, "Scale", env=ENV)
    endpoint = ModelEndpoint(stack, "E", endpoint_name="scale", variants=[instance("main", initial_instance_count=2)])
    with pytest.raises(ConfigError, match=r"^variants\[main\]\.autoscaling\.max_capacity: must be between 2 and "):
        endpoint.auto_scale_variant("main", min_capacity=1, max_capacity=1, target_invocations_per_instance=10)
    with pytest.raises(ConfigError, match=r"^variants\[nope\]\.autoscaling: no production variant named 'nope'"):
        endpoint.auto_scale_variant("nope", max_capacity=3, target_invocations_per_instance=10)


@pytest.mark.parametrize("policy", [DeploymentPolicy.canary(CapacitySize.percent(50)), DeploymentPolicy.all_at_once()])
def test_inf1_is_warned_that_no_guardrail_applies(policy):
    stack = Stack(None, "Inf", env=ENV)
    ModelEndpoint(stack, "E", endpoint_name="inf", variants=[instance("main", instance_type="ml.inf1.xlarge",
                                                                      initial_instance_count=2)],
                  deployment=policy)
    Annotations.from_stack(stack).has_warning("/Inf/E", Match.string_like_regexp(
        "falls back to blue/green all-at-once with no baking period"))


def test_autoscaling_raises_the_timeout_to_the_scaled_out_fleet():
    stack = Stack(None, "Grow", env=ENV)
    endpoint = ModelEndpoint(stack, "E", endpoint_name="grow", variants=[instance("main", initial_instance_count=2)],
                             deployment=DeploymentPolicy.rolling(CapacitySize.instances(1), wait=Duration.minutes(10)))

    def timeout():
        return stack.resolve(endpoint.cfn_endpoint.deployment_config)["rollingUpdatePolicy"][
            "maximumExecutionTimeoutInSeconds"]

    assert timeout() == 2 * (600 + 1800)
    endpoint.auto_scale_variant("main", min_capacity=2, max_capacity=20, target_invocations_per_instance=100)
    assert endpoint.fleet_capacity == 20
    assert timeout() == 28800  # 20 batches need 48,000 s: capped at SageMaker's maximum, and warned
    Annotations.from_stack(stack).has_warning("/Grow/E", Match.string_like_regexp("may need at least 48000 s"))


def test_release_checks_run_before_and_after_the_endpoint_on_every_new_config(scenarios):
    template = scenarios[0]["AB"]
    raw = scenarios[1]["AB"]
    checks = resources(template, "Custom::SageMakerReleaseCheck")
    (before_id, before), = [(k, c) for k, c in checks.items() if c["Properties"]["Check"] == "before"]
    (after_id, after), = [(k, c) for k, c in checks.items() if c["Properties"]["Check"] == "after"]
    endpoint_id, endpoint = next(iter(resources(template, "AWS::SageMaker::Endpoint").items()))
    assert endpoint_id in after["DependsOn"]            # the release check runs once the update is over
    assert before_id in raw["Resources"][endpoint_id]["DependsOn"]  # the endpoint waits for the preflight
    config_name = only(template, "AWS::SageMaker::EndpointConfig")["EndpointConfigName"]
    for check in (before, after):  # both re-run on every release: the config's name changes with it
        assert check["Properties"]["EndpointName"] == "churn-prod"
        assert check["Properties"]["EndpointConfigName"] == config_name
        assert check["Properties"]["ServiceTimeout"] == 960
    assert before["Properties"]["Variants"] == {"champion": "ml.m5.large", "challenger": "ml.m5.large"}
    assert before["Properties"]["Guarded"] == "true"
    assert before["Properties"]["Asynchronous"] == "false"  # an async endpoint cannot become real-time
    assert sorted(a["Ref"] for a in after["Properties"]["AlarmNames"]) == sorted(
        resources(template, "AWS::CloudWatch::Alarm"))
    function = only(template, "AWS::Lambda::Function")
    assert function["Handler"] == "index.handler" and function["Timeout"] == 900
    assert function["Code"]["ZipFile"].startswith('"""The in-stack release checks')
    function_id = next(iter(resources(template, "AWS::Lambda::Function")))
    assert before["Properties"]["ServiceToken"] == after["Properties"]["ServiceToken"] == {
        "Fn::GetAtt": [function_id, "Arn"]}
    (role,) = [r for key, r in resources(template, "AWS::IAM::Role").items() if "ConfigCheck" in key]
    (policy,) = role["Properties"]["Policies"]  # inline: one resource, written in one call

    def one(value):
        return value[0] if isinstance(value, list) and len(value) == 1 else value

    statements = {one(s["Action"]) if isinstance(one(s["Action"]), str) else tuple(s["Action"]): one(s["Resource"])
                  for s in policy["PolicyDocument"]["Statement"]}
    assert statements["cloudformation:DescribeStacks"] == {"Ref": "AWS::StackId"}
    assert "endpoint/churn-prod" in json.dumps(statements["sagemaker:DescribeEndpoint"])
    assert "endpoint-config/churn-prod-*" in json.dumps(statements["sagemaker:DescribeEndpointConfig"])
    assert statements["application-autoscaling:DescribeScalableTargets"] == "*"  # no resource-level permissions
    assert len(statements["cloudwatch:DescribeAlarms"]) == 6


def test_release_check_can_be_left_out():
    stack = Stack(None, "NoCheck", env=ENV)
    ModelEndpoint(stack, "E", endpoint_name="nocheck", variants=[instance()], release_check=False)
    Template.from_stack(stack).resource_count_is("Custom::SageMakerReleaseCheck", 0)


def assert_access_logged_without_acls(template) -> dict:
    """The capture bucket logs to an ACL-less log bucket that only S3's logging service may write to; returns
    that grant."""
    buckets = resources(template, "AWS::S3::Bucket")
    assert not [b for b in buckets.values() if "AccessControl" in b["Properties"]]
    (logs_id, logs), = [(k, b) for k, b in buckets.items() if "AccessLogs" in k]
    assert logs["Properties"]["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    capture = next(b for k, b in buckets.items() if "DataCaptureBucket" in k)
    assert capture["Properties"]["LoggingConfiguration"] == {"DestinationBucketName": {"Ref": logs_id},
                                                             "LogFilePrefix": "datacapture/"}
    (grant,) = [s for p in resources(template, "AWS::S3::BucketPolicy").values()
                if p["Properties"]["Bucket"] == {"Ref": logs_id}
                for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"} and grant["Action"] == "s3:PutObject"
    return grant


def test_access_logs_without_acls_and_autoscaling_without_an_unused_role(scenarios):
    template = scenarios[0]["AB"]
    grant = assert_access_logged_without_acls(template)
    assert set(grant["Condition"]) == {"ArnLike", "StringEquals"}
    target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint" in json.dumps(target["RoleARN"])
    assert not [r for r in resources(template, "AWS::IAM::Role").values()
                if "application-autoscaling" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]


def test_an_extra_rollback_alarm_listed_twice_is_refused():
    stack = Stack(App(), "Twice", env=ENV)
    alarm = cloudwatch.Alarm(stack, "Kpi", metric=cloudwatch.Metric(namespace="A", metric_name="B"), threshold=1,
                             evaluation_periods=1)
    with pytest.raises(ConfigError, match=r"^extra_rollback_alarms\[1\]: Twice/Kpi is listed twice"):
        ModelEndpoint(stack, "E", endpoint_name="twice", variants=[instance()], extra_rollback_alarms=[alarm, alarm])


def test_unguarded_release_sends_no_deployment_config_and_is_warned():
    """The escape hatch for a release that changes the production variants (which guardrails refuse)."""
    stack = Stack(None, "Unguarded", env=ENV)
    endpoint = ModelEndpoint(stack, "E", endpoint_name="unguarded", variants=[instance()],
                             deployment=DeploymentPolicy.unguarded())
    assert "DeploymentConfig" not in only(Template.from_stack(stack), "AWS::SageMaker::Endpoint")
    assert endpoint.release_check is not None  # the in-stack check still runs
    checks = Template.from_stack(stack).find_resources("Custom::SageMakerReleaseCheck")
    assert {c["Properties"]["Check"]: c["Properties"].get("Guarded") for c in checks.values()} == {
        "before": "false", "after": None}
    Annotations.from_stack(stack).has_warning("/Unguarded/E", Match.string_like_regexp(
        "released without a guardrail"))
    late = cloudwatch.Alarm(stack, "Late", metric=endpoint.metric_invocations("main"), threshold=1,
                            evaluation_periods=1)
    endpoint.add_rollback_alarm(late)  # watched once the policy is guarded again: said so
    Annotations.from_stack(stack).has_warning("/Unguarded/E", Match.string_like_regexp(
        "Unguarded/Late will roll back nothing while endpoint unguarded is released unguarded"))


def test_marketplace_packages_are_refused_with_the_reason():
    with pytest.raises(ConfigError) as error:
        ModelSource.from_model_package("arn:aws:sagemaker:eu-west-1:123456789012:model-package/vendor-model-abc123")
    assert "an unversioned AWS Marketplace package cannot be released behind a guardrail" in str(error.value)


def test_a_given_execution_role_may_describe_the_rollback_alarms_too():
    stack = Stack(None, "Given", env=ENV)
    role = iam.Role(stack, "Mine", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    ModelEndpoint(stack, "E", endpoint_name="given", variants=[instance()], role=role)
    statements = [s for p in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
                  if {"Ref": stack.get_logical_id(role.node.default_child)} in p["Properties"]["Roles"]
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    (describe,) = [s for s in statements if s["Action"] == "cloudwatch:DescribeAlarms"]
    assert len(describe["Resource"]) == 3 and all("alarm:given-main-" in json.dumps(r) for r in describe["Resource"])


def test_access_logs_through_cdk_when_the_app_sets_the_bucket_policy_flag():
    """With @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy (cdk.json sets it) CDK writes the same grant."""
    # (nag and cfn-lint check this path in the app's own tests, whose cdk.json sets the flag)
    app = App(context={"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True})
    stack = Stack(app, "Flagged", env=ENV)
    ModelEndpoint(stack, "E", endpoint_name="flagged", variants=[instance()], data_capture=DataCapture())
    assert_access_logged_without_acls(Template.from_stack(stack))


def test_a_capture_prefix_with_a_trailing_slash_is_the_same_folder():
    """``prefix="captured/"``: the destination has no trailing "/" (SageMaker adds "/<endpoint>/..."), the folder
    the drift check and the release phases read."""
    stack = Stack(App(), "Slash", env=ENV)
    ModelEndpoint(stack, "E", endpoint_name="slash", variants=[instance()],
                  data_capture=DataCapture(prefix="captured/"))
    (config,) = Template.from_stack(stack).find_resources("AWS::SageMaker::EndpointConfig").values()
    destination = json.dumps(config["Properties"]["DataCaptureConfig"]["DestinationS3Uri"])
    assert destination.endswith('/captured"]]}') and "//" not in destination.replace("s3://", "")
    policies = json.dumps(Template.from_stack(stack).find_resources("AWS::IAM::Policy"))
    assert '/captured/*"' in policies and "captured//" not in policies  # the execution role writes that folder


def test_a_model_source_names_what_serving_it_takes():
    """``ModelSource.image_repositories`` / ``model_objects``: what the execution role must pull and read for
    that source alone (the endpoint's role takes their union)."""
    assert IMAGE.image_repositories("aws", "eu-west-1", "333333333333") == {
        "arn:aws:ecr:eu-west-1:123456789012:repository/baseline": ""}
    assert IMAGE.model_objects("aws") == ["arn:aws:s3:::models-bucket/baseline/model.tar.gz"]
    pulls = V1.image_repositories("aws", "eu-west-1", "333333333333")
    assert {"arn:aws:ecr:eu-west-1:111111111111:repository/*", "arn:aws:ecr:eu-west-1:333333333333:repository/*",
            "arn:aws:ecr:eu-west-1:141502667606:repository/*"} <= set(pulls)  # registry, endpoint, SageMaker's
    assert all("model package" in reason for reason in pulls.values()) and V1.model_objects("aws") == []
    unknown = ModelSource.from_image("registry.example.com/team/model:1")
    (region_wide, reason), = unknown.image_repositories("aws", "eu-west-1", "333333333333").items()
    assert region_wide == "arn:aws:ecr:eu-west-1:*:repository/*" and "known only at deploy time" in reason


PREP = ModelSource.from_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/prep:1",
                              model_data_url="s3://models-bucket/prep/model.tar.gz")


def test_an_inference_pipeline_runs_its_containers_on_one_model():
    """``from_containers``: one ``AWS::SageMaker::Model`` with the containers in order, their hostnames and the
    mode; the execution role pulls every container's image and reads every model artifact; a change to any
    container is a new endpoint config."""
    from constructs_lib.variants import InferenceMode

    stack = Stack(App(), "Pipeline", env=ENV)
    pipeline = ModelSource.from_containers([PREP, IMAGE], mode=InferenceMode.DIRECT, hostnames=["prep", "model"])
    endpoint = ModelEndpoint(stack, "E", endpoint_name="churn-pipeline", variants=[instance("main", pipeline)])
    template = Template.from_stack(stack)
    model = only(template, "AWS::SageMaker::Model")
    assert [(c["ContainerHostname"], c["Image"]) for c in model["Containers"]] == [
        ("prep", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/prep:1"),
        ("model", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/baseline:1")]
    assert model["Containers"][1]["Environment"] == {"SAGEMAKER_PROGRAM": "serve.py"}
    assert model["InferenceExecutionConfig"] == {"Mode": "Direct"} and "PrimaryContainer" not in model
    statements = json.dumps([s for p in resources(template, "AWS::IAM::Policy").values()
                             for s in p["Properties"]["PolicyDocument"]["Statement"]])
    for arn in (":ecr:eu-west-1:123456789012:repository/prep", ":ecr:eu-west-1:123456789012:repository/baseline",
                ":s3:::models-bucket/prep/model.tar.gz", ":s3:::models-bucket/baseline/model.tar.gz"):
        assert arn in statements, arn
    other = ModelSource.from_containers([PREP, IMAGE], mode=InferenceMode.DIRECT, hostnames=["prep", "scorer"])
    renamed = ModelEndpoint(Stack(App(), "Other", env=ENV), "E", endpoint_name="churn-pipeline",
                            variants=[instance("main", other)])
    assert renamed.endpoint_config_name != endpoint.endpoint_config_name


@pytest.mark.parametrize("containers, kwargs, message", [
    ([PREP], {}, "containers: must be between 2 and 15 containers, got 1"),
    ([PREP] * 16, {}, "containers: must be between 2 and 15 containers, got 16"),
    ([PREP, V1], {}, "containers[1]: must be an image source (ModelSource.from_image), got "
                     "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/1"),
    ([PREP, IMAGE], {"mode": "Parallel"}, "mode: must be one of Serial, Direct, got 'Parallel'"),
    ([PREP, IMAGE], {"hostnames": ["a", "a"]}, "hostnames[1]: must be unique in the pipeline, got 'a' twice"),
    ([PREP, IMAGE], {"hostnames": ["a"]}, "hostnames: must name each of the 2 containers, got 1"),
    ([PREP, IMAGE], {"hostnames": ["a", "b_c"]}, "hostnames[1]: must be 1-63 characters of letters, digits and "
                                                 "single or repeated hyphens"),
])
def test_an_inference_pipeline_s_rules(containers, kwargs, message):
    with pytest.raises(ConfigError) as error:
        ModelSource.from_containers(containers, **kwargs)
    assert str(error.value).startswith(message)


# ------------------------------------------------------------------------------------------- asynchronous endpoint
def test_async_endpoint_answers_into_its_encrypted_bucket_and_notifies_both_topics(scenarios):
    template = scenarios[0]["Async"]
    config = only(template, "AWS::SageMaker::EndpointConfig")
    output = config["AsyncInferenceConfig"]["OutputConfig"]
    bucket = next(iter(resources(template, "AWS::S3::Bucket").keys() - {
        k for k, v in resources(template, "AWS::S3::Bucket").items() if "AccessLogs" in k}))
    assert output["S3OutputPath"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket}, "/async/output"]]}
    assert output["S3FailurePath"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket}, "/async/failure"]]}
    key = next(iter(resources(template, "AWS::KMS::Key")))
    assert output["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    topics = resources(template, "AWS::SNS::Topic")
    notification = output["NotificationConfig"]
    assert notification["IncludeInferenceResponseIn"] == ["SUCCESS_NOTIFICATION_TOPIC", "ERROR_NOTIFICATION_TOPIC"]
    for kind in ("SuccessTopic", "ErrorTopic"):
        topic = notification[kind]["Ref"]
        assert topics[topic]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    assert config["AsyncInferenceConfig"]["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 4}
    props = resources(template, "AWS::S3::Bucket")[bucket]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]}}
    assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30
    assert resources(template, "AWS::S3::Bucket")[bucket]["DeletionPolicy"] == "Retain"


def _statements(template: Template, path_part: str) -> list[dict]:
    return [statement for logical, policy in resources(template, "AWS::IAM::Policy").items() if path_part in logical
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statements: list[dict]) -> dict:
    found: dict = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources_ = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            found.setdefault(action, []).extend(json.dumps(r) for r in resources_)
    return found


def test_async_roles_read_and_write_only_their_own_prefixes(scenarios):
    template = scenarios[0]["Async"]
    role = _actions(_statements(template, "ExecutionRole"))
    assert [r.split("/async/")[1].split('"')[0] for r in role["s3:GetObject"]] == ["input/*"]
    assert sorted(r.split("/async/")[1].split('"')[0] for r in role["s3:PutObject"]) == ["failure/*", "output/*"]
    assert len(role["sns:Publish"]) == 2
    caller = _actions(_statements(template, "Caller"))
    assert set(caller) == {"sagemaker:InvokeEndpointAsync", "s3:PutObject", "s3:GetObject", "s3:ListBucket",
                           "kms:GenerateDataKey", "kms:Decrypt"}
    # listing (to look for a result: HeadObject answers 403 for a missing object without it) of the answers only
    (listing,) = [s for s in _statements(template, "Caller") if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["async/output/*", "async/failure/*"]}}
    assert [r.split("/async/")[1].split('"')[0] for r in caller["s3:PutObject"]] == ["input/*"]
    assert sorted(r.split("/async/")[1].split('"')[0] for r in caller["s3:GetObject"]) == ["failure/*", "output/*"]
    assert caller["sagemaker:InvokeEndpointAsync"][0].endswith(':sagemaker:eu-west-1:333333333333:endpoint/transcribe"]]}')


def test_async_rollback_alarms_judge_failures_among_processed_requests_without_a_config_dimension(scenarios):
    alarms = {a["Properties"]["AlarmName"]: a["Properties"]
              for a in resources(scenarios[0]["Async"], "AWS::CloudWatch::Alarm").values()}
    assert set(alarms) == {"transcribe-main-5xx-rate", "transcribe-main-model-error-rate", "transcribe-main-latency",
                           "transcribe-main-scale-from-zero"}
    failures = alarms["transcribe-main-model-error-rate"]["Metrics"]
    assert [m["MetricStat"]["Metric"]["MetricName"] for m in failures[:2]] == ["InvocationFailures",
                                                                               "InvocationsProcessed"]
    assert failures[2]["Expression"] == "100 * errors / IF(FILL(requests, 0) >= 100, FILL(requests, 0), 100)"
    for name in ("transcribe-main-5xx-rate", "transcribe-main-model-error-rate"):
        dimensions = alarms[name]["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"]
        assert [d["Name"] for d in dimensions] == ["EndpointName", "VariantName"]
    assert [d["Name"] for d in alarms["transcribe-main-latency"]["Dimensions"]] == ["EndpointName", "VariantName"]
    config = only(scenarios[0]["Async"], "AWS::SageMaker::Endpoint")["DeploymentConfig"]
    assert len(config["AutoRollbackConfiguration"]["Alarms"]) == 3
    checks = resources(scenarios[0]["Async"], "Custom::SageMakerReleaseCheck").values()
    assert [c["Properties"]["Asynchronous"] for c in checks if c["Properties"]["Check"] == "before"] == ["true"]


def test_async_endpoint_scales_on_its_queue_down_to_zero_and_back(scenarios):
    template = scenarios[0]["Async"]
    target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 4)
    policies = {p["Properties"]["PolicyType"]: p["Properties"]
                for p in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()}
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["CustomizedMetricSpecification"] == {
        "MetricName": "ApproximateBacklogSizePerInstance", "Namespace": "AWS/SageMaker", "Statistic": "Average",
        "Dimensions": [{"Name": "EndpointName", "Value": "transcribe"}]}
    assert tracking["TargetValue"] == 5
    step = policies["StepScaling"]["StepScalingPolicyConfiguration"]
    assert step == {"AdjustmentType": "ChangeInCapacity", "Cooldown": 300, "MetricAggregationType": "Average",
                    "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]}
    alarm = next(a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()
                 if a["Properties"]["AlarmName"].endswith("scale-from-zero"))
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"],
            alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (
        "HasBacklogWithoutCapacity", "Average", 1, "GreaterThanOrEqualToThreshold", 2, 2)
    step_policy = next(k for k, v in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
                       if v["Properties"]["PolicyType"] == "StepScaling")
    assert alarm["AlarmActions"] == [{"Fn::GetAtt": [step_policy, "Arn"]}]
    # a release starts its new fleet at initial_instance_count, not at the zero an idle endpoint scaled to
    endpoint = only(template, "AWS::SageMaker::Endpoint")
    assert endpoint["RetainAllVariantProperties"] is True
    assert [p["VariantPropertyType"] for p in endpoint["ExcludeRetainedVariantProperties"]] == [
        "DesiredWeight", "DataCaptureConfig", "DesiredInstanceCount"]


def async_endpoint(**kw):
    stack = Stack(None, "Bad", env=ENV)
    props = {"endpoint_name": "bad", "variants": [instance()], "async_inference": AsyncInference()} | kw
    return ModelEndpoint(stack, "Endpoint", **props)


ASYNC_RULES = [
    ({"variants": many(2)}, "variants: an asynchronous endpoint has exactly one production variant, got 2"),
    ({"variants": [serverless()], "network_isolation": False},
     "variants[0].serverless_memory_mb: an asynchronous endpoint runs on instances (instance_type), not serverless"),
    ({"shadow_variant": ShadowVariant(instance("s"))},
     "shadow_variant: is not supported on an asynchronous endpoint, got a value"),
    ({"data_capture": DataCapture()}, "data_capture: is not supported on an asynchronous endpoint, got a value"),
    ({"deployment": DeploymentPolicy.canary(CapacitySize.instances(1)), "variants": [instance(initial_instance_count=2)]},
     "deployment.type: must be one of all_at_once, unguarded on an asynchronous endpoint (its metrics carry no "
     "EndpointConfigName"),
    ({"rollback_alarms": RollbackAlarms(watch_whole_endpoint=True)},
     "rollback_alarms.watch_whole_endpoint: must be false on an asynchronous endpoint"),
    ({"async_inference": AsyncInference(max_concurrent_invocations_per_instance=1001)},
     "async_inference.max_concurrent_invocations_per_instance: must be between 1 and 1000 requests per instance, "
     "got 1001"),
    ({"async_inference": AsyncInference(max_concurrent_invocations_per_instance=True)},
     "async_inference.max_concurrent_invocations_per_instance: must be a whole number"),
    ({"async_inference": AsyncInference(prefix="/abs")},
     "async_inference.prefix: must be a key prefix of at most 200 letters, digits and !_.'()- in '/'-separated "
     "folders, without a leading '/', got '/abs'"),
    ({"async_inference": AsyncInference(prefix="jobs/*")},  # IAM would read '*' as a wildcard
     "async_inference.prefix: must be a key prefix of at most 200 letters"),
    ({"async_inference": AsyncInference(prefix="a" * 201)}, "async_inference.prefix: must be a key prefix of at most"),
    ({"async_inference": AsyncInference(retention_days=0)},
     "async_inference.retention_days: must be between 1 and 3650 days, got 0"),
    ({"async_inference": AsyncInference(include_response_in_notifications="yes")},
     "async_inference.include_response_in_notifications: must be true or false, got 'yes'"),
]


@pytest.mark.parametrize("props, message", ASYNC_RULES, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in
                                                              enumerate(ASYNC_RULES)])
def test_async_rules(props, message):
    with pytest.raises(ConfigError) as error:
        async_endpoint(**props)
    assert str(error.value).startswith(message), str(error.value)


def test_async_inference_pipelines_are_refused():
    pipeline = ModelSource.from_containers([IMAGE, IMAGE], hostnames=["a", "b"])
    with pytest.raises(ConfigError, match=r"^variants\[0\]\.model: an asynchronous endpoint serves one container"):
        async_endpoint(variants=[instance(model=pipeline)])


def test_async_packages_registered_as_inference_pipelines_are_refused():
    package = ModelSource.from_model_package(V1.container["ModelPackageName"], inference_pipeline=True)
    assert package.is_pipeline and package.container == V1.container and not V1.is_pipeline
    with pytest.raises(ConfigError, match=r"^variants\[0\]\.model: an asynchronous endpoint serves one container"):
        async_endpoint(variants=[instance(model=package)])


@pytest.mark.parametrize("model", [ModelSource.from_containers([PREP, IMAGE]),
                                   ModelSource.from_model_package(V1.container["ModelPackageName"],
                                                                  inference_pipeline=True)],
                         ids=["images", "package"])
def test_a_serverless_variant_serves_no_inference_pipeline(model):
    """SageMaker's serverless inference excludes inference pipelines (its feature exclusions)."""
    with pytest.raises(ConfigError, match=r"^variants\[0\]\.serverless_memory_mb: must not be set on an inference "
                                          r"pipeline's variant \(SageMaker's serverless inference excludes"):
        ModelEndpoint(Stack(None, "S", env=ENV), "E", endpoint_name="sls", network_isolation=False,
                      variants=[ProductionVariant.serverless("main", model)])


def test_async_metric_helpers_name_the_metrics_async_endpoints_publish():
    endpoint = async_endpoint()
    assert endpoint.metric_invocations("main").metric_name == "InvocationsProcessed"
    assert endpoint.metric_model_errors("main").metric_name == "InvocationFailures"
    realtime = ModelEndpoint(Stack(None, "R", env=ENV), "E", endpoint_name="rt", variants=[instance()])
    assert realtime.metric_invocations("main").metric_name == "Invocations"
    assert realtime.metric_model_errors("main").metric_name == "InvocationModelErrors"


def test_async_autoscaling_rules():
    endpoint = async_endpoint()
    with pytest.raises(ConfigError, match=r"^variants\[main\]\.autoscaling\.target_invocations_per_instance: does "
                       r"not apply to an asynchronous endpoint \(it scales on target_backlog_per_instance\), got 5$"):
        endpoint.auto_scale_variant("main", min_capacity=0, max_capacity=2, target_invocations_per_instance=5)
    with pytest.raises(ConfigError, match=r"^variants\[main\]\.autoscaling\.target_backlog_per_instance: is required"):
        endpoint.auto_scale_variant("main", min_capacity=0, max_capacity=2)
    with pytest.raises(ConfigError, match=r"^variants\[main\]\.autoscaling\.target_backlog_per_instance: must be "
                       r"a finite number, got nan$"):
        endpoint.auto_scale_variant("main", min_capacity=0, max_capacity=2, target_backlog_per_instance=float("nan"))
    with pytest.raises(ConfigError, match=r"^variants\[main\]\.autoscaling\.target_backlog_per_instance: must be "
                       r"between 0.1 and 1000000 queued requests per instance, got 0.05$"):
        endpoint.auto_scale_variant("main", min_capacity=0, max_capacity=2, target_backlog_per_instance=0.05)
    with pytest.raises(ConfigError, match=r"^new_fleet: endpoint bad is asynchronous"):
        endpoint.metric("ModelLatency", "main", new_fleet=True)
    realtime = ModelEndpoint(Stack(None, "R", env=ENV), "E", endpoint_name="rt", variants=[instance()])
    with pytest.raises(ConfigError, match=r"^variants\[main\]\.autoscaling\.min_capacity: must be between 1 and 1 "
                       r"\(at most initial_instance_count 1; only an asynchronous endpoint scales to zero\), got 0$"):
        realtime.auto_scale_variant("main", min_capacity=0, max_capacity=2, target_invocations_per_instance=5)
    with pytest.raises(ConfigError, match=r"^variants\[main\]\.autoscaling\.target_backlog_per_instance: does not "
                       r"apply to a real-time endpoint"):
        realtime.auto_scale_variant("main", max_capacity=2, target_backlog_per_instance=5)
