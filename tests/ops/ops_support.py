"""Builders for the ``mlops`` tests: real resources in the moto server, and DescribeEndpoint shapes for Stubber."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from botocore.stub import Stubber

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn:1"
ENDPOINT = "churn-prod"
STACK = "Prod-ChurnEndpoint"
OLD_CONFIG = "churn-prod-config-0a1b2c3d"
NEW_CONFIG = "churn-prod-config-9f8e7d6c"
STACK_TAG = "aws:cloudformation:stack-name"


def create_versions(sagemaker, group: str, statuses: list[str]) -> list[str]:
    """A model package group (created if missing) with one version per status, oldest first; their ARNs."""
    try:
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    except sagemaker.exceptions.ClientError:
        pass
    return [
        sagemaker.create_model_package(
            ModelPackageGroupName=group, ModelApprovalStatus=status,
            InferenceSpecification={"Containers": [{"Image": IMAGE}], "SupportedContentTypes": ["text/csv"],
                                    "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
        for status in statuses
    ]


def create_endpoint(sagemaker, cloudformation=None, *, running: str = OLD_CONFIG, requested: str | None = None,
                    tag_stack: bool = True, endpoint_name: str = ENDPOINT) -> None:
    """An A/B endpoint (champion 90 / challenger 10) running ``running``; with ``cloudformation``, its stack whose
    EndpointConfigName output is ``requested`` (a different name = a release SageMaker rolled back)."""
    sagemaker.create_model(ModelName="churn-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    for name in {running, requested or running}:
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": "champion", "ModelName": "churn-model", "InitialInstanceCount": 2,
             "InstanceType": "ml.m5.large", "InitialVariantWeight": 90},
            {"VariantName": "challenger", "ModelName": "churn-model", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large", "InitialVariantWeight": 10}])
    tags = [{"Key": STACK_TAG, "Value": STACK}] if tag_stack else []
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=running, Tags=tags)
    if cloudformation is not None:
        create_stack(cloudformation, STACK, {"EndpointName": endpoint_name, "EndpointConfigName": requested or running})


def create_stack(cloudformation, name: str, outputs: dict[str, str]) -> None:
    """A stack with the given outputs (the endpoint stacks' EndpointName / EndpointConfigName contract)."""
    template = {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))


def create_alarm(cloudwatch, name: str, state: str, endpoint: str = ENDPOINT) -> None:
    """A metric alarm on the endpoint's 5XX errors, forced into ``state``."""
    cloudwatch.put_metric_alarm(
        AlarmName=name, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "champion"}])
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test: {state}")


def endpoint_description(status: str = "InService", config: str = OLD_CONFIG, **extra) -> dict:
    """A DescribeEndpoint response for Stubber (the fields moto cannot produce go in ``extra``)."""
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return {"EndpointName": ENDPOINT, "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
            "EndpointConfigName": config, "EndpointStatus": status, "CreationTime": now, "LastModifiedTime": now,
            "ProductionVariants": [
                {"VariantName": "champion", "CurrentWeight": 90.0, "DesiredWeight": 90.0,
                 "CurrentInstanceCount": 2, "DesiredInstanceCount": 2},
                {"VariantName": "challenger", "CurrentWeight": 10.0, "DesiredWeight": 10.0,
                 "CurrentInstanceCount": 1, "DesiredInstanceCount": 1}],
            **extra}


def create_pipeline(iam, codepipeline, name: str) -> str:
    """A two-stage CodePipeline (S3 source, CodeBuild) named ``name``, for commands that start executions."""
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "codepipeline.amazonaws.com"}}]}))
    action = {"name": "a", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
              "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"}, "outputArtifacts": [{"name": "out"}]}
    build = {"name": "b", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild",
                                           "version": "1"},
             "configuration": {"ProjectName": "p"}, "inputArtifacts": [{"name": "out"}]}
    codepipeline.create_pipeline(pipeline={
        "name": name, "roleArn": role["Role"]["Arn"], "artifactStore": {"type": "S3", "location": "artifacts-bucket"},
        "stages": [{"name": "Source", "actions": [action]}, {"name": "Build", "actions": [build]}]})
    return name


def hook_client(monkeypatch, service: str, event: str, handler) -> None:
    """Register ``handler`` on botocore's ``event`` for the clients the command builds for ``service``."""
    from constructs_lib.ops.aws import Context

    original = Context.client

    def client(self, service_name):
        made = original(self, service_name)
        if service_name == service and not getattr(made, "_test_hooked", False):
            made.meta.events.register(event, handler)
            made._test_hooked = True
        return made
    monkeypatch.setattr(Context, "client", client)


class OperationStubber(Stubber):
    """A Stubber that answers only ``operations``; the client's other calls reach the moto server."""

    def __init__(self, client, operations):
        super().__init__(client)
        self.operations = set(operations)

    def _get_response_handler(self, model, params, context, **kwargs):
        if model.name in self.operations:
            return super()._get_response_handler(model, params, context, **kwargs)
        return None

    def _assert_expected_params(self, model, params, context, **kwargs):
        if model.name in self.operations:
            super()._assert_expected_params(model, params, context, **kwargs)


def capture_record(inference_id: str, features: str, output: str, at: datetime | None = None) -> str:
    """One data-capture JSON line as SageMaker writes it (CSV request, JSON response), made ``at`` (default: an
    hour ago, inside the windows the tests read)."""
    from datetime import timedelta

    at = at or datetime.now(timezone.utc) - timedelta(hours=1)
    return json.dumps({"captureData": {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": features, "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": output,
                           "encoding": "JSON"}},
        "eventMetadata": {"eventId": f"evt-{inference_id}", "inferenceId": inference_id,
                          "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")}, "eventVersion": "0"})
