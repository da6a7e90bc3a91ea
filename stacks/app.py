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
from .dev import ModelDevStack, PlatformStack, model_dev_stack_name, platform_stack_name
from .pipeline import ModelPipelineStack, approval_target, pipeline_stack_name


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
                   only_model: str | None = None, repo_root: Path | None = None) -> None:
    """Add the platform's stacks to ``app``.

    Dev account: ``<project>-platform`` (shared artifacts bucket and key), ``<project>-catalog`` (the Service
    Catalog portfolio that makes the model-project template launchable from SageMaker Studio), and per model ``<project>-<model>-dev``
    (registry group, build pipeline, retraining schedule, and the approval rule that starts the model's delivery
    pipeline by name). Per model (only ``only_model`` if given): ``<project>-<model>-pipeline``, the delivery
    pipeline holding the model's test and prod endpoint stages. A model without a known approved version gets
    a pipeline without stages (its stack warns); the pipeline's first run after an approval adds them.
    """
    models = [config.model(only_model)] if only_model else config.models
    platform = PlatformStack(app, platform_stack_name(config), config=config)
    CatalogStack(app, catalog_stack_name(config), config=config)
    for model in models:
        ModelPipelineStack(app, pipeline_stack_name(config, model), config=config, model=model,
                           approved_version_arn=approved.get(model.group_name), config_dir=config_dir,
                           repo_root=repo_root)
    for model in models:
        dev = ModelDevStack(app, model_dev_stack_name(config, model), config=config, model=model,
                            config_dir=config_dir, artifacts=platform)
        dev.add_approval_trigger(approval_target(dev, config, model))


def build_app(app: App, root: Path) -> App:
    """Read the context, load the config and build the platform; config errors propagate as ConfigError."""
    config_path = root / str(app.node.try_get_context("config") or "config/platform.yaml")
    versions_path = root / str(app.node.try_get_context("approved_versions") or "config/approved-versions.json")
    only_model = app.node.try_get_context("only_model")
    config = load_config(config_path)
    build_platform(app, config, config_dir=config_path.parent, approved=load_approved_versions(versions_path),
                   only_model=str(only_model) if only_model else None, repo_root=root)
    return app
