"""``<project>-catalog``: the model-project template for SageMaker Studio (dev account, exists once).

The portfolio is shared with the given Studio execution roles; each launch creates a model package group in the
dev account shared with the config's test and prod accounts, and a rule that starts the model's delivery pipeline
``<project>-<model>-delivery`` (``constructs_lib.platform.pipeline.delivery_pipeline_name``) on each approval. That pipeline exists
once the model is in the platform config (``mlops new-model``); see ``constructs_lib.catalog``.
"""

from __future__ import annotations

from typing import Sequence

from aws_cdk import Environment, Stack
from constructs import Construct

from constructs_lib.catalog import MODEL_PLACEHOLDER, ModelProjectTemplate, studio_role
from constructs_lib.config import ModelConfig, PlatformConfig
from constructs_lib.errors import ConfigError

from constructs_lib.platform.pipeline import delivery_pipeline_name

__all__ = ["CatalogStack", "catalog_stack_name"]

_PLACEHOLDER_MODEL = "MODELNAME"  # uppercase: cannot occur in the (lowercase) project prefix


def catalog_stack_name(config: PlatformConfig) -> str:
    """``<project>-catalog``."""
    return f"{config.project}-catalog"


class CatalogStack(Stack):
    """The Service Catalog portfolio and model-project product, in the dev account.

    :param config: the platform config (project prefix, accounts).
    :param env: the dev account and region; default: ``accounts.dev`` of the config (anything else is an error).
    :param studio_role_arns: SageMaker Studio execution role ARNs given access to the portfolio; default: none.
    :param release_approvals: whether a launched project's approvals start its model's delivery pipeline
        (``<project>-<model>-delivery``); default True.
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, env: Environment | None = None,
                 studio_role_arns: Sequence[str] = (), release_approvals: bool = True,
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
        # The delivery pipeline's own naming rule, with the launch-time model name in place of a config model's.
        pipeline_name = delivery_pipeline_name(config, ModelConfig(name=_PLACEHOLDER_MODEL)).replace(
            _PLACEHOLDER_MODEL, MODEL_PLACEHOLDER)
        self.template = ModelProjectTemplate(
            self, "ModelProjectTemplate",
            consumer_accounts=[config.accounts.test.account_id, config.accounts.prod.account_id],
            release_pipeline_name=pipeline_name if release_approvals else None, studio_roles=roles,
            portfolio_name=f"{config.project} model projects",
            # A launched group is named as the config names a model's group by default: <project>-<model>.
            group_prefix=f"{config.project}-")
