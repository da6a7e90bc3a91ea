"""The rules of batch inference (``BatchInference``), in plain Python: the construct checks its arguments with
them and the config's ``batch`` section shows them (JSON Schema) and is checked with them."""

from __future__ import annotations

from .errors import ConfigError, Limit, cut

#: CreateTransformJob: TransformResources.InstanceCount, MaxPayloadInMB.
INSTANCE_COUNT = Limit(1, 100, "instances", whole=True)
MAX_PAYLOAD_MB = Limit(0, 100, "MB", whole=True)
RETENTION_DAYS = Limit(1, 3650, "days", whole=True)
SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
STRATEGIES = ("MultiRecord", "SingleRecord")


def check_batch(instance_type: object, instance_count: object, max_payload_mb: object, retention_days: object,
                prefix: object) -> None:
    """The numbers and names of a batch inference (``BatchInference``'s rules, which the config's ``batch``
    section gets too)."""
    from .instance_types import INFERENCE_INSTANCE_TYPES
    from .variants import check_prefix

    if instance_type not in INFERENCE_INSTANCE_TYPES:
        raise ConfigError("instance_type", "must be a SageMaker inference instance type from the ml. families (for "
                          f"example ml.m5.xlarge), got {cut(instance_type)}")
    INSTANCE_COUNT.check("instance_count", instance_count)
    MAX_PAYLOAD_MB.check("max_payload_mb", max_payload_mb)
    RETENTION_DAYS.check("retention_days", retention_days)
    check_prefix("prefix", prefix)
