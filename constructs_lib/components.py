"""Inference components: several models sharing one endpoint's instances, each released on its own.

* ``ComponentHost`` is the endpoint: one production variant with no model of its own (SageMaker: an endpoint
  that hosts inference components), its instances shared by the components, optionally scaled by SageMaker
  (managed instance scaling). ``ComponentHost.from_endpoint_name`` imports one another stack or app made.
* ``InferenceComponent`` is one model on it: its compute requirements (CPU cores, memory, accelerators), its
  number of copies (autoscaled with ``auto_scale_copies``), and its own release: a model change updates the
  component in place with SageMaker's rolling update (batches of copies, a bake after each, rollback alarms on
  the component's metrics), followed by the in-stack release check (``ops/release_check.py``, ``Check:
  component``), which fails the stack update unless the component serves the model just deployed.

Why the rollback alarms watch the whole component: SageMaker publishes a component's metrics under
``InferenceComponentName`` only; there is no per-fleet dimension like an endpoint's ``EndpointConfigName``.
During a rolling update the old and new copies share the metrics, so a new batch failing at a rate *r*
shows as about *r* times its share of the copies (``mlops plan`` prints that share per batch).
"""

from __future__ import annotations

from typing import Protocol, Sequence

from aws_cdk import CfnResource, Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from .arns import StackArns
from .deployment import CapacitySize, DeploymentPolicy
from .endpoint import (_ALARM_IDS, ALARM_KINDS, _snake, _to_props, cfn_alarm, container_statements, content_name, isolated_model,
                       release_check_function, rollback_alarm_props, sagemaker_autoscaling_role,
                       warn_if_rollout_may_time_out)
from .component_rules import (COPIES, ComputeRequirements, RoutingStrategy, check_component_model,
                              check_component_rollout, check_copy_scaling, check_host)
from .errors import ConfigError, check_sagemaker_name, cut
from .instance_types import LOCAL_STORAGE_FAMILIES, family
from .keys import customer_key
from .nag import acknowledge, acknowledge_wildcards
from .permissions import allow, allow_service_to_publish, attach_policy, grant_statements
from .variants import MAX_ROLLBACK_ALARMS, ModelSource, RollbackAlarms

__all__ = ["ComponentHost", "ComputeRequirements", "IComponentHost", "InferenceComponent", "RoutingStrategy"]

class IComponentHost(Protocol):
    """An endpoint that hosts inference components."""

    endpoint_name: str
    variant_name: str
    endpoint_arn: str


class _ImportedHost(Construct):
    def __init__(self, scope: Construct, id: str, endpoint_name: str, variant_name: str) -> None:
        super().__init__(scope, id)
        check_sagemaker_name("endpoint_name", endpoint_name)
        check_sagemaker_name("variant_name", variant_name)
        self.endpoint_name = endpoint_name
        self.variant_name = variant_name
        self.endpoint_arn = StackArns.of(Stack.of(self)).arn("sagemaker", "endpoint", endpoint_name.lower())


class ComponentHost(Construct):
    """An endpoint whose instances inference components share (one production variant, no model of its own).

    :param endpoint_name: the endpoint's name (fixed: the components and their alarms name it).
    :param instance_type: the instances' type (``ml.*``, a real-time hosting type).
    :param instance_count: instances at creation; default 1.
    :param max_instance_count: with it, SageMaker's managed instance scaling adds instances (up to this) when
      the components' copies do not fit and removes idle ones (down to ``min_instance_count``, default
      ``instance_count``); default: a fixed fleet.
    :param routing: ``RoutingStrategy``; default least outstanding requests.
    :param variant_name: the production variant's name; default ``main``.
    :param encryption_key: KMS key for the instances' storage volumes; default: created (rotation on,
      retained). Not used on instance types with local NVMe storage, which SageMaker encrypts in hardware.
    :param network_isolation: no network access for any model container on the endpoint (default ``True``;
      SageMaker's endpoint-level ``EnableNetworkIsolation``, which an endpoint without a model of its own needs
      for its components' containers to be isolated).

    The endpoint config's execution role (``role``) may write the endpoint's logs and metrics and read the
    states of the components' rollback alarms (all named ``<endpoint name>-*``), which SageMaker reads while
    it rolls a component out. Changes to the host itself (instance type, counts) are a plain endpoint update:
    a host carries no deployment guardrail of its own; its components carry theirs.
    """

    def __init__(self, scope: Construct, id: str, *, endpoint_name: str, instance_type: str,
                 instance_count: int = 1, max_instance_count: int | None = None,
                 min_instance_count: int | None = None, routing: str = RoutingStrategy.LEAST_OUTSTANDING_REQUESTS,
                 variant_name: str = "main", encryption_key: kms.IKey | None = None,
                 network_isolation: bool = True) -> None:
        super().__init__(scope, id)
        check_sagemaker_name("endpoint_name", endpoint_name)
        check_sagemaker_name("variant_name", variant_name)
        check_host(instance_type, instance_count, max_instance_count, min_instance_count, routing)
        env = StackArns.of(Stack.of(self))
        self.endpoint_name = endpoint_name
        self.variant_name = variant_name
        self.instance_type = instance_type
        self.endpoint_arn = env.arn("sagemaker", "endpoint", endpoint_name.lower())
        self.alarms_arn_pattern = env.arn("cloudwatch", "alarm", f"{endpoint_name}-*", separator=":")
        """The ARN pattern of the components' rollback alarms (``<endpoint name>-<component>-<kind>``)."""
        local_storage = family(instance_type) in LOCAL_STORAGE_FAMILIES
        self.encryption_key = encryption_key if encryption_key is not None or local_storage else customer_key(
            self, "Key", description=f"SageMaker endpoint {endpoint_name}: storage volumes")

        self.role = iam.Role(self, "ExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                             description=f"SageMaker execution role of endpoint {endpoint_name} (inference components)")
        log_group = env.arn("logs", "log-group", f"/aws/sagemaker/Endpoints/{endpoint_name}", separator=":")
        attach_policy(self.role, "Permissions", [
            allow(["logs:CreateLogGroup", "logs:DescribeLogStreams"], [log_group]),
            allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:*"]),
            allow(["cloudwatch:PutMetricData"], ["*"],
                  {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}}),
            # "Ensure that your IAM execution role has permission to perform the cloudwatch:DescribeAlarms action
            # on the auto-rollback alarms you specify": the components' alarms, named after the endpoint.
            allow(["cloudwatch:DescribeAlarms"], [self.alarms_arn_pattern]),
        ])
        acknowledge_wildcards(self.role, {
            "*": "cloudwatch:PutMetricData supports no resource-level permissions (limited to SageMaker's "
                 "namespaces by condition).",
            f"{log_group}:*": "SageMaker creates one log stream per instance under the endpoint's own log group.",
            self.alarms_arn_pattern: "The components' rollback alarms, all named after this endpoint; components "
                                     "are added by other stacks, so their alarms are not known here."})

        variant: dict = {"VariantName": variant_name, "InstanceType": instance_type,
                         "InitialInstanceCount": instance_count,
                         "RoutingConfig": {"RoutingStrategy": routing}}
        if max_instance_count is not None:
            variant["ManagedInstanceScaling"] = {
                "Status": "ENABLED", "MinInstanceCount": min_instance_count or instance_count,
                "MaxInstanceCount": max_instance_count}
        props: dict = {"ProductionVariants": [variant], "ExecutionRoleArn": self.role.role_arn,
                       "EnableNetworkIsolation": network_isolation}
        if self.encryption_key is not None and not local_storage:
            props["KmsKeyId"] = self.encryption_key.key_arn
        # Content-named, as ModelEndpoint's configs: a changed config is a new one (every property replaces it).
        self.endpoint_config_name = content_name(self, endpoint_name, props)
        config = sagemaker.CfnEndpointConfig(self, "EndpointConfig", endpoint_config_name=self.endpoint_config_name,
                                             **{_snake(k): _to_props(v) for k, v in props.items()})
        config.node.add_dependency(self.role)
        if "KmsKeyId" not in props:
            acknowledge(config, "SM2", "Instances with local NVMe storage encrypt it in hardware; SageMaker rejects "
                        "KmsKeyId for them.")
        self.cfn_endpoint = sagemaker.CfnEndpoint(self, "Endpoint", endpoint_name=endpoint_name,
                                                  endpoint_config_name=config.attr_endpoint_config_name)
        if max_instance_count is not None:
            # A host update keeps the instance count SageMaker's managed scaling reached (as ModelEndpoint keeps
            # an autoscaled variant's), instead of dropping to instance_count under the components' copies.
            self.cfn_endpoint.retain_all_variant_properties = True

    @staticmethod
    def from_endpoint_name(scope: Construct, id: str, endpoint_name: str, variant_name: str = "main") -> IComponentHost:
        """A component host made elsewhere (another stack, another app) in this stack's account and region."""
        return _ImportedHost(scope, id, endpoint_name, variant_name)


class InferenceComponent(Construct):
    """One model on a ``ComponentHost``, with its copies, its compute and its own guarded release.

    :param host: the endpoint (``ComponentHost`` or ``ComponentHost.from_endpoint_name``). An imported host's
      execution role must be allowed ``cloudwatch:DescribeAlarms`` on this component's alarms
      (``<endpoint name>-<component name>-*``), as a ``ComponentHost``'s role is for its endpoint's.
    :param model: the model (``ModelSource``: a versioned model package, an image, an inference pipeline).
    :param component_name: the component's name (fixed: its alarms and scaling name it), 1-63 characters.
    :param compute: what each copy reserves (``ComputeRequirements``).
    :param copies: copies at creation; default 2 (a rolling update's batch is 5-50% of the copies). With
      ``auto_scale_copies``, autoscaling moves it.
    :param deployment: how a model change rolls out: ``DeploymentPolicy.rolling(CapacitySize.copies(n) or
      CapacitySize.percent(p), wait=...)`` (batches of 5-50% of the copies, at least one; the default is one
      copy at a time with a 5-minute bake) or ``DeploymentPolicy.unguarded()`` (SageMaker's plain update, no
      bake and no alarm rollback). SageMaker offers components no blue/green policy.
    :param rollback_alarms: thresholds of the alarms on the component's metrics (5XX rate, model error rate,
      latency), which roll a release back; ``RollbackAlarms(enabled=False)`` for none.
    :param extra_rollback_alarms: more alarms that roll a release back (at most 10 in all).
    :param alarm_topic: the topic the alarms notify; default: one created here (KMS, TLS only).
    :param network_isolation: no network access for the model's containers (default ``True``).
    :param release_check: the in-stack release check after the component (default ``True``).
    """

    def __init__(self, scope: Construct, id: str, *, host: IComponentHost, model: ModelSource, component_name: str,
                 compute: ComputeRequirements, copies: int = 2, deployment: DeploymentPolicy | None = None,
                 rollback_alarms: RollbackAlarms | None = None,
                 extra_rollback_alarms: Sequence[cloudwatch.IAlarm] = (), alarm_topic: sns.ITopic | None = None,
                 network_isolation: bool = True, release_check: bool = True) -> None:
        super().__init__(scope, id)
        check_sagemaker_name("component_name", component_name)
        if not all(isinstance(getattr(host, key, None), str) for key in ("endpoint_name", "variant_name")):
            raise ConfigError("host", f"must be a ComponentHost (or ComponentHost.from_endpoint_name), got {cut(host)}")
        check_component_model("model", model)
        if not isinstance(compute, ComputeRequirements):
            raise ConfigError("compute", f"must be ComputeRequirements, got {cut(compute)}")
        compute.validate()
        COPIES.check("copies", copies)
        self.deployment = deployment or DeploymentPolicy.rolling(CapacitySize.copies(1), wait=Duration.minutes(5))
        check_component_rollout("deployment", self.deployment.spec, copies)
        alarms = rollback_alarms or RollbackAlarms()
        alarms.validate("rollback_alarms")
        if alarms.watch_whole_endpoint:
            raise ConfigError("rollback_alarms.watch_whole_endpoint", "does not apply to an inference component "
                              "(its alarms already watch all of its copies)")
        self.host = host
        self.component_name = component_name
        self.copies = copies
        self.model = model
        env = self._env = StackArns.of(Stack.of(self))
        self.component_arn = env.arn("sagemaker", "inference-component", component_name.lower())

        # ------------------------------------------------------------------ the model and its role
        self.role = iam.Role(self, "ExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                             description=f"SageMaker execution role of inference component {component_name}")
        statements, wildcards = container_statements(
            [model], env, f"/aws/sagemaker/InferenceComponents/{component_name}",
            "SageMaker creates one log stream per copy under the component's own log group.")
        self._role_statements = statements
        acknowledge_wildcards(self.role, wildcards)
        self.cfn_model = isolated_model(
            self, "Model", model, self.role, network_isolation,
            "The container needs network access and runs on the host's instances, which SageMaker places.")

        # ------------------------------------------------------------------ rollback alarms
        self.alarm_topic: sns.ITopic | None = alarm_topic
        if alarm_topic is None and alarms.enabled:
            key = customer_key(self, "AlarmTopicKey",
                               description=f"Inference component {component_name}: alarm notifications")
            topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True,
                              display_name=f"{component_name} rollback alarms"[:100])
            allow_service_to_publish(topic, key, "cloudwatch.amazonaws.com", env.account)
            self.alarm_topic = topic
        self._alarm_prefix = f"{host.endpoint_name}-{component_name}"
        dimensions = [{"Name": "InferenceComponentName", "Value": component_name}]
        topic_arn = self.alarm_topic.topic_arn if self.alarm_topic is not None else None
        self.rollback_alarms: list[cloudwatch.CfnAlarm] = [
            cfn_alarm(self, _ALARM_IDS[kind], rollback_alarm_props(
                kind, f"{self._alarm_prefix}-{kind}", dimensions, alarms, label=component_name,
                fleet="component's (old and new copies)", subject=f"inference component {component_name}",
                topic_arn=topic_arn))
            for kind in ALARM_KINDS[:3] if alarms.enabled]
        self._alarm_refs = [a.ref for a in self.rollback_alarms] + [a.alarm_name for a in extra_rollback_alarms]
        self._alarm_arns = [env.arn("cloudwatch", "alarm", f"{self._alarm_prefix}-{kind}", separator=":")
                            for kind in ALARM_KINDS[:3] if alarms.enabled]
        self._alarm_arns += [a.alarm_arn for a in extra_rollback_alarms]
        # SageMaker reads the rollback alarms during a rollout with an execution role: the host's (which may read
        # its components' alarms by name) and, in case it uses the model's, this one too: exactly these alarms.
        describe = [allow(["cloudwatch:DescribeAlarms"], self._alarm_arns)] if self._alarm_arns else []
        attach_policy(self.role, "Permissions", self._role_statements + describe)
        if isinstance(host, ComponentHost) and extra_rollback_alarms:
            grant_statements(host.role, [allow(["cloudwatch:DescribeAlarms"],
                                               [a.alarm_arn for a in extra_rollback_alarms])])
        if len(self._alarm_refs) > MAX_ROLLBACK_ALARMS:
            raise ConfigError("extra_rollback_alarms", f"at most {MAX_ROLLBACK_ALARMS} alarms can roll a release "
                              f"back (SageMaker's limit), got {len(self._alarm_refs)}")
        # ------------------------------------------------------------------ the component
        self._max_copies = copies
        self._timeout_warned = False
        self.cfn_component = sagemaker.CfnInferenceComponent(
            self, "Resource", endpoint_name=host.endpoint_name, variant_name=host.variant_name,
            inference_component_name=component_name,
            specification={"modelName": self.cfn_model.attr_model_name,
                           "computeResourceRequirements": _to_props(compute.to_api())},
            runtime_config={"copyCount": copies})
        if isinstance(host, ComponentHost):
            self.cfn_component.add_resource_dependency(host.cfn_endpoint)
        self._render_deployment()

        self.release_check: CfnResource | None = None
        """The check after the update (the component serves the model just deployed); None without it."""
        if release_check:
            scope_ = Construct(self, "ReleaseCheck")
            statements = [allow(["sagemaker:DescribeInferenceComponent"], [self.component_arn])]
            if self._alarm_arns:
                statements.append(allow(["cloudwatch:DescribeAlarms"], self._alarm_arns))
            _, token, _ = release_check_function(scope_, f"inference component {component_name}", statements, {})
            self.release_check = CfnResource(scope_, "Resource", type="Custom::SageMakerReleaseCheck", properties={
                "ServiceToken": token, "ServiceTimeout": 960, "Check": "component",
                "EndpointName": host.endpoint_name, "InferenceComponentName": component_name,
                "ModelName": self.cfn_model.attr_model_name, "Compute": compute.to_api(),
                "AlarmNames": self._alarm_refs})
            self.release_check.add_resource_dependency(self.cfn_component)

    # ---------------------------------------------------------------------------------------------- API
    def auto_scale_copies(self, *, min_copies: int = 1, max_copies: int, target_invocations_per_copy: int,
                          scale_in_cooldown: Duration | None = None,
                          scale_out_cooldown: Duration | None = None) -> appscaling.ScalableTarget:
        """Target tracking of the component's copies on ``SageMakerInferenceComponentInvocationsPerCopy``
        (requests per copy per minute), between ``min_copies`` (at least 1) and ``max_copies``. The copies
        need room on the host: give it ``max_instance_count`` (managed instance scaling) or enough instances.
        Cooldowns default to 300 s (in) and 60 s (out)."""
        path = "autoscaling"
        check_copy_scaling(path, self.copies, min_copies, max_copies, target_invocations_per_copy)
        if self.node.try_find_child("Scaling") is not None:
            raise ConfigError(path, "is already configured for this component")
        target = appscaling.ScalableTarget(
            self, "Scaling", service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"inference-component/{self.component_name}",
            scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
            min_capacity=min_copies, max_capacity=max_copies,
            role=sagemaker_autoscaling_role(self))
        target.node.add_dependency(self.cfn_component)
        target.scale_to_track_metric(
            "InvocationsPerCopy", target_value=target_invocations_per_copy,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
            scale_in_cooldown=scale_in_cooldown or Duration.seconds(300),
            scale_out_cooldown=scale_out_cooldown or Duration.seconds(60))
        self._max_copies = max_copies
        check_component_rollout("deployment", self.deployment.spec, self.copies, min_copies, max_copies)
        self._render_deployment()
        return target

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` call the host endpoint (``InvokeEndpoint``, naming this component in the request).
        IAM authorises the call on the endpoint, so the grant covers every component of the host."""
        return iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:InvokeEndpoint"],
                                          resource_arns=[self.host.endpoint_arn])

    def metric(self, metric_name: str, *, statistic: str = "Sum", period: Duration | None = None,
               **kwargs) -> cloudwatch.Metric:
        """A metric of this component (``AWS/SageMaker``, ``InferenceComponentName``): ``Invocations``,
        ``Invocation5XXErrors``, ``InvocationModelErrors``, ``ModelLatency``, ``InvocationsPerCopy``..."""
        return cloudwatch.Metric(namespace="AWS/SageMaker", metric_name=metric_name, statistic=statistic,
                                 period=period or Duration.minutes(1),
                                 dimensions_map={"InferenceComponentName": self.component_name}, **kwargs)

    @property
    def rollback_alarm_arns(self) -> list[str]:
        """Every alarm that rolls a release of this component back."""
        return list(self._alarm_arns)

    # ---------------------------------------------------------------------------------------------- internals
    def _render_deployment(self) -> None:
        """The component's DeploymentConfig (CloudFormation casing): the endpoint's rolling policy with copies
        for instances; its timeout counts the batches at the most copies autoscaling may reach."""
        spec = self.deployment.spec
        config = spec.to_deployment_config(self._max_copies, self._alarm_refs, count_type="COPY_COUNT")
        self._timeout_warned = warn_if_rollout_may_time_out(
            self, spec, self._max_copies, f"the rolling update of {self._max_copies} copies", self._timeout_warned)
        self.cfn_component.deployment_config = _to_props(config)
