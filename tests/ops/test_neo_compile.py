"""The build pipeline's Compile step (``constructs_lib/neo_compile.py``, run in a processing job): it starts a
Neo compilation of the trained model and waits for it, against a moto server (happy path) and Stubber (what
moto cannot do: a failed, slow or already-started job)."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from constructs_lib import neo_compile

ROLE = "arn:aws:iam::123456789012:role/build"
ARGS = ["--job", "neo-abc123def456", "--role", "arn:aws:iam::123456789012:role/build",
        "--model", "s3://artifacts/models/churn/pipelines-abc/output/model.tar.gz",
        "--output", "s3://artifacts/models/churn/abc123def456/compiled", "--target", '{"TargetDevice": "rasp4b"}',
        "--kms-key", "arn:aws:kms:eu-west-1:123456789012:key/k"]


def test_a_compilation_is_started_and_its_artifact_reported(aws_client, tmp_path):
    report = tmp_path / "edge" / "compilation.json"
    sagemaker = aws_client("sagemaker")
    result = neo_compile.main([*ARGS, "--report", str(report)], sagemaker=sagemaker)
    described = sagemaker.describe_compilation_job(CompilationJobName="neo-abc123def456")
    assert described["InputConfig"] == {"S3Uri": "s3://artifacts/models/churn/pipelines-abc/output/model.tar.gz",
                                        "Framework": "XGBOOST"}
    assert described["OutputConfig"]["TargetDevice"] == "rasp4b"
    assert described["OutputConfig"]["KmsKeyId"] == "arn:aws:kms:eu-west-1:123456789012:key/k"
    assert json.loads(report.read_text()) == result == {
        "artifact": described["ModelArtifacts"]["S3ModelArtifacts"], "job": "neo-abc123def456", "target": "rasp4b"}


def _stubbed():
    client = boto3.client("sagemaker", region_name="eu-west-1")
    return client, Stubber(client)


def _described(status, **extra):
    return {"CompilationJobName": "neo-abc123def456", "CompilationJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:"
            "compilation-job/neo-abc123def456", "CompilationJobStatus": status, "StoppingCondition": {},
            "CreationTime": "2026-11-30", "LastModifiedTime": "2026-11-30", "RoleArn": "arn:aws:iam::123456789012:role/b",
            "ModelArtifacts": {"S3ModelArtifacts": "s3://artifacts/models/churn/abc/compiled/model-rasp4b.tar.gz"},
            "InputConfig": {"S3Uri": "s3://a/m.tar.gz", "Framework": "XGBOOST"},
            "OutputConfig": {"S3OutputLocation": "s3://a/o"}, "FailureReason": "", **extra}


def _compile(client, **overrides):
    props = dict(job="neo-abc123def456", role=ROLE, model="s3://a/m.tar.gz", output="s3://a/o", framework="XGBOOST",
                 target={"TargetDevice": "rasp4b"}, kms_key=None, max_runtime=900, max_wait=3600, sleep=lambda s: None)
    props.update(overrides)
    return neo_compile.compile_model(client, **props)


def test_a_retried_step_waits_for_the_job_it_started():
    client, stubber = _stubbed()
    stubber.add_client_error("create_compilation_job", "ResourceInUse", "already exists")
    stubber.add_response("describe_compilation_job", _described("INPROGRESS"))  # its own: same model and output
    stubber.add_response("describe_compilation_job", _described("INPROGRESS"))
    stubber.add_response("describe_compilation_job", _described("COMPLETED"))
    slept = []
    with stubber:
        described = _compile(client, sleep=slept.append)
    assert described["CompilationJobStatus"] == "COMPLETED" and slept == [neo_compile.POLL_SECONDS]
    stubber.assert_no_pending_responses()


def test_a_retried_step_whose_job_failed_starts_the_next_attempt():
    client, stubber = _stubbed()
    stubber.add_client_error("create_compilation_job", "ResourceInUse", "already exists")
    stubber.add_response("describe_compilation_job", _described("FAILED"), {"CompilationJobName": "neo-abc123def456"})
    stubber.add_response("create_compilation_job", {"CompilationJobArn": "arn:x"}, {
        "CompilationJobName": "neo-abc123def456-2", "RoleArn": ROLE,
        "InputConfig": {"S3Uri": "s3://a/m.tar.gz", "Framework": "XGBOOST"},
        "OutputConfig": {"S3OutputLocation": "s3://a/o", "TargetDevice": "rasp4b"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 900}})
    stubber.add_response("describe_compilation_job", _described("COMPLETED"), {"CompilationJobName": "neo-abc123def456-2"})
    with stubber:
        described = _compile(client)
    assert (described["CompilationJobStatus"], described["CompilationJobName"]) == ("COMPLETED", "neo-abc123def456")
    stubber.assert_no_pending_responses()


def test_a_job_of_that_name_compiling_another_model_is_refused():
    client, stubber = _stubbed()
    stubber.add_client_error("create_compilation_job", "ResourceInUse", "already exists")
    stubber.add_response("describe_compilation_job", _described(
        "COMPLETED", InputConfig={"S3Uri": "s3://other/model.tar.gz", "Framework": "XGBOOST"}))
    with stubber, pytest.raises(SystemExit, match="compilation job neo-abc123def456 exists and compiles another "
                                                  "model .s3://other/model.tar.gz.: not this execution's"):
        _compile(client)


def test_a_failed_compilation_fails_the_step_with_its_reason():
    client, stubber = _stubbed()
    stubber.add_response("create_compilation_job", {"CompilationJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:"
                                                                         "compilation-job/neo-abc123def456"})
    stubber.add_response("describe_compilation_job", _described(
        "FAILED", FailureReason="ClientError: InputConfiguration: Invalid XGBoost model"))
    with stubber, pytest.raises(SystemExit, match="compilation job neo-abc123def456 FAILED: ClientError: "
                                                  "InputConfiguration: Invalid XGBoost model"):
        neo_compile.main(ARGS, sagemaker=client)


def test_a_compilation_that_does_not_end_is_stopped_and_fails_the_step():
    client, stubber = _stubbed()
    stubber.add_response("create_compilation_job", {"CompilationJobArn": "arn:x"})
    stubber.add_response("describe_compilation_job", _described("INPROGRESS"))
    stubber.add_response("describe_compilation_job", _described("INPROGRESS"))
    stubber.add_response("stop_compilation_job", {}, {"CompilationJobName": "neo-abc123def456"})
    times = iter([0, 0, 3601])
    with stubber, pytest.raises(SystemExit, match="still INPROGRESS after 3600 s: stopped it"):
        _compile(client, clock=lambda: next(times))
    stubber.assert_no_pending_responses()
