"""Mode edge from the config: the example's churn-edge released to a test and then a prod thing group through its
delivery pipeline (stage stacks asserted resource by resource, cdk-nag and cfn-lint clean), and the execution
policy test and prod deploy it with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from constructs_lib.config import load_config
from constructs_lib.platform.pipeline import ModelPipelineStack
from support import check_assembly, nag_app, no_aws_calls, synth_checked
from test_components import flat

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "platform.yaml"
DEV, TEST, PROD = "111111111111", "222222222222", "333333333333"
VERSION = f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/mlops-churn-edge/3"


@pytest.fixture(scope="module")
def templates():
    config = load_config(CONFIG)
    with no_aws_calls() as calls:
        app = nag_app()
        ModelPipelineStack(app, "edge", config=config, model=config.model("churn-edge"), approved_version_arn=VERSION,
                           config_dir=CONFIG.parent, repo_root=ROOT)
        assembly = synth_checked(app)  # cdk-nag: no unacknowledged finding, stages included
    assert calls == []
    check_assembly(assembly)  # cfn-lint: no errors
    return {stack.stack_name: stack.template for stack in assembly.stacks_recursively}


def _of(template, type_):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def test_each_stage_copies_the_compiled_version_and_makes_its_component(templates):
    for stage, account in (("test", TEST), ("prod", PROD)):
        template = templates[f"mlops-churn-edge-{stage}-edge"]
        ((bucket_id, bucket),) = [(k, r) for k, r in _of(template, "AWS::S3::Bucket").items()
                                  if "AccessLogs" not in k]
        assert bucket["DeletionPolicy"] == "Retain"  # every version's artifact outlives the stack
        (release,) = _of(template, "Custom::SageMakerReleaseCheck").values()
        props = release["Properties"]
        assert (props["Check"], props["ModelPackageArn"], props["Key"], props["Bucket"]) == (
            "edge", VERSION, "churn-edge/v3.tar.gz", {"Ref": bucket_id})
        assert flat(props["ComponentArn"]) == (f"arn:aws:greengrass:eu-west-1:{account}:components:mlops.churn-edge:"
                                               "versions:1.0.3")
        recipe = json.loads(flat(props["Recipe"]).replace(json.dumps({"Ref": bucket_id}), "BUCKET")) \
            if isinstance(props["Recipe"], str) else json.loads("".join(
                "BUCKET" if part == {"Ref": bucket_id} else part for part in props["Recipe"]["Fn::Join"][1]))
        assert recipe["ComponentDescription"] == "Model churn-edge version 3, compiled by SageMaker Neo for rasp4b"
        assert recipe["Manifests"][0]["Artifacts"][0]["URI"] == "s3://BUCKET/churn-edge/v3.tar.gz"


def test_the_release_function_reads_the_dev_registry_and_writes_only_this_version(templates):
    template = templates["mlops-churn-edge-prod-edge"]
    (role,) = [r for r in _of(template, "AWS::IAM::Role").values()
               if r["Properties"].get("Description", "").startswith("Release checks")]
    statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"sagemaker:DescribeModelPackage", "greengrass:CreateComponentVersion", "s3:PutObject"} <= actions
    (bucket_id,) = [k for k in _of(template, "AWS::S3::Bucket") if "AccessLogs" not in k]
    (put,) = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert put["Resource"] == [{"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/churn-edge/v3.tar.gz"]]}]
    (describe,) = [s for s in statements if s["Action"] == "sagemaker:DescribeModelPackage"
                   or s["Action"] == ["sagemaker:DescribeModelPackage"]]
    assert "model-package/mlops-churn-edge/*" in json.dumps(describe["Resource"])


def test_the_deployment_takes_the_stage_s_rollout_abort_and_timeout(templates):
    template = templates["mlops-churn-edge-prod-edge"]
    ((_, deployment),) = _of(template, "AWS::GreengrassV2::Deployment").items()
    (release_id,) = _of(template, "Custom::SageMakerReleaseCheck")
    assert deployment["DependsOn"] == [release_id]
    props = deployment["Properties"]
    assert flat(props["TargetArn"]) == f"arn:aws:iot:eu-west-1:{PROD}:thinggroup/churn-devices-prod"
    assert props["Components"] == {"mlops.churn-edge": {"ComponentVersion": "1.0.3"}}
    jobs = props["IotJobConfiguration"]
    assert jobs["JobExecutionsRolloutConfig"]["ExponentialRate"]["BaseRatePerMinute"] == 5
    assert jobs["AbortConfig"]["CriteriaList"] == [{"FailureType": "ALL", "Action": "CANCEL", "ThresholdPercentage": 5,
                                                    "MinNumberOfExecutedThings": 20}]
    assert jobs["TimeoutConfig"] == {"InProgressTimeoutInMinutes": 30}
    assert template["Outputs"]["DeploymentId"]["Value"] == {"Fn::GetAtt": [next(iter(
        _of(template, "AWS::GreengrassV2::Deployment"))), "DeploymentId"]}


def test_the_devices_read_this_model_s_artifacts_and_nothing_else(templates):
    template = templates["mlops-churn-edge-test-edge"]
    (policy,) = [r["Properties"] for r in _of(template, "AWS::IAM::Policy").values()
                 if r["Properties"].get("Roles") == ["GreengrassV2TokenExchangeRole"]]
    read, location, decrypt = policy["PolicyDocument"]["Statement"]
    assert read["Action"] == "s3:GetObject" and json.dumps(read["Resource"]).endswith('"/churn-edge/*"]]}')
    assert location["Action"] == "s3:GetBucketLocation"
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


def test_the_pipeline_waits_on_the_devices_of_each_stage(templates):
    pipeline = templates["mlops-churn-edge-pipeline"]
    (codepipeline,) = _of(pipeline, "AWS::CodePipeline::Pipeline").values()
    actions = {s["Name"]: [a["Name"] for a in s["Actions"]] for s in codepipeline["Properties"]["Stages"]}
    assert actions["churn-edge-test"] == ["mlops-churn-edge-test-edge.Prepare", "mlops-churn-edge-test-edge.Deploy",
                                          "WaitForDevices"]
    assert actions["churn-edge-prod"][0] == "PromoteToProd" and actions["churn-edge-prod"][-1] == "WaitForDevices"
    commands = {}
    for project in _of(pipeline, "AWS::CodeBuild::Project").values():
        spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
        command = spec["phases"]["build"]["commands"][-1]
        if " edge wait " in command:
            commands[project["Properties"]["TimeoutInMinutes"]] = command
    prefix = 'mlops --role-arn "$CHECK_ROLE_ARN" --region "$ENDPOINT_REGION" edge wait "$DEPLOYMENT_ID" '
    # The step outlasts the wait by the install's 20 minutes.
    assert commands == {40: prefix + "--wait-minutes 20 --max-failed-percent 0",
                        80: prefix + "--wait-minutes 60 --min-succeeded 20 --max-failed-percent 2"}
    (approval,) = [a for s in codepipeline["Properties"]["Stages"] for a in s["Actions"] if a["Name"] == "PromoteToProd"]
    assert "thing group churn-devices-test" in approval["Configuration"]["CustomData"]


def test_the_wait_step_may_read_only_this_deployment_and_jobs(templates):
    template = templates["mlops-churn-edge-prod-edge"]
    (policy,) = [r["Properties"] for k, r in _of(template, "AWS::IAM::Policy").items() if k.startswith("ReleaseCheckRole")]
    get, jobs = policy["PolicyDocument"]["Statement"]
    (deployment_id,) = _of(template, "AWS::GreengrassV2::Deployment")
    assert get["Action"] == "greengrass:GetDeployment"
    assert get["Resource"]["Fn::Join"][1][-1] == {"Fn::GetAtt": [deployment_id, "DeploymentId"]}
    assert jobs["Action"] == ["iot:DescribeJob", "iot:ListJobExecutionsForJob"]
    assert flat(jobs["Resource"]) == f"arn:aws:iot:eu-west-1:{PROD}:job/*"


def test_the_execution_policy_covers_the_edge_stacks(templates):
    policy = json.loads((ROOT / "config" / "cfn-exec-policy.json").read_text())
    allowed = {a.split(":")[0] for s in policy["Statement"]
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    services = {"GreengrassV2": "greengrass", "SageMakerReleaseCheck": "lambda"}
    for name in ("mlops-churn-edge-test-edge", "mlops-churn-edge-prod-edge"):
        for resource in templates[name]["Resources"].values():
            service = resource["Type"].split("::")[1]
            assert services.get(service, service.lower()) in allowed, resource["Type"]
    (device_role,) = [s for s in policy["Statement"] if s["Sid"] == "EdgeDeviceRoleReadsTheArtifacts"]
    assert device_role["Resource"] == "arn:aws:iam::*:role/GreengrassV2TokenExchangeRole"
