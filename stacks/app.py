"""Compose the whole platform from the config file: what ``app.py`` runs under ``cdk synth``.

Reads (the only place that does): the config file named by context ``config``, the approved model versions
file named by context ``approved_versions`` (written by ``mlops resolve --write`` in the delivery pipeline),
and context ``only_model`` (synthesise one model's stacks, as its pipeline does).
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Annotations, App

from constructs_lib.config import PlatformConfig, load_config
from constructs_lib.errors import ConfigError

from .endpoint_stage import EndpointStage

STAGES = ("test", "prod")


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
                   only_model: str | None = None) -> None:
    """Add every model's stacks to ``app``."""
    models = [config.model(only_model)] if only_model else config.models
    for model in models:
        version = approved.get(model.group_name)
        uses_approved = any(v.model == "approved" for stage in STAGES for v in _stage_variants(model, stage))
        if version is None and uses_approved:
            Annotations.of(app).add_warning_v2(
                "@sagemaker-safe-release:no-approved-version",
                f"model {model.name}: no approved version of group {model.group_name} is known yet, so its test "
                f"and prod endpoint stacks are left out; approve a version and run 'mlops resolve "
                f"{model.group_name} --write config/approved-versions.json' (the delivery pipeline does this)",
            )
            continue
        for stage_name in STAGES:
            EndpointStage(app, f"{model.name}-{stage_name}", config=config, model=model, stage_name=stage_name,
                          approved_version_arn=version)


def _stage_variants(model, stage_name: str) -> list:
    stage = getattr(model.stages, stage_name)
    return list(stage.variants) + ([stage.shadow_variant] if stage.shadow_variant else [])


def build_app(app: App, root: Path) -> App:
    """Read the context, load the config and build the platform; config errors propagate as ConfigError."""
    config_path = root / str(app.node.try_get_context("config") or "config/platform.yaml")
    versions_path = root / str(app.node.try_get_context("approved_versions") or "config/approved-versions.json")
    only_model = app.node.try_get_context("only_model")
    config = load_config(config_path)
    build_platform(app, config, config_dir=config_path.parent, approved=load_approved_versions(versions_path),
                   only_model=str(only_model) if only_model else None)
    return app
