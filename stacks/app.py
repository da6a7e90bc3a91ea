"""Compose the whole platform from the config file: what ``app.py`` runs under ``cdk synth``.

Reads (the only place that does): the config file named by context ``config``, the approved model versions
file named by context ``approved_versions`` (written by ``mlops resolve --write`` in the delivery pipeline),
and context ``only_model`` (synthesise one model's stacks, as its pipeline does).
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import App

from constructs_lib.config import PlatformConfig, load_config
from constructs_lib.errors import ConfigError

from .catalog import CatalogStack, catalog_stack_name
from .dev import PlatformStack, platform_stack_name
from .project import ModelProject, project_id


def load_approved_versions(path: Path) -> dict[str, str]:
    """``{model package group: versioned model package ARN}``; an absent file means none known yet."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(str(path), f"is not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError(str(path), 'must map model package group names to version ARNs: {"group": "arn:..."}')
    return data


def build_platform(app: App, config: PlatformConfig, *, config_dir: Path, approved: dict[str, str],
                   only_model: str | None = None, repo_root: Path | None = None) -> dict[str, ModelProject]:
    """Add the platform's stacks to ``app``: ``<project>-platform`` (the artifacts bucket and key every model
    shares), ``<project>-catalog`` (the Service Catalog portfolio that makes the model-project template
    launchable from SageMaker Studio) and one ``ModelProject`` per model (only ``only_model``, if given, as
    its delivery pipeline's synth step asks). Returns the projects by model name.
    """
    models = [config.model(only_model)] if only_model else config.models
    platform = PlatformStack(app, platform_stack_name(config), config=config)
    CatalogStack(app, catalog_stack_name(config), config=config)
    return {model.name: ModelProject(app, project_id(config, model), config=config, model=model,
                                     config_dir=config_dir, approved_version_arn=approved.get(model.group_name),
                                     platform=platform, repo_root=repo_root)
            for model in models}


def build_app(app: App, root: Path) -> App:
    """Read the context, load the config and build the platform; config errors propagate as ConfigError."""
    config_path = root / str(app.node.try_get_context("config") or "config/platform.yaml")
    versions_path = root / str(app.node.try_get_context("approved_versions") or "config/approved-versions.json")
    only_model = app.node.try_get_context("only_model")
    config = load_config(config_path)
    build_platform(app, config, config_dir=config_path.parent, approved=load_approved_versions(versions_path),
                   only_model=str(only_model) if only_model else None, repo_root=root)
    return app
