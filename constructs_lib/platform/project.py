"""``ModelProject``: everything one model needs, composed from that model's section of the config.

One construct per model (``<project>-<model>``), holding that model's stacks and nothing else:

``<project>-<model>/pipeline`` (stack ``<project>-<model>-pipeline``, dev account)
    the delivery pipeline and, as its stages, the test and prod endpoint stacks
    (``<project>-<model>-test-endpoint`` and ``-prod-endpoint`` in the test and prod accounts);
``<project>-<model>/dev`` (stack ``<project>-<model>-dev``, dev account)
    the registry group shared with test and prod, the model-build pipeline, the retraining schedule and the
    approval trigger that starts the delivery pipeline when a version of the group is approved.

What models share (the artifacts bucket and key, the Service Catalog portfolio) is not part of a project: the
platform stack is passed in and only orders deployments (every name is deterministic, nothing is exported).
A model's release deploys only its own stacks, so ``cdk deploy '<project>-<model>/*'`` touches no other model.
"""

from __future__ import annotations

from pathlib import Path

from constructs import Construct

from constructs_lib.config import ModelConfig, PlatformConfig

from .dev import ModelDevStack, PlatformStack
from .endpoint_stage import EndpointStage
from .pipeline import ModelPipelineStack, approval_target

__all__ = ["ModelProject", "project_id"]


def project_id(config: PlatformConfig, model: ModelConfig) -> str:
    """``<project>-<model>``: the construct id of a model's project (what ``cdk deploy '<id>/*'`` selects)."""
    return f"{config.project}-{model.name}"


class ModelProject(Construct):
    """One model's registry, build pipeline, retraining schedule, approval trigger, delivery pipeline and test and
    prod endpoint stacks, from its config section.

    :param config: the platform config (accounts, project prefix, pipeline source).
    :param model: the model's section of ``config``.
    :param config_dir: the config file's folder; the model folder (``project_dir``) is relative to it.
    :param approved_version_arn: the versioned model package ARN to release (``mlops resolve``); None while no
        version is approved: the delivery pipeline then has no stages until its first run after an approval.
    :param platform: the platform stack (shared artifacts), to deploy before this project's dev stack;
        default: no ordering.
    :param repo_root: the root of the repository the delivery pipeline builds from; default: the current directory.
    :param dev: build the dev stack too (default); False: only the delivery pipeline stack, what a release
        deploys (its synth then needs no SageMaker SDK).
    :param release_id: the delivery pipeline run being synthesised (its build number; ``EdgeStack``).

    Attributes: ``dev`` (``ModelDevStack``, None with ``dev=False``), ``pipeline`` (``ModelPipelineStack``) and ``stages`` (``{"test":
    EndpointStage, "prod": EndpointStage}``, empty while no version is approved).
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, model: ModelConfig,
                 config_dir: Path | str, approved_version_arn: str | None = None,
                 platform: PlatformStack | None = None, repo_root: Path | str | None = None,
                 dev: bool = True, release_id: str | None = None) -> None:
        super().__init__(scope, id)
        self.pipeline = ModelPipelineStack(self, "pipeline", config=config, model=model,
                                           approved_version_arn=approved_version_arn, config_dir=config_dir,
                                           repo_root=repo_root, release_id=release_id)
        self.dev: ModelDevStack | None = None
        if dev:
            self.dev = ModelDevStack(self, "dev", config=config, model=model, config_dir=config_dir,
                                     artifacts=platform)
            # The trigger names the delivery pipeline by its deterministic ARN: no export between the two stacks.
            self.dev.add_approval_trigger(approval_target(self.dev, config, model))

    @property
    def stages(self) -> dict[str, EndpointStage]:
        """The test and prod endpoint stages (empty while no approved version is known)."""
        return self.pipeline.stages
