"""Compose the whole platform from the config file: what ``app.py`` runs under ``cdk synth``.

Reads (the only place that does): the config file named by context ``config``, the approved model versions
file named by context ``approved_versions`` (written by ``mlops resolve --write`` in the delivery pipeline),
context ``only_model`` (synthesise one model's stacks, as its pipeline does) and ``release_only`` (only what a
release deploys: the delivery pipeline stack with its endpoint stages).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from aws_cdk import Annotations, App

from constructs_lib.config import PlatformConfig, config_warnings, load_config
from constructs_lib.errors import ConfigError, cut

from .catalog import CatalogStack, catalog_stack_name
from constructs_lib.platform.dev import PlatformStack, platform_stack_name
from constructs_lib.platform.project import ModelProject, project_id


#: Context: ``true`` builds only what a release deploys (``build_platform(release_only=True)``): the delivery
#: pipeline's synth step sets it, and installs no SageMaker SDK.
RELEASE_ONLY = "release_only"
#: Context: this run of the delivery pipeline (its synth step's build number), so that each run's edge stages
#: make a deployment of their own (``EdgeStack``): a run after a cancelled one redeploys the same version.
RELEASE_ID = "release_id"


def is_release_only(value: object) -> bool:
    """Whether a ``release_only`` context value (a string from ``-c``, a boolean from cdk.json) means true."""
    return str(value).lower() == "true"


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


_VERSION_ARN = re.compile(r"arn:(aws[a-z-]*):sagemaker:([a-z0-9-]+):(\d{12}):model-package/([^/]+)/(\d+)")


def check_approved_versions(config: PlatformConfig, approved: dict[str, str], path: Path) -> None:
    """Each approved version a model will deploy must be a version of that model's group in the dev account's
    registry (account and region): a version from elsewhere would deploy a model nobody approved here."""
    dev = config.accounts.dev
    for model in config.models:
        arn = approved.get(model.group_name)
        if arn is None:
            continue
        match = _VERSION_ARN.fullmatch(arn)
        expected = f"arn:aws:sagemaker:{dev.region}:{dev.account_id}:model-package/{model.group_name}/<version>"
        if not match or (match.group(2), match.group(3), match.group(4)) != (dev.region, dev.account_id,
                                                                                model.group_name):
            raise ConfigError(f"{path}: {model.group_name}", f"must be a version of group {model.group_name} in "
                              f"the dev registry ({expected}), got {cut(arn)}")


def build_platform(app: App, config: PlatformConfig, *, config_dir: Path, approved: dict[str, str],
                   only_model: str | None = None, repo_root: Path | None = None,
                   release_only: bool = False, release_id: str | None = None) -> dict[str, ModelProject]:
    """Add the platform's stacks to ``app``: ``<project>-platform`` (the artifacts bucket and key every model
    shares), ``<project>-catalog`` (the Service Catalog portfolio that makes the model-project template
    launchable from SageMaker Studio) and one ``ModelProject`` per model (only ``only_model``, if given, as
    its delivery pipeline's synth step asks). Returns the projects by model name.

    ``release_only``: only the models' delivery pipeline stacks (with their endpoint stages), what a release
    deploys: no shared stacks and no dev stacks, whose model-build pipelines need the SageMaker SDK.
    """
    models = [config.model(only_model)] if only_model else config.models
    if release_only:
        return {model.name: ModelProject(app, project_id(config, model), config=config, model=model,
                                         config_dir=config_dir, approved_version_arn=approved.get(model.group_name),
                                         repo_root=repo_root, dev=False, release_id=release_id)
                for model in models}
    platform = PlatformStack(app, platform_stack_name(config), config=config)
    for line in config_warnings(config):
        Annotations.of(platform).add_warning_v2("@sagemaker-safe-release:config", line)
    CatalogStack(app, catalog_stack_name(config), config=config)
    return {model.name: ModelProject(app, project_id(config, model), config=config, model=model,
                                     config_dir=config_dir, approved_version_arn=approved.get(model.group_name),
                                     platform=platform, repo_root=repo_root, release_id=release_id)
            for model in models}


def build_app(app: App, root: Path) -> App:
    """Read the context, load the config and build the platform; config errors propagate as ConfigError."""
    config_path = root / str(app.node.try_get_context("config") or "config/platform.yaml")
    versions_path = root / str(app.node.try_get_context("approved_versions") or "config/approved-versions.json")
    only_model = app.node.try_get_context("only_model")
    release_only = is_release_only(app.node.try_get_context(RELEASE_ONLY))
    release_id = app.node.try_get_context(RELEASE_ID)
    if release_id is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", str(release_id)):
        raise ConfigError(f"context {RELEASE_ID}", f"must be 1-64 letters, digits or '-' (the delivery pipeline "
                          f"passes its build number), got {cut(str(release_id))}")
    config = load_config(config_path)
    approved = load_approved_versions(versions_path)
    check_approved_versions(config, approved, versions_path)
    try:
        build_platform(app, config, config_dir=config_path.parent, approved=approved,
                       only_model=str(only_model) if only_model else None, repo_root=root,
                       release_only=release_only, release_id=str(release_id) if release_id is not None else None)
    except ConfigError as error:
        if error.path.split(".")[0].split("[")[0] in PlatformConfig.model_fields:
            # A construct's rule, re-pathed to the config: name the file as the loader does.
            raise error.in_file(config_path) from None
        raise
    return app
