"""``<project>-catalog``: the model-project template for SageMaker Studio (dev account, exists once).

The portfolio is shared with the given Studio execution roles; each launch creates a model package group in the
dev account shared with the config's test and prod accounts (see ``constructs_lib.catalog``).
"""

from __future__ import annotations

import re
from typing import Sequence

from aws_cdk import Environment, Stack
from aws_cdk import aws_codepipeline as codepipeline
from constructs import Construct

from constructs_lib.catalog import ModelProjectTemplate, studio_role
from constructs_lib.config import PlatformConfig
from constructs_lib.errors import ConfigError

__all__ = ["CatalogStack", "catalog_stack_name"]

_PIPELINE_ARN = re.compile(r"^arn:aws[a-z-]*:codepipeline:[a-z0-9-]+:\d{12}:[A-Za-z0-9.@_-]{1,100}$")


def catalog_stack_name(config: PlatformConfig) -> str:
    """``<project>-catalog``."""
    return f"{config.project}-catalog"


class CatalogStack(Stack):
    """The Service Catalog portfolio and model-project product, in the dev account.

    :param config: the platform config (project prefix, accounts).
    :param env: the dev account and region; default: ``accounts.dev`` of the config (anything else is an error).
    :param studio_role_arns: SageMaker Studio execution role ARNs given access to the portfolio; default: none.
    :param release_pipeline_arn: ARN of the pipeline an approval in a launched project's group starts (a
        launched product cannot reference another stack's resources, so it is named by ARN); default: none.
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, env: Environment | None = None,
                 studio_role_arns: Sequence[str] = (), release_pipeline_arn: str | None = None,
                 **kwargs) -> None:
        dev = config.accounts.dev
        if env is None:
            env = Environment(account=dev.account_id, region=dev.region)
        elif env.account != dev.account_id or env.region != dev.region:
            raise ConfigError("accounts.dev", f"the catalog stack deploys to the dev account and region "
                              f"({dev.account_id}/{dev.region}), got env {env.account}/{env.region}")
        kwargs.setdefault("description", "SageMaker Studio project template (Service Catalog portfolio and product)")
        super().__init__(scope, id, env=env, **kwargs)
        roles = [studio_role(self, f"StudioRole{i}", arn) for i, arn in enumerate(studio_role_arns)]
        if release_pipeline_arn is not None and not _PIPELINE_ARN.match(str(release_pipeline_arn)):
            raise ConfigError("release_pipeline_arn", "must be a CodePipeline ARN (arn:aws:codepipeline:REGION:"
                              f"ACCOUNT:NAME), got {release_pipeline_arn!r}")
        release_pipeline = None if release_pipeline_arn is None else codepipeline.Pipeline.from_pipeline_arn(
            self, "ReleasePipeline", release_pipeline_arn)
        self.template = ModelProjectTemplate(
            self, "ModelProjectTemplate",
            consumer_accounts=[config.accounts.test.account_id, config.accounts.prod.account_id],
            release_pipeline=release_pipeline, studio_roles=roles,
            portfolio_name=f"{config.project} model projects")
