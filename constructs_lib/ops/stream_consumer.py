"""The Lambda function behind ``StreamInference``: Kinesis records in, the endpoint's predictions out.

Each record of a batch is sent to the endpoint (``InvokeEndpoint``, the record's data as the body), in order;
the answers are written to the output stream with the input record's partition key. The function answers with a
partial batch response (``ReportBatchItemFailures``): the first record that fails (the endpoint refused or
erred, or its prediction could not be written) is reported, and Lambda retries from that record; records after
it are not sent this time. When the failing record is the batch's first, reporting it would retry the same
batch until its records are set aside, good ones included: the function fails the batch instead, so Lambda
splits it in two (``bisect-on-error``) and the bad record ends up alone. Writing to the output stream is at least
once: a retry writes again what a partly written batch had written (PutRecords is not atomic), so a key's
predictions can then arrive twice or out of order.

Each endpoint call may take ``READ_TIMEOUT`` seconds (a third of the function's timeout, set by the construct);
the function stops sending when fewer than two such calls fit in its remaining time and reports the first record
it did not send, rather than being cut off by its own timeout (which would retry the whole batch).

Deployed as the function's inline source: the standard library and boto3 only (no package of this project).
Configuration comes from the environment: ``ENDPOINT_NAME``, ``OUTPUT_STREAM_ARN``, ``CONTENT_TYPE``, ``ACCEPT``
and ``READ_TIMEOUT``.
"""

from __future__ import annotations

import base64
import os
from typing import Any

#: Kinesis PutRecords takes at most 500 records and 5 MiB (data and partition keys) per call.
MAX_PUT_RECORDS = 500
MAX_PUT_BYTES = 5 * 1024 * 1024
_clients_cache: dict[str, Any] = {}


def _clients() -> dict[str, Any]:
    if not _clients_cache:
        import boto3
        from botocore.config import Config

        # Bounded calls: a hung endpoint must fail the record (and let Lambda retry), not the whole timeout.
        config = Config(connect_timeout=5, read_timeout=_read_timeout(), retries={"max_attempts": 1})
        _clients_cache.update({name: boto3.client(name, config=config) for name in ("sagemaker-runtime", "kinesis")})
    return _clients_cache


def _read_timeout() -> int:
    return max(1, int(os.environ.get("READ_TIMEOUT", "20")))


def predict(runtime: Any, records: list[dict], endpoint_name: str, content_type: str, accept: str,
            remaining_ms=lambda: 1 << 30) -> tuple[list[tuple[dict, bytes]], dict | None, str]:
    """The predictions of ``records`` in order, up to the first that fails or that no longer fits in the
    function's remaining time: ([(record, answer)], that record or None, why)."""
    answers: list[tuple[dict, bytes]] = []
    for record in records:
        if answers and remaining_ms() < (2 * _read_timeout() + 2) * 1000:
            return answers, record, "not sent: the function's time was running out"
        body = base64.b64decode(record["kinesis"]["data"])
        try:
            response = runtime.invoke_endpoint(EndpointName=endpoint_name, Body=body, ContentType=content_type,
                                               Accept=accept)
            answers.append((record, response["Body"].read()))
        except Exception as error:  # noqa: BLE001 - botocore's errors, without importing botocore here
            return answers, record, f"{type(error).__name__}: {error}"
    return answers, None, ""


def write(kinesis: Any, stream_arn: str, answers: list[tuple[dict, bytes]]) -> tuple[dict | None, str]:
    """Put the predictions on the output stream, in order; returns the first input record whose prediction
    was not written (and why), or (None, "")."""
    for chunk in _chunks(answers):
        try:
            result = kinesis.put_records(StreamARN=stream_arn, Records=[
                {"Data": answer, "PartitionKey": record["kinesis"]["partitionKey"]} for record, answer in chunk])
        except Exception as error:  # noqa: BLE001
            return chunk[0][0], f"{type(error).__name__}: {error}"
        for (record, _), entry in zip(chunk, result["Records"]):
            if "ErrorCode" in entry:
                return record, f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}"
    return None, ""


def _chunks(answers: list[tuple[dict, bytes]]) -> list[list[tuple[dict, bytes]]]:
    """``answers`` in PutRecords-sized chunks (at most 500 records and 5 MiB each), in order."""
    chunks: list[list[tuple[dict, bytes]]] = [[]]
    size = 0
    for record, answer in answers:
        item = len(answer) + len(record["kinesis"]["partitionKey"].encode())
        if chunks[-1] and (len(chunks[-1]) == MAX_PUT_RECORDS or size + item > MAX_PUT_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append((record, answer))
        size += item
    return [chunk for chunk in chunks if chunk]


class BatchSplit(Exception):
    """The batch's first record failed: Lambda splits the batch (bisect-on-error) instead of retrying it whole."""


def handler(event: dict, context: Any, clients: dict[str, Any] | None = None) -> dict:
    """The Lambda entry point (``index.handler``): a Kinesis batch in, a partial batch response out."""
    aws = clients or _clients()
    records = event.get("Records", [])
    answers, failed, why = predict(aws["sagemaker-runtime"], records, os.environ["ENDPOINT_NAME"],
                                   os.environ.get("CONTENT_TYPE", "application/json"),
                                   os.environ.get("ACCEPT", "application/json"),
                                   getattr(context, "get_remaining_time_in_millis", lambda: 1 << 30))
    unwritten, write_why = write(aws["kinesis"], os.environ["OUTPUT_STREAM_ARN"], answers)
    if unwritten is not None:
        failed, why = unwritten, write_why
    if failed is None:
        return {"batchItemFailures": []}
    sequence = failed["kinesis"]["sequenceNumber"]
    if failed is records[0] and len(records) > 1 and not why.startswith("not sent"):
        raise BatchSplit(f"record {sequence}, the first of {len(records)}, failed ({why}): Lambda splits the batch")
    # One line in the function's log per failed batch: what failed and where Lambda resumes.
    print(f"record {sequence} failed ({why}); {len(records)} in the batch, Lambda retries from it")
    return {"batchItemFailures": [{"itemIdentifier": sequence}]}
