"""ModelPipelineStack from the config: the example model's pipeline with its test and prod stages (check roles
named as the endpoint stacks name them), and pipelines that have no stages yet (CodeCommit and S3 sources)."""

from __future__ import annotations

import ast
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
import yaml

from constructs_lib.config import load_config, parse_config
from constructs_lib.delivery import VERSIONS_FILE, DeliveryPipeline
from constructs_lib.errors import ConfigError
from constructs_lib.platform.pipeline import (OPS_RUNTIME_PACKAGES, ModelPipelineStack, approval_target, check_install_commands,
                             release_install_commands,
                             delivery_pipeline_name, needs_approved_version, pipeline_stack_name)
from support import check_assembly, nag_app, no_aws_calls, synth_checked

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "platform.yaml"
DEV, TEST, PROD = "111111111111", "222222222222", "333333333333"
VERSION = f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/mlops-churn-predictor/2"


def example_data() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def variant_config(project: str, source: dict, **pipeline) -> object:
    data = example_data()
    data["project"] = project
    data["pipeline"] = {"source": source, **pipeline}
    return parse_config(data)


@pytest.fixture(scope="module")
def assembly():
    """Three pipeline stacks in one app, synthesised once (cdk-nag as a plugin) and linted."""
    config = load_config(CONFIG)
    codecommit = variant_config("cc", {"type": "codecommit", "repository": "ml-platform", "branch": "release"},
                                second_approver_group="release-approvers", notification_emails=["ml@example.com"])
    s3 = variant_config("s3p", {"type": "s3", "bucket_name": "ml-platform-source", "object_key": "src/platform.zip"})
    with no_aws_calls() as calls:
        app = nag_app()
        for name, cfg, version in (("example", config, VERSION), ("codecommit", codecommit, None),
                                   ("s3", s3, None)):
            ModelPipelineStack(app, name, config=cfg, model=cfg.models[0], approved_version_arn=version,
                               config_dir=CONFIG.parent, repo_root=ROOT)
        assembly = synth_checked(app)  # cdk-nag: no unacknowledged finding on any stack, stages included
    assert calls == []
    check_assembly(assembly)  # cfn-lint: no errors (IGNORED_LINT_RULES)
    return assembly


@pytest.fixture(scope="module")
def template(assembly):
    return assembly.get_stack_by_name("mlops-churn-predictor-pipeline").template


def resources(template, type_):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def stages(template) -> dict[str, list[dict]]:
    (pipeline,) = resources(template, "AWS::CodePipeline::Pipeline").values()
    return {s["Name"]: sorted(s["Actions"], key=lambda a: a["RunOrder"]) for s in pipeline["Properties"]["Stages"]}


def action(template, stage: str, name: str) -> dict:
    return next(a for a in stages(template)[stage] if a["Name"] == name)


def project_of(template, act: dict) -> dict:
    return template["Resources"][act["Configuration"]["ProjectName"]["Ref"]]["Properties"]


def flat(value) -> str:
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join("aws" if p == {"Ref": "AWS::Partition"} else flat(p) for p in value["Fn::Join"][1])
    return value


def test_names_the_approval_rule_and_the_readme_rely_on(assembly, template):
    config = load_config(CONFIG)
    model = config.models[0]
    assert delivery_pipeline_name(config, model) == "mlops-churn-predictor-delivery"
    assert pipeline_stack_name(config, model) == "mlops-churn-predictor-pipeline"
    stack = assembly.get_stack_by_name("mlops-churn-predictor-pipeline")
    assert (stack.environment.account, stack.environment.region) == (DEV, "eu-west-1")
    (pipeline,) = resources(template, "AWS::CodePipeline::Pipeline").values()
    assert pipeline["Properties"]["Name"] == "mlops-churn-predictor-delivery"


def test_approval_target_starts_this_pipeline_by_name():
    from aws_cdk import aws_events as events
    from aws_cdk.assertions import Template

    config = load_config(CONFIG)
    stack = cdk.Stack(cdk.App(), "dev", env=cdk.Environment(account=DEV, region="eu-west-1"))
    events.Rule(stack, "Rule", event_pattern=events.EventPattern(source=["aws.sagemaker"]),
                targets=[approval_target(stack, config, config.models[0])])
    template = Template.from_stack(stack).to_json()
    (rule,) = resources(template, "AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    assert flat(target["Arn"]) == f"arn:aws:codepipeline:eu-west-1:{DEV}:mlops-churn-predictor-delivery"
    (policy,) = resources(template, "AWS::IAM::Policy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Action"], flat(statement["Resource"])) == ("codepipeline:StartPipelineExecution",
                                                                  flat(target["Arn"]))


def test_stateful_logical_ids_are_pinned(template):
    retained = {k: r["Type"] for k, r in template["Resources"].items() if r.get("DeletionPolicy") == "Retain"}
    assert retained == {
        "DeliveryPipelineArtifactsBucketEncryptionKeyAD3D7038": "AWS::KMS::Key",
        "DeliveryPipelineArtifactsBucketA07FB7E4": "AWS::S3::Bucket",
        "ReleaseGatesLogs88AAFFE5": "AWS::Logs::LogGroup",  # the release phases' log (their verdicts)
    }


def test_stages_in_order_and_approval_before_any_prod_deploy(template):
    order = stages(template)
    assert list(order) == ["Source", "Build", "UpdatePipeline", "churn-predictor-test", "churn-predictor-prod"]
    test, prod = "mlops-churn-predictor-test-endpoint", "mlops-churn-predictor-prod-endpoint"
    assert [a["Name"] for a in order["churn-predictor-test"]] == [
        f"{test}.Prepare", f"{test}.Deploy", "VerifyDeployment", "SmokeTest"]
    access = "mlops-churn-predictor-prod-release-access"
    # the approval, the release phases' role, the phases (shadow, A/B), the guarded rollout, its verification
    assert [a["Name"] for a in order["churn-predictor-prod"]] == [
        "PromoteToProd", f"{access}.Prepare", f"{access}.Deploy", f"{prod}.ShadowGate", f"{prod}.ABGate",
        f"{prod}.Prepare", f"{prod}.Deploy", "VerifyDeployment"]
    assert len({a["RunOrder"] for a in order["churn-predictor-prod"]}) == 8  # one after the other
    (source,) = order["Source"]
    assert source["Configuration"]["FullRepositoryId"] == "example-org/ml-platform"
    assert source["Configuration"]["BranchName"] == "main"


@pytest.mark.parametrize("stage,account", [("test", TEST), ("prod", PROD)])
def test_deploys_assume_the_stage_accounts_bootstrap_roles_and_deploy_the_endpoint_stack(template, stage, account):
    for act in stages(template)[f"churn-predictor-{stage}"]:
        if act["ActionTypeId"]["Category"] == "Deploy":
            assert flat(act["RoleArn"]) == (
                f"arn:aws:iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-eu-west-1")
            assert act["Configuration"]["StackName"] in (
                f"mlops-churn-predictor-{stage}-endpoint", f"mlops-churn-predictor-{stage}-release-access")
            assert "Region" not in act  # same region as the pipeline in the example


@pytest.mark.parametrize("stage,steps", [("test", ["VerifyDeployment", "SmokeTest"]), ("prod", ["VerifyDeployment"])])
def test_check_steps_assume_the_role_the_endpoint_stack_creates(assembly, template, stage, steps):
    stage_template = next(s.template for s in assembly.stacks_recursively
                          if s.stack_name == f"mlops-churn-predictor-{stage}-endpoint")
    (role,) = [r for k, r in resources(stage_template, "AWS::IAM::Role").items() if "ReleaseCheckRole" in k]
    account = TEST if stage == "test" else PROD
    expected = f"arn:aws:iam::{account}:role/{role['Properties']['RoleName']}"
    for step in steps:
        project = project_of(template, action(template, f"churn-predictor-{stage}", step))
        env = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
        assert flat(env["CHECK_ROLE_ARN"]) == expected
        role_id = project["ServiceRole"]["Fn::GetAtt"][0]
        assumes = [s for p in resources(template, "AWS::IAM::Policy").values()
                   if {"Ref": role_id} in p["Properties"].get("Roles", [])
                   for s in p["Properties"]["PolicyDocument"]["Statement"] if "sts:AssumeRole" in str(s["Action"])]
        assert [(s["Action"], flat(s["Resource"])) for s in assumes] == [("sts:AssumeRole", expected)]
        # the role the stage's check role trusts by aws:PrincipalArn is the one this step runs as
        trusted = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]
        name = template["Resources"][role_id]["Properties"]["RoleName"]
        assert flat(trusted["aws:PrincipalArn"]) == f"arn:aws:iam::{DEV}:role/{name}"


def test_smoke_step_runs_the_configured_checks_on_the_model_payloads(template):
    spec = json.loads(project_of(template, action(template, "churn-predictor-test", "SmokeTest"))["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"] == [
        'mlops --role-arn "$CHECK_ROLE_ARN" --region "$ENDPOINT_REGION" smoke "$ENDPOINT_NAME" '
        "--payloads config/models/churn-predictor/sample_payloads --invocations 50 --p95-ms 300 "
        "--content-type text/csv"]
    assert sorted(p.name for p in (ROOT / "config/models/churn-predictor/sample_payloads").iterdir())


def test_check_steps_install_only_what_mlops_needs_at_the_pinned_versions(template):
    lines = {line.split("==")[0]: line for line in (ROOT / "requirements.txt").read_text().splitlines()}
    pins = [lines[name] for name in OPS_RUNTIME_PACKAGES]
    for stage, step in (("test", "VerifyDeployment"), ("test", "SmokeTest"), ("prod", "VerifyDeployment")):
        spec = json.loads(project_of(template, action(template, f"churn-predictor-{stage}", step))["Source"]["BuildSpec"])
        assert spec["phases"]["install"]["commands"] == [f"pip install {' '.join(pins)} ."]
    # The release synth: the CDK, cdk-nag, Node 24 and mlops' packages, not the SageMaker SDK (~1 GB)
    synth = json.loads(project_of(template, action(template, "Build", "Synth"))["Source"]["BuildSpec"])
    release = release_install_commands(ROOT)
    assert synth["phases"]["install"]["commands"] == release
    assert "'constructs>=10.8,<11'" in release[0] and "aws-cdk-lib==" in release[0] and "sagemaker" not in release[0]


def test_mlops_starts_without_the_heavy_synth_packages():
    """Why that light install suffices: the CLI (every subcommand registered) imports none of them."""
    code = ("import sys; from constructs_lib.ops.cli import build_parser; build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    loaded = set(ast.literal_eval(result.stdout))
    assert "botocore" in loaded and "pydantic" in loaded
    assert loaded.isdisjoint({"sagemaker", "scipy", "matplotlib", "numpy", "pandas", "ruamel", "aws_cdk", "jsii",
                              "cdk_nag"}), loaded


def test_no_pins_means_the_full_install(tmp_path):
    assert check_install_commands(tmp_path) is None
    (tmp_path / "requirements.txt").write_text("boto3==1.0\npydantic==2.0\n")
    assert check_install_commands(tmp_path) is None
    (tmp_path / "requirements.txt").write_text("boto3==1.0  # why\npydantic==2.0\nPyYAML==6.0\n")
    assert check_install_commands(tmp_path) == ["pip install boto3==1.0 pydantic==2.0 PyYAML==6.0 ."]


def test_synth_step_builds_only_this_model_with_the_resolved_version(template):
    spec = json.loads(project_of(template, action(template, "Build", "Synth"))["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"][1:4] == [
        f"APPROVED_VERSION=$(mlops resolve mlops-churn-predictor --write {VERSIONS_FILE}) || test $? -eq 3",
        "export APPROVED_VERSION",
        f"npx --yes aws-cdk@2.1148.1 synth -c only_model=churn-predictor -c release_only=true "
        f"-c approved_versions={VERSIONS_FILE}"]


@pytest.mark.parametrize("name,source_type", [("cc-churn-predictor-pipeline", "CodeCommit"),
                                               ("s3p-churn-predictor-pipeline", "S3")])
def test_without_an_approved_version_the_pipeline_is_valid_and_has_no_stages(assembly, name, source_type):
    stack = assembly.get_stack_by_name(name)
    order = stages(stack.template)
    assert list(order) == ["Source", "Build", "UpdatePipeline"]  # valid: CodePipeline needs two stages or more
    (source,) = order["Source"]
    assert source["ActionTypeId"]["Provider"] == source_type
    warnings = [m.entry.data for m in stack.messages if m.entry.type == "aws:cdk:warning"]
    project = name.split("-")[0]  # the group is <project>-<model>
    assert any(f"no approved version of group {project}-churn-predictor is known" in str(w) for w in warnings)


def test_sources_from_the_config(assembly):
    cc = stages(assembly.get_stack_by_name("cc-churn-predictor-pipeline").template)["Source"][0]["Configuration"]
    assert (cc["RepositoryName"], cc["BranchName"], cc["PollForSourceChanges"]) == ("ml-platform", "release", False)
    s3 = assembly.get_stack_by_name("s3p-churn-predictor-pipeline").template
    configuration = stages(s3)["Source"][0]["Configuration"]
    assert (configuration["S3Bucket"], configuration["S3ObjectKey"], configuration["PollForSourceChanges"]) == (
        "ml-platform-source", "src/platform.zip", False)
    assert resources(s3, "AWS::Events::Rule")  # S3 uploads start it through EventBridge (CloudTrail), no polling


def test_notifications_from_the_config(assembly):
    template = assembly.get_stack_by_name("cc-churn-predictor-pipeline").template
    (sub,) = resources(template, "AWS::SNS::Subscription").values()
    assert sub["Properties"]["Endpoint"] == "ml@example.com"
    assert resources(template, "AWS::CodeStarNotifications::NotificationRule")
    assert not resources(assembly.get_stack_by_name("s3p-churn-predictor-pipeline").template, "AWS::SNS::Topic")


def test_a_new_version_does_not_change_the_pipeline_stack(template):
    """Only the stage stacks change with the version: the pipeline stack staying identical means a release
    does not cost a self-mutation round (and an approval comment cannot drift from what is deployed)."""
    config = load_config(CONFIG)
    app = cdk.App()
    ModelPipelineStack(app, "example", config=config, model=config.models[0], config_dir=CONFIG.parent,
                       approved_version_arn=VERSION.replace("/2", "/3"), repo_root=ROOT)
    assert app.synth().get_stack_by_name("mlops-churn-predictor-pipeline").template == template


def test_an_unset_content_type_leaves_it_to_each_payload_file():
    """ChecksConfig.content_type defaults to application/json, which would mislabel CSV payloads: only an
    explicit value is passed to ``mlops smoke`` (which otherwise types each file by its extension)."""
    data = example_data()
    del data["models"][0]["stages"]["test"]["checks"]["content_type"]
    config = parse_config(data)
    stack = ModelPipelineStack(cdk.App(), "p", config=config, model=config.models[0], approved_version_arn=VERSION,
                               config_dir=CONFIG.parent, repo_root=ROOT)
    smoke = stack.releases["test"].smoke_test
    assert smoke.content_type is None
    assert DeliveryPipeline.smoke_command(smoke).endswith("--p95-ms 300")


def test_needs_approved_version():
    config = load_config(CONFIG)
    assert needs_approved_version(config.models[0]) is True  # the prod variant is `model: approved`
    data = example_data()
    pinned = {"model_package_arn": f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/mlops-churn-predictor/1"}
    data["models"][0]["stages"]["test"]["variants"][0]["model"] = pinned
    data["models"][0]["stages"]["prod"]["variants"][0]["model"] = pinned
    del data["models"][0]["stages"]["prod"]["release"]  # a release plan needs the approved version
    assert needs_approved_version(parse_config(data).models[0]) is False


# --------------------------------------------------------------------------------------------- release phases
def test_the_release_phases_run_the_version_the_synth_step_resolved(template):
    """(Their place, after the approval and before the guarded rollout: test_stages_in_order_...)"""
    gates = [a["Configuration"] for a in stages(template)["churn-predictor-prod"]
             if a["ActionTypeId"]["Provider"] == "StepFunctions"]
    # The version is the synth step's variable: the pipeline stack does not change with each release.
    assert [g["Input"] for g in gates] == ['{"version_arn":"#{Build@Synth.APPROVED_VERSION}"}'] * 2
    assert [g["StateMachineArn"]["Fn::Join"][1][-1] for g in gates] == [
        f":states:eu-west-1:{DEV}:stateMachine:mlops-churn-predictor-release-shadow",
        f":states:eu-west-1:{DEV}:stateMachine:mlops-churn-predictor-release-ab"]


def definition(template, phase: str) -> dict:
    (machine,) = [r for r in resources(template, "AWS::StepFunctions::StateMachine").values()
                  if r["Properties"]["StateMachineName"] == f"mlops-churn-predictor-release-{phase}"]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))  # tokens sit inside strings


def test_a_phase_always_returns_to_the_steady_config_and_fails_unless_its_gate_passed(template):
    states = definition(template, "shadow")
    assert states["TimeoutSeconds"] == 7 * 86400
    s = states["States"]
    release = s["Release"]["Parameters"]["release"]
    assert (release["phase"], release["percent"], release["production_variant"], release["candidate_variant"],
            release["poll_seconds"], release["version_arn.$"]) == ("shadow", 50, "main", "shadow", 300, "$.version_arn")
    assert release["role_arn"] == f"arn:TOKEN:iam::{PROD}:role/mlops-churn-predictor-prod-release-phases"
    assert release["gate"] == {"min_duration_seconds": 3600, "min_requests": 1000, "max_latency_increase_pct": 10.0,
                               "max_error_rate_increase_points": 0.5, "deadline_seconds": 86400,
                               "min_agreement_pct": 80, "agreement_tolerance": 0.1, "min_agreement_pairs": 50}
    # Every task that can leave the endpoint on its trial config is caught by the restore; the restore's own
    # failure still reaches the conclusion (which then says the endpoint could not be returned).
    for task in ("StartPhase", "TrialConfigStatus", "EvaluateGate"):
        assert [(c["ErrorEquals"], c["Next"], c["ResultPath"]) for c in s[task]["Catch"]] == [
            (["States.ALL"], "RestoreSteadyConfig", "$.error")], task
    assert s["RestoreSteadyConfig"]["Catch"][0]["Next"] == "Conclude"
    assert [c["Next"] for c in s["GateDecision"]["Choices"]] == ["WaitForTraffic"]
    assert s["GateDecision"]["Default"] == "RestoreSteadyConfig"
    assert s["WaitForTraffic"] == {"Type": "Wait", "SecondsPath": "$.release.poll_seconds", "Next": "EvaluateGate"}
    assert s["AnythingToCompare"]["Choices"][0]["Next"] == "NothingToCompare"  # the first release: no endpoint yet
    outcome = {c["StringEquals"]: c["Next"] for c in s["Outcome"]["Choices"]}
    assert outcome == {"passed": "GatePassed", "failed": "GateFailed"} and s["Outcome"]["Default"] == "PhaseError"
    assert (s["GateFailed"]["Type"], s["GateFailed"]["CausePath"]) == ("Fail", "$.outcome.reason")
    for task in ("StartPhase", "TrialConfigStatus", "EvaluateGate", "RestoreSteadyConfig", "Conclude"):
        assert s[task]["Parameters"]["state.$"] == "$", task
        # Lambda's own errors, then: a PhaseError is final, a busy endpoint waited for, anything else tried again
        assert [(r["ErrorEquals"][0], r["MaxAttempts"]) for r in s[task]["Retry"]] == [
            ("Lambda.ClientExecutionTimeoutException", 6), ("PhaseError", 0), ("EndpointBusy", 60),
            ("States.ALL", 5)], task
    ab = definition(template, "ab")["States"]["Release"]["Parameters"]["release"]
    assert (ab["percent"], ab["metric"], ab["kind"], ab["candidate_variant"]) == (10, "ChurnApp/Retained", "rate",
                                                                                 "challenger")
    assert ab["gate"]["min_samples"] == 2000 and ab["gate"]["deadline_seconds"] == 6 * 86400


@pytest.mark.parametrize("phase", ["shadow", "ab"])
def test_no_path_past_the_trial_config_ends_without_the_restore(template, phase):
    """Every way out of the phase, once the trial config may have been requested (StartPhase onwards: its
    success, any caught error, any verdict), goes through RestoreSteadyConfig and then Conclude: the graph of
    the definition's transitions (Next, Choices, Default, Catch) without those states reaches no end state."""
    states = definition(template, phase)["States"]

    def successors(name: str) -> list[str]:
        state = states[name]
        return ([state["Next"]] if "Next" in state else []) + [c["Next"] for c in state.get("Choices", [])] + (
            [state["Default"]] if "Default" in state else []) + [c["Next"] for c in state.get("Catch", [])]

    def ends_reachable(start: str, without: set[str]) -> set[str]:
        seen, todo, ends = set(), [start], set()
        while todo:
            name = todo.pop()
            if name in seen or name in without:
                continue
            seen.add(name)
            if states[name]["Type"] in ("Succeed", "Fail"):
                ends.add(name)
            todo += successors(name)
        return ends

    assert ends_reachable("StartPhase", {"RestoreSteadyConfig"}) == {"NothingToCompare"}  # the skip: no trial
    assert ends_reachable("RestoreSteadyConfig", {"Conclude"}) == set()
    assert ends_reachable("StartPhase", set()) == {"NothingToCompare", "GatePassed", "GateFailed", "PhaseError"}
    # A task's uncaught error would end the execution there: every task before the conclusion catches them all.
    tasks = [name for name, state in states.items() if state["Type"] == "Task" and name != "Conclude"]
    assert sorted(tasks) == ["EvaluateGate", "RestoreSteadyConfig", "StartPhase", "TrialConfigStatus"]
    assert all(["States.ALL"] in [c["ErrorEquals"] for c in states[name]["Catch"]] for name in tasks)


def test_the_function_ships_the_ops_folder_and_may_touch_only_this_model_s_versions(template):
    (function,) = [r for r in resources(template, "AWS::Lambda::Function").values()
                   if r["Properties"]["Handler"] == "ops.release_gate.handler"]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [s for p in resources(template, "AWS::IAM::Policy").values()
                  if {"Ref": role} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
    by_action = {json.dumps(s["Action"]): s["Resource"] for s in statements}
    assert by_action['"sts:AssumeRole"']["Fn::Join"][1][-1] == (
        f":iam::{PROD}:role/mlops-churn-predictor-prod-release-phases")
    assert by_action['["ssm:GetParameter", "ssm:DeleteParameter"]'] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":ssm:eu-west-1:{DEV}:parameter/mlops/churn-predictor/"
                                                                f"release/{phase}-gate"]]} for phase in ("shadow", "ab")]
    assert by_action['["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"]'] == (
        f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/mlops-churn-predictor/*")


def test_the_function_s_asset_imports_on_its_own(assembly):
    """The release phases' function ships ``ops/`` alone (handler ``ops.release_gate.handler``): imported from
    the staged asset with only boto3 beside it (no site-packages, so not the installed library), every module
    the handler needs must come from that folder."""
    import boto3

    (handler,) = Path(assembly.directory).glob("asset.*/ops/release_gate.py")
    packages = Path(boto3.__file__).parents[1]
    code = (f"import sys; sys.path[:0] = [{str(handler.parents[1])!r}, {str(packages)!r}]; import ops.release_gate; "
            "assert 'constructs_lib' not in sys.modules")
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_release_phases_role_is_its_own_and_the_endpoint_stack_adds_what_only_it_knows(assembly):
    """The role (release-access stack, deployed before the phases) trusts the phases' function only and may run
    phases on this endpoint; the endpoint stack attaches the grants on its own role, key and capture folder, and
    tags the endpoint ready for phases."""
    by_name = {s.stack_name: s.template for s in assembly.stacks_recursively}
    access, endpoint = by_name["mlops-churn-predictor-prod-release-access"], by_name["mlops-churn-predictor-prod-endpoint"]
    (role_id, role), = resources(access, "AWS::IAM::Role").items()
    assert role["Properties"]["RoleName"] == "mlops-churn-predictor-prod-release-phases"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert flat(trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == (
        f"arn:aws:iam::{DEV}:role/mlops-churn-predictor-release-phases")

    def actions(template, match):
        return {a for p in resources(template, "AWS::IAM::Policy").values() if match(p["Properties"]["Roles"])
                for s in p["Properties"]["PolicyDocument"]["Statement"]
                for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}

    granted = actions(access, lambda roles: {"Ref": role_id} in roles)
    assert {"sagemaker:UpdateEndpoint", "sagemaker:CreateEndpointConfig", "sagemaker:DeleteEndpointConfig",
            "sagemaker:CreateModel", "sagemaker:DescribeModelPackage", "cloudwatch:GetMetricData"} <= granted
    assert not {a for a in granted if a.endswith("*") or a in ("sagemaker:DeleteEndpoint", "sagemaker:CreateEndpoint")}
    (policy,) = [p for p in resources(endpoint, "AWS::IAM::Policy").values()
                 if p["Properties"]["Roles"] == ["mlops-churn-predictor-prod-release-phases"]]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Action"] for s in statements] == ["iam:PassRole", "kms:CreateGrant", "kms:DescribeKey", "s3:ListBucket",
                                                 "s3:GetObject", "kms:Decrypt"]
    assert statements[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    # The shadow gate's agreement check reads this endpoint's captured data, and nothing else of the bucket.
    assert statements[3]["Condition"] == {"StringLike": {"s3:prefix": "datacapture/churn-predictor-prod/*"}}
    assert statements[4]["Resource"]["Fn::Join"][1][-1] == "/datacapture/churn-predictor-prod/*"
    (sagemaker_endpoint,) = resources(endpoint, "AWS::SageMaker::Endpoint").values()
    assert {"Key": "mlops:release-phases", "Value": "phases capture"} in sagemaker_endpoint["Properties"]["Tags"]


# --------------------------------------------------------------------------------------------- config errors
def _stack(config, config_dir: Path, repo_root: Path = ROOT):
    return ModelPipelineStack(cdk.App(), "p", config=config, model=config.models[0], approved_version_arn=VERSION,
                              config_dir=config_dir, repo_root=repo_root)


def test_missing_sample_payloads_fail_at_synth(tmp_path):
    shutil.copytree(CONFIG.parent / "models", tmp_path / "config" / "models")
    for payload in (tmp_path / "config/models/churn-predictor/sample_payloads").iterdir():
        payload.unlink()
    with pytest.raises(ConfigError) as error:
        _stack(load_config(CONFIG), tmp_path / "config", repo_root=tmp_path)
    assert str(error.value) == ("models[0].stages.test.checks.payloads: the smoke checks need sample payload files in "
                                "config/models/churn-predictor/sample_payloads/, found none")


def test_a_payload_linked_from_outside_the_repository_fails_at_synth(tmp_path):
    """The pipeline's checkout holds the repository only: a payload linked from elsewhere would be missing."""
    repo = tmp_path / "repo"
    shutil.copytree(CONFIG.parent / "models", repo / "config" / "models")
    (tmp_path / "elsewhere.csv").write_text("1,2,3\n")
    (repo / "config/models/churn-predictor/sample_payloads/linked.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(ConfigError) as error:
        _stack(load_config(CONFIG), repo / "config", repo_root=repo)
    assert str(error.value) == ("models[0].stages.test.checks.payloads: config/models/churn-predictor/sample_payloads/"
                                f"linked.csv links outside the repository ({repo})")


@pytest.mark.parametrize("checks, message", [
    ({"payloads": "raw_payloads", "content_type": "text/csv"},
     "models[0].stages.test.checks.content_type: is sent with every payload, but config/models/churn-predictor/"
     "raw_payloads/loyal-customer.json is application/json: leave content_type out (each file goes with its "
     "extension's type), got 'text/csv'"),
    ({"payloads": "preprocess.py"},
     "models[0].stages.test.checks.payloads: must be a folder of sample payload files, got the file "
     "config/models/churn-predictor/preprocess.py"),
], ids=["content-type-against-a-file", "a-file"])
def test_a_payload_folder_the_check_would_misuse_fails_at_synth(checks, message):
    data = copy.deepcopy(example_data())
    data["models"][0]["stages"]["test"]["checks"] = checks
    with pytest.raises(ConfigError) as error:
        _stack(parse_config(data), CONFIG.parent)
    assert str(error.value) == message


def test_config_outside_the_repository_fails(tmp_path):
    with pytest.raises(ConfigError) as error:
        _stack(load_config(CONFIG), CONFIG.parent, repo_root=tmp_path)
    assert str(error.value) == (f"models[0].project_dir: the model folder must be inside the repository the "
                                f"pipeline builds from ({tmp_path}), got {CONFIG.parent / 'models/churn-predictor'}")


def test_fractional_latency_budget_fails():
    data = copy.deepcopy(example_data())
    data["models"][0]["stages"]["test"]["checks"]["latency_p95_ms"] = 250.5
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value) == (
        "models[0].stages.test.checks.latency_p95_ms: must be a whole number of at least 1, got 250.5")


# --------------------------------------------------------------------------------------------- bootstrap policy
SERVICES = {"SageMaker": "sagemaker", "IAM": "iam", "CloudWatch": "cloudwatch", "KMS": "kms", "S3": "s3",
            "ApplicationAutoScaling": "application-autoscaling", "Lambda": "lambda", "Logs": "logs", "SNS": "sns",
            "GreengrassV2": "greengrass", "Events": "events",
            # the custom resource: CloudFormation invokes its function
            "SageMakerReleaseCheck": "lambda"}


def test_cfn_execution_policy_covers_what_the_stage_stacks_create(assembly):
    """config/cfn-exec-policy.json (the README's --cloudformation-execution-policies for test and prod) allows
    the services of every resource type the endpoint stacks hold, and the role/bucket names they get."""
    policy = json.loads((ROOT / "config" / "cfn-exec-policy.json").read_text())
    statements = policy["Statement"]
    assert all(s["Effect"] == "Allow" and s["Action"] != "*" for s in statements)
    allowed = {a.split(":")[0] for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str)
                                                              else s["Action"])}
    role_names = []
    for stack in assembly.stacks_recursively:
        if not stack.stack_name.endswith("-endpoint"):
            continue
        for resource in stack.template["Resources"].values():
            service = resource["Type"].split("::")[1]
            assert SERVICES[service] in allowed, resource["Type"]
            if resource["Type"] == "AWS::IAM::Role":
                # Named roles carry the project prefix; unnamed ones get "<stack name>-..." from CloudFormation.
                role_names.append(resource["Properties"].get("RoleName", stack.stack_name))
    assert role_names and all(name.startswith("mlops-") for name in role_names)
    (roles,) = [s for s in statements if s.get("Sid") == "RolesOfThePlatformStacksOnly"]
    assert roles["Resource"] == "arn:aws:iam::*:role/mlops-*"


def test_prod_rollback_alarms_reach_the_configured_addresses(assembly):
    (prod,) = [s for s in assembly.stacks_recursively if s.stack_name == "mlops-churn-predictor-prod-endpoint"]
    template = prod.template
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    (subscription,) = resources(template, "AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {"Protocol": "email", "TopicArn": {"Ref": topic_id},
                                          "Endpoint": "ml-oncall@example.com"}
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": topic_id}


def test_codeconnections_source_may_use_its_connection(template):
    """A connection ARN under the codeconnections prefix needs codeconnections:UseConnection (the service
    prefix must match the resource's); CDK grants only codestar-connections:UseConnection."""
    connection = "arn:aws:codeconnections:eu-west-1:111111111111:connection/00000000-0000-0000-0000-000000000000"
    uses = [(key, s) for key, p in resources(template, "AWS::IAM::Policy").items()
            for s in p["Properties"]["PolicyDocument"]["Statement"] if "UseConnection" in str(s["Action"])]
    assert {s["Action"] for _, s in uses} == {"codestar-connections:UseConnection", "codeconnections:UseConnection"}
    assert {s["Resource"] for _, s in uses} == {connection}
    assert len({key for key, _ in uses}) == 1  # the source action's own role



def test_a_release_synth_builds_only_what_a_release_deploys(tmp_path):
    """release_only: the model's delivery pipeline stack (its endpoint stages inside), nothing that needs the
    SageMaker SDK (the dev stack's model-build pipeline) nor the shared stacks; the delivery pipeline's synth
    asks for it. (Its templates are byte-identical to a full synth's: checked by hand with the slim install.)"""
    from stacks.app import build_platform

    config = load_config(CONFIG)
    app = cdk.App()
    projects = build_platform(app, config, config_dir=CONFIG.parent, approved={config.models[0].group_name: VERSION},
                              only_model="churn-predictor", repo_root=ROOT, release_only=True)
    assert [c.node.id for c in app.node.children] == ["mlops-churn-predictor"]
    project = projects["churn-predictor"]
    assert project.dev is None
    assert [c.node.id for c in project.node.children] == ["pipeline"]


# --------------------------------------------------------------------------------------------- asynchronous model
@pytest.fixture(scope="module")
def scorer():
    """The example's asynchronous model (churn-scorer): its pipeline stack and endpoint stacks' templates."""
    config = load_config(CONFIG)
    model = config.model("churn-scorer")
    version = f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/mlops-churn-scorer/1"
    stack = ModelPipelineStack(cdk.App(), "scorer", config=config, model=model, approved_version_arn=version,
                               config_dir=CONFIG.parent, repo_root=ROOT)
    from aws_cdk.assertions import Template

    return stack, {name: Template.from_stack(stack.stages[name].stack).to_json() for name in ("test", "prod")}


def test_the_async_smoke_step_waits_for_results_without_the_real_time_latency_budget(scorer):
    stack, _ = scorer
    smoke = stack.releases["test"].smoke_test
    assert (smoke.asynchronous, smoke.latency_p95, smoke.invocations) == (True, None, 4)
    assert DeliveryPipeline.smoke_command(smoke).endswith(
        "--payloads config/models/churn-predictor/sample_payloads --invocations 4 --content-type text/csv --async")
    assert stack.releases["prod"].smoke_test is None


def test_the_async_endpoints_scale_to_zero_in_prod_and_tell_who_subscribed(scorer):
    _, templates = scorer
    prod = templates["prod"]
    by_type = lambda t, type_: [r["Properties"] for r in t["Resources"].values() if r["Type"] == type_]  # noqa: E731
    (config,) = by_type(prod, "AWS::SageMaker::EndpointConfig")
    assert config["AsyncInferenceConfig"]["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 4}
    (target,) = by_type(prod, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 4)
    assert sorted(p["PolicyType"] for p in by_type(prod, "AWS::ApplicationAutoScaling::ScalingPolicy")) == [
        "StepScaling", "TargetTrackingScaling"]
    emails = {(s["Endpoint"], json.dumps(s["TopicArn"])) for s in by_type(prod, "AWS::SNS::Subscription")}
    error_topic = json.dumps(config["AsyncInferenceConfig"]["OutputConfig"]["NotificationConfig"]["ErrorTopic"])
    assert ("ml-oncall@example.com", error_topic) in emails
    assert {"AsyncInputLocation", "AsyncSuccessTopicArn", "AsyncErrorTopicArn"} <= set(prod["Outputs"])
    # test: one instance, no autoscaling; its check role may submit and read results, and find where
    test = templates["test"]
    assert by_type(test, "AWS::ApplicationAutoScaling::ScalableTarget") == []
    statements = [s for p in by_type(test, "AWS::IAM::Policy") if "ReleaseCheckRole" in json.dumps(p["Roles"])
                  for s in p["PolicyDocument"]["Statement"]]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"sagemaker:InvokeEndpointAsync", "sagemaker:DescribeEndpointConfig", "s3:PutObject",
            "s3:GetObject"} <= actions
    assert "sagemaker:InvokeEndpoint" not in actions


# --------------------------------------------------------------------------------------------- streaming example
STREAMING = ROOT / "config" / "examples" / "streaming.yaml"


@pytest.fixture(scope="module")
def streaming():
    """config/examples/streaming.yaml's pipeline with both stages, synthesised with cdk-nag and linted."""
    config = load_config(STREAMING)
    model = config.models[0]
    version = f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/{model.group_name}/1"
    app = nag_app()
    stack = ModelPipelineStack(app, "streaming", config=config, model=model, approved_version_arn=version,
                               config_dir=STREAMING.parent, repo_root=ROOT)
    templates = check_assembly(synth_checked(app))
    return stack, {name: templates[f"{stack.node.path}/{model.name}-{name}/Endpoint"] for name in ("test", "prod")}


def test_the_streaming_example_feeds_each_stage_s_endpoint_from_a_stream(streaming):
    stack, templates = streaming
    prod = templates["prod"]
    kinds = [r["Type"] for r in prod["Resources"].values()]
    assert kinds.count("AWS::Kinesis::Stream") == 2 and "AWS::Lambda::EventSourceMapping" in kinds
    (mapping,) = [r["Properties"] for r in prod["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert (mapping["BatchSize"], mapping["ParallelizationFactor"], mapping["MaximumBatchingWindowInSeconds"]) == (
        100, 2, 1)
    streams = [r["Properties"] for r in prod["Resources"].values() if r["Type"] == "AWS::Kinesis::Stream"]
    assert [s["ShardCount"] for s in streams] == [2, 2]
    assert {"StreamInputName", "StreamOutputName", "EndpointName"} <= set(prod["Outputs"])
    # the stream's alarms notify the endpoint's alarm topic, whose policy admits alarms named after the endpoint
    alarms = {r["Properties"]["AlarmName"]: r["Properties"] for r in prod["Resources"].values()
              if r["Type"] == "AWS::CloudWatch::Alarm" and "stream" in str(r["Properties"].get("AlarmName"))}
    assert sorted(alarms) == ["churn-events-prod-stream-behind", "churn-events-prod-stream-discarded",
                              "churn-events-prod-stream-errors"]
    assert alarms["churn-events-prod-stream-behind"]["Threshold"] == 120000
    topic = next(k for k, r in prod["Resources"].items() if r["Type"] == "AWS::SNS::Topic"
                 and k.startswith("EndpointAlarmTopic"))
    assert all(a["AlarmActions"] == [{"Ref": topic}] for a in alarms.values())
    # the endpoint is released as any real-time one: a canary in prod, smoke-checked in test
    (endpoint,) = [r["Properties"] for r in prod["Resources"].values() if r["Type"] == "AWS::SageMaker::Endpoint"]
    assert endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert stack.releases["test"].smoke_test.asynchronous is False


# --------------------------------------------------------------------------------------------- batch model
@pytest.fixture(scope="module")
def nightly():
    """The example's batch model (churn-nightly): its pipeline stack with both batch stages (cdk-nag and cfn-lint
    see them in tests/test_app.py's synth of the whole example)."""
    from aws_cdk.assertions import Template

    config = load_config(CONFIG)
    model = config.model("churn-nightly")
    version = f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/{model.group_name}/1"
    stack = ModelPipelineStack(cdk.App(), "nightly", config=config, model=model, approved_version_arn=version,
                               config_dir=CONFIG.parent, repo_root=ROOT)
    templates = {"nightly": Template.from_stack(stack).to_json()}
    templates.update({f"nightly/churn-nightly-{name}/Batch": Template.from_stack(stack.stages[name].stack).to_json()
                      for name in ("test", "prod")})
    return stack, templates


def test_a_batch_release_runs_the_samples_through_the_test_pipeline_then_waits_for_approval(nightly):
    stack, templates = nightly
    pipeline = templates["nightly"]
    test_steps = [a["Name"] for a in stages(pipeline)["churn-nightly-test"]]
    assert "BatchCheck" in test_steps and "VerifyDeployment" not in test_steps and "SmokeTest" not in test_steps
    spec = json.loads(project_of(pipeline, action(pipeline, "churn-nightly-test", "BatchCheck"))["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"] == [
        'mlops --role-arn "$CHECK_ROLE_ARN" --region "$ENDPOINT_REGION" batch-check "$PIPELINE_NAME" '
        "--payloads config/models/churn-predictor/sample_payloads"]
    prod_steps = [a["Name"] for a in stages(pipeline)["churn-nightly-prod"]]
    assert not any(name in prod_steps for name in ("BatchCheck", "VerifyDeployment"))
    assert "PromoteToProd" in prod_steps
    assert "ran batch pipeline churn-nightly-test over the sample files" in json.dumps(pipeline)


def test_a_batch_stage_deploys_the_approved_version_on_schedule_and_its_check_role_only_runs_it(nightly):
    stack, templates = nightly
    prod = templates["nightly/churn-nightly-prod/Batch"]
    resources = prod["Resources"].values()
    (model,) = [r["Properties"] for r in resources if r["Type"] == "AWS::SageMaker::Model"]
    assert model["PrimaryContainer"]["ModelPackageName"].endswith("model-package/mlops-churn-nightly/1")
    (schedule,) = [r["Properties"] for r in resources if r["Type"] == "AWS::Scheduler::Schedule"]
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    emails = [r["Properties"]["Endpoint"] for r in resources if r["Type"] == "AWS::SNS::Subscription"]
    assert emails == ["ml-oncall@example.com"]
    assert {"PipelineName", "InputLocation"} <= set(prod["Outputs"])
    test = templates["nightly/churn-nightly-test/Batch"]
    role = [p["Properties"]["PolicyDocument"]["Statement"] for p in test["Resources"].values()
            if p["Type"] == "AWS::IAM::Policy" and "ReleaseCheckRole" in json.dumps(p["Properties"]["Roles"])]
    actions = {a for statements in role for s in statements
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"sagemaker:StartPipelineExecution", "sagemaker:DescribePipelineExecution", "sagemaker:StopPipelineExecution",
            "sagemaker:DescribePipeline", "s3:PutObject", "s3:GetObject", "s3:ListBucket"} <= actions
    assert not any(a.startswith("sagemaker:Invoke") for a in actions)


def test_the_prod_endpoint_checks_its_requests_for_drift_against_the_released_version(assembly):
    """``monitoring`` in the example's prod stage: the drift check of the released (approved) version, its
    schedule, its alarms and where its reports go."""
    (prod,) = [s for s in assembly.stacks_recursively if s.stack_name == "mlops-churn-predictor-prod-endpoint"]
    template = prod.template
    (function,) = [r["Properties"] for r in resources(template, "AWS::Lambda::Function").values()
                   if r["Properties"].get("Description", "").startswith("Compares endpoint")]
    assert function["Environment"]["Variables"]["MODEL_PACKAGE_ARN"] == VERSION
    assert function["Environment"]["Variables"]["VARIANTS"] == "main"
    (rule,) = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()
               if "ScheduleExpression" in r["Properties"]]
    assert rule["ScheduleExpression"] == "rate(60 minutes)"
    names = {r["Properties"]["AlarmName"] for r in resources(template, "AWS::CloudWatch::Alarm").values()}
    assert {"churn-predictor-prod-data-drift", "churn-predictor-prod-drift-check-failed",
            "churn-predictor-prod-model-quality"} <= names
    assert "monitoring/churn-predictor-prod/" in json.dumps(template["Outputs"]["DriftReports"]["Value"])
    # The model's AUC over the requests of three days earlier, against the labels written here.
    assert "ground-truth/churn-predictor-prod/" in json.dumps(template["Outputs"]["GroundTruthLocation"]["Value"])
    variables = function["Environment"]["Variables"]
    assert (variables["QUALITY_METRIC"], variables["QUALITY_THRESHOLD"], variables["LABEL_DELAY_HOURS"]) == (
        "auc", "0.75", "72")
    (test,) = [s for s in assembly.stacks_recursively if s.stack_name == "mlops-churn-predictor-test-endpoint"]
    assert not resources(test.template, "AWS::Events::Rule")  # test has no monitoring section


def test_prod_s_monitoring_alarms_that_retrain_are_told_on_the_release_topic(assembly):
    """With notification_emails, the forwarded alarms that start retraining reach the release topic too (a rule on
    the dev account's default bus, next to the topic): the approvers hear why a new version is coming."""
    template = assembly.get_stack_by_name("cc-churn-predictor-pipeline").template
    (rule,) = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()
               if "alarmName" in json.dumps(r["Properties"]["EventPattern"])]
    assert rule["EventPattern"] == {
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"], "account": [PROD],
        "detail": {"alarmName": ["churn-predictor-prod-data-drift", "churn-predictor-prod-model-quality"],
                   "state": {"value": ["ALARM"]}}}
    (target,) = rule["Targets"]
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    assert target["Arn"] == {"Ref": topic_id}
    message = target["InputTransformer"]["InputTemplate"]
    assert "cc-churn-predictor-build starts to retrain the model unless an execution started in the last 24 hours" in message
    # The topic lets EventBridge publish (its key too), as for the release phases' rule.
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    assert "events.amazonaws.com" in json.dumps(policy["Properties"]["PolicyDocument"])
    # Without notification_emails there is no topic, and no rule.
    example = assembly.get_stack_by_name("mlops-churn-predictor-pipeline").template
    assert not resources(example, "AWS::SNS::Topic") and "alarmName" not in json.dumps(example)


def test_prod_s_drift_alarm_is_sent_to_the_dev_account_to_retrain(assembly):
    """``build.retrain_on_drift``: prod's drift alarm going into ALARM goes to the dev account's default bus,
    through a role that may put events there and nowhere else."""
    (prod,) = [s for s in assembly.stacks_recursively if s.stack_name == "mlops-churn-predictor-prod-endpoint"]
    template = prod.template
    (forward,) = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()
                  if "EventPattern" in r["Properties"]]
    assert forward["EventPattern"] == {
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": ["churn-predictor-prod-data-drift", "churn-predictor-prod-model-quality"],
                   "state": {"value": ["ALARM"]}}}
    (target,) = forward["Targets"]
    bus = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":events:eu-west-1:{DEV}:event-bus/default"]]}
    assert target["Arn"] == bus
    (role,) = [r["Properties"] for r in resources(template, "AWS::IAM::Role").values()
               if r["Properties"].get("Description", "").startswith("Sends this stage's drift alarms")]
    assert role["Policies"][0]["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": ["events:PutEvents"], "Resource": [bus]}]


def test_the_prod_dashboard_shows_the_drift_check(assembly):
    (prod,) = [s for s in assembly.stacks_recursively if s.stack_name == "mlops-churn-predictor-prod-endpoint"]
    (dashboard,) = resources(prod.template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for shown in ("MaxFeatureDrift", "DriftViolations", "DriftRecords", "churn-predictor-prod-data-drift",
                  "churn-predictor-prod-drift-check-failed", "the build's default limit"):
        assert shown in body, shown
    (test,) = [s for s in assembly.stacks_recursively if s.stack_name == "mlops-churn-predictor-test-endpoint"]
    assert "MaxFeatureDrift" not in json.dumps(test.template)  # no monitoring in test
