"""The Lambda function behind ``StreamInference``: Kinesis records in, the endpoint's predictions out.

Each record of a batch is sent to the endpoint (``InvokeEndpoint``, the record's data as the body), in order;
the answers are written to the output stream with the input record's partition key, so predictions for one key
keep their order. The function answers with a partial batch response (``ReportBatchItemFailures``): the first
record that fails (the endpoint refused or erred, or its prediction could not be written) is reported, and
Lambda retries the batch from that record (splitting it when ``bisect-on-error`` is on); records after it are
not sent this time, so nothing is predicted twice before a retry. Writing to the output stream is at least once:
a retried record whose prediction had been written is written again.

Deployed as the function's inline source: the standard library and boto3 only (no package of this project).
Configuration comes from the environment: ``ENDPOINT_NAME``, ``OUTPUT_STREAM_ARN``, ``CONTENT_TYPE`` and
``ACCEPT``.
"""

from __future__ import annotations

import base64
import os
from typing import Any

#: Kinesis PutRecords takes at most 500 records per call.
MAX_PUT_RECORDS = 500
_clients_cache: dict[str, Any] = {}


def _clients() -> dict[str, Any]:
    if not _clients_cache:
        import boto3
        from botocore.config import Config

        # Bounded calls: a hung endpoint must fail the record (and let Lambda retry), not the whole timeout.
        config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
        _clients_cache.update({name: boto3.client(name, config=config) for name in ("sagemaker-runtime", "kinesis")})
    return _clients_cache


def predict(runtime: Any, records: list[dict], endpoint_name: str, content_type: str,
            accept: str) -> tuple[list[tuple[dict, bytes]], dict | None, str]:
    """The predictions of ``records`` in order, up to the first that fails: ([(record, answer)], failed record
    or None, why it failed)."""
    answers: list[tuple[dict, bytes]] = []
    for record in records:
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
    for start in range(0, len(answers), MAX_PUT_RECORDS):
        chunk = answers[start:start + MAX_PUT_RECORDS]
        try:
            result = kinesis.put_records(StreamARN=stream_arn, Records=[
                {"Data": answer, "PartitionKey": record["kinesis"]["partitionKey"]} for record, answer in chunk])
        except Exception as error:  # noqa: BLE001
            return chunk[0][0], f"{type(error).__name__}: {error}"
        for (record, _), entry in zip(chunk, result["Records"]):
            if "ErrorCode" in entry:
                return record, f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}"
    return None, ""


def handler(event: dict, context: Any, clients: dict[str, Any] | None = None) -> dict:
    """The Lambda entry point (``index.handler``): a Kinesis batch in, a partial batch response out."""
    aws = clients or _clients()
    records = event.get("Records", [])
    answers, failed, why = predict(aws["sagemaker-runtime"], records, os.environ["ENDPOINT_NAME"],
                                   os.environ.get("CONTENT_TYPE", "application/json"),
                                   os.environ.get("ACCEPT", "application/json"))
    unwritten, write_why = write(aws["kinesis"], os.environ["OUTPUT_STREAM_ARN"], answers)
    if unwritten is not None:
        failed, why = unwritten, write_why
    if failed is None:
        return {"batchItemFailures": []}
    sequence = failed["kinesis"]["sequenceNumber"]
    # One line in the function's log per failed batch: what failed and where Lambda resumes.
    print(f"record {sequence} failed ({why}); {len(records)} in the batch, Lambda retries from it")
    return {"batchItemFailures": [{"itemIdentifier": sequence}]}
