"""DeliveryPipeline as a library construct: stage order, cross-account deploy roles, check steps, approvals,
notifications, the synth step's resolver scope and shell logic, and eager validation.

One app, synthesised once: a pipeline in 111111111111/eu-west-1 releasing to a test stage (222222222222,
same region) and a prod stage in another account AND region (333333333333/eu-central-1, which brings CDK
Pipelines' cross-region support stack), with a second approver group and e-mail notifications.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines

from constructs_lib.delivery import (CDK_CLI_VERSION, VERSIONS_FILE, DeliveryPipeline, ReleaseStage, SmokeTest,
                                     check_step_role_name)
from constructs_lib.errors import ConfigError
from support import moto_server_process, assembly_templates, lint_errors, nag_app, no_aws_calls, synth_checked

DEV, TEST, PROD = "111111111111", "222222222222", "333333333333"
CONNECTION = f"arn:aws:codeconnections:eu-west-1:{DEV}:connection/0000"
CHECK_INSTALL = "pip install -e . -c requirements.txt"  # a lighter install for the check steps


class TinyStage(cdk.Stage):
    """A stage whose only stack has the two outputs the checks read (no endpoint: keeps this module fast)."""

    def __init__(self, scope, id: str, account: str, region: str) -> None:
        super().__init__(scope, id, env=cdk.Environment(account=account, region=region))
        self.stack = cdk.Stack(self, "Endpoint", stack_name=f"{id}-endpoint")
        cdk.CfnWaitConditionHandle(self.stack, "Placeholder")
        self.endpoint_name = cdk.CfnOutput(self.stack, "EndpointName", value=f"{id}-ep")
        self.endpoint_config_name = cdk.CfnOutput(self.stack, "EndpointConfigName", value=f"{id}-ep-config-1")


def check_role(scope, account: str, name: str) -> iam.IRole:
    return iam.Role.from_role_arn(scope, name, f"arn:aws:iam::{account}:role/{name}", mutable=False)


def build(app, *, second_approver: bool = True, emails=("ops@example.com",)):
    stack = cdk.Stack(app, "Pipe", env=cdk.Environment(account=DEV, region="eu-west-1"))
    source = pipelines.CodePipelineSource.connection("org/repo", "main", connection_arn=CONNECTION)
    delivery = DeliveryPipeline(
        stack, "Delivery", pipeline_name="mlops-m-delivery", source=source, model_package_group_name="m-group",
        app_context={"only_model": "m"}, check_install_commands=[CHECK_INSTALL],
        second_approver_group=iam.Group.from_group_name(stack, "Approvers", "release-approvers")
        if second_approver else None,
        notification_emails=list(emails))
    test = TinyStage(stack, "m-test", TEST, "eu-west-1")
    prod = TinyStage(stack, "m-prod", PROD, "eu-central-1")
    delivery.add_release(
        test=ReleaseStage(test, endpoint_name=test.endpoint_name, endpoint_config_name=test.endpoint_config_name,
                          check_role=check_role(stack, TEST, "m-test-checks"),
                          smoke_test=SmokeTest("models/m/sample_payloads", invocations=50,
                                               latency_p95=cdk.Duration.millis(300), content_type="text/csv")),
        prod=ReleaseStage(prod, endpoint_name=prod.endpoint_name, endpoint_config_name=prod.endpoint_config_name,
                          check_role=check_role(stack, PROD, "m-prod-checks")))
    managers = iam.Role(stack, "ReleaseManagers", assumed_by=iam.AccountRootPrincipal())
    delivery.grant_prod_approval(managers)
    return delivery


@pytest.fixture(scope="module")
def templates():
    with no_aws_calls() as calls:
        app = nag_app()
        build(app)
        assembly = synth_checked(app)  # cdk-nag: no unacknowledged finding, support stack included
    assert calls == []
    templates = assembly_templates(assembly)
    # cfn-lint: no errors (IGNORED_LINT_RULES) in what the construct makes; the TinyStage stacks are scaffolding.
    for name in ("Pipe", "cross-region-stack-111111111111:eu-central-1"):
        assert lint_errors(*templates[name]) == [], name
    return {name: t for name, (t, _) in templates.items()}


@pytest.fixture(scope="module")
def template(templates):
    return templates["Pipe"]


def resources(template, type_):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def stages(template) -> dict[str, list[dict]]:
    (pipeline,) = resources(template, "AWS::CodePipeline::Pipeline").values()
    return {s["Name"]: s["Actions"] for s in pipeline["Properties"]["Stages"]}


def action(template, stage: str, name: str) -> dict:
    return next(a for a in stages(template)[stage] if a["Name"] == name)


def project_of(template, act: dict) -> dict:
    return template["Resources"][act["Configuration"]["ProjectName"]["Ref"]]["Properties"]


def buildspec(template, act: dict) -> dict:
    return json.loads(project_of(template, act)["Source"]["BuildSpec"])


def role_statements(template, act: dict) -> list[dict]:
    role = project_of(template, act)["ServiceRole"]["Fn::GetAtt"][0]
    return [s for p in resources(template, "AWS::IAM::Policy").values()
            if {"Ref": role} in p["Properties"].get("Roles", []) for s in p["Properties"]["PolicyDocument"]["Statement"]]


def flat(value) -> str:
    """A rendered ARN (Fn::Join of partition Ref and literals) as one string with ``aws`` as partition."""
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join("aws" if p == {"Ref": "AWS::Partition"} else flat(p) for p in value["Fn::Join"][1])
    return value


# --------------------------------------------------------------------------------------------- order
def test_stages_in_order_with_the_approvals_before_any_prod_deploy_action(template):
    order = stages(template)
    assert list(order) == ["Source", "Build", "UpdatePipeline", "m-test", "m-prod"]
    assert [a["Name"] for a in order["Build"]] == ["Synth"]
    assert [a["Name"] for a in order["UpdatePipeline"]] == ["SelfMutate"]
    by_run = sorted(order["m-prod"], key=lambda a: a["RunOrder"])
    assert [(a["Name"], a["ActionTypeId"]["Category"]) for a in by_run] == [
        ("PromoteToProd", "Approval"), ("SecondApproval", "Approval"), ("endpoint.Prepare", "Deploy"),
        ("endpoint.Deploy", "Deploy"), ("VerifyDeployment", "Build")]
    assert len({a["RunOrder"] for a in by_run}) == len(by_run)  # strictly sequential
    test_run = sorted(order["m-test"], key=lambda a: a["RunOrder"])
    assert [a["Name"] for a in test_run] == ["endpoint.Prepare", "endpoint.Deploy", "VerifyDeployment", "SmokeTest"]
    assert len({a["RunOrder"] for a in test_run}) == len(test_run)  # smoke only after verification passed


def test_self_mutation_and_encrypted_cross_account_artifacts(template):
    (pipeline,) = resources(template, "AWS::CodePipeline::Pipeline").values()
    props = pipeline["Properties"]
    assert props["Name"] == "mlops-m-delivery" and props["PipelineType"] == "V2"
    assert props["RestartExecutionOnUpdate"] is True
    stores = {s["Region"]: s["ArtifactStore"] for s in props["ArtifactStores"]}
    assert set(stores) == {"eu-west-1", "eu-central-1"}
    assert all(s["EncryptionKey"]["Type"] == "KMS" for s in stores.values())
    keys = resources(template, "AWS::KMS::Key")
    assert keys and all(k["Properties"]["EnableKeyRotation"] is True for k in keys.values())
    assert all(k["DeletionPolicy"] == "Retain" for k in keys.values())
    (bucket,) = resources(template, "AWS::S3::Bucket").values()
    assert bucket["DeletionPolicy"] == "Retain"
    mutate = buildspec(template, action(template, "UpdatePipeline", "SelfMutate"))
    assert f"aws-cdk@{CDK_CLI_VERSION}" in " ".join(mutate["phases"]["install"]["commands"])
    assert all(p["Properties"]["Environment"]["PrivilegedMode"] is False
               for p in resources(template, "AWS::CodeBuild::Project").values())


# --------------------------------------------------------------------------------------------- deploy roles
@pytest.mark.parametrize("stage,account,region,same_region", [
    ("m-test", TEST, "eu-west-1", True), ("m-prod", PROD, "eu-central-1", False)])
def test_deploy_actions_assume_the_bootstrap_roles_of_the_stage_account_and_region(template, stage, account, region,
                                                                                  same_region):
    deploys = [a for a in stages(template)[stage] if a["ActionTypeId"]["Category"] == "Deploy"]
    assert len(deploys) == 2
    for act in deploys:
        assert flat(act["RoleArn"]) == f"arn:aws:iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-{region}"
        assert act["Configuration"]["StackName"] == f"{stage}-endpoint"
        assert act.get("Region", "eu-west-1") == region
        assert ("Region" not in act) is same_region
    # The change set is created by the stage account's CloudFormation execution role (the one bootstrapped with
    # --cloudformation-execution-policies), then executed.
    prepare, execute = sorted(deploys, key=lambda a: a["RunOrder"])
    assert flat(prepare["Configuration"]["RoleArn"]) == (
        f"arn:aws:iam::{account}:role/cdk-hnb659fds-cfn-exec-role-{account}-{region}")
    assert (prepare["Configuration"]["ActionMode"], execute["Configuration"]["ActionMode"]) == (
        "CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE")


# --------------------------------------------------------------------------------------------- checks
@pytest.mark.parametrize("stage,step,account", [
    ("m-test", "VerifyDeployment", TEST), ("m-test", "SmokeTest", TEST), ("m-prod", "VerifyDeployment", PROD)])
def test_check_steps_assume_exactly_the_stage_check_role(template, stage, step, account):
    act = action(template, stage, step)
    role_arn = f"arn:aws:iam::{account}:role/{stage}-checks"
    assume = [s for s in role_statements(template, act) if "sts:AssumeRole" in str(s["Action"])]
    assert assume == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": role_arn}]
    # The step runs as the stage's own named role: what the stage's check role trusts by aws:PrincipalArn.
    region = "eu-west-1" if stage == "m-test" else "eu-central-1"
    role_id = project_of(template, act)["ServiceRole"]["Fn::GetAtt"][0]
    assert template["Resources"][role_id]["Properties"]["RoleName"] == check_step_role_name(
        "mlops-m-delivery", account, region) == f"mlops-m-delivery-checks-{account}-{region}"
    env = {v["Name"]: v["Value"] for v in project_of(template, act)["Environment"]["EnvironmentVariables"]}
    region = "eu-west-1" if stage == "m-test" else "eu-central-1"
    assert env == {"CHECK_ROLE_ARN": role_arn, "ENDPOINT_REGION": region}
    # The endpoint and the config just deployed come from this stage's stack outputs (CodePipeline variables).
    variables = {v["name"]: v["value"] for v in json.loads(act["Configuration"]["EnvironmentVariables"])}
    deploy = action(template, stage, "endpoint.Deploy")
    namespace = deploy["Namespace"]
    assert variables == {"ENDPOINT_NAME": f"#{{{namespace}.EndpointName}}",
                         "ENDPOINT_CONFIG_NAME": f"#{{{namespace}.EndpointConfigName}}"}


@pytest.mark.parametrize("stage", ["m-test", "m-prod"])
def test_verification_runs_mlops_verify_on_the_deployed_config(template, stage):
    spec = buildspec(template, action(template, stage, "VerifyDeployment"))
    assert spec["phases"]["install"]["commands"] == [CHECK_INSTALL]
    assert spec["phases"]["build"]["commands"] == [
        'mlops --role-arn "$CHECK_ROLE_ARN" --region "$ENDPOINT_REGION" verify "$ENDPOINT_NAME" '
        '--expected-config "$ENDPOINT_CONFIG_NAME" --timeout 1800 --poll-interval 30']


def test_verify_command_parses_as_the_mlops_cli_expects():
    """The step's command line against the real ``mlops`` parser: a flag typo would fail here, not in CodeBuild."""
    import shlex

    from constructs_lib.ops.cli import build_parser

    env = {"CHECK_ROLE_ARN": "arn:aws:iam::222222222222:role/r", "ENDPOINT_REGION": "eu-west-1",
           "ENDPOINT_NAME": "ep", "ENDPOINT_CONFIG_NAME": "ep-config-1"}
    command = DeliveryPipeline.verify_command(cdk.Duration.minutes(20))
    for name, value in env.items():
        command = command.replace(f'"${name}"', shlex.quote(value))
    argv = shlex.split(command)
    assert argv[0] == "mlops"
    args = build_parser().parse_args(argv[1:])
    assert (args.role_arn, args.region, args.endpoint, args.expected_config, args.timeout) == (
        env["CHECK_ROLE_ARN"], "eu-west-1", "ep", "ep-config-1", 1200)
    assert args.handler.__module__ == "constructs_lib.ops.verify"

    smoke = DeliveryPipeline.smoke_command(SmokeTest("models/m/sample payloads", invocations=7,
                                                     latency_p95=cdk.Duration.millis(250), content_type="text/csv"))
    for name, value in env.items():
        smoke = smoke.replace(f'"${name}"', shlex.quote(value))
    args = build_parser().parse_args(shlex.split(smoke)[1:])
    assert (args.endpoint, args.payloads, args.invocations, args.p95_ms, args.content_type, args.stream) == (
        "ep", "models/m/sample payloads", 7, 250.0, "text/csv", False)
    assert args.handler.__module__ == "constructs_lib.ops.smoke"
    streamed = DeliveryPipeline.smoke_command(SmokeTest("models/m/sample_payloads", stream=True))
    for name, value in env.items():
        streamed = streamed.replace(f'"${name}"', shlex.quote(value))
    assert build_parser().parse_args(shlex.split(streamed)[1:]).stream is True


def test_smoke_step_uses_the_stage_checks(template):
    spec = buildspec(template, action(template, "m-test", "SmokeTest"))
    assert spec["phases"]["build"]["commands"] == [
        'mlops --role-arn "$CHECK_ROLE_ARN" --region "$ENDPOINT_REGION" smoke "$ENDPOINT_NAME" '
        "--payloads models/m/sample_payloads --invocations 50 --p95-ms 300 --content-type text/csv"]
    assert "SmokeTest" not in [a["Name"] for a in stages(template)["m-prod"]]  # prod has no smoke test here


# --------------------------------------------------------------------------------------------- synth step
def test_synth_step_resolves_this_group_then_synthesises_with_the_pinned_cli(template):
    spec = buildspec(template, action(template, "Build", "Synth"))
    assert spec["phases"]["install"]["commands"] == ["pip install -r requirements.txt"]
    assert spec["phases"]["build"]["commands"][:4] == [
        f"rm -f {VERSIONS_FILE}",
        f"APPROVED_VERSION=$(mlops resolve m-group --write {VERSIONS_FILE}) || test $? -eq 3",
        "export APPROVED_VERSION",
        f"npx --yes aws-cdk@2.1148.1 synth -c only_model=m -c approved_versions={VERSIONS_FILE}"]
    assert spec["artifacts"]["base-directory"] == "cdk.out"


def test_synth_role_may_only_read_this_groups_versions(template):
    statements = role_statements(template, action(template, "Build", "Synth"))
    sagemaker = [s for s in statements if "sagemaker:" in str(s["Action"])]
    assert [(sorted(s["Action"]) if isinstance(s["Action"], list) else [s["Action"]],
             [flat(r) for r in s["Resource"]] if isinstance(s["Resource"], list) else flat(s["Resource"]))
            for s in sagemaker] == [
        (["sagemaker:DescribeModelPackageGroup"], f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package-group/m-group"),
        (["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
         [f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package-group/m-group",
          f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/m-group/*"])]
    assert all(s["Effect"] == "Allow" for s in sagemaker)
    assert not [s for s in statements if "sts:AssumeRole" in str(s["Action"])]


def run_resolve_lines(env: dict, workdir: Path) -> subprocess.CompletedProcess:
    """The synth step's commands before ``cdk synth`` (clean, resolve), run by bash -e as CodeBuild runs them."""
    script = "\n".join(DeliveryPipeline.synth_commands("m-group", {})[:3] + ['echo "version=$APPROVED_VERSION"'])
    bin_dir = str(Path(sys.executable).parent)  # where the venv's `mlops` console script lives
    full_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(workdir), "AWS_DEFAULT_REGION": "eu-west-1",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true", **env}
    return subprocess.run(["bash", "-ec", script], cwd=workdir, env=full_env, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def moto_url():
    """A moto server process on 127.0.0.1 (the registry the synth step reads)."""
    with moto_server_process() as url:
        yield url


def test_synth_step_writes_the_newest_approved_version_and_tolerates_none_yet(moto_url, tmp_path):
    import boto3

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": moto_url}
    versions = tmp_path / VERSIONS_FILE
    versions.parent.mkdir()
    versions.write_text('{"m-group": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/m-group/99"}')
    # Nothing approved (the group does not even exist yet): not a failure, and no stale version survives.
    result = run_resolve_lines(env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "m-group not found" in result.stderr
    assert not versions.exists()
    assert result.stdout == "version=\n"  # the pipeline variable is empty

    sagemaker = boto3.client("sagemaker", region_name="eu-west-1", endpoint_url=moto_url,
                             aws_access_key_id="testing", aws_secret_access_key="testing")
    sagemaker.create_model_package_group(ModelPackageGroupName="m-group")
    arns = [sagemaker.create_model_package(
        ModelPackageGroupName="m-group", ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/m:1"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"] for status in ("Approved", "Approved", "PendingManualApproval")]
    result = run_resolve_lines(env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(versions.read_text()) == {"m-group": arns[1]}  # the newest approved, not the pending one
    assert result.stdout == f"version={arns[1]}\n"  # and the pipeline variable the release phases read


def test_synth_step_fails_when_the_registry_cannot_be_read(tmp_path):
    """Any resolver failure but "nothing approved" (exit 3) fails the build: here, no credentials (exit 4)."""
    result = run_resolve_lines({}, tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: no AWS credentials found")


# --------------------------------------------------------------------------------------------- approvals
def test_second_approval_is_restricted_to_the_group_on_that_action_only(template):
    (policy,) = [p for p in resources(template, "AWS::IAM::Policy").values()
                 if p["Properties"].get("Groups")]
    assert policy["Properties"]["Groups"] == ["release-approvers"]
    statement, read = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "codepipeline:PutApprovalResult"
    assert (read["Action"], flat(read["Resource"])) == (
        "codepipeline:GetPipelineState", f"arn:aws:codepipeline:eu-west-1:{DEV}:mlops-m-delivery")
    pipeline_name, stage, act = flat(statement["Resource"]).split(":", 5)[5].split("/")
    assert flat(statement["Resource"]).startswith(f"arn:aws:codepipeline:eu-west-1:{DEV}:")
    assert (pipeline_name, stage, act) == ("mlops-m-delivery", "m-prod", "SecondApproval")
    assert action(template, stage, act)["ActionTypeId"]["Category"] == "Approval"  # names the real action


def test_grant_prod_approval_allows_that_approval_only(template):
    (policy,) = [p for p in resources(template, "AWS::IAM::Policy").values()
                 if p["Properties"].get("Roles") == [{"Ref": next(k for k in resources(template, "AWS::IAM::Role")
                                                                  if k.startswith("ReleaseManagers"))}]]
    granted = [(s["Action"], flat(s["Resource"])) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    pipeline_arn = f"arn:aws:codepipeline:eu-west-1:{DEV}:mlops-m-delivery"
    assert granted == [("codepipeline:PutApprovalResult", f"{pipeline_arn}/m-prod/PromoteToProd"),
                       ("codepipeline:GetPipelineState", pipeline_arn)]
    assert action(template, "m-prod", "PromoteToProd")["ActionTypeId"]["Category"] == "Approval"
    with pytest.raises(ConfigError) as error:
        _pipeline().grant_prod_approval(iam.AccountRootPrincipal())
    assert str(error.value) == "grant_prod_approval: needs the prod approval: call add_release first"


def test_notifications_topic_is_encrypted_tls_only_and_gets_failures_and_approvals(template):
    (topic_id, topic), = resources(template, "AWS::SNS::Topic").items()
    assert "KmsMasterKeyId" in topic["Properties"]
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
    (sub,) = resources(template, "AWS::SNS::Subscription").values()
    assert (sub["Properties"]["Protocol"], sub["Properties"]["Endpoint"]) == ("email", "ops@example.com")
    (rule,) = resources(template, "AWS::CodeStarNotifications::NotificationRule").values()
    assert sorted(rule["Properties"]["EventTypeIds"]) == [
        "codepipeline-pipeline-manual-approval-needed", "codepipeline-pipeline-pipeline-execution-failed"]
    assert flat(rule["Properties"]["Resource"]) == f"arn:aws:codepipeline:eu-west-1:{DEV}:mlops-m-delivery"
    (pipeline_id,) = resources(template, "AWS::CodePipeline::Pipeline")
    assert pipeline_id in rule["DependsOn"]  # the rule is created after the pipeline it watches
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_policy = json.dumps(template["Resources"][key_id]["Properties"]["KeyPolicy"])
    assert "codestar-notifications.amazonaws.com" in key_policy


def test_what_cdk_pipelines_generates_is_finished_before_read_only_aspects_run():
    """Finishing the generated pipeline (its artifact bucket's expiry, cfn-lint's exception on the pipeline
    resource, the acknowledgments) is a mutating aspect, not a side effect of validation: checks that run as
    read-only aspects see the finished tree."""
    import jsii
    from aws_cdk import aws_codepipeline as codepipeline

    delivery = _pipeline()
    seen = []

    @jsii.implements(cdk.IAspect)
    class Look:
        def visit(self, node):
            if isinstance(node, codepipeline.CfnPipeline):
                seen.append(node.get_metadata("cfn-lint"))

    cdk.Aspects.of(delivery.node.root).add(Look(), priority=cdk.AspectPriority.READONLY)
    delivery.node.root.synth()
    assert seen == [{"config": {"ignore_checks": ["E3703"]}}]


# --------------------------------------------------------------------------------------------- validation
def _pipeline(**overrides):
    app = cdk.App()
    stack = cdk.Stack(app, "S", env=cdk.Environment(account=DEV, region="eu-west-1"))
    props = dict(pipeline_name="p", source=pipelines.CodePipelineSource.connection(
        "o/r", "main", connection_arn=CONNECTION), model_package_group_name="g")
    props.update(overrides)
    return DeliveryPipeline(stack, "D", **props)


@pytest.mark.parametrize("overrides,message", [
    ({"pipeline_name": "has space"}, "pipeline_name: must be 1-100 characters of A-Z a-z 0-9 . @ _ -, got 'has space'"),
    ({"model_package_group_name": "bad_name"}, "model_package_group_name: must be 1-63 characters of letters, "
     "digits and single or repeated hyphens, starting and ending with a letter or digit "
     "([a-zA-Z0-9](-*[a-zA-Z0-9])*), got 'bad_name'"),
    ({"cdk_cli_version": "3.0.1"}, "cdk_cli_version: must be a 2.x CDK CLI version like 2.1148.1 (CLI 3.x refuses "
                                   "aws-cdk-lib 2.x assemblies), got '3.0.1'"),
    ({"notification_emails": ["ops"]}, "notification_emails[0]: must be an e-mail address, got 'ops'"),
    ({"notification_emails": ["a@b.io", "A@b.io"]}, "notification_emails: lists one address twice: 'a@b.io' "
                                                    "(entry 0) and 'A@b.io' (entry 1) are the same ignoring case"),
    ({"install_commands": []}, "install_commands: must hold at least one command, got []"),
    ({"check_install_commands": []}, "check_install_commands: must hold at least one command (or be None), got []"),
])
def test_bad_pipeline_props_fail_eagerly(overrides, message):
    with pytest.raises(ConfigError) as error:
        _pipeline(**overrides)
    assert str(error.value) == message


@pytest.mark.parametrize("kwargs,message", [
    ({"payloads_dir": "../outside"}, "payloads_dir: must be a folder relative to the repository root (no '..', "
                                     "not absolute), got '../outside'"),
    ({"payloads_dir": "/abs/dir"}, "payloads_dir: must be a folder relative to the repository root (no '..', "
                                   "not absolute), got '/abs/dir'"),
    ({"payloads_dir": "p", "invocations": 0}, "invocations: must be between 1 and 1000, got 0"),
    ({"payloads_dir": "p", "latency_p95": cdk.Duration.millis(0)}, "latency_p95: must be at least 1 ms, got 0"),
])
def test_bad_smoke_test_fails_eagerly(kwargs, message):
    with pytest.raises(ConfigError) as error:
        SmokeTest(**kwargs)
    assert str(error.value) == message


def test_release_rules():
    delivery = _pipeline()
    stack = cdk.Stack.of(delivery)
    a, b = TinyStage(stack, "a", TEST, "eu-west-1"), TinyStage(stack, "b", TEST, "eu-west-1")
    ids = itertools.count()

    def release(stage, **kw):
        return ReleaseStage(stage, endpoint_name=stage.endpoint_name, endpoint_config_name=stage.endpoint_config_name,
                            check_role=check_role(stack, stage.account, f"role-{next(ids)}"), **kw)

    with pytest.raises(ConfigError) as error:
        release(a, verify_timeout=cdk.Duration.hours(2))
    assert str(error.value) == "verify_timeout: must be between 1 and 55 minutes, got 120"
    with pytest.raises(ConfigError) as error:
        delivery.add_release(test=release(a), prod=release(b))
    assert str(error.value) == ("prod.stage: must deploy to another account or region than the test stage, got "
                                f"{TEST}/eu-west-1 for both")
    c = TinyStage(stack, "c", PROD, "eu-west-1")
    delivery.add_release(test=release(a), prod=release(c))
    with pytest.raises(ConfigError) as error:
        delivery.add_release(test=release(a), prod=release(c))
    assert str(error.value) == "add_release: can be called once per pipeline (one release path), got a second call"
    envless = cdk.Stage(stack, "envless")
    with pytest.raises(ConfigError) as error:
        ReleaseStage(envless, endpoint_name=a.endpoint_name, endpoint_config_name=a.endpoint_config_name,
                     check_role=check_role(stack, TEST, "role-envless"))
    assert str(error.value).startswith("stage: must be a Stage with an explicit account and region, got ")


def test_synth_step_lints_every_template_with_the_tested_cfn_lint():
    """The pipeline's cfn-lint gate runs the version the tests pin, fails on errors only, in every region."""
    from pathlib import Path

    from constructs_lib.delivery import CFN_LINT_VERSION

    pins = (Path(__file__).resolve().parents[1] / "tests" / "requirements.txt").read_text()
    assert f"cfn-lint=={CFN_LINT_VERSION}" in pins
    commands = DeliveryPipeline.synth_commands("g", {}, lint_regions=["eu-west-1", "us-east-1"])
    assert commands[-2] == f"pip install cfn-lint=={CFN_LINT_VERSION}"
    assert commands[-1].endswith("cfn-lint --non-zero-exit-code error --regions eu-west-1 us-east-1 --")


def test_e3703_is_ignored_on_the_codepipeline_resource_only(template):
    (pipeline,) = resources(template, "AWS::CodePipeline::Pipeline").values()
    assert pipeline["Metadata"]["cfn-lint"] == {"config": {"ignore_checks": ["E3703"]}}
    others = [r for r in template["Resources"].values() if "cfn-lint" in r.get("Metadata", {})]
    assert others == [pipeline]
