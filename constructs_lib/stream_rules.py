"""The rules of stream inference (``StreamInference``), in plain Python: the construct checks its arguments with
them and ``python -m constructs_lib.config --check`` checks a stage's ``streaming`` section with the same ones
(the config's schema shows them)."""

from __future__ import annotations

from .errors import ConfigError, Limit, cut

__all__ = ["check_stream"]

#: Lambda's Kinesis event source mapping (CreateEventSourceMapping) and function limits.
BATCH_SIZE = Limit(1, 10000, "records", whole=True)
BATCHING_WINDOW_SECONDS = Limit(0, 300, "seconds", whole=True)
PARALLELIZATION = Limit(1, 10, "batches per shard", whole=True)
#: -1 (retry forever) is refused: one bad record would hold its shard until the record expires.
RETRY_ATTEMPTS = Limit(0, 10000, "retries", whole=True)
RECORD_AGE_SECONDS = Limit(60, 604800, "seconds", whole=True)
TIMEOUT_SECONDS = Limit(1, 900, "seconds", whole=True)
SHARDS = Limit(1, 10000, "shards", whole=True)
ITERATOR_AGE_SECONDS = Limit(1, 604800, "seconds", whole=True)
#: SageMaker's ContentType and Accept: at most 1024 ASCII characters.
MIME_LENGTH = 1024


def check_stream(*, batch_size: object, max_batching_window: object, parallelization_factor: object,
                 retry_attempts: object, max_record_age: object, timeout: object, shards: object,
                 max_iterator_age: object, content_type: object, accept: object) -> None:
    """Every rule of a stream inference's settings (times in seconds); raises ``ConfigError`` naming the one
    broken."""
    BATCH_SIZE.check("batch_size", batch_size)
    BATCHING_WINDOW_SECONDS.check("max_batching_window", max_batching_window)
    PARALLELIZATION.check("parallelization_factor", parallelization_factor)
    RETRY_ATTEMPTS.check("retry_attempts", retry_attempts)
    RECORD_AGE_SECONDS.check("max_record_age", max_record_age)
    TIMEOUT_SECONDS.check("timeout", timeout)
    SHARDS.check("shards", shards)
    ITERATOR_AGE_SECONDS.check("max_iterator_age", max_iterator_age)
    check_mime("content_type", content_type)
    check_mime("accept", accept)


def check_mime(path: str, value: object) -> None:
    """A ContentType or Accept SageMaker takes: 1-1024 ASCII characters."""
    if not isinstance(value, str) or not value or len(value) > MIME_LENGTH or not value.isascii():
        raise ConfigError(path, f"must be a MIME type of at most {MIME_LENGTH} ASCII characters, got {cut(value)}")
