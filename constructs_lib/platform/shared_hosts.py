"""The stacks of the modes whose models share an endpoint: a component host (``HostStack``) and each model's
inference component (``ComponentStack``); a multi-model host (``MultiModelHostStack``) and each model's release
onto it (``MultiModelStack``). A host's stack is in every model pipeline that uses it, its template depending on
the host's entry alone."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from constructs_lib.components import ComponentHost, InferenceComponent
from constructs_lib.config import ModelConfig, PlatformConfig, target_parameter_name
from constructs_lib.deployment import DeploymentPolicy
from constructs_lib.errors import ConfigError
from constructs_lib.multi_model import MultiModelHost, MultiModelRelease
from constructs_lib.registry import RegistryRef
from constructs_lib.stage_spec import (StageSpec, component_rollout, component_settings, config_error,
                                       network_isolation, version_source)

from .stage_roles import stage_of, trusting_the_check_steps

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
        index, stage = stage_of(self, scope, config, model, stage_name, "env" in kwargs)
        settings = stage.multi_model
        assert settings is not None  # check_mode: required in mode multi_model
        host = config.multi_model_host(settings.host)
        account = getattr(config.accounts, stage_name)
        try:
            source = version_source(model, settings.model, approved_version_arn, "multi_model.model")
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
        role = trusting_the_check_steps(self, config, model, stage_name,
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
        index, stage = stage_of(self, scope, config, model, stage_name, "env" in kwargs)
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
                model=version_source(model, settings.model, approved_version_arn, "component.model"),
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
        role = trusting_the_check_steps(self, config, model, stage_name,
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
