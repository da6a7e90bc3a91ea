"""The model-build pipeline's input rules, in plain Python: what ``ModelBuildPipeline`` enforces at
construction and the config loader enforces for each model's ``build`` section (``python -m
constructs_lib.config --check`` included), from one place.

Paths are the construct's property names; ``CONFIG_KEYS`` maps them to the config's keys (``ConfigError.under``).
"""

from __future__ import annotations

import re
from typing import Sequence

from .errors import ConfigError, Limit, check_choice, cut
from .instance_types import INFERENCE_INSTANCE_TYPES, check_processing_instance_type

__all__ = ["APPROVALS", "CONFIG_KEYS", "METRIC", "THRESHOLD", "check_build_inputs"]

#: ``approval``: versions wait for a person, or are registered approved.
APPROVALS = ("manual", "automatic")
#: The condition step compares ``metrics.<metric>.value`` of evaluation.json with the threshold.
METRIC = r"[A-Za-z_][A-Za-z0-9_]*"
THRESHOLD = Limit(0, 1)
INSTANCE_TYPE = r"ml\.[a-z0-9]+(-[a-z0-9]+)*\.[a-z0-9]+"
INPUT_DATA = r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?"

#: Construct property -> the key of a model's config section that sets it.
CONFIG_KEYS = {
    "project_dir": "project_dir", "group_name": "registry.group_name", "model_package_group_name":
    "registry.group_name", "description": "registry.description", "input_data": "build.input_data",
    "metric": "build.metric", "threshold": "build.threshold", "schedule": "build.schedule",
    "processing_instance_type": "build.processing_instance_type",
    "training_instance_type": "build.training_instance_type",
    "inference_instance_types": "build.inference_instance_types", "approval": "build.approval",
    "inference_preprocessing": "build.inference_preprocessing", "edge_target": "build.edge",
}


def check_build_inputs(*, input_data: str, metric: str, threshold: float, processing_instance_type: str,
                       training_instance_type: str, inference_instance_types: Sequence[str], approval: str) -> None:
    """Raise ``ConfigError`` (path: the construct's property) for the first input the pipeline cannot run with."""
    check_choice("approval", approval, APPROVALS)
    THRESHOLD.check("threshold", threshold)
    if not isinstance(metric, str) or not re.fullmatch(METRIC, metric):
        raise ConfigError("metric", f"must be an identifier (a key of evaluation.json's metrics), got {cut(metric)}")
    if not isinstance(input_data, str) or not re.fullmatch(INPUT_DATA, input_data):
        raise ConfigError("input_data", f"must be an s3:// URI (s3://bucket/key), got {cut(input_data)}")
    for name, value in (("processing_instance_type", processing_instance_type),
                        ("training_instance_type", training_instance_type)):
        if not isinstance(value, str) or not re.fullmatch(INSTANCE_TYPE, value):
            raise ConfigError(name, f"must be an ml.* instance type, got {cut(value)}")
    check_processing_instance_type("processing_instance_type", processing_instance_type)
    if isinstance(inference_instance_types, str) or not inference_instance_types:
        raise ConfigError("inference_instance_types", "must list at least one instance type the registered "
                          f"versions can be served on, got {cut(inference_instance_types)}")
    for i, value in enumerate(inference_instance_types):
        if value not in INFERENCE_INSTANCE_TYPES:
            raise ConfigError(f"inference_instance_types[{i}]", "must be a SageMaker real-time inference instance "
                              f"type (ml.m5.large...), got {cut(value)}")
