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

from constructs_lib.batch import BatchInference
from constructs_lib.config import APPROVED, ModelConfig, PlatformConfig, StageConfig, retraining_alarm_names
from constructs_lib.dashboard import EndpointDashboard
from constructs_lib.deployment import DeploymentPolicy
from constructs_lib.endpoint import ModelEndpoint
from constructs_lib.errors import ConfigError
from constructs_lib.monitoring import DriftMonitor, ModelQualityCheck
from constructs_lib.retraining import DriftAlarmForwarder
from constructs_lib.nag import acknowledge_wildcards
from constructs_lib.registry import RegistryRef
from constructs_lib.stage_spec import StageSpec, config_error, mode, network_isolation, stream_settings, version_source
from constructs_lib.streaming import StreamInference

from .edge_stage import EdgeStack
from .release_access import ReleaseAccessStack, grant_endpoint_resources, release_role_name
from .shared_hosts import ComponentStack, HostStack, MultiModelHostStack, MultiModelStack, host_stack_name
from .stage_roles import delivery_pipeline_name, release_check_role_name, stage_of, trusting_the_check_steps

__all__ = ["BatchStack", "ComponentStack", "EdgeStack", "EndpointStack", "EndpointStage", "HostStack", "MultiModelHostStack",
           "MultiModelStack", "delivery_pipeline_name", "release_check_role_name"]


class EndpointStack(Stack):
    """The endpoint of one model in one stage, with outputs the pipeline's checks read.

    Outputs: ``EndpointName`` and ``EndpointConfigName`` (the content-derived name of the config this
    deployment requests: if the endpoint runs another one afterwards, SageMaker rolled the release back).
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig, stage_name: str,
                 approved_version_arn: str | None, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        index, stage = stage_of(self, scope, config, model, stage_name, "env" in kwargs)
        self._stage_name = stage_name
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
        try:
            self.drift: DriftMonitor | None = (self._drift(config, model, stage, approved_version_arn)
                                               if stage.monitoring is not None else None)
        except ConfigError as error:
            raise error.under(f"models[{index}].stages.{stage_name}.monitoring") from None
        """The drift check of the captured requests (``monitoring``)."""
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
                                     read_capture=agreement)

    def _drift(self, config: PlatformConfig, model: ModelConfig, stage: StageConfig,
               approved: str | None) -> DriftMonitor:
        """The drift check against the first variant's version (the released one; check_monitoring_stage)."""
        released = stage.variants[0].model
        settings = stage.monitoring
        # Only the variants that serve the released version: another model's requests have another baseline.
        same = [v.name for v in stage.variants if v.model == released]
        judged = settings.quality_settings(stage, model.build)
        quality = judged and ModelQualityCheck(judged["metric"], judged["threshold"],
                                               label_delay=Duration.hours(judged["label_delay_hours"]),
                                               min_labels=judged["min_labels"])
        drift = DriftMonitor(
            self, "Drift", endpoint=self.endpoint, variants=same,
            model_package_arn=approved if released == APPROVED else released.model_package_arn,
            registry_statements=RegistryRef.from_config(config, model).consumer_read_statements(),
            window=Duration.minutes(settings.window_minutes), min_records=settings.min_records,
            evaluation_periods=settings.evaluation_periods, datapoints_to_alarm=settings.datapoints_to_alarm,
            quality=quality)
        CfnOutput(self, "DriftReports", value=drift.reports_uri,
                  description="The drift check's reports (mlops monitor reads the newest)")
        if quality:
            CfnOutput(self, "GroundTruthLocation", value=drift.ground_truth_uri,
                      description="Write the requests' labels here (yyyy/mm/dd/HH/<name>.jsonl, one JSON record per "
                                  "request, named by its InferenceId)")
        if self.dashboard is not None:
            self.dashboard.add_drift(window_minutes=drift.window_minutes, alarm_arns=drift.alarm_arns,
                                     quality=drift.quality)
        if self._stage_name == "prod" and model.build.retrain_on_drift is not None:
            dev = config.accounts.dev
            DriftAlarmForwarder(self, "DriftToDev", alarm_names=retraining_alarm_names(model, "prod"),
                                dev_account=dev.account_id, dev_region=dev.region)
        return drift

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
        role = trusting_the_check_steps(self, config, model, stage_name,
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
        spec = StageSpec.from_config(stage, model_name=model.name, stage_name=stage_name, approved_arn=approved,
                                     approved_pipeline=model.build.inference_preprocessing)
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
        index, stage = stage_of(self, scope, config, model, stage_name, "env" in kwargs)
        settings = stage.batch
        assert settings is not None  # check_mode: required in mode batch
        try:
            source = version_source(model, settings.model, approved_version_arn, "batch.model")
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
        role = trusting_the_check_steps(self, config, model, stage_name, f"Batch check of {batch.pipeline_name}")
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


class EndpointStage(Stage):
    """A model's endpoint (or, in mode batch, its batch-inference pipeline; in mode edge, its release to
    Greengrass devices) deployed to the test or prod account (one stack: ``Endpoint``, ``Batch`` or ``Edge``; in
    the shared-host modes the host's stack, then ``Component`` or ``MultiModel``)."""

    #: Its stacks take the stage's account and region from the config (``stage_roles.stage_of``).
    builds_config_stage = True

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig, stage_name: str,
                 approved_version_arn: str | None, release_id: str | None = None, **kwargs) -> None:
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
            "edge": (EdgeStack, "Edge", f"Model {model.name} on Greengrass devices ({stage_name})"),
        }.get(serving, (EndpointStack, "Endpoint", f"SageMaker endpoint of model {model.name} ({stage_name})"))
        self.stack: EndpointStack | BatchStack | ComponentStack | MultiModelStack | EdgeStack = kind(
            self, id_, stack_name=f"{config.project}-{model.name}-{stage_name}-{id_.lower()}", config=config,
            model=model, stage_name=stage_name, approved_version_arn=approved_version_arn, description=description,
            **({"release_id": release_id} if kind is EdgeStack else {}))
        if self.release_access is not None:
            self.stack.add_stack_dependency(self.release_access)
        if self.host is not None:
            self.stack.add_stack_dependency(self.host)
