"""What every stage stack of a model shares: the names the delivery pipeline and the stages agree on, the
stage's config, and the role the pipeline's checks assume in the stage's account."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib.arns import StackArns
from constructs_lib.config import ModelConfig, PlatformConfig, StageConfig
from constructs_lib.delivery import bounded_role_name, check_step_role_name

#: The release-check role's session limit (one value: each Duration made is a jsii round trip).
_ONE_HOUR = Duration.hours(1)


def release_check_role_name(config: PlatformConfig, model: ModelConfig, stage_name: str) -> str:
    """The IAM role the delivery pipeline assumes in a stage's account to check the endpoint (<= 64 chars)."""
    return bounded_role_name(f"{config.project}-{model.name}-{stage_name}-checks")


def delivery_pipeline_name(config: PlatformConfig, model: ModelConfig) -> str:
    """``<project>-<model>-delivery``: the CodePipeline the model's approval rule starts."""
    return f"{config.project}-{model.name}-delivery"


def stage_of(stack: Stack, scope: Construct, config: PlatformConfig, model: ModelConfig, stage_name: str,
              env_given: bool) -> tuple[int, StageConfig]:
    """A stage stack's model index and stage config; in an ``EndpointStage`` (``builds_config_stage``) without
    an explicit ``env``, the stage's account and region (from the config) are remembered for the stack's ARNs."""
    if getattr(scope, "builds_config_stage", False) and not env_given:
        account = getattr(config.accounts, stage_name)
        StackArns.remember(stack, account=account.account_id, region=account.region)
    return config.models.index(model), getattr(model.stages, stage_name)


def trusting_the_check_steps(scope: Stack, config: PlatformConfig, model: ModelConfig, stage_name: str,
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
