"""The rules of batch inference (``BatchInference``), in plain Python: the construct checks its arguments with
them and the config's ``batch`` section shows them (JSON Schema) and is checked with them."""

from __future__ import annotations

from .errors import ConfigError, Limit, cut

#: CreateTransformJob: TransformResources.InstanceCount, MaxPayloadInMB.
INSTANCE_COUNT = Limit(1, 100, "instances", whole=True)
MAX_PAYLOAD_MB = Limit(0, 100, "MB", whole=True)
SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
STRATEGIES = ("MultiRecord", "SingleRecord")


def check_batch(instance_type: object, instance_count: object, max_payload_mb: object, retention_days: object,
                prefix: object, *, content_type: object = "text/csv", accept: object = "text/csv",
                split_type: object = "Line", strategy: object = "MultiRecord") -> None:
    """Every rule of a batch inference (``BatchInference``'s, which the config's ``batch`` section gets too)."""
    from .instance_types import TRANSFORM_INSTANCE_TYPES
    from .errors import check_choice
    from .stream_rules import check_mime
    from .variants import CAPTURE_RETENTION_DAYS, check_prefix

    if instance_type not in TRANSFORM_INSTANCE_TYPES:
        raise ConfigError("instance_type", "must be a SageMaker batch transform instance type (botocore's "
                          f"TransformInstanceType, for example ml.m5.xlarge), got {cut(instance_type)}")
    check_mime("content_type", content_type)
    check_mime("accept", accept)
    check_choice("split_type", split_type, SPLIT_TYPES)
    check_choice("strategy", strategy, STRATEGIES)
    if strategy == "MultiRecord" and split_type == "None":
        raise ConfigError("strategy", "must be SingleRecord when split_type is None (SageMaker batches records only "
                          "when it can split files into them: Line, RecordIO or TFRecord), got 'MultiRecord'")
    INSTANCE_COUNT.check("instance_count", instance_count)
    MAX_PAYLOAD_MB.check("max_payload_mb", max_payload_mb)
    CAPTURE_RETENTION_DAYS.check("retention_days", retention_days)
    check_prefix("prefix", prefix)
