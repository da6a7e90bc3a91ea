"""``ModelEndpoint``: a SageMaker real-time (or asynchronous) endpoint released behind a deployment guardrail.

What it builds (SageMaker L1 resources, assembled from validated value objects):

* one ``AWS::SageMaker::Model`` per distinct model source, with network isolation by default;
* an ``AWS::SageMaker::EndpointConfig`` whose name derives from its content (endpoint configs are immutable;
  a fixed name makes the second release fail with "Cannot create already existing endpoint configuration");
* CloudWatch alarms per production variant wired into the endpoint's auto-rollback configuration;
* the ``AWS::SageMaker::Endpoint`` with the deployment policy (blue/green all-at-once, canary, linear, or
  rolling; or none, ``unguarded``, for the one release that changes the production variants);
* the in-stack preflight and release check (custom resources around the endpoint, ``ops/release_check.py``);
* optionally data capture to a KMS-encrypted, TLS-only bucket, and autoscaling per instance variant;
* with ``async_inference``: the async bucket and notification topics, and autoscaling on the queue down to zero.

Synth-time validation covers every rule SageMaker otherwise enforces only at deploy time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Protocol, Sequence

from aws_cdk import Annotations, Aws, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from .access_logs import data_bucket
from .arns import StackArns
from .deployment import CapacitySize, DeploymentPolicy
from .errors import ConfigError, check_sagemaker_name
from .instance_types import NO_TRAFFIC_SHIFTING_FAMILIES, family
from .keys import customer_key
from .nag import acknowledge, acknowledge_wildcards
from .permissions import allow, attach_policy, grant_statements
from .rollout import MAX_TIMEOUT_SECONDS, PROVISIONING_ALLOWANCE_SECONDS
from .variants import (
    ALARM_KINDS,
    MAX_ROLLBACK_ALARMS,
    AsyncInference,
    CaptureMode,
    InferenceMode,
    DataCapture,
    ModelSource,
    ProductionVariant,
    RollbackAlarms,
    ShadowVariant,
    _is_token,
    check_autoscaling,
    fleet_capacity,
    validate_endpoint,
)

__all__ = [
    "AsyncInference",
    "CapacitySize",
    "IModelEndpoint",
    "InferenceMode",
    "CaptureMode",
    "DataCapture",
    "DeploymentPolicy",
    "ModelEndpoint",
    "ModelSource",
    "ProductionVariant",
    "RollbackAlarms",
    "ShadowVariant",
]

NAMESPACE = "AWS/SageMaker"


class IModelEndpoint(Protocol):
    """A SageMaker endpoint, made by this app (``ModelEndpoint``) or elsewhere (``ModelEndpoint.
    from_endpoint_name``): what a consumer needs to call it and watch it."""

    endpoint_name: str
    endpoint_arn: str

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant: ...

    def metric(self, metric_name: str, variant_name: str, *, statistic: str = "Sum",
               period: Duration | None = None, new_fleet: bool = False, **options) -> cloudwatch.Metric: ...


class _EndpointBase(Construct):
    """What every ``IModelEndpoint`` construct shares: the invoke grant and the ``AWS/SageMaker`` metrics."""

    endpoint_name: str
    endpoint_arn: str

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to call ``InvokeEndpoint`` (any variant, including ``TargetVariant``) on this endpoint,
        and ``InvokeEndpointWithResponseStream``, which IAM authorizes with the same ``sagemaker:InvokeEndpoint``
        action (SageMaker API reference)."""
        return iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:InvokeEndpoint"],
                                          resource_arns=[self.endpoint_arn])

    def metric(self, metric_name: str, variant_name: str, *, statistic: str = "Sum",
               period: Duration | None = None, new_fleet: bool = False, **options) -> cloudwatch.Metric:
        """An ``AWS/SageMaker`` metric of one variant (dimensions ``EndpointName`` and ``VariantName``).

        ``new_fleet=True`` adds ``EndpointConfigName`` = this endpoint's config: the metric then covers only the
        fleet of the config this stack deploys (SageMaker publishes that dimension once the new fleet takes
        traffic, and keeps it after the deployment). Other ``cloudwatch.MetricOptions`` (``label``, ``unit``,
        ``color``...) are passed on.
        """
        dimensions = {"EndpointName": self.endpoint_name, "VariantName": variant_name}
        if new_fleet:
            dimensions["EndpointConfigName"] = self._new_fleet_config_name()
        return cloudwatch.Metric(namespace=NAMESPACE, metric_name=metric_name, statistic=statistic,
                                 period=period or Duration.minutes(1), dimensions_map=dimensions, **options)

    def metric_invocations(self, variant_name: str, **kwargs) -> cloudwatch.Metric:
        """Requests sent to the variant (Sum); on an asynchronous endpoint, which publishes no ``Invocations``,
        the requests it processed (``InvocationsProcessed``)."""
        return self.metric("InvocationsProcessed" if self._asynchronous else "Invocations", variant_name, **kwargs)

    def metric_5xx_errors(self, variant_name: str, **kwargs) -> cloudwatch.Metric:
        """Requests answered with a 5XX (``Invocation5XXErrors`` Sum)."""
        return self.metric("Invocation5XXErrors", variant_name, **kwargs)

    def metric_5xx_error_rate(self, variant_name: str, **kwargs) -> cloudwatch.Metric:
        """Share of requests answered with a 5XX (``Invocation5XXErrors`` Average, 0-1)."""
        return self.metric("Invocation5XXErrors", variant_name, statistic="Average", **kwargs)

    def metric_model_latency(self, variant_name: str, *, statistic: str = "p99", **kwargs) -> cloudwatch.Metric:
        """Model latency in microseconds (``ModelLatency``), p99 by default."""
        return self.metric("ModelLatency", variant_name, statistic=statistic, **kwargs)

    def metric_model_errors(self, variant_name: str, **kwargs) -> cloudwatch.Metric:
        """Requests the model container did not answer with a 2XX (``InvocationModelErrors`` Sum); on an
        asynchronous endpoint, requests that failed for any reason (``InvocationFailures``: it publishes no
        ``InvocationModelErrors``)."""
        return self.metric("InvocationFailures" if self._asynchronous else "InvocationModelErrors", variant_name,
                           **kwargs)

    @property
    def _asynchronous(self) -> bool:
        return getattr(self, "async_inference", None) is not None

    def _new_fleet_config_name(self) -> str:
        raise ConfigError("new_fleet", f"endpoint {self.endpoint_name} was imported by name: its configs are not "
                          "this app's, so there is no new fleet to watch (new_fleet=False watches the endpoint)")


class _ImportedEndpoint(_EndpointBase):
    def __init__(self, scope: Construct, id: str, endpoint_name: str) -> None:
        super().__init__(scope, id)
        if not _is_token(endpoint_name):
            check_sagemaker_name("endpoint_name", endpoint_name, 63)
        self.endpoint_name = endpoint_name
        # SageMaker writes endpoint ARNs with the name in lower case.
        self.endpoint_arn = Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint",
            resource_name=endpoint_name if _is_token(endpoint_name) else endpoint_name.lower())


class ModelEndpoint(_EndpointBase):
    """A SageMaker real-time endpoint with A/B production variants, an optional shadow variant, data capture,
    a deployment guardrail and auto-rollback alarms.

    :param variants: 1-10 production variants; traffic is split by weight (at least one weight above 0).
    :param endpoint_name: default: ``<stack name>-<id>`` (at most 63 characters, letters, digits, hyphens).
      The name is fixed because the rollback alarms' dimensions must name the endpoint before it exists.
    :param shadow_variant: a shadow variant (needs exactly one production variant).
    :param data_capture: request/response capture (not on serverless or asynchronous endpoints).
    :param async_inference: make the endpoint asynchronous (``AsyncInference``): requests queued and answered
      through S3, notifications on SNS (``async_bucket``, ``success_topic``, ``error_topic``), autoscaling on
      the queue down to zero instances; one instance variant, rolled out ``all_at_once`` (or ``unguarded``).
    :param deployment: the guardrail for updates; default all-at-once blue/green with a 10-minute bake.
    :param rollback_alarms: thresholds of the alarms created per production variant (``RollbackAlarms()``).
    :param extra_rollback_alarms: more alarms that roll a deployment back (at most 10 alarms in all); or
      ``add_rollback_alarm`` after construction.
    :param role: the SageMaker execution role; default: a least-privilege role created here.
    :param network_isolation: no network access for the model containers (default ``True``).
    :param vpc_subnets: subnets for the containers; needs ``security_groups`` (not on serverless endpoints).
    :param security_groups: security groups for the containers.
    :param encryption_key: KMS key for the instances' storage volumes and captured data; default: created
      (rotation on, retained, grants only for AWS services).
    :param alarm_topic: the SNS topic the rollback alarms notify when they fire (a release is being rolled
      back); default: a topic created here (``alarm_topic`` attribute; KMS-encrypted with the endpoint's key,
      TLS only, publishable by CloudWatch for this endpoint's alarms only). Subscribe to it.
    :param release_check: add the in-stack release checks (default ``True``): a preflight before the endpoint
      that fails the update when it would change the production variants in a way SageMaker refuses (a guarded
      update that renames, adds or removes one; an autoscaled variant removed or retyped), and a check after it
      that fails the update unless the endpoint is InService on the config just deployed, so that a release
      SageMaker rolled back rolls the stack back too (keeping the config and models the endpoint serves from)
      instead of being reported as a success. See ``ops/release_check.py``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        variants: Sequence[ProductionVariant],
        endpoint_name: str | None = None,
        shadow_variant: ShadowVariant | None = None,
        data_capture: DataCapture | None = None,
        async_inference: AsyncInference | None = None,
        deployment: DeploymentPolicy | None = None,
        rollback_alarms: RollbackAlarms | None = None,
        extra_rollback_alarms: Sequence[cloudwatch.IAlarm] = (),
        role: iam.IRole | None = None,
        network_isolation: bool = True,
        vpc_subnets: Sequence[ec2.ISubnet] = (),
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        encryption_key: kms.IKey | None = None,
        alarm_topic: sns.ITopic | None = None,
        release_check: bool = True,
    ) -> None:
        super().__init__(scope, id)
        stack = scope if isinstance(scope, Stack) else Stack.of(self)
        self._env = StackArns.of(stack)
        self.endpoint_name = endpoint_name or _default_name(stack.stack_name, id)
        self.variants = list(variants)
        self.shadow_variant = shadow_variant
        self.async_inference = async_inference
        self.deployment = deployment or DeploymentPolicy.all_at_once()
        alarms = rollback_alarms or RollbackAlarms()
        extra_names = [a.alarm_name for a in extra_rollback_alarms]
        for i, name in enumerate(extra_names):
            if name in extra_names[:i]:
                raise ConfigError(f"extra_rollback_alarms[{i}]", f"{extra_rollback_alarms[i].node.path} is listed "
                                  "twice (SageMaker's alarm list takes each alarm once)")
        validate_endpoint(self.endpoint_name, self.variants, shadow_variant, data_capture, self.deployment.spec,
                          alarms, extra_alarms=len(extra_rollback_alarms), network_isolation=network_isolation,
                          subnets=len(vpc_subnets), security_groups=len(security_groups),
                          asynchronous=async_inference)
        serverless = self.variants[0].is_serverless
        if any(v.instance_type and family(v.instance_type) in NO_TRAFFIC_SHIFTING_FAMILIES
               for v in self._all_variants()):
            Annotations.of(self).add_warning_v2(
                "@sagemaker-safe-release:inf1-no-guardrail",
                f"ml.inf1 instances: SageMaker applies no deployment guardrail to this endpoint (the "
                f"{self.deployment.strategy} policy is ignored): it falls back to blue/green all-at-once with no "
                "baking period, so the rollback alarms cannot roll a bad release back; use another instance "
                "family (inf2, g5...) for a guarded release",
            )

        # ------------------------------------------------------------------ key
        local_storage = any(v.has_local_storage for v in self._all_variants())
        creates_topic = alarm_topic is None and alarms.enabled
        needs_key = ((not serverless and not local_storage) or data_capture is not None or creates_topic
                     or async_inference is not None)
        self.encryption_key: kms.IKey | None = encryption_key
        if self.encryption_key is None and needs_key:
            self.encryption_key = customer_key(
                self, "Key", description=f"SageMaker endpoint {self.endpoint_name}: storage volumes, captured data "
                                         "and alarm notifications" + (", async requests, results and notifications"
                                                                      if async_inference else ""))

        # ------------------------------------------------------------------ data capture bucket, role
        self.data_capture: DataCapture | None = data_capture
        """The capture settings (prefix, mode), or None."""
        self.data_capture_bucket: s3.IBucket | None = None
        capture: list[dict] = []  # what writing captured data takes
        captured_objects = None
        if data_capture is not None:
            self.data_capture_bucket = data_capture.bucket or self._create_capture_bucket(data_capture)
            captured_objects = self.data_capture_bucket.arn_for_objects(f"{data_capture.folder}/*")
            capture.append(allow(["s3:PutObject"], [captured_objects]))
            if self.encryption_key is not None:
                capture.append(allow(["kms:GenerateDataKey", "kms:Decrypt"], [self.encryption_key.key_arn]))
        self.async_bucket: s3.IBucket | None = None
        """Where an asynchronous endpoint's requests, results and error reports are (None for real-time)."""
        self.success_topic: sns.ITopic | None = None
        """The topic an asynchronous endpoint notifies when a request succeeded (None for real-time)."""
        self.error_topic: sns.ITopic | None = None
        """The topic an asynchronous endpoint notifies when a request failed (None for real-time)."""
        async_objects: list[str] = []
        if async_inference is not None:
            capture += self._create_async_io(async_inference)
            async_objects = [self.async_bucket.arn_for_objects(f"{async_inference.key(part)}/*")
                             for part in ("input", "output", "failure")]
        # SageMaker reads the rollback alarms' states with the execution role during a guarded deployment
        # ("Ensure that your IAM execution role has permission to perform the cloudwatch:DescribeAlarms action
        # on the auto-rollback alarms you specify"): exactly those alarms, named at synth.
        self._alarm_specs = _alarm_specs(self.endpoint_name, self.variants, alarms) if alarms.enabled else []
        self.alarms_arn_pattern = self._env.arn("cloudwatch", "alarm", f"{self.endpoint_name}-*", separator=":")
        """The ARN pattern of the rollback alarms created here (all named ``<endpoint name>-<variant>-<kind>``)."""
        alarm_arns = [self._env.arn("cloudwatch", "alarm", name, separator=":") for _, name, _ in self._alarm_specs]
        alarm_arns += [a.alarm_arn for a in extra_rollback_alarms]
        self._alarm_arns = list(alarm_arns)
        describe = [allow(["cloudwatch:DescribeAlarms"], alarm_arns)] if alarm_arns else []
        if role is None:
            self.role: iam.IRole = self._create_role(list(vpc_subnets), capture + describe,
                                                     [captured_objects] if captured_objects else [], async_objects)
        else:
            self.role = role
            # Into its default policy: the role may serve other endpoints.
            grant_statements(role, capture + describe)

        # ------------------------------------------------------------------ models (one per distinct source)
        models: dict[str, sagemaker.CfnModel] = {}
        vpc_config = (
            {"Subnets": [s.subnet_id for s in vpc_subnets], "SecurityGroupIds": [g.security_group_id for g in security_groups]}
            if vpc_subnets else None
        )
        role_arn = self.role.role_arn
        for variant in self._all_variants():
            key = json.dumps(variant.model.container, sort_keys=True)
            if key not in models:
                model = sagemaker.CfnModel(
                    self, f"Model{_logical(variant.name)}",
                    execution_role_arn=role_arn,
                    **{_snake(prop): _to_props(value) for prop, value in variant.model.model_properties().items()},
                    enable_network_isolation=network_isolation,
                    vpc_config=_to_props(vpc_config),
                )
                model.node.add_dependency(self.role)
                models[key] = model
                if not vpc_subnets and network_isolation:
                    acknowledge(model, "SM1", ISOLATED)

        def model_name(variant: ProductionVariant) -> str:
            return models[json.dumps(variant.model.container, sort_keys=True)].attr_model_name

        # ------------------------------------------------------------------ endpoint config (content-named)
        production = [v.to_cfn(model_name(v), v.weight) for v in self.variants]
        config_props: dict = {"production_variants": production}
        # The config's name must change whenever CloudFormation would replace it or one of its models (every
        # property of both replaces them; a replaced custom-named config under the same name fails the stack):
        # each variant's whole container (image, model data, environment, package), the models' role, network
        # isolation and VPC, and below the key and capture settings.
        content: dict = {"variants": [v.to_cfn(v.model.container, v.weight) for v in self.variants],
                         "isolation": network_isolation, "vpc": vpc_config, "role": role_arn}
        if shadow_variant is not None:
            # SageMaker copies (shadow weight / production weight) of the requests to the shadow.
            weight = self.variants[0].weight * shadow_variant.sampling_percentage / 100
            config_props["shadow_production_variants"] = [shadow_variant.variant.to_cfn(
                model_name(shadow_variant.variant), weight)]
            content["shadow"] = shadow_variant.variant.to_cfn(shadow_variant.variant.model.container, weight)
        if self.encryption_key is not None and not serverless and not local_storage:
            config_props["kms_key_id"] = self.encryption_key.key_arn
        if data_capture is not None:
            assert self.data_capture_bucket is not None
            config_props["data_capture_config"] = _capture_config(data_capture, self.data_capture_bucket,
                                                                  self.encryption_key)
        if async_inference is not None:
            config_props["async_inference_config"] = self._async_config(async_inference)
        content.update({k: v for k, v in config_props.items() if k not in ("production_variants",
                                                                           "shadow_production_variants")})
        self.endpoint_config_name = self._content_name(content)
        self.endpoint_config_arn = self._env.arn("sagemaker", "endpoint-config", self.endpoint_config_name.lower())
        """The ARN of the config this stack deploys (SageMaker writes it in lower case)."""
        self._config = sagemaker.CfnEndpointConfig(
            self, "EndpointConfig", endpoint_config_name=self.endpoint_config_name,
            **{prop: _to_props(value) for prop, value in config_props.items()})
        if "kms_key_id" not in config_props:
            acknowledge(self._config, "SM2", "SageMaker rejects KmsKeyId here: serverless variants have no storage "
                         "volume, and instances with local NVMe storage encrypt it in hardware.")

        # ------------------------------------------------------------------ rollback alarms, endpoint
        self._alarm_topic_arn: str | None = alarm_topic.topic_arn if alarm_topic is not None else None
        self.alarm_topic: sns.ITopic | None = self._create_alarm_topic() if creates_topic else alarm_topic
        """The topic the rollback alarms notify (None when ``rollback_alarms`` are disabled and none was given)."""
        self.rollback_alarms: list[cloudwatch.CfnAlarm] = [
            self._rollback_alarm(kind, name, variant, alarms) for kind, name, variant in self._alarm_specs]
        """The alarms created here (``extra_rollback_alarms`` are the caller's)."""
        # References, not the names as strings: the endpoint must be created after its alarms.
        self._alarm_refs = [a.ref for a in self.rollback_alarms] + [a.alarm_name for a in extra_rollback_alarms]
        self._endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_name=self.endpoint_name,
            endpoint_config_name=self._config.attr_endpoint_config_name)
        self.endpoint_arn = self._env.arn("sagemaker", "endpoint", self.endpoint_name.lower())
        self._scaled: dict[str, appscaling.ScalableTarget] = {}
        self._max_capacity: dict[str, int] = {}
        self._timeout_warned = False
        self._render_deployment()
        self._check_role: iam.CfnRole | None = None
        self._check_statements: list[dict] = []
        self.preflight: CfnResource | None = None
        """The check before the update (variant changes SageMaker would refuse); None without release checks."""
        self.release_check: CfnResource | None = None
        """The check after the update (the endpoint runs the config just deployed); None without release checks."""
        if release_check:
            self.preflight, self.release_check = self._add_release_checks(alarm_arns)

    # ---------------------------------------------------------------------------------------------- API
    def auto_scale_variant(
        self,
        variant_name: str,
        *,
        min_capacity: int = 1,
        max_capacity: int,
        target_invocations_per_instance: int | None = None,
        target_backlog_per_instance: float | None = None,
        scale_in_cooldown: Duration | None = None,
        scale_out_cooldown: Duration | None = None,
    ) -> appscaling.ScalableTarget:
        """Target-tracking autoscaling of an instance variant.

        Real-time: on ``SageMakerVariantInvocationsPerInstance`` (``target_invocations_per_instance``).
        Asynchronous: on the queue, ``ApproximateBacklogSizePerInstance`` (``target_backlog_per_instance``),
        down to ``min_capacity`` 0; with 0, a step policy also adds an instance when requests wait with none
        running (``HasBacklogWithoutCapacity`` at 1 for two minutes, AWS's recipe: target tracking alone starts
        from zero only once the backlog exceeds its target).

        The endpoint then retains the variants' instance counts across updates (``RetainAllVariantProperties``
        with weights and data capture excluded), so a release does not reset what autoscaling scaled to; except
        an async variant that may scale to zero, whose releases start at ``initial_instance_count`` (a new fleet
        of zero instances would bake on nothing). Cooldowns default to 300 s (in) and 60 s (out).
        """
        path = f"variants[{variant_name}].autoscaling"
        variant = next((v for v in self.variants if v.name == variant_name), None)
        if variant is None:
            raise ConfigError(path, f"no production variant named {variant_name!r}; known: "
                              f"{', '.join(v.name for v in self.variants)}")
        if variant_name in self._scaled:
            raise ConfigError(path, "is already configured for this variant")
        asynchronous = self.async_inference is not None
        check_autoscaling(path, variant, min_capacity, max_capacity, target_invocations_per_instance,
                          asynchronous=asynchronous, target_backlog_per_instance=target_backlog_per_instance)
        target = appscaling.ScalableTarget(
            self, f"Scaling{_logical(variant_name)}",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_capacity, max_capacity=max_capacity,
            # Application Auto Scaling acts for SageMaker through its service-linked role and ignores any other
            # (CDK would otherwise create an unused role per target).
            role=sagemaker_autoscaling_role(self),
        )
        target.node.add_dependency(self._endpoint)
        cooldowns = {"scale_in_cooldown": scale_in_cooldown or Duration.seconds(300),
                     "scale_out_cooldown": scale_out_cooldown or Duration.seconds(60)}
        if asynchronous:
            # The queue is the endpoint's: its metrics carry EndpointName only.
            target.scale_to_track_metric(
                "BacklogPerInstance", target_value=target_backlog_per_instance, custom_metric=cloudwatch.Metric(
                    namespace=NAMESPACE, metric_name="ApproximateBacklogSizePerInstance", statistic="Average",
                    dimensions_map={"EndpointName": self.endpoint_name}), **cooldowns)
            if min_capacity == 0:
                self._scale_out_from_zero(variant_name, target)
        else:
            target.scale_to_track_metric(
                "InvocationsPerInstance", target_value=target_invocations_per_instance,
                predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
                **cooldowns)
        self._endpoint.retain_all_variant_properties = True
        excluded = ["DesiredWeight", "DataCaptureConfig"]
        if asynchronous and min_capacity == 0:
            # A release must not start its new fleet at the zero instances an idle endpoint scaled to: its bake
            # would see no request and the rollback alarms nothing. It starts at initial_instance_count instead.
            excluded.append("DesiredInstanceCount")
        self._endpoint.exclude_retained_variant_properties = [{"variantPropertyType": kind} for kind in excluded]
        self._scaled[variant_name] = target
        self._max_capacity[variant_name] = max_capacity
        self._render_deployment(f"{path}.max_capacity")
        return target

    def _scale_out_from_zero(self, variant_name: str, target: appscaling.ScalableTarget) -> None:
        """AWS's step policy for an async endpoint at zero instances: +1 instance when requests have waited
        with no instance for two minutes (L1: CDK's step scaling needs two intervals, this has one)."""
        scope = Construct(self, f"ScaleFromZero{_logical(variant_name)}")
        policy = appscaling.CfnScalingPolicy(
            scope, "Policy", policy_name=f"{self.endpoint_name}-{variant_name}-scale-from-zero"[:256],
            policy_type="StepScaling", scaling_target_id=target.scalable_target_id,
            step_scaling_policy_configuration=appscaling.CfnScalingPolicy.StepScalingPolicyConfigurationProperty(
                adjustment_type="ChangeInCapacity", cooldown=300, metric_aggregation_type="Average",
                step_adjustments=[appscaling.CfnScalingPolicy.StepAdjustmentProperty(
                    metric_interval_lower_bound=0, scaling_adjustment=1)]))
        cloudwatch.CfnAlarm(
            scope, "Alarm", alarm_name=f"{self.endpoint_name}-{variant_name}-scale-from-zero",
            alarm_description=f"Starts an instance of {self.endpoint_name} when requests wait with none running",
            namespace=NAMESPACE, metric_name="HasBacklogWithoutCapacity", statistic="Average",
            dimensions=[cloudwatch.CfnAlarm.DimensionProperty(name="EndpointName", value=self.endpoint_name)],
            period=60, evaluation_periods=2, datapoints_to_alarm=2, threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold", treat_missing_data="missing",
            alarm_actions=[policy.attr_arn])

    def add_rollback_alarm(self, alarm: cloudwatch.IAlarm) -> None:
        """Roll a deployment back when ``alarm`` fires, as ``extra_rollback_alarms`` do: the deployment config
        names it, and the execution role (SageMaker reads the alarms' states with it) and the release check may
        describe it. At most 10 alarms in all (SageMaker's limit)."""
        if alarm.alarm_name in self._alarm_refs:
            raise ConfigError("rollback_alarms", f"{alarm.node.path} already rolls this endpoint's deployments back "
                              "(SageMaker's alarm list takes each alarm once)")
        if len(self._alarm_refs) >= MAX_ROLLBACK_ALARMS:
            raise ConfigError("rollback_alarms", f"at most {MAX_ROLLBACK_ALARMS} alarms can roll a deployment back "
                              f"(SageMaker's limit), got {len(self._alarm_refs) + 1} with {alarm.node.path}")
        if not self.deployment.spec.is_guarded:
            Annotations.of(self).add_warning_v2(
                "@sagemaker-safe-release:alarm-without-guardrail",
                f"{alarm.node.path} will roll back nothing while endpoint {self.endpoint_name} is released "
                "unguarded (no deployment config); it takes effect with a guarded policy")
        self._alarm_refs.append(alarm.alarm_name)
        self._alarm_arns.append(alarm.alarm_arn)
        describe = allow(["cloudwatch:DescribeAlarms"], [alarm.alarm_arn])
        grant_statements(self.role, [describe])
        self._render_deployment("rollback_alarms")
        if self._check_role is not None:
            self._check_statements.append(describe)
            self._check_role.policies = [_inline_policy(self._check_statements)]
            self.release_check.add_property_override("AlarmNames", self._alarm_refs)

    @staticmethod
    def from_endpoint_name(scope: Construct, id: str, endpoint_name: str) -> IModelEndpoint:
        """An endpoint that exists already (made by another app or stack) in this stack's account and region, by
        name: to grant invoking it and to read its metrics. SageMaker writes endpoint ARNs with the name in lower
        case; a name given as a reference (a token) cannot be lowered here, so give the lower-case one."""
        return _ImportedEndpoint(scope, id, endpoint_name)

    def _new_fleet_config_name(self) -> str:
        if self.async_inference is not None:
            raise ConfigError("new_fleet", f"endpoint {self.endpoint_name} is asynchronous: SageMaker publishes its "
                              "metrics without EndpointConfigName, so there is no new-fleet metric to watch")
        return self.endpoint_config_name

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to call this endpoint.

        Real-time: ``InvokeEndpoint`` (any variant, including ``TargetVariant``) and
        ``InvokeEndpointWithResponseStream`` (IAM authorizes it with the same action). Asynchronous:
        ``InvokeEndpointAsync``, writing requests under the bucket's ``input/`` prefix and reading and listing
        results and error reports under ``output/`` and ``failure/`` (to look for a result: without
        ``s3:ListBucket``, S3 answers 403 instead of 404 for one not written yet), with the key that encrypts them.
        """
        if self.async_inference is None:
            return super().grant_invoke(grantee)
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:InvokeEndpointAsync"],
                                           resource_arns=[self.endpoint_arn])
        assert self.async_bucket is not None
        requests, results, failures = (self.async_bucket.arn_for_objects(f"{self.async_inference.key(part)}/*")
                                       for part in ("input", "output", "failure"))
        answers = [f"{self.async_inference.key(part)}/*" for part in ("output", "failure")]
        grant_statements(grantee, [
            allow(["s3:PutObject"], [requests]),
            allow(["s3:GetObject"], [results, failures]),
            allow(["s3:ListBucket"], [self.async_bucket.bucket_arn], {"StringLike": {"s3:prefix": answers}}),
            *([allow(["kms:GenerateDataKey", "kms:Decrypt"], [self.encryption_key.key_arn])]
              if self.encryption_key is not None else []),
        ])
        if isinstance(grantee, Construct):
            acknowledge_wildcards(grantee, {
                requests: "A caller names each request object under the endpoint's input/ prefix.",
                results: "SageMaker names each result by its inference id under output/.",
                failures: "SageMaker names each error report by its inference id under failure/."})
        return grant

    @property
    def cfn_endpoint(self) -> sagemaker.CfnEndpoint:
        """The L1 endpoint (escape hatch)."""
        return self._endpoint

    @property
    def cfn_endpoint_config(self) -> sagemaker.CfnEndpointConfig:
        """The L1 endpoint config (escape hatch)."""
        return self._config

    # ---------------------------------------------------------------------------------------------- internals
    @property
    def rollback_alarm_arns(self) -> list[str]:
        """Every alarm that rolls a deployment of this endpoint back: those created here, then
        ``extra_rollback_alarms`` and ``add_rollback_alarm``'s."""
        return list(self._alarm_arns)

    @property
    def fleet_capacity(self) -> int:
        """The largest instance count a production variant can have when a deployment starts (``variants.
        fleet_capacity``: autoscaling's ``max_capacity`` where a variant scales, else its initial count)."""
        return fleet_capacity(self.variants, self._max_capacity)

    def _render_deployment(self, path: str = "deployment") -> None:
        """(Re)write the endpoint's DeploymentConfig: its timeout depends on the fleet's largest size, which
        grows when a variant is autoscaled after construction."""
        spec, capacity = self.deployment.spec, self.fleet_capacity
        spec.check_capacity(min((v.initial_instance_count for v in self.variants if not v.is_serverless),
                                default=0), waits_capacity=capacity, path=path)
        self._timeout_warned = warn_if_rollout_may_time_out(
            self, spec, capacity, f"the {spec.strategy} rollout of a {capacity}-instance fleet", self._timeout_warned)
        self._endpoint.deployment_config = _to_props(spec.to_deployment_config(capacity, self._alarm_refs))
        if not spec.is_guarded and path == "deployment":
            Annotations.of(self).add_warning_v2(
                "@sagemaker-safe-release:unguarded",
                f"endpoint {self.endpoint_name} is released without a guardrail (deployment type unguarded): no "
                "baking and no alarm rollback. Use it only for the release that changes the production variants, "
                "then restore the guarded policy")

    def _all_variants(self) -> list[ProductionVariant]:
        return self.variants + ([self.shadow_variant.variant] if self.shadow_variant else [])

    def _content_name(self, content: dict) -> str:
        return content_name(self, self.endpoint_name, content)

    def _create_alarm_topic(self) -> sns.Topic:
        """A topic for the rollback alarms: encrypted with the endpoint's key (or a key of its own when the given
        key is not one this app manages), TLS only; CloudWatch may publish to it and use the key only for this
        endpoint's alarms (``aws:SourceArn``), as AWS requires for an alarm to reach an encrypted topic."""
        key = self.encryption_key
        if not isinstance(key, kms.Key):
            key = customer_key(self, "AlarmTopicKey",
                               description=f"SageMaker endpoint {self.endpoint_name}: alarm notifications")
        own_alarms = {"StringEquals": {"aws:SourceAccount": self._env.account},
                      "ArnLike": {"aws:SourceArn": self.alarms_arn_pattern}}
        cloudwatch_service = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="RollbackAlarmNotifications", principals=[cloudwatch_service], resources=["*"],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], conditions=own_alarms))
        topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True,
                          display_name=f"{self.endpoint_name} rollback alarms"[:100])
        self._alarm_topic_arn = topic.topic_arn
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="RollbackAlarmNotifications", principals=[cloudwatch_service], actions=["sns:Publish"],
            resources=[self._alarm_topic_arn], conditions=own_alarms))
        return topic

    def _create_role(self, vpc_subnets: list, capture: list[dict], captured_objects: list[str],
                     async_objects: list[str]) -> iam.Role:
        role = iam.Role(self, "ExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                        description=f"SageMaker execution role of endpoint {self.endpoint_name}")
        statements, wildcards = container_statements(
            [v.model for v in self._all_variants()], self._env, f"/aws/sagemaker/Endpoints/{self.endpoint_name}",
            "SageMaker creates one log stream per instance under the endpoint's own log group.")
        if vpc_subnets:
            statements.append(allow(
                ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
                 "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                 "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"], ["*"]))
        attach_policy(role, "Permissions", statements + capture)
        if vpc_subnets:
            wildcards["*"] = wildcards["*"].replace(" support", " and the VPC network-interface actions support")
        for objects in captured_objects:
            wildcards[objects] = "SageMaker names the captured objects by date and hour under the capture prefix."
        for objects in async_objects:
            wildcards[objects] = ("Callers name their requests under input/; SageMaker names each result and error "
                                  "report by its inference id under output/ and failure/.")
        acknowledge_wildcards(role, wildcards)
        return role

    def _add_release_checks(self, alarm_arns: list[str]) -> tuple[CfnResource, CfnResource]:
        """The preflight before the endpoint and the release check after it: two custom resources served by one
        function (``release_check_function``)."""
        scope = Construct(self, "ConfigCheck")
        configs = self._env.arn("sagemaker", "endpoint-config", f"{self.endpoint_name[:50].rstrip('-').lower()}-*")
        statements = [
            allow(["sagemaker:DescribeEndpoint"], [self.endpoint_arn]),
            # The preflight reads the running config's variants and which of them autoscale.
            allow(["sagemaker:DescribeEndpointConfig"], [configs]),
            allow(["application-autoscaling:DescribeScalableTargets"], ["*"]),
        ]
        if alarm_arns:
            statements.append(allow(["cloudwatch:DescribeAlarms"], alarm_arns))
        role, token, statements = release_check_function(
            scope, f"endpoint {self.endpoint_name}", statements, {
                configs: "The preflight reads the endpoint's running config, named after the endpoint plus a hash "
                         "of its content (a new name per release).",
                "*": "application-autoscaling:DescribeScalableTargets (read-only) has no resource-level "
                     "permissions."})
        self._check_role, self._check_statements = role, statements

        def custom_resource(id: str, properties: dict) -> CfnResource:
            return CfnResource(scope, id, type="Custom::SageMakerReleaseCheck", properties={
                "ServiceToken": token, "ServiceTimeout": 960, "EndpointName": self.endpoint_name,
                "EndpointConfigName": self.endpoint_config_name, **properties})

        before = custom_resource("Preflight", {
            "Check": "before", "Guarded": str(self.deployment.spec.is_guarded).lower(),
            "Asynchronous": str(self.async_inference is not None).lower(),
            "Variants": {v.name: v.instance_type or "serverless" for v in self.variants}})
        self._endpoint.add_resource_dependency(before)
        after = custom_resource("Resource", {"Check": "after", "AlarmNames": self._alarm_refs})
        after.add_resource_dependency(self._endpoint)
        return before, after

    def _create_capture_bucket(self, capture: DataCapture) -> s3.Bucket:
        # Captured payloads are not kept forever (DataCapture.retention_days).
        return self._create_bucket("DataCapture", "data capture", "datacapture/", "CapturedDataRetention",
                                   capture.retention_days)

    def _create_bucket(self, id: str, what: str, log_prefix: str, rule: str, retention_days: int) -> s3.Bucket:
        """A bucket of this endpoint's data (``access_logs.data_bucket``), encrypted with its key."""
        return data_bucket(self, id, key=self.encryption_key, what=what, log_prefix=log_prefix, rule=rule,
                           retention_days=retention_days)

    def _create_async_io(self, config: AsyncInference) -> list[dict]:
        """The async bucket (unless given) and the success and error topics; returns what the execution role
        needs: read requests, write results and error reports, publish notifications, use the key for all."""
        self.async_bucket = config.bucket or self._create_bucket(
            "Async", "async inference", "async/", "AsyncDataRetention", config.retention_days)
        # SageMaker publishes with the execution role (it sends a test notification when the endpoint is
        # created or updated), so the topics need no resource policy beyond TLS only.
        self.success_topic, self.error_topic = (
            sns.Topic(self, f"{kind}Topic", master_key=self.encryption_key, enforce_ssl=True,
                      display_name=f"{self.endpoint_name} async {kind.lower()}es"[:100])
            for kind in ("Success", "Error"))
        bucket = self.async_bucket
        statements = [
            allow(["s3:GetObject"], [bucket.arn_for_objects(f"{config.key('input')}/*")]),
            allow(["s3:PutObject", "s3:AbortMultipartUpload"],
                  [bucket.arn_for_objects(f"{config.key(part)}/*") for part in ("output", "failure")]),
            allow(["sns:Publish"], [self.success_topic.topic_arn, self.error_topic.topic_arn]),
        ]
        if self.encryption_key is not None:
            statements.append(allow(["kms:GenerateDataKey", "kms:Decrypt"], [self.encryption_key.key_arn]))
        return statements

    def _async_config(self, config: AsyncInference) -> dict:
        """The endpoint config's ``AsyncInferenceConfig`` (API casing)."""
        bucket = self.async_bucket
        assert bucket is not None and self.success_topic is not None and self.error_topic is not None
        notification: dict = {"SuccessTopic": self.success_topic.topic_arn, "ErrorTopic": self.error_topic.topic_arn}
        if config.include_response_in_notifications:
            notification["IncludeInferenceResponseIn"] = ["SUCCESS_NOTIFICATION_TOPIC", "ERROR_NOTIFICATION_TOPIC"]
        output: dict = {"S3OutputPath": f"s3://{bucket.bucket_name}/{config.key('output')}",
                        "S3FailurePath": f"s3://{bucket.bucket_name}/{config.key('failure')}",
                        "NotificationConfig": notification}
        if self.encryption_key is not None:
            output["KmsKeyId"] = self.encryption_key.key_arn
        result: dict = {"OutputConfig": output}
        if config.max_concurrent_invocations_per_instance is not None:
            result["ClientConfig"] = {
                "MaxConcurrentInvocationsPerInstance": config.max_concurrent_invocations_per_instance}
        return result

    def _rollback_alarm(self, kind: str, name: str, variant: str, alarms: RollbackAlarms) -> cloudwatch.CfnAlarm:
        """One rollback alarm (``kind`` from ``ALARM_KINDS``) of a production variant.

        Rendered as the L1 resource from plain Python (one jsii call instead of a Metric, a MathExpression and an
        Alarm: ~2.5 s of a 50-model synth), at the path an L2 ``Alarm`` would have (``<id>/Resource``), so the
        logical IDs stay those of earlier releases.
        """
        dimensions = [{"Name": "EndpointName", "Value": self.endpoint_name}, {"Name": "VariantName", "Value": variant}]
        asynchronous = self.async_inference is not None
        if kind != "endpoint-5xx-rate" and not asynchronous:  # the new fleet only: the config this stack deploys
            dimensions.append({"Name": "EndpointConfigName", "Value": self.endpoint_config_name})
        # An async endpoint's metrics carry no EndpointConfigName (its rollout moves all traffic at once, so
        # the bake judges the new fleet).
        fleet = ("whole endpoint's" if kind == "endpoint-5xx-rate" else "variant's" if asynchronous
                 else "new fleet's")
        props = rollback_alarm_props(kind, name, dimensions, alarms, label=variant, fleet=fleet,
                                     subject=self.endpoint_name, asynchronous=asynchronous,
                                     topic_arn=self._alarm_topic_arn)
        return cfn_alarm(self, f"{_ALARM_IDS[kind]}{_logical(variant)}", props)


# -------------------------------------------------------------------------------------------------- helpers
#: Why a model with network isolation needs no VPC (cdk-nag's SM1).
ISOLATED = "The container runs with network isolation (no network access at all), so placing it in a VPC would add no protection."


def isolated_model(scope: Construct, id: str, source: ModelSource, role: iam.IRole, network_isolation: bool,
                   open_reason: str) -> sagemaker.CfnModel:
    """A model of one ``source`` run by ``role`` outside any VPC (a batch transform's, an inference component's),
    created after the role; cdk-nag's SM1 is answered by its network isolation, or else by ``open_reason``."""
    model = sagemaker.CfnModel(
        scope, id, execution_role_arn=role.role_arn, enable_network_isolation=network_isolation,
        **{_snake(prop): _to_props(value) for prop, value in source.model_properties().items()})
    model.node.add_dependency(role)
    acknowledge(model, "SM1", ISOLATED if network_isolation else open_reason)
    return model


def content_name(scope: Construct, prefix: str, content: dict) -> str:
    """``<prefix>-<12 hex digits of content>``, at most 63 characters: the name of an immutable resource (an
    endpoint config) that must change whenever its content does. References (keys, buckets, roles) are hashed by
    what they resolve to (logical IDs), so that pointing the resource at another one also renames it."""
    text = json.dumps(content, sort_keys=True, default=str)
    if "${Token[" in text:
        text = json.dumps(Stack.of(scope).resolve(content), sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{prefix[:50].rstrip('-')}-{digest}"


def sagemaker_autoscaling_role(scope: Construct) -> iam.IRole:
    """Application Auto Scaling's service-linked role for SageMaker (it acts through it and ignores any other;
    CDK would otherwise create an unused role per scalable target), imported once per ``scope``."""
    existing = scope.node.try_find_child("AutoScalingRole")
    if existing is not None:
        return existing  # type: ignore[return-value]
    env = StackArns.of(Stack.of(scope))
    return iam.Role.from_role_arn(
        scope, "AutoScalingRole", f"arn:{env.partition}:iam::{env.account}:role/aws-service-role/"
        "sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
        mutable=False)


def warn_if_rollout_may_time_out(scope: Construct, spec, capacity: int, what: str, warned: bool) -> bool:
    """Warn once (``warned``: already did) when a guarded rollout at ``capacity`` may need more than SageMaker's
    maximum execution time and none was given (it is then capped there); returns whether it has warned. Once: a
    later autoscaled variant or component can only make the rollout longer ("at least")."""
    needed = spec.needed_timeout(capacity)
    if warned or not spec.is_guarded or spec.max_execution_timeout_seconds is not None or needed <= MAX_TIMEOUT_SECONDS:
        return warned
    Annotations.of(scope).add_warning_v2(
        "@sagemaker-safe-release:rollout-may-time-out",
        f"{what} may need at least {needed} s (waits plus {PROVISIONING_ALLOWANCE_SECONDS} s provisioning per fleet "
        f"or batch), more than the {MAX_TIMEOUT_SECONDS} s SageMaker allows; the timeout is set to the maximum and a "
        "slow rollout will be rolled back: take larger batches or shorter waits")
    return True


def rollback_alarm_props(kind: str, name: str, dimensions: list[dict], alarms: RollbackAlarms, *, label: str,
                         fleet: str, subject: str, asynchronous: bool = False, topic_arn: str | None = None) -> dict:
    """The ``AWS::SageMaker``-metric rollback alarm ``name`` of ``kind`` (``ALARM_KINDS``) over ``dimensions``
    (CloudFormation casing): a rate over requests for errors, ``ModelLatency`` at the statistic for latency.
    ``label`` names what is watched (a variant, a component), ``fleet`` whose metrics they are, ``subject``
    what the alarm rolls back. Asynchronous endpoints count requests in ``InvocationsProcessed`` and failures
    of any kind (model, download, upload) in ``InvocationFailures``."""
    if kind == "latency":
        threshold = alarms.max_model_latency_ms * 1000  # ModelLatency is in microseconds
        statistic = alarms.latency_statistic
        props: dict = {"Namespace": NAMESPACE, "MetricName": "ModelLatency", "Dimensions": dimensions,
                       "Period": alarms.period_seconds,
                       ("ExtendedStatistic" if statistic.startswith("p") else "Statistic"): statistic}
        what = f"{fleet} model latency {statistic} above {alarms.max_model_latency_ms:g} ms"
    else:
        errors_metric, threshold = {
            "5xx-rate": ("Invocation5XXErrors", alarms.max_5xx_error_rate_percent),
            "model-error-rate": ("InvocationFailures" if asynchronous else "InvocationModelErrors",
                                 alarms.max_model_error_rate_percent),
            "endpoint-5xx-rate": ("Invocation5XXErrors", alarms.max_5xx_error_rate_percent),
        }[kind]
        minimum = alarms.min_invocations_for(threshold)
        # Async: a minute in which nothing succeeded may publish no InvocationsProcessed at all.
        requests = "FILL(requests, 0)" if asynchronous else "requests"

        def stat(id: str, metric_name: str) -> dict:
            return {"Id": id, "ReturnData": False, "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric_name, "Dimensions": dimensions},
                "Period": alarms.period_seconds, "Stat": "Sum"}}

        props = {"Metrics": [
            stat("errors", errors_metric),
            stat("requests", "InvocationsProcessed" if asynchronous else "Invocations"),
            # Percent of requests, the denominator at least `minimum` (see RollbackAlarms).
            {"Id": "rate", "Expression": f"100 * errors / IF({requests} >= {minimum}, {requests}, {minimum})",
             "Label": f"{label} {kind} (%)", "ReturnData": True}]}
        kind_label = "5XX" if "5xx" in kind else "failure" if asynchronous else "model error"
        what = (f"{fleet} {kind_label} rate above {threshold:g}% (of at least {minimum} requests per "
                f"{alarms.period_seconds} s)")
    props.update({
        "AlarmName": name, "AlarmDescription": f"Rolls back {subject}: {label} {what}",
        "ComparisonOperator": "GreaterThanThreshold", "Threshold": threshold,
        "EvaluationPeriods": alarms.evaluation_periods, "DatapointsToAlarm": alarms.datapoints_to_alarm,
        "TreatMissingData": "notBreaching"})
    if topic_arn is not None:
        props["AlarmActions"] = [topic_arn]
    return props


def cfn_alarm(scope: Construct, id: str, props: dict) -> cloudwatch.CfnAlarm:
    """``props`` (CloudFormation casing) as an ``AWS::CloudWatch::Alarm`` at ``<id>/Resource``, the path an L2
    ``Alarm`` would have."""
    return cloudwatch.CfnAlarm(Construct(scope, id), "Resource", **{_snake(k): _to_props(v) for k, v in props.items()})


def container_statements(sources: Sequence[ModelSource], env: StackArns, log_group_name: str,
                         log_streams_reason: str) -> tuple[list[dict], dict[str, str]]:
    """What an execution role needs to run ``sources``' containers (an endpoint's, a transform job's): pull
    their images (``ModelSource.image_repositories``: exact repositories where known), read their model data,
    log under ``log_group_name`` and publish SageMaker's metrics; with the reasons for its wildcards."""
    partition, region, account = env.partition, env.region, env.account
    needed: dict[str, str] = {}
    for source in sources:
        needed.update(source.image_repositories(partition, region, account))
    region_wide = f"arn:{partition}:ecr:{region}:*:repository/*"
    if region_wide in needed:  # covers every other repository of the region
        repositories = [region_wide]
    else:
        repositories = (sorted(arn for arn, reason in needed.items() if not reason)
                        + sorted(arn for arn, reason in needed.items() if reason))
    log_group = f"arn:{partition}:logs:{region}:{account}:log-group:{log_group_name}"
    statements = [
        allow(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"], repositories),
        allow(["ecr:GetAuthorizationToken"], ["*"]),
        allow(["logs:CreateLogGroup", "logs:DescribeLogStreams"], [log_group]),
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:*"]),
        allow(["cloudwatch:PutMetricData"], ["*"],
              {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}}),
    ]
    model_objects = sorted({arn for source in sources for arn in source.model_objects(partition)})
    if model_objects:
        statements.append(allow(["s3:GetObject"], model_objects))
    wildcards = {
        "*": "ecr:GetAuthorizationToken, cloudwatch:PutMetricData (limited to SageMaker namespaces by condition)"
             " support no resource-level permissions.",
        f"{log_group}:*": log_streams_reason,
    }
    wildcards.update({repository: needed[repository] for repository in repositories
                      if repository.endswith(":repository/*")})
    wildcards.update({objects: "A multi-model container loads any model under its prefix (each request's "
                               "TargetModel names one)." for objects in model_objects if objects.endswith("*")})
    return statements, wildcards


#: Construct ids per kind. Kept from earlier releases where the alarm name is unchanged: a new logical id under
#: the same alarm name would overwrite the alarm (PutMetricAlarm upserts) and then delete it in the cleanup.
_ALARM_IDS = {"5xx-rate": "Alarm5xx", "latency": "AlarmLatency", "model-error-rate": "AlarmModelErrorRate",
              "endpoint-5xx-rate": "AlarmEndpoint5xx"}


def _alarm_specs(endpoint_name: str, variants: list[ProductionVariant],
                 alarms: RollbackAlarms) -> list[tuple[str, str, str]]:
    """(kind, alarm name, variant) of every rollback alarm: names are fixed at synth (``<endpoint>-<variant>-
    <kind>``) so that the execution role's ``cloudwatch:DescribeAlarms`` can name them."""
    kinds = ALARM_KINDS[:alarms.per_variant]
    return [(kind, f"{endpoint_name}-{v.name}-{kind}", v.name) for v in variants for kind in kinds]


def _capture_config(capture: DataCapture, bucket: s3.IBucket, key: kms.IKey | None) -> dict:
    modes = {"input": ["Input"], "output": ["Output"], "both": ["Input", "Output"]}[capture.capture_mode]
    header = {}
    if capture.csv_content_types:
        header["CsvContentTypes"] = list(capture.csv_content_types)
    if capture.json_content_types:
        header["JsonContentTypes"] = list(capture.json_content_types)
    config: dict = {
        "EnableCapture": True,
        "InitialSamplingPercentage": int(capture.sampling_percentage),
        "DestinationS3Uri": f"s3://{bucket.bucket_name}/{capture.folder}",
        "CaptureOptions": [{"CaptureMode": mode} for mode in modes],
        "CaptureContentTypeHeader": header,
    }
    if key is not None:
        config["KmsKeyId"] = key.key_arn
    return config


def release_check_function(scope: Construct, what: str, statements: list[dict],
                           wildcards: dict[str, str]) -> tuple[iam.CfnRole, str, list[dict]]:
    """The function that serves the release checks (``ops/release_check.py``, inline) of ``what``, under
    ``scope``: its role may do ``statements`` (plus reading its stack's status and writing its logs), whose
    wildcards ``wildcards`` explain. Returns the role, the function's ARN (the custom resources' service token)
    and the role's statements (a caller that adds alarms later rewrites the policy from them).

    L1 resources written from plain Python (a role with its one inline policy, the function, its log group):
    a few jsii calls per stack where the L2 constructs cost three times as many, which a 50-model platform
    (100 endpoint stacks) pays a hundred times."""
    # Only while CloudFormation rolls this stack back do the checks stand aside.
    statements = statements + [allow(["cloudformation:DescribeStacks"], [Aws.STACK_ID])]
    role, function, statements = inline_function(
        scope, role_description=f"Release checks of {what}", statements=statements, wildcards=wildcards,
        source=_source("release_check.py"),
        description=f"Checks releases of {what} before and after the update")
    return role, function.attr_arn, statements


def inline_function(scope: Construct, *, role_description: str, description: str, source: str,
                    statements: list[dict], wildcards: dict[str, str], timeout: int = 900, memory_size: int | None = None,
                    environment: dict[str, str] | None = None) -> tuple[iam.CfnRole, lambda_.CfnFunction, list[dict]]:
    """A Python function deployed as its inline ``source`` (``index.handler``: no asset to publish across
    accounts), under ``scope``: ``Logs`` (kept a year, retained), ``Role`` (may do ``statements``, whose
    wildcards ``wildcards`` explain, and write its logs) and ``Function``. Returns the role, the function and
    the role's statements."""
    log_group = logs.CfnLogGroup(scope, "Logs", retention_in_days=365)
    log_group.apply_removal_policy(RemovalPolicy.RETAIN)
    statements = statements + [allow(["logs:CreateLogStream", "logs:PutLogEvents"], [log_group.attr_arn])]
    role = iam.CfnRole(
        scope, "Role", description=role_description,
        assume_role_policy_document={"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        policies=[_inline_policy(statements)])
    if wildcards:
        acknowledge_wildcards(role, wildcards)
    function = lambda_.CfnFunction(
        scope, "Function", runtime="python3.14", handler="index.handler", timeout=timeout, role=role.attr_arn,
        code={"zipFile": source}, logging_config={"logGroup": log_group.ref}, memory_size=memory_size,
        environment={"variables": environment} if environment else None, description=description[:256])
    return role, function, statements


def _inline_policy(statements: list[dict]) -> dict:
    return {"policyName": "Permissions", "policyDocument": {"Version": "2012-10-17", "Statement": statements}}


def invoked_by_rule(scope: Construct, function: lambda_.CfnFunction, *, rule_id: str, permission_id: str,
                    target_id: str, **rule) -> events.CfnRule:
    """An EventBridge rule (``rule``: its schedule or pattern, description) whose target is ``function``, and
    the permission for EventBridge to invoke it from that rule only."""
    created = events.CfnRule(scope, rule_id, targets=[events.CfnRule.TargetProperty(arn=function.attr_arn,
                                                                                    id=target_id)], **rule)
    lambda_.CfnPermission(scope, permission_id, action="lambda:InvokeFunction", function_name=function.attr_arn,
                          principal="events.amazonaws.com", source_arn=created.attr_arn)
    return created


@functools.cache
def _source(name: str) -> str:
    """An ``ops/`` module's source, deployed inline (no asset to publish across accounts)."""
    return (Path(__file__).parent / "ops" / name).read_text(encoding="utf-8")


def _to_props(api):
    """SageMaker API casing (``BlueGreenUpdatePolicy``) to CDK L1 struct keys (``blueGreenUpdatePolicy``).

    jsii passes dicts through as they are, and L1 mappers read camelCase struct keys. User-named maps
    (container ``Environment``) keep their keys.
    """
    if isinstance(api, dict):
        return {_camel(k): (v if k == "Environment" else _to_props(v)) for k, v in api.items()}
    if isinstance(api, list):
        return [_to_props(v) for v in api]
    return api


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+")


def _snake(name: str) -> str:
    """CloudFormation property name to a Python L1 keyword: ``DatapointsToAlarm`` -> ``datapoints_to_alarm``."""
    return "_".join(word.lower() for word in _WORD.findall(name))


def _camel(name: str) -> str:
    """CloudFormation name to jsii struct key, acronyms folded: ``MemorySizeInMB`` -> ``memorySizeInMb``."""
    words = _WORD.findall(name)
    return words[0].lower() + "".join(w[0].upper() + w[1:].lower() for w in words[1:])


def _logical(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def _default_name(stack_name: str, id: str) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "-", f"{stack_name}-{id}").strip("-")
    return name[:63].rstrip("-")
