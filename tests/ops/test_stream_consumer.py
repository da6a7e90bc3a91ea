"""The stream consumer (``StreamInference``'s function): records to the endpoint in order, predictions to the
output stream with their partition keys, and a partial batch response naming the first record that failed."""

import base64
import io

import pytest
from botocore.response import StreamingBody

from constructs_lib.ops import stream_consumer

ENDPOINT = "churn-stream"


def _record(sequence: str, data: bytes, key: str = "customer-1") -> dict:
    return {"kinesis": {"sequenceNumber": sequence, "partitionKey": key, "data": base64.b64encode(data).decode()},
            "eventSource": "aws:kinesis"}


@pytest.fixture
def output_stream(aws_client, monkeypatch):
    kinesis = aws_client("kinesis")
    kinesis.create_stream(StreamName="predictions", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="predictions")["StreamDescription"]["StreamARN"]
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("OUTPUT_STREAM_ARN", arn)
    monkeypatch.setenv("CONTENT_TYPE", "text/csv")
    return kinesis, arn


def _written(kinesis, arn) -> list[tuple[str, bytes]]:
    name = arn.rsplit("/", 1)[1]  # moto's iterators from a StreamARN name no stream
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return [(r["PartitionKey"], r["Data"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]]


def test_every_prediction_reaches_the_output_stream_with_its_partition_key(output_stream, aws_client):
    kinesis, arn = output_stream
    clients = {"sagemaker-runtime": aws_client("sagemaker-runtime"), "kinesis": kinesis}
    event = {"Records": [_record("1", b"1,2,3", "a"), _record("2", b"4,5,6", "b")]}
    assert stream_consumer.handler(event, None, clients) == {"batchItemFailures": []}
    written = _written(kinesis, arn)
    assert [key for key, _ in written] == ["a", "b"]  # in order, each with its input's key
    assert all(data for _, data in written)


def test_the_first_failing_record_is_reported_and_nothing_after_it_is_sent(output_stream, aws_client, stub_client):
    kinesis, arn = output_stream
    runtime = stub_client("sagemaker-runtime")
    runtime.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"0.9"), 3)},
                         {"EndpointName": ENDPOINT, "Body": b"1,2,3", "ContentType": "text/csv",
                          "Accept": "application/json"})
    runtime.add_client_error("invoke_endpoint", "ModelError", "Received server error (500) from primary",
                             http_status_code=424)
    clients = {"sagemaker-runtime": runtime.client, "kinesis": kinesis}
    event = {"Records": [_record("1", b"1,2,3"), _record("2", b"bad"), _record("3", b"7,8,9")]}
    assert stream_consumer.handler(event, None, clients) == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    runtime.assert_no_pending_responses()  # record 3 was not sent: Lambda retries from record 2
    assert _written(kinesis, arn) == [("customer-1", b"0.9")]  # what succeeded before it is delivered


def test_a_prediction_the_output_stream_refuses_is_reported_too(output_stream, aws_client, stub_client):
    _, arn = output_stream
    kinesis = stub_client("kinesis")
    kinesis.add_response("put_records", {"FailedRecordCount": 1, "Records": [
        {"SequenceNumber": "9", "ShardId": "shardId-000000000000"},
        {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"}]})
    clients = {"sagemaker-runtime": aws_client("sagemaker-runtime"), "kinesis": kinesis.client}
    event = {"Records": [_record("1", b"1,2,3"), _record("2", b"4,5,6")]}
    assert stream_consumer.handler(event, None, clients) == {"batchItemFailures": [{"itemIdentifier": "2"}]}


def test_a_failing_first_record_splits_the_batch_instead_of_retrying_it_whole(output_stream, stub_client):
    """Reporting the first record would retry the same batch until its good records are set aside with it."""
    kinesis, _ = output_stream
    runtime = stub_client("sagemaker-runtime")
    runtime.add_client_error("invoke_endpoint", "ModelError", "bad input", http_status_code=424)
    clients = {"sagemaker-runtime": runtime.client, "kinesis": kinesis}
    with pytest.raises(stream_consumer.BatchSplit, match=r"^record 1, the first of 2, failed"):
        stream_consumer.handler({"Records": [_record("1", b"bad"), _record("2", b"4,5,6")]}, None, clients)
    runtime.add_client_error("invoke_endpoint", "ModelError", "bad input", http_status_code=424)
    alone = stream_consumer.handler({"Records": [_record("1", b"bad")]}, None, clients)
    assert alone == {"batchItemFailures": [{"itemIdentifier": "1"}]}  # alone: retried, then set aside


def test_the_consumer_stops_sending_before_its_timeout(output_stream, aws_client, monkeypatch):
    kinesis, arn = output_stream
    monkeypatch.setenv("READ_TIMEOUT", "10")

    class Context:
        calls = 0

        def get_remaining_time_in_millis(self):  # 30 s, then 21 s: under two 10 s calls and a margin
            Context.calls += 1
            return 30_000 if Context.calls == 1 else 21_000

    clients = {"sagemaker-runtime": aws_client("sagemaker-runtime"), "kinesis": kinesis}
    event = {"Records": [_record("1", b"1,2,3"), _record("2", b"4,5,6"), _record("3", b"7,8,9")]}
    assert stream_consumer.handler(event, Context(), clients) == {"batchItemFailures": [{"itemIdentifier": "3"}]}
    assert len(_written(kinesis, arn)) == 2


def test_predictions_are_written_in_put_records_sized_chunks():
    big = b"x" * (2 * 1024 * 1024)
    answers = [(_record(str(i), b""), big) for i in range(5)] + [(_record(str(i), b""), b"1") for i in range(5, 700)]
    chunks = stream_consumer._chunks(answers)
    assert [len(c) for c in chunks] == [2, 2, 1 + 499, 196]  # 5 MiB, then 500 records at most
    assert [pair for chunk in chunks for pair in chunk] == answers  # in order


def test_handler_source_is_self_contained():
    """It is deployed as inline source: only the standard library and boto3/botocore may be imported."""
    import ast
    import inspect
    import sys

    tree = ast.parse(inspect.getsource(stream_consumer))
    names = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert names <= set(sys.stdlib_module_names) | {"boto3", "botocore", "__future__"}, names
