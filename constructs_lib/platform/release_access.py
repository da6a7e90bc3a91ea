"""What a stage's release phases may do in the stage's account, in two parts deployed at two times.

* ``ReleaseAccessStack`` (``<project>-<model>-<stage>-release-access``): the role the phases' function (dev
  account) assumes, with everything that can be named before the endpoint stack exists: the endpoint, its trial
  configs and models, the registry's versions, metrics. The delivery pipeline deploys it after the approval and
  **before** the phases, so that a release plan added to a running platform has its role when its first phases
  run (the endpoint stack is deployed only after them, by the rollout).
* ``grant_endpoint_resources``, called by the endpoint stack: what only the endpoint stack knows (its execution
  role, key and capture bucket: passed to the trial model, granted for the trial fleet's volumes, read for the
  agreement check), attached to that role by name, and the endpoint's ``READY_TAG``. Both come with the stack
  that deploys them, so the phases of the *next* release have them; a phase on an endpoint without the tag (its
  stack predates the release plan) is skipped with that reason, and the rollout goes ahead behind its guardrail.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib.arns import StackArns
from constructs_lib.config import ModelConfig, PlatformConfig
from constructs_lib.delivery import bounded_role_name
from constructs_lib.endpoint import ModelEndpoint
from constructs_lib.nag import acknowledge_wildcards
from constructs_lib.ops.release_phase import CAPTURE_GRANTED, READY_TAG
from constructs_lib.registry import RegistryRef

__all__ = ["ReleaseAccessStack", "grant_endpoint_resources", "release_function_role_name", "release_role_name"]

#: The role's session limit (one value: each Duration made is a jsii round trip).
_ONE_HOUR = Duration.hours(1)


def release_function_role_name(config: PlatformConfig, model: ModelConfig) -> str:
    """The role of the function that runs a model's release phases (dev account)."""
    return bounded_role_name(f"{config.project}-{model.name}-release-phases")


def release_role_name(config: PlatformConfig, model: ModelConfig, stage_name: str) -> str:
    """The role that function assumes in the stage's account (``ReleaseAccessStack``)."""
    return bounded_role_name(f"{config.project}-{model.name}-{stage_name}-release-phases")


def endpoint_name(model: ModelConfig, stage_name: str) -> str:
    """The stage's endpoint name, as ``StageSpec`` gives it (known before the endpoint stack is built)."""
    return getattr(model.stages, stage_name).endpoint_name or f"{model.name}-{stage_name}"


class ReleaseAccessStack(Stack):
    """The release phases' role in a stage's account (see the module docstring)."""

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig, stage_name: str,
                 **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        account = getattr(config.accounts, stage_name)
        StackArns.remember(self, account=account.account_id, region=account.region)
        env = StackArns.of(self)
        dev = config.accounts.dev.account_id
        function = env.arn("iam", "role", release_function_role_name(config, model), region="", account=dev)
        name = endpoint_name(model, stage_name)
        self.role = iam.Role(
            self, "Role", role_name=release_role_name(config, model, stage_name),
            # The phases' function only (by name: a condition, so that either account can be deployed first).
            assumed_by=iam.AccountPrincipal(dev).with_conditions({"ArnEquals": {"aws:PrincipalArn": function}}),
            description=f"Release phases (shadow, A/B) on endpoint {name}", max_session_duration=_ONE_HOUR)
        endpoint = env.arn("sagemaker", "endpoint", name.lower())
        # Trial configs and models are named after the steady config (the endpoint's name, a hash), the phase and
        # a hash (ops/release_phase.trial_name).
        prefix = name[:40].lower()
        trials = [env.arn("sagemaker", "endpoint-config", f"{prefix}*"), env.arn("sagemaker", "model", f"{prefix}*")]
        models = env.arn("sagemaker", "model", "*")
        versions = RegistryRef.from_config(config, model).versions_arns
        for actions, resources in (
            (["sagemaker:DescribeEndpoint", "sagemaker:ListTags"], [endpoint]),
            (["sagemaker:DescribeEndpointConfig", "sagemaker:CreateEndpointConfig", "sagemaker:DeleteEndpointConfig",
              "sagemaker:CreateModel", "sagemaker:DeleteModel", "sagemaker:AddTags", "sagemaker:ListTags"], trials),
            (["sagemaker:UpdateEndpoint"], [endpoint, trials[0]]),
            # The production model's name is CloudFormation's (generated); describing it is read-only.
            (["sagemaker:DescribeModel"], [models]),
            # The trial model is made from the registry's package (cross-account): SageMaker reads it with the
            # caller's rights too.
            (["sagemaker:CreateModel", "sagemaker:DescribeModelPackage"], versions),
            (["sagemaker:ListEndpointConfigs", "sagemaker:ListModels", "cloudwatch:GetMetricData",
              "cloudwatch:GetMetricStatistics"], ["*"]),
        ):
            self.role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))
        acknowledge_wildcards(self.role, {
            trials[0]: "Trial configs are named after the endpoint plus the phase and a hash (one per release).",
            trials[1]: "Trial models are named after the endpoint plus the phase and a hash (one per release).",
            models: "DescribeModel (read-only) of the production model, whose name CloudFormation generates.",
            "*": "ListEndpointConfigs, ListModels and CloudWatch metric reads have no resource-level permissions.",
            **{arn: "The version being released: its number is known only at release time." for arn in versions},
        })


def grant_endpoint_resources(stack: Stack, endpoint: ModelEndpoint, *, role_name: str,
                             read_capture: bool) -> iam.Policy:
    """Attach to the release phases' role (``role_name``, in ``stack``'s account) what needs the endpoint stack's
    own resources, and tag the endpoint ready for phases. ``read_capture``: the shadow gate reads captured
    predictions (the endpoint's data capture folder)."""
    env = StackArns.of(stack)
    statements = [iam.PolicyStatement(actions=["iam:PassRole"], resources=[endpoint.role.role_arn],
                                      conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})]
    wildcards: dict[str, str] = {}
    key = endpoint.encryption_key
    if key is not None:
        # The trial fleet's volumes are encrypted with the endpoint's key: UpdateEndpoint makes grants for them.
        statements += [
            iam.PolicyStatement(actions=["kms:CreateGrant"], resources=[key.key_arn],
                                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            iam.PolicyStatement(actions=["kms:DescribeKey"], resources=[key.key_arn])]
    if read_capture:
        bucket, capture = endpoint.data_capture_bucket, endpoint.data_capture
        assert bucket is not None and capture is not None
        folder = f"{capture.folder}/{endpoint.endpoint_name}/"
        objects = bucket.arn_for_objects(f"{folder}*")
        statements += [
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": f"{folder}*"}}),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects])]
        wildcards[objects] = "Captured requests and responses are named by variant, date and hour under this " \
                             "endpoint's capture folder."
        if key is not None:
            statements.append(iam.PolicyStatement(
                actions=["kms:Decrypt"], resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{env.region}.amazonaws.com"}}))
    policy = iam.Policy(stack, "ReleasePhasesPolicy", statements=statements,
                        roles=[iam.Role.from_role_name(stack, "ReleasePhasesRole", role_name)])
    if wildcards:
        acknowledge_wildcards(policy, wildcards)
    endpoint.cfn_endpoint.tags.set_tag(READY_TAG, "phases" + (f" {CAPTURE_GRANTED}" if read_capture else ""))
    return policy
