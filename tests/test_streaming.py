"""StreamInference: Kinesis in, the endpoint, Kinesis out; failures retried, split, set aside and alarmed."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration, Stack

from constructs_lib.endpoint import ModelEndpoint
from constructs_lib.errors import ConfigError
from constructs_lib.streaming import StreamInference
from support import check_assembly, nag_app, synth_checked
from test_endpoint import ENV, V1, instance


@pytest.fixture(scope="module")
def template():
    app = nag_app()
    stack = Stack(app, "Streamed", env=ENV)
    endpoint = ModelEndpoint(stack, "Endpoint", endpoint_name="churn-stream", variants=[instance("main", V1)])
    StreamInference(stack, "Stream", endpoint=endpoint, content_type="text/csv", batch_size=50,
                    parallelization_factor=2, max_batching_window=Duration.seconds(5))
    return check_assembly(synth_checked(app))["Streamed"]  # cdk-nag and cfn-lint clean


def by_type(template: dict, type_: str) -> dict:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == type_}


def test_failed_records_are_retried_split_and_set_aside_not_lost(template):
    (mapping,) = by_type(template, "AWS::Lambda::EventSourceMapping").values()
    (queue_id,) = by_type(template, "AWS::SQS::Queue")
    assert {k: mapping[k] for k in ("BatchSize", "MaximumBatchingWindowInSeconds", "ParallelizationFactor",
                                    "MaximumRetryAttempts", "MaximumRecordAgeInSeconds",
                                    "BisectBatchOnFunctionError", "FunctionResponseTypes", "StartingPosition")} == {
        "BatchSize": 50, "MaximumBatchingWindowInSeconds": 5, "ParallelizationFactor": 2, "MaximumRetryAttempts": 3,
        "MaximumRecordAgeInSeconds": 3600, "BisectBatchOnFunctionError": True,
        "FunctionResponseTypes": ["ReportBatchItemFailures"], "StartingPosition": "LATEST"}
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_streams_and_queue_are_encrypted_with_the_stream_key(template):
    (key,) = [k for k in by_type(template, "AWS::KMS::Key") if k.startswith("Stream")]
    streams = by_type(template, "AWS::Kinesis::Stream")
    assert len(streams) == 2
    assert all(s["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": {"Fn::GetAtt": [key, "Arn"]}}
               for s in streams.values())
    (queue,) = by_type(template, "AWS::SQS::Queue").values()
    assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}


def test_the_function_invokes_only_its_endpoint_and_writes_only_the_output_stream(template):
    streams = by_type(template, "AWS::Kinesis::Stream")
    output = next(k for k in streams if k.startswith("StreamOutput"))
    source = next(k for k in streams if k.startswith("StreamInput"))
    (function,) = [f for k, f in by_type(template, "AWS::Lambda::Function").items() if k.startswith("StreamFunction")]
    assert function["Environment"]["Variables"]["OUTPUT_STREAM_ARN"] == {"Fn::GetAtt": [output, "Arn"]}
    assert function["Environment"]["Variables"]["CONTENT_TYPE"] == "text/csv"
    statements = [s for k, p in by_type(template, "AWS::IAM::Policy").items() if k.startswith("StreamRole")
                  for s in p["PolicyDocument"]["Statement"]]
    invoke = [s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert [json.dumps(s["Resource"]) for s in invoke] == [json.dumps(
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":sagemaker:eu-west-1:333333333333:endpoint/churn-stream"]]})]
    writes = [s for s in statements if "kinesis:PutRecords" in s["Action"]]
    assert [s["Resource"] for s in writes] == [{"Fn::GetAtt": [output, "Arn"]}]
    reads = [s for s in statements if "kinesis:GetRecords" in s["Action"]]
    assert reads and all(s["Resource"] == {"Fn::GetAtt": [source, "Arn"]} for s in reads)


def test_alarms_watch_lag_errors_and_records_set_aside(template):
    alarms = by_type(template, "AWS::CloudWatch::Alarm")
    stream_alarms = {k: a for k, a in alarms.items() if k.startswith("Stream")}
    assert sorted((a["MetricName"], a["Threshold"]) for a in stream_alarms.values()) == [
        ("ApproximateNumberOfMessagesVisible", 1), ("Errors", 1), ("IteratorAge", 300000)]
    topic = next(k for k in by_type(template, "AWS::SNS::Topic") if k.startswith("Stream"))
    assert all(a["AlarmActions"] == [{"Ref": topic}] for a in stream_alarms.values())


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size: must be between 1 and 10000 records, got 0"),
    ({"batch_size": True}, "batch_size: must be a whole number"),
    ({"parallelization_factor": 11}, "parallelization_factor: must be between 1 and 10 batches per shard, got 11"),
    ({"retry_attempts": -1}, "retry_attempts: must be between 0 and 10000 retries, got -1"),
    ({"max_record_age": Duration.seconds(30)}, "max_record_age: must be between 60 and 604800 seconds, got 30"),
    ({"max_batching_window": Duration.minutes(6)}, "max_batching_window: must be between 0 and 300 seconds, got 360"),
    ({"timeout": Duration.minutes(16)}, "timeout: must be between 1 and 900 seconds, got 960"),
    ({"content_type": ""}, "content_type: must be a MIME type of at most 1024 ASCII characters, got ''"),
])
def test_stream_rules(kwargs, message):
    stack = Stack(None, "Bad", env=ENV)
    endpoint = ModelEndpoint(stack, "Endpoint", endpoint_name="bad", variants=[instance()])
    with pytest.raises(ConfigError) as error:
        StreamInference(stack, "Stream", endpoint=endpoint, **kwargs)
    assert str(error.value).startswith(message), str(error.value)
