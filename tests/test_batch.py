"""BatchInference: the model, its bucket, the SDK-defined transform pipeline, its schedule and failed-run alarm."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Stack

from constructs_lib.batch import BatchInference
from constructs_lib.errors import ConfigError
from constructs_lib.variants import ModelSource
from support import check_assembly, nag_app, no_aws_calls, synth_checked
from test_endpoint import ENV, V1


@pytest.fixture(scope="module")
def built():
    with no_aws_calls() as calls:  # the SDK describes the pipeline offline
        app = nag_app()
        stack = Stack(app, "Batch", env=ENV)
        batch = BatchInference(stack, "Batch", model=V1, pipeline_name="churn-batch-prod", instance_type="ml.m5.xlarge",
                               instance_count=2, schedule="cron(0 2 * * ? *)")
        template = check_assembly(synth_checked(app))["Batch"]  # cdk-nag and cfn-lint clean
    assert calls == []
    return batch, template


def by_type(template: dict, type_: str) -> dict:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == type_}


def test_one_transform_step_over_the_input_prefix_into_a_folder_per_run(built):
    batch, template = built
    definition = json.loads(batch.definition)
    (step,) = definition["Steps"]
    arguments = step["Arguments"]
    assert (step["Type"], arguments["TransformResources"]["InstanceType"],
            arguments["TransformResources"]["InstanceCount"]) == ("Transform", "ml.m5.xlarge", 2)
    assert arguments["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == {"Get": "Parameters.InputData"}
    assert arguments["TransformInput"]["SplitType"] == "Line" and arguments["TransformOutput"]["AssembleWith"] == "Line"
    output = arguments["TransformOutput"]["S3OutputPath"]["Std:Join"]["Values"]
    assert output[0].endswith("/batch/output") and output[1] == {"Get": "Execution.PipelineExecutionId"}
    (parameter,) = definition["Parameters"]
    assert parameter["Name"] == "InputData" and parameter["DefaultValue"].endswith("/batch/input/")
    # the model the stack creates, encrypted outputs and volumes with the construct's key
    (model_id,) = by_type(template, "AWS::SageMaker::Model")
    (pipeline,) = by_type(template, "AWS::SageMaker::Pipeline").values()
    body = json.dumps(pipeline["PipelineDefinition"]["PipelineDefinitionBody"])
    assert f'"{model_id}", "ModelName"' in body and "KmsKeyId" in body and "VolumeKmsKeyId" in body
    (model,) = by_type(template, "AWS::SageMaker::Model").values()
    assert model["PrimaryContainer"] == {"ModelPackageName": V1.container["ModelPackageName"]}
    assert model["EnableNetworkIsolation"] is True


def _statements(template: dict, role: str) -> dict:
    found: dict = {}
    for key, policy in by_type(template, "AWS::IAM::Policy").items():
        if key.startswith(f"Batch{role}"):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                for action in actions:
                    found.setdefault(action, []).append(json.dumps(statement["Resource"]))
    return found


def test_the_model_reads_only_inputs_and_writes_only_results_and_the_pipeline_only_runs_transforms(built):
    _, template = built
    model = _statements(template, "ModelRole")
    assert all("/batch/input/*" in r for r in model["s3:GetObject"] if "Batch" in r)
    assert all("/batch/output/*" in r for r in model["s3:PutObject"])
    pipeline = _statements(template, "PipelineRole")
    assert set(pipeline) == {"sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob",
                             "sagemaker:StopTransformJob", "sagemaker:AddTags", "kms:CreateGrant", "kms:DescribeKey"}
    assert "kms:Encrypt" in model  # transform output encrypted with KmsKeyId, by the model's role


def test_a_schedule_starts_it_and_a_failed_run_notifies_and_alarms(built):
    batch, template = built
    (schedule,) = by_type(template, "AWS::Scheduler::Schedule").values()
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    (rule,) = by_type(template, "AWS::Events::Rule").values()
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["SageMaker Model Building Pipeline Execution Status Change"]
    assert pattern["detail"] == {"currentPipelineExecutionStatus": ["Failed"]}
    assert json.dumps(pattern["resources"]).endswith(':sagemaker:eu-west-1:333333333333:pipeline/churn-batch-prod"]]}]')
    (topic,) = by_type(template, "AWS::SNS::Topic")
    assert rule["Targets"][0]["Arn"] == {"Ref": topic}
    (alarm,) = by_type(template, "AWS::CloudWatch::Alarm").values()
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("AWS/Events", "TriggeredRules", 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"pipeline_name": "bad_name"}, "pipeline_name: must be 1-256 characters"),
    ({"instance_type": "m5.xlarge"}, "instance_type: must be a SageMaker batch transform instance type"),
    # a real-time type that batch transform does not offer
    ({"instance_type": "ml.t2.medium"}, "instance_type: must be a SageMaker batch transform instance type"),
    ({"split_type": "None"}, "strategy: must be SingleRecord when split_type is None"),
    ({"content_type": ""}, "content_type: must be a MIME type of at most 1024 ASCII characters"),
    ({"instance_count": 0}, "instance_count: must be between 1 and 100 instances, got 0"),
    ({"max_payload_mb": 101}, "max_payload_mb: must be between 0 and 100 MB, got 101"),
    ({"split_type": "Lines"}, "split_type: must be one of None, Line, RecordIO, TFRecord, got 'Lines'"),
    ({"strategy": "Batch"}, "strategy: must be one of MultiRecord, SingleRecord, got 'Batch'"),
    ({"schedule": "cron(0 25 * * ? *)"}, "schedule: cron hours must be 0-23"),
    ({"prefix": "a*"}, "prefix: must be a key prefix"),
    ({"model": ModelSource.from_containers([ModelSource.from_image("1.dkr.ecr.eu-west-1.amazonaws.com/a:1"),
                                            ModelSource.from_image("1.dkr.ecr.eu-west-1.amazonaws.com/b:1")])},
     "model: must be one container"),
])
def test_batch_rules(kwargs, message):
    stack = Stack(None, "Bad", env=ENV)
    props = {"model": V1, "pipeline_name": "churn-batch", "instance_type": "ml.m5.xlarge"} | kwargs
    with pytest.raises(ConfigError) as error:
        BatchInference(stack, "Batch", **props)
    assert str(error.value).startswith(message), str(error.value)


def test_instances_with_local_storage_get_no_volume_key():
    """SageMaker refuses VolumeKmsKeyId for instance types with local NVMe storage (encrypted in hardware)."""
    stack = Stack(None, "Gpu", env=ENV)
    batch = BatchInference(stack, "Batch", model=V1, pipeline_name="churn-gpu", instance_type="ml.g5.xlarge")
    resources = json.loads(batch.definition)["Steps"][0]["Arguments"]["TransformResources"]
    assert "VolumeKmsKeyId" not in resources and resources["InstanceType"] == "ml.g5.xlarge"


def test_a_definition_filled_in_from_a_template_is_the_sdks_own():
    """Stages of one region and shape share one SDK build: a stage whose every copied value differs from the
    template's (characters JSON escapes, another placeholder's text, other numbers) gets exactly the SDK's own."""
    from dataclasses import replace

    from constructs_lib import batch_sdk as sdk
    from constructs_lib.build_pipeline_sdk import _offline_sdk

    first = sdk.BatchSpec(pipeline_name="a-batch", region="eu-west-1", model_name="model-a",
                          input_uri="s3://a/batch/input/", output_uri="s3://a/batch/output", kms_key="arn:key/a",
                          volume_kms_key="arn:key/a", instance_type="ml.m5.large", instance_count=1,
                          content_type="text/csv", accept="text/csv", split_type="Line", strategy="MultiRecord",
                          max_payload_mb=6)
    second = replace(first, pipeline_name="b-batch", model_name='model "b"', input_uri="s3://b/in\\zzbatchvalue1z/",
                     output_uri="s3://b/out", kms_key="arn:key/b", volume_kms_key="arn:key/c",
                     instance_type="ml.c5.2xlarge", instance_count=12, content_type="application/jsonlines",
                     accept="application/json", max_payload_mb=0)
    sdk._build_offline(first)
    templates = len(sdk._TEMPLATES)
    filled = sdk._build_offline(second)
    assert len(sdk._TEMPLATES) == templates  # the first's template served the second
    with _offline_sdk("eu-west-1"):
        assert filled == sdk._definition(second)
