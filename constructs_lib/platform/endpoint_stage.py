"""One model's endpoint in one account: the config section turned into a ``ModelEndpoint``.

``EndpointStack`` builds the endpoint from a ``StageConfig``; ``EndpointStage`` wraps it in a CDK Stage for the
test or prod account (what the delivery pipeline deploys). Config errors are re-raised under the config path
(``models[0].stages.prod.variants[1].weight``).
"""

from __future__ import annotations

import dataclasses

from aws_cdk import CfnOutput, Duration, Environment, Stack, Stage
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from constructs_lib.arns import StackArns
from constructs_lib.batch import BatchInference
from constructs_lib.components import ComponentHost, InferenceComponent
from constructs_lib.multi_model import MultiModelHost, MultiModelRelease
from constructs_lib.config import ModelConfig, PlatformConfig, StageConfig, target_parameter_name
from constructs_lib.dashboard import EndpointDashboard
from constructs_lib.delivery import bounded_role_name, check_step_role_name
from constructs_lib.deployment import DeploymentPolicy
from constructs_lib.endpoint import ModelEndpoint
from constructs_lib.errors import ConfigError
from constructs_lib.nag import acknowledge_wildcards
from constructs_lib.registry import RegistryRef
from constructs_lib.stage_spec import (StageSpec, component_rollout, component_settings, config_error, mode,
                                       model_source, network_isolation, stream_settings)
from constructs_lib.streaming import StreamInference

from .release_access import ReleaseAccessStack, grant_endpoint_resources, release_role_name

#: The release-check role's session limit (one value: each Duration made is a jsii round trip).
_ONE_HOUR = Duration.hours(1)


def release_check_role_name(config: PlatformConfig, model: ModelConfig, stage_name: str) -> str:
    """The IAM role the delivery pipeline assumes in a stage's account to check the endpoint (<= 64 chars)."""
    return bounded_role_name(f"{config.project}-{model.name}-{stage_name}-checks")


def delivery_pipeline_name(config: PlatformConfig, model: ModelConfig) -> str:
    """``<project>-<model>-delivery``: the CodePipeline the model's approval rule starts."""
    return f"{config.project}-{model.name}-delivery"


class EndpointStack(Stack):
    """The endpoint of one model in one stage, with outputs the pipeline's checks read.

    Outputs: ``EndpointName`` and ``EndpointConfigName`` (the content-derived name of the config this
    deployment requests: if the endpoint runs another one afterwards, SageMaker rolled the release back).
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig, stage_name: str,
                 approved_version_arn: str | None, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        index, stage = _stage_of(self, scope, config, model, stage_name, "env" in kwargs)
        try:
            self.endpoint = self._endpoint(config, model, stage_name, stage, approved_version_arn)
        except ConfigError as error:
            raise config_error(error, f"models[{index}].stages.{stage_name}") from None
        phases = {} if stage.release is None else {
            phase.variant_name: f"{name} phase" for name in ("shadow", "ab")
            if (phase := getattr(stage.release, name)) is not None}
        self.dashboard = EndpointDashboard(self, "Dashboard", endpoint=self.endpoint,
                                           candidate_variants=phases) if stage.dashboard else None
        """The endpoint's CloudWatch dashboard (``mlops status`` names it from the DashboardName output)."""
        if self.dashboard is not None:
            CfnOutput(self, "DashboardName", value=self.dashboard.dashboard_name,
                      description="CloudWatch dashboard of this endpoint")
        self.endpoint_name_output = CfnOutput(self, "EndpointName", value=self.endpoint.endpoint_name)
        self.endpoint_config_name_output = CfnOutput(self, "EndpointConfigName",
                                                     value=self.endpoint.endpoint_config_name)
        if self.endpoint.async_inference is not None:
            self._async_outputs(stage)
        self.stream: StreamInference | None = self._stream(stage) if mode(stage) == "streaming" else None
        """Mode streaming's stream inference (Kinesis in and out through the endpoint)."""
        if self.endpoint.alarm_topic is not None:
            for email in stage.alarms.notification_emails:
                self.endpoint.alarm_topic.add_subscription(subscriptions.EmailSubscription(email))
            CfnOutput(self, "AlarmTopicArn", value=self.endpoint.alarm_topic.topic_arn,
                      description="Rollback alarm notifications of this endpoint: subscribe here")
        self.check_role = self._check_role(config, model, stage_name, invoke=stage.checks is not None)
        if stage.release is not None:
            shadow = stage.release.shadow
            agreement = shadow is not None and shadow.min_agreement_percent is not None
            grant_endpoint_resources(self, self.endpoint, role_name=release_role_name(config, model, stage_name),
                                     capture_prefix=stage.data_capture.prefix if agreement else None)

    def _stream(self, stage: StageConfig) -> StreamInference:
        """Kinesis in and out through the endpoint; its alarms notify the endpoint's alarm topic (named after
        the endpoint, which that topic accepts), so the stage's notification_emails hear of both."""
        settings = stream_settings(stage)
        seconds = {key: Duration.seconds(settings.pop(key))
                   for key in ("max_batching_window", "max_record_age", "timeout", "max_iterator_age")}
        # The settings passed check_mode's check_stream, the construct's own rules.
        stream = StreamInference(self, "Stream", endpoint=self.endpoint, alarm_topic=self.endpoint.alarm_topic,
                                 **settings, **seconds)
        if self.endpoint.alarm_topic is None:  # the endpoint's alarms are off: the stream's topic is its own
            for email in stage.alarms.notification_emails:
                stream.alarm_topic.add_subscription(subscriptions.EmailSubscription(email))
        CfnOutput(self, "StreamInputName", value=stream.input_stream.stream_name,
                  description="Put records here (Kinesis): each is sent to the endpoint")
        CfnOutput(self, "StreamOutputName", value=stream.output_stream.stream_name,
                  description="The predictions, with each input record's partition key")
        return stream

    def _async_outputs(self, stage: StageConfig) -> None:
        """Where an async endpoint's callers put requests, and its notification topics (with the config's
        e-mail subscriptions)."""
        endpoint = self.endpoint
        assert endpoint.async_bucket is not None and endpoint.success_topic and endpoint.error_topic
        settings = stage.async_inference
        for topic, emails in ((endpoint.success_topic, settings.success_emails if settings else ()),
                              (endpoint.error_topic, settings.error_emails if settings else ())):
            for email in emails:
                topic.add_subscription(subscriptions.EmailSubscription(email))
        CfnOutput(self, "AsyncInputLocation", description="Put requests here, then call InvokeEndpointAsync",
                  value=f"s3://{endpoint.async_bucket.bucket_name}/{endpoint.async_inference.key('input')}/")
        CfnOutput(self, "AsyncSuccessTopicArn", value=endpoint.success_topic.topic_arn,
                  description="Notified when a request succeeded: subscribe here")
        CfnOutput(self, "AsyncErrorTopicArn", value=endpoint.error_topic.topic_arn,
                  description="Notified when a request failed: subscribe here")

    def _check_role(self, config: PlatformConfig, model: ModelConfig, stage_name: str, invoke: bool) -> iam.Role:
        """The role the delivery pipeline's post-deploy steps assume: trusts only the pipeline (dev) account;
        may describe this endpoint and its rollback alarms (deployment verification) and, where the stage has
        smoke/latency checks, invoke it."""
        endpoint = self.endpoint
        role = _trusting_the_check_steps(self, config, model, stage_name,
                                         f"Delivery pipeline checks of endpoint {endpoint.endpoint_name}")
        alarms = endpoint.alarms_arn_pattern
        iam.Grant.add_to_principal(grantee=role, actions=["sagemaker:DescribeEndpoint"],
                                   resource_arns=[endpoint.endpoint_arn])
        iam.Grant.add_to_principal(grantee=role, actions=["cloudwatch:DescribeAlarms"], resource_arns=[alarms])

        if invoke:
            endpoint.grant_invoke(role)
            if endpoint.async_inference is not None:
                # The async smoke check reads where the endpoint writes from its config.
                iam.Grant.add_to_principal(grantee=role, actions=["sagemaker:DescribeEndpointConfig"],
                                           resource_arns=[endpoint.endpoint_config_arn])
        acknowledge_wildcards(role, {alarms: "Verification reads the states of this endpoint's own "
            "rollback alarms, which are all named after the endpoint."})
        return role

    def _endpoint(self, config: PlatformConfig, model: ModelConfig, stage_name: str, stage: StageConfig,
                  approved: str | None) -> ModelEndpoint:
        spec = StageSpec.from_config(stage, model_name=model.name, stage_name=stage_name, approved_arn=approved)
        capture = spec.capture
        if capture is not None and stage.data_capture.bucket_name:
            capture = dataclasses.replace(capture, bucket=s3.Bucket.from_bucket_name(
                self, "CaptureBucket", stage.data_capture.bucket_name))
        asynchronous = spec.asynchronous
        if asynchronous is not None and stage.async_inference is not None and stage.async_inference.bucket_name:
            asynchronous = dataclasses.replace(asynchronous, bucket=s3.Bucket.from_bucket_name(
                self, "AsyncBucket", stage.async_inference.bucket_name))
        subnets, groups = [], []
        if stage.vpc is not None:
            subnets = [ec2.Subnet.from_subnet_id(self, f"Subnet{i}", s) for i, s in enumerate(stage.vpc.subnet_ids)]
            groups = [ec2.SecurityGroup.from_security_group_id(self, f"Sg{i}", g, mutable=False)
                      for i, g in enumerate(stage.vpc.security_group_ids)]
        endpoint = ModelEndpoint(
            self, "Endpoint", endpoint_name=spec.endpoint_name, variants=spec.variants, shadow_variant=spec.shadow,
            data_capture=capture, async_inference=asynchronous, deployment=DeploymentPolicy.from_spec(spec.rollout),
            rollback_alarms=spec.alarms,
            network_isolation=network_isolation(stage), vpc_subnets=subnets, security_groups=groups,
        )
        # The construct names a variant by name, the config by position.
        by_position = {f"variants[{v.name}]": f"variants[{i}]" for i, v in enumerate(spec.variants)}
        for name, (low, high, invocations, backlog, scale_in, scale_out) in spec.autoscaling.items():
            try:
                endpoint.auto_scale_variant(
                    name, min_capacity=low, max_capacity=high, target_invocations_per_instance=invocations,
                    target_backlog_per_instance=backlog, scale_in_cooldown=Duration.seconds(scale_in),
                    scale_out_cooldown=Duration.seconds(scale_out))
            except ConfigError as error:
                raise error.under(renames=by_position) from None
        self._grant_registry(config, model, endpoint)
        return endpoint

    def _grant_registry(self, config: PlatformConfig, model: ModelConfig, endpoint: ModelEndpoint) -> None:
        """Let the endpoint's role read the dev account's registry artifacts (models from the registry)."""
        RegistryRef.from_config(config, model).grant_consumer_read(endpoint.role)


class BatchStack(Stack):
    """Mode batch: the model's batch-inference pipeline in one stage (``BatchInference``), and the role the
    delivery pipeline's batch check assumes.

    Outputs: ``PipelineName`` (what ``mlops batch-check`` runs) and ``InputLocation``.
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig, stage_name: str,
                 approved_version_arn: str | None, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        index, stage = _stage_of(self, scope, config, model, stage_name, "env" in kwargs)
        settings = stage.batch
        assert settings is not None  # check_mode: required in mode batch
        try:
            source = model_source(settings.model, approved_version_arn, "batch.model")
            bucket = (s3.Bucket.from_bucket_name(self, "DataBucket", settings.bucket_name)
                      if settings.bucket_name else None)
            self.batch = BatchInference(
                self, "Batch", model=source, pipeline_name=f"{model.name}-{stage_name}",
                instance_type=settings.instance_type, instance_count=settings.instance_count,
                content_type=settings.content_type, accept=settings.accept, split_type=settings.split_type,
                strategy=settings.strategy, max_payload_mb=settings.max_payload_mb, schedule=settings.schedule,
                bucket=bucket, prefix=settings.prefix, retention_days=settings.retention_days,
                network_isolation=network_isolation(stage))
        except ConfigError as error:
            raise error.under(f"models[{index}].stages.{stage_name}") from None
        for email in settings.failure_emails:
            self.batch.alarm_topic.add_subscription(subscriptions.EmailSubscription(email))
        RegistryRef.from_config(config, model).grant_consumer_read(self.batch.role)
        self.pipeline_name_output = CfnOutput(self, "PipelineName", value=self.batch.pipeline_name,
                                              description="The batch-inference pipeline (mlops batch-check runs it)")
        CfnOutput(self, "InputLocation", description="Put input files here; a run transforms the whole prefix",
                  value=f"s3://{self.batch.bucket.bucket_name}/{self.batch.input_prefix}/")
        self.check_role = self._check_role(config, model, stage_name)

    def _check_role(self, config: PlatformConfig, model: ModelConfig, stage_name: str) -> iam.Role:
        """The role the delivery pipeline's batch check assumes: trusts only the pipeline's check steps; may run
        and watch this pipeline, put samples under its input prefix and read its results."""
        batch = self.batch
        role = _trusting_the_check_steps(self, config, model, stage_name, f"Batch check of {batch.pipeline_name}")
        executions = f"{batch.pipeline_arn}/execution/*"
        inputs = batch.bucket.arn_for_objects(f"{batch.input_prefix}/*")
        outputs = batch.bucket.arn_for_objects(f"{batch.output_prefix}/*")
        for actions, resources, conditions in (
                (["sagemaker:DescribePipeline", "sagemaker:StartPipelineExecution"], [batch.pipeline_arn], None),
                (["sagemaker:DescribePipelineExecution", "sagemaker:StopPipelineExecution"], [executions], None),
                (["s3:PutObject", "s3:DeleteObject"], [inputs], None),
                (["s3:GetObject"], [outputs], None),
                (["s3:ListBucket"], [batch.bucket.bucket_arn], {"StringLike": {"s3:prefix": [f"{batch.output_prefix}/*"]}}),
                (["kms:GenerateDataKey", "kms:Decrypt"], [batch.encryption_key.key_arn], None)):
            iam.Grant.add_to_principal(grantee=role, actions=actions, resource_arns=resources, conditions=conditions)
        acknowledge_wildcards(role, {
            executions: "The check starts one execution and watches it; SageMaker names executions.",
            inputs: "The check puts its sample files in a folder of its own under input/.",
            outputs: "SageMaker names the results after the inputs, in a folder per execution."})
        return role


def _stage_of(stack: Stack, scope: Construct, config: PlatformConfig, model: ModelConfig, stage_name: str,
              env_given: bool) -> tuple[int, StageConfig]:
    """A stage stack's model index and stage config; in an ``EndpointStage`` without an explicit ``env``, the
    stage's account and region (from the config) are remembered for the stack's ARNs."""
    if isinstance(scope, EndpointStage) and not env_given:
        account = getattr(config.accounts, stage_name)
        StackArns.remember(stack, account=account.account_id, region=account.region)
    return config.models.index(model), getattr(model.stages, stage_name)


def host_stack_name(config: PlatformConfig, host_name: str, stage_name: str) -> str:
    """``<project>-<host>-<stage>-host``: a component host's stack, deployed by each model pipeline that uses it."""
    return f"{config.project}-{host_name}-{stage_name}-host"


class HostStack(Stack):
    """A component host in one stage (``ComponentHost``): the endpoint that models in mode component share.

    Its template depends on the ``component_hosts`` entry alone, so every model pipeline that uses the host
    deploys the same stack; the first creates the endpoint, the others find nothing to change.
    Outputs: ``EndpointName``, ``EndpointConfigName`` and ``HostsInferenceComponents`` (``mlops status`` then
    lists the endpoint's components)."""

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, host_name: str, stage_name: str,
                 **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        host = config.component_host(host_name)
        index = config.component_hosts.index(host)
        settings = getattr(host, stage_name)
        try:
            self.host = ComponentHost(
                self, "Host", endpoint_name=host.endpoint_name(stage_name), instance_type=settings.instance_type,
                instance_count=settings.instance_count, max_instance_count=settings.max_instance_count,
                min_instance_count=settings.min_instance_count, routing=settings.routing.upper(),
                network_isolation=host.network_isolation)
        except ConfigError as error:
            raise error.under(f"component_hosts[{index}].{stage_name}") from None
        CfnOutput(self, "EndpointName", value=self.host.endpoint_name)
        CfnOutput(self, "EndpointConfigName", value=self.host.endpoint_config_name)
        CfnOutput(self, "HostsInferenceComponents", value="true",
                  description="mlops status lists this endpoint's inference components")


class MultiModelHostStack(Stack):
    """A multi-model host in one stage (``MultiModelHost``): the endpoint and the bucket of its models, which
    models in mode multi_model share. Like ``HostStack``, its template depends on the ``multi_model_hosts``
    entry alone, so each model pipeline that uses the host deploys the same stack.
    Outputs: ``EndpointName``, ``EndpointConfigName``, ``ModelsBucket`` and ``TargetParameterNames`` (``mlops
    status`` then lists the models and the version each model's parameter names)."""

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, host_name: str, stage_name: str,
                 **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        host = config.multi_model_host(host_name)
        settings = getattr(host, stage_name)
        index = config.multi_model_hosts.index(host)
        try:
            self.host = MultiModelHost(
                self, "Host", endpoint_name=host.endpoint_name(stage_name), image=host.image,
                instance_type=settings.instance_type, instance_count=settings.instance_count, cache=host.cache,
                bucket_name=host.bucket_name(config.project, getattr(config.accounts, stage_name)),
                prefix=host.prefix, network_isolation=host.network_isolation)
        except ConfigError as error:
            raise error.under(f"multi_model_hosts[{index}].{stage_name}") from None
        CfnOutput(self, "EndpointName", value=self.host.endpoint_name)
        CfnOutput(self, "EndpointConfigName", value=self.host.endpoint.endpoint_config_name)
        CfnOutput(self, "ModelsBucket", value=self.host.bucket_name,
                  description=f"The models of this endpoint, under {host.prefix}/")
        CfnOutput(self, "TargetParameterNames", value=target_parameter_name(config, "{model}", stage_name),
                  description="Each model's SSM parameter naming the TargetModel callers send ({model}: its name)")


class MultiModelStack(Stack):
    """Mode multi_model: the model's release onto its stage's multi-model host (``MultiModelRelease``: the
    version's artifact under a key of its own, the parameter naming it), with the role the delivery pipeline's
    checks assume.

    Outputs: ``EndpointName`` (the host), ``TargetModel`` (what callers send as ``TargetModel``) and
    ``TargetParameterName`` (the SSM parameter that holds it)."""

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig, stage_name: str,
                 approved_version_arn: str | None, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        index, stage = _stage_of(self, scope, config, model, stage_name, "env" in kwargs)
        settings = stage.multi_model
        assert settings is not None  # check_mode: required in mode multi_model
        host = config.multi_model_host(settings.host)
        account = getattr(config.accounts, stage_name)
        try:
            source = model_source(settings.model, approved_version_arn, "multi_model.model")
            self.release = MultiModelRelease(
                self, "Release", host=MultiModelHost.from_attributes(
                    self, "Host", endpoint_name=host.endpoint_name(stage_name), prefix=host.prefix,
                    bucket_name=host.bucket_name(config.project, account)),
                model_package_arn=source.container["ModelPackageName"], target=model.name,
                registry_statements=RegistryRef.from_config(config, model).consumer_read_statements(),
                parameter_name=target_parameter_name(config, model.name, stage_name))
        except ConfigError as error:
            raise error.under(f"models[{index}].stages.{stage_name}") from None
        self.endpoint_name_output = CfnOutput(self, "EndpointName", value=self.release.host.endpoint_name)
        self.target_model_output = CfnOutput(self, "TargetModel", value=self.release.target_model,
                                             description="Send it as InvokeEndpoint's TargetModel")
        self.target_parameter_output = CfnOutput(self, "TargetParameterName", value=self.release.parameter_name,
                                                 description="The SSM parameter callers read the TargetModel from")
        self.check_role = self._check_role(config, model, stage_name, invoke=stage.checks is not None)

    def _check_role(self, config: PlatformConfig, model: ModelConfig, stage_name: str, invoke: bool) -> iam.Role:
        """The role the delivery pipeline's checks assume: describe the host and read the target parameter
        (verification) and, with checks, invoke this model's versions."""
        release = self.release
        role = _trusting_the_check_steps(self, config, model, stage_name,
                                         f"Delivery pipeline checks of {model.name} on {release.host.endpoint_name}")
        iam.Grant.add_to_principal(grantee=role, actions=["sagemaker:DescribeEndpoint"],
                                   resource_arns=[release.host.endpoint_arn])
        iam.Grant.add_to_principal(grantee=role, actions=["ssm:GetParameter"], resource_arns=[release.parameter_arn])
        if invoke:
            release.grant_invoke(role, this_version_only=True)
        return role


class ComponentStack(Stack):
    """Mode component: the model as an inference component on its stage's shared host, with the role the
    delivery pipeline's checks assume.

    Outputs: ``EndpointName`` (the host), ``InferenceComponentName`` and ``ModelName`` (the model this deployment
    requests: if the component serves another one afterwards, SageMaker rolled the release back)."""

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig, stage_name: str,
                 approved_version_arn: str | None, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        index, stage = _stage_of(self, scope, config, model, stage_name, "env" in kwargs)
        settings = stage.component
        assert settings is not None  # check_mode: required in mode component
        path = f"models[{index}].stages.{stage_name}"
        host = config.component_host(settings.host)
        try:
            spec = component_settings(stage)
        except ConfigError as error:
            raise error.under(f"{path}.component") from None
        try:
            self.component = InferenceComponent(
                self, "Component", host=ComponentHost.from_endpoint_name(self, "Host", host.endpoint_name(stage_name)),
                model=model_source(settings.model, approved_version_arn, "component.model"),
                component_name=f"{model.name}-{stage_name}", compute=spec["compute"], copies=spec["copies"],
                deployment=DeploymentPolicy.from_spec(component_rollout(stage)),
                rollback_alarms=StageSpec.rollback_alarms(stage),
                network_isolation=network_isolation(stage))
            if spec["scaling"] is not None:
                scaling = dict(spec["scaling"])
                self.component.auto_scale_copies(
                    **scaling | {key: Duration.seconds(scaling[key]) for key in ("scale_in_cooldown",
                                                                                   "scale_out_cooldown")})
        except ConfigError as error:
            raise config_error(error, path) from None
        RegistryRef.from_config(config, model).grant_consumer_read(self.component.role)
        if self.component.alarm_topic is not None:
            for email in stage.alarms.notification_emails:
                self.component.alarm_topic.add_subscription(subscriptions.EmailSubscription(email))
            CfnOutput(self, "AlarmTopicArn", value=self.component.alarm_topic.topic_arn,
                      description="Rollback alarm notifications of this component: subscribe here")
        self.endpoint_name_output = CfnOutput(self, "EndpointName", value=self.component.host.endpoint_name)
        self.component_name_output = CfnOutput(self, "InferenceComponentName", value=self.component.component_name)
        self.model_name_output = CfnOutput(self, "ModelName", value=self.component.cfn_model.attr_model_name,
                                           description="The model this deployment requests")
        self.check_role = self._check_role(config, model, stage_name, invoke=stage.checks is not None)

    def _check_role(self, config: PlatformConfig, model: ModelConfig, stage_name: str, invoke: bool) -> iam.Role:
        """The role the delivery pipeline's checks assume: describe this component and read its rollback alarms
        (verification) and, with checks, describe and invoke the host (the smoke check)."""
        component = self.component
        role = _trusting_the_check_steps(self, config, model, stage_name,
                                         f"Delivery pipeline checks of inference component {component.component_name}")
        for actions, resources in ((["sagemaker:DescribeInferenceComponent"], [component.component_arn]),
                                   (["cloudwatch:DescribeAlarms"], component.rollback_alarm_arns)):
            if resources:
                iam.Grant.add_to_principal(grantee=role, actions=actions, resource_arns=resources)
        if invoke:
            iam.Grant.add_to_principal(grantee=role, actions=["sagemaker:DescribeEndpoint"],
                                       resource_arns=[component.host.endpoint_arn])
            component.grant_invoke(role)
        return role


def _trusting_the_check_steps(scope: Stack, config: PlatformConfig, model: ModelConfig, stage_name: str,
                              description: str) -> iam.Role:
    """A role only the delivery pipeline's check steps for this stage may assume (by their role's name, a
    condition rather than a principal, so that either stack can be deployed first), for an hour."""
    dev = config.accounts.dev.account_id
    account = getattr(config.accounts, stage_name)
    checker = StackArns.of(scope).arn("iam", "role", check_step_role_name(
        delivery_pipeline_name(config, model), account.account_id, account.region), region="", account=dev)
    return iam.Role(
        scope, "ReleaseCheckRole", role_name=release_check_role_name(config, model, stage_name),
        assumed_by=iam.AccountPrincipal(dev).with_conditions({"ArnEquals": {"aws:PrincipalArn": checker}}),
        description=description, max_session_duration=_ONE_HOUR)


class EndpointStage(Stage):
    """A model's endpoint (or, in mode batch, its batch-inference pipeline) deployed to the test or prod account
    (one stack: ``Endpoint``, or ``Batch``)."""

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig, stage_name: str,
                 approved_version_arn: str | None, **kwargs) -> None:
        account = getattr(config.accounts, stage_name)
        super().__init__(scope, id, env=Environment(account=account.account_id, region=account.region), **kwargs)
        self.release_access: ReleaseAccessStack | None = None
        """With a release plan: the phases' role, deployed before the phases and the endpoint stack."""
        if getattr(model.stages, stage_name).release is not None:
            self.release_access = ReleaseAccessStack(
                self, "ReleaseAccess", stack_name=f"{config.project}-{model.name}-{stage_name}-release-access",
                config=config, model=model, stage_name=stage_name,
                description=f"Role of the release phases of model {model.name} ({stage_name})")
        stage = getattr(model.stages, stage_name)
        serving = mode(stage)
        self.host: HostStack | MultiModelHostStack | None = None
        """Modes component and multi_model: the shared host's stack, deployed before the model's."""
        if serving == "component":
            host_name = stage.component.host
            self.host = HostStack(self, "Host", stack_name=host_stack_name(config, host_name, stage_name),
                                  config=config, host_name=host_name, stage_name=stage_name,
                                  description=f"SageMaker endpoint {host_name} hosting inference components "
                                              f"({stage_name})")
        elif serving == "multi_model":
            host_name = stage.multi_model.host
            self.host = MultiModelHostStack(
                self, "Host", stack_name=host_stack_name(config, host_name, stage_name), config=config,
                host_name=host_name, stage_name=stage_name,
                description=f"SageMaker multi-model endpoint {host_name} and its models' bucket ({stage_name})")
        kind, id_, description = {
            "batch": (BatchStack, "Batch", f"Batch inference of model {model.name} ({stage_name})"),
            "component": (ComponentStack, "Component", f"Inference component of model {model.name} ({stage_name})"),
            "multi_model": (MultiModelStack, "MultiModel",
                            f"Model {model.name} on a multi-model endpoint ({stage_name})"),
        }.get(serving, (EndpointStack, "Endpoint", f"SageMaker endpoint of model {model.name} ({stage_name})"))
        self.stack: EndpointStack | BatchStack | ComponentStack | MultiModelStack = kind(
            self, id_, stack_name=f"{config.project}-{model.name}-{stage_name}-{id_.lower()}", config=config,
            model=model, stage_name=stage_name, approved_version_arn=approved_version_arn, description=description)
        if self.release_access is not None:
            self.stack.add_stack_dependency(self.release_access)
        if self.host is not None:
            self.stack.add_stack_dependency(self.host)
