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
    # The role is every edge model's: each stack's policy has a name of its own (CDK's default policy of an
    # imported role has the same name in every stack, so one model's deploy would replace another's grant).
    assert policy["PolicyName"] == "mlops-churn-edge-test-edge-artifacts"
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
    # The failure share is judged on the abort's sample (min_executed), as IoT's abort judges it.
    assert commands == {40: prefix + "--wait-minutes 20 --max-failed-percent 0 --min-executed 3",
                        70: prefix + "--wait-minutes 50 --min-succeeded 20 --max-failed-percent 2 --min-executed 20"}
    (approval,) = [a for s in codepipeline["Properties"]["Stages"] for a in s["Actions"] if a["Name"] == "PromoteToProd"]
    assert "thing group churn-devices-test" in approval["Configuration"]["CustomData"]


def test_the_wait_step_may_read_only_this_deployment_and_jobs(templates):
    template = templates["mlops-churn-edge-prod-edge"]
    (policy,) = [r["Properties"] for k, r in _of(template, "AWS::IAM::Policy").items() if k.startswith("ReleaseCheckRole")]
    get, jobs = policy["PolicyDocument"]["Statement"]
    (deployment_id,) = _of(template, "AWS::GreengrassV2::Deployment")
    # A failed wait cancels this deployment (and Greengrass its job, as the caller).
    assert get["Action"] == ["greengrass:GetDeployment", "greengrass:CancelDeployment"]
    assert get["Resource"]["Fn::Join"][1][-1] == {"Fn::GetAtt": [deployment_id, "DeploymentId"]}
    assert jobs["Action"] == ["iot:DescribeJob", "iot:ListJobExecutionsForJob", "iot:CancelJob"]
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


def test_each_pipeline_run_is_a_deployment_of_its_own(templates):
    """The synth step passes its build number: a run after a cancelled deployment (an abort, a failed wait)
    deploys the same version again, where an unchanged template would leave the cancelled one in place."""
    pipeline = templates["mlops-churn-edge-pipeline"]
    (synth,) = [p for p in _of(pipeline, "AWS::CodeBuild::Project").values()
                if " synth " in p["Properties"]["Source"]["BuildSpec"]]
    assert '-c release_id=\\"$CODEBUILD_BUILD_NUMBER\\"' in synth["Properties"]["Source"]["BuildSpec"]
    config = load_config(CONFIG)
    from aws_cdk import App

    app = App()
    ModelPipelineStack(app, "edge", config=config, model=config.model("churn-edge"), approved_version_arn=VERSION,
                       config_dir=CONFIG.parent, repo_root=ROOT, release_id="42")
    (stage,) = [s.template for s in app.synth().stacks_recursively if s.stack_name == "mlops-churn-edge-prod-edge"]
    (deployment,) = _of(stage, "AWS::GreengrassV2::Deployment").values()
    assert deployment["Properties"]["DeploymentName"] == "mlops-churn-edge-prod-run-42"
    # Only a model with an edge stage: the others' pipelines stay as they were.
    other = ModelPipelineStack(App(), "p", config=config, model=config.models[0], approved_version_arn=None,
                               config_dir=CONFIG.parent, repo_root=ROOT)
    assert "release_id" not in " ".join(other.delivery.synth_commands("g", {}))


def test_the_execution_policy_allows_what_cloudformation_s_greengrass_handlers_call():
    """The Deployment resource's create, update and delete handlers (its CloudFormation schema, as cfn-lint
    ships it) call Greengrass and IoT as the execution role: every action is allowed by a statement whose
    resources can match."""
    import fnmatch

    import cfnlint

    data = Path(cfnlint.__file__).parent / "data" / "schemas"
    providers = json.loads((data / "providers" / "us-east-1.json").read_text())
    schema = json.loads((data / "resources" / f"{providers['AWS::GreengrassV2::Deployment']}.json").read_text())
    policy = json.loads((ROOT / "config" / "cfn-exec-policy.json").read_text())
    allowed = {}
    for statement in policy["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        for action in actions:
            allowed.setdefault(action, []).extend(resources)
    needed = {a for handler in ("create", "update", "delete") for a in schema["handlers"][handler]["permissions"]}
    missing = sorted(a for a in needed if a not in allowed)
    assert missing == [], missing
    # Each against the resource it acts on, in the stage's account and region.
    arns = {"greengrass:GetDeployment": "arn:aws:greengrass:eu-west-1:333333333333:deployments:d-1",
            "iot:CreateJob": "arn:aws:iot:eu-west-1:333333333333:job/j-1",
            "iot:DescribeThingGroup": "arn:aws:iot:eu-west-1:333333333333:thinggroup/churn-devices-prod"}
    for action, arn in arns.items():
        assert any(fnmatch.fnmatch(arn, pattern) for pattern in allowed[action]), action


@pytest.mark.parametrize("changes, message", [
    ({"models.7.stages.prod.edge.devices": 10}, "models[7].stages.prod.edge.abort.min_executed: must be at most "
                                                "edge.devices (10: the abort could never judge), got 20"),
    ({"models.7.stages.prod.edge.devices": 30, "models.7.stages.prod.edge.verify.min_succeeded_devices": 40},
     "models[7].stages.prod.edge.verify.min_succeeded_devices: must be at most edge.devices (30: the pipeline's "
     "wait could never pass), got 40"),
    ({"models.0.build.edge": {"device": "rasp4b"}, "models.0.build.retrain_on_drift": KeyError, "models.0.stages.prod": {
        "mode": "edge", "edge": {"thing_group": "other-devices", "component_name": "mlops.churn-edge"}}},
     "models[7].stages.prod.edge.component_name: is model churn-predictor's too: one model per component"),
])
def test_an_edge_stage_that_could_never_judge_or_collides_is_refused(changes, message):
    from constructs_lib.config import parse_config
    from constructs_lib.errors import ConfigError
    from test_bad_input import mutate

    with pytest.raises(ConfigError) as error:
        parse_config(mutate(changes))
    assert str(error.value).startswith(message), str(error.value)


def test_a_release_id_that_is_not_a_build_number_is_one_line():
    from aws_cdk import App

    from constructs_lib.errors import ConfigError
    from stacks.app import build_app

    with pytest.raises(ConfigError, match=r"^context release_id: must be 1-64 letters, digits or '-'"):
        build_app(App(context={"release_id": "a b", "only_model": "churn-edge", "release_only": "true"}), ROOT)
