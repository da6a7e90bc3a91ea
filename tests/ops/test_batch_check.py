"""``mlops batch-check``: sample files through a batch-inference pipeline (moto server; the definition is the SDK's,
as BatchInference deploys it)."""

import json

import pytest
from ops_support import hook_client

from constructs_lib.batch_sdk import BatchSpec, _build_offline
from constructs_lib.ops.base import EXIT_FAILED, EXIT_USAGE

PIPELINE, BUCKET = "churn-batch-test", "churn-batch-io"


@pytest.fixture(scope="module")
def definition():
    return _build_offline(BatchSpec(
        pipeline_name=PIPELINE, region="eu-west-1", model_name="churn-model", input_uri=f"s3://{BUCKET}/batch/input/",
        output_uri=f"s3://{BUCKET}/batch/output", kms_key="arn:aws:kms:eu-west-1:123456789012:key/k",
        volume_kms_key="arn:aws:kms:eu-west-1:123456789012:key/k",
        instance_type="ml.m5.xlarge", instance_count=1, content_type="text/csv", accept="text/csv",
        split_type="Line", strategy="MultiRecord", max_payload_mb=6))


@pytest.fixture
def payloads(tmp_path):
    folder = tmp_path / "payloads"
    folder.mkdir()
    (folder / "a.csv").write_text("1,2,3\n")
    (folder / "b.csv").write_text("4,5,6\n")
    return folder


@pytest.fixture
def pipeline(aws_client, definition):
    s3 = aws_client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    aws_client("sagemaker").create_pipeline(PipelineName=PIPELINE, PipelineDefinition=definition,
                                            RoleArn="arn:aws:iam::123456789012:role/batch")
    return s3


def _transform_writes(s3, names, empty=()):
    """What SageMaker's transform job does for the execution just started: a result per input file."""
    def after_start(parsed, **_):
        execution = parsed["PipelineExecutionArn"].rsplit("/", 1)[1]
        for name in names:
            s3.put_object(Bucket=BUCKET, Key=f"batch/output/{execution}/{name}.out",
                          Body=b"" if name in empty else b"0.7\n")
    return after_start


def test_every_sample_gets_a_result_in_the_run_s_own_folder(mlops, aws_client, pipeline, payloads, monkeypatch):
    hook_client(monkeypatch, "sagemaker", "after-call.sagemaker.StartPipelineExecution",
                _transform_writes(pipeline, ["a.csv", "b.csv"]))
    result = mlops("batch-check", PIPELINE, "--payloads", str(payloads), "--json")
    data = json.loads(result.out)
    assert (result.code, data["status"], data["missing"], data["passed"]) == (0, "Succeeded", [], True), result.out
    assert data["inputs"].startswith(f"s3://{BUCKET}/batch/input/check-")
    # the samples went to a folder of their own, and are gone after the check (a scheduled run never sees them)
    assert "Contents" not in pipeline.list_objects_v2(Bucket=BUCKET, Prefix="batch/input/")
    # the execution ran over that folder only
    (execution,) = aws_client("sagemaker").list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]
    parameters = aws_client("sagemaker").list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"])["PipelineParameters"]
    assert parameters == [{"Name": "InputData", "Value": data["inputs"]}]


def test_a_missing_or_empty_result_fails_the_check(mlops, pipeline, payloads, monkeypatch):
    hook_client(monkeypatch, "sagemaker", "after-call.sagemaker.StartPipelineExecution",
                _transform_writes(pipeline, ["a.csv"], empty={"a.csv"}))
    result = mlops("batch-check", PIPELINE, "--payloads", str(payloads))
    assert result.code == EXIT_FAILED
    assert result.out.splitlines()[-1] == "FAIL: no result (or an empty one) for 2 of 2 samples: a.csv, b.csv"


def test_a_failed_run_fails_the_check_with_its_reason(mlops, stub_client, pipeline, payloads, definition):
    sagemaker = stub_client("sagemaker")
    sagemaker.add_response("describe_pipeline", {"PipelineDefinition": definition, "PipelineName": PIPELINE})
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/{PIPELINE}/execution/abc"
    sagemaker.add_response("start_pipeline_execution", {"PipelineExecutionArn": arn})
    sagemaker.add_response("describe_pipeline_execution", {
        "PipelineExecutionArn": arn, "PipelineExecutionStatus": "Failed",
        "FailureReason": "Step failure: Transform: ClientError: model container exited"})
    result = mlops("batch-check", PIPELINE, "--payloads", str(payloads))
    assert result.code == EXIT_FAILED
    assert result.out.splitlines()[-1] == ("FAIL: the run failed: Step failure: Transform: ClientError: model "
                                           "container exited")
    sagemaker.assert_no_pending_responses()


def test_a_run_past_the_timeout_is_stopped(pipeline, definition, payloads):
    from botocore.stub import ANY, Stubber
    import boto3

    from constructs_lib.ops.batch_check import batch_check

    client = boto3.client("sagemaker", region_name="eu-west-1")
    stubber = Stubber(client)
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/{PIPELINE}/execution/slow"
    stubber.add_response("describe_pipeline", {"PipelineDefinition": definition})
    stubber.add_response("start_pipeline_execution", {"PipelineExecutionArn": arn})
    for _ in range(3):
        stubber.add_response("describe_pipeline_execution", {"PipelineExecutionStatus": "Executing"})
    stubber.add_response("stop_pipeline_execution", {"PipelineExecutionArn": arn},
                         {"PipelineExecutionArn": arn, "ClientRequestToken": ANY})
    stubber.add_response("describe_pipeline_execution", {"PipelineExecutionStatus": "Stopping"})
    stubber.add_response("describe_pipeline_execution", {"PipelineExecutionStatus": "Stopped"})
    now = [0.0]
    with stubber:
        data = batch_check(client, pipeline, PIPELINE, sorted(payloads.iterdir()), timeout=30, run_id="t",
                           sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert data["problems"] == ["the run did not finish within 30 s: it was stopped (now Stopped)"]
    assert data["status"] == "Stopped"
    stubber.assert_no_pending_responses()
    assert "Contents" not in pipeline.list_objects_v2(Bucket=BUCKET, Prefix="batch/input/")  # samples deleted


def test_a_pipeline_that_is_not_a_batch_one_is_a_usage_error(mlops, aws_client, payloads):
    aws_client("sagemaker").create_pipeline(PipelineName="other", RoleArn="arn:aws:iam::123456789012:role/x",
                                            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}))
    result = mlops("batch-check", "other", "--payloads", str(payloads))
    assert result.code == EXIT_USAGE and "is not a batch-inference pipeline" in result.err, result.err
