"""The progressive release example (config/examples/progressive-release.yaml): the pipeline runs the shadow and
A/B phases after the prod approval and before the guarded rollout, each a state machine that always returns the
endpoint to its steady config; the prod check role may run the phases and nothing more. Synthesised once, with
cdk-nag and cfn-lint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from constructs_lib.config import load_config, parse_config
from constructs_lib.errors import ConfigError
from stacks.pipeline import ModelPipelineStack
from support import check_assembly, nag_app, no_aws_calls, synth_checked

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "examples" / "progressive-release.yaml"
DEV, PROD = "111111111111", "333333333333"
VERSION = f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/mlops-churn-predictor/2"
PROD_PATH = "models[0].stages.prod"


@pytest.fixture(scope="module")
def assembly():
    config = load_config(CONFIG)
    with no_aws_calls() as calls:
        app = nag_app()
        ModelPipelineStack(app, "example", config=config, model=config.models[0], approved_version_arn=VERSION,
                           config_dir=CONFIG.parent, repo_root=ROOT)
        assembly = synth_checked(app)
    assert calls == []
    check_assembly(assembly)
    return assembly


@pytest.fixture(scope="module")
def template(assembly):
    return assembly.get_stack_by_name("mlops-churn-predictor-pipeline").template


def of_type(template, type_):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def test_the_phases_run_after_the_approval_and_before_the_guarded_rollout(template):
    (pipeline,) = of_type(template, "AWS::CodePipeline::Pipeline").values()
    prod = next(s for s in pipeline["Properties"]["Stages"] if s["Name"] == "churn-predictor-prod")
    order = [(a["RunOrder"], a["Name"], a["ActionTypeId"]["Provider"]) for a in prod["Actions"]]
    assert order == [(1, "PromoteToProd", "Manual"), (2, "ShadowGate", "StepFunctions"),
                     (3, "ABGate", "StepFunctions"),
                     (4, "mlops-churn-predictor-prod-endpoint.Prepare", "CloudFormation"),
                     (5, "mlops-churn-predictor-prod-endpoint.Deploy", "CloudFormation"),
                     (6, "VerifyDeployment", "CodeBuild")]
    gates = [a["Configuration"] for a in prod["Actions"] if a["ActionTypeId"]["Provider"] == "StepFunctions"]
    # The version is the synth step's variable: the pipeline stack does not change with each release.
    assert [g["Input"] for g in gates] == ['{"version_arn":"#{Build@Synth.APPROVED_VERSION}"}'] * 2
    assert [g["StateMachineArn"]["Fn::Join"][1][-1] for g in gates] == [
        f":states:eu-west-1:{DEV}:stateMachine:mlops-churn-predictor-release-shadow",
        f":states:eu-west-1:{DEV}:stateMachine:mlops-churn-predictor-release-ab"]


def definition(template, phase: str) -> dict:
    (machine,) = [r for r in of_type(template, "AWS::StepFunctions::StateMachine").values()
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
    assert release["role_arn"] == f"arn:TOKEN:iam::{PROD}:role/mlops-churn-predictor-prod-checks"
    assert release["gate"] == {"min_duration_seconds": 3600, "min_requests": 1000, "max_latency_increase_pct": 10.0,
                               "max_error_rate_increase_points": 0.5, "deadline_seconds": 86400}
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
        assert "Lambda.ServiceException" in s[task]["Retry"][0]["ErrorEquals"], task
    ab = definition(template, "ab")["States"]["Release"]["Parameters"]["release"]
    assert (ab["percent"], ab["metric"], ab["kind"], ab["candidate_variant"]) == (10, "ChurnApp/Retained", "rate",
                                                                                 "challenger")
    assert ab["gate"]["min_samples"] == 2000 and ab["gate"]["deadline_seconds"] == 6 * 86400


def test_the_function_ships_the_ops_folder_and_may_touch_only_this_model_s_versions(template):
    (function,) = [r for r in of_type(template, "AWS::Lambda::Function").values()
                   if r["Properties"]["Handler"] == "ops.release_gate.handler"]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [s for p in of_type(template, "AWS::IAM::Policy").values()
                  if {"Ref": role} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
    by_action = {json.dumps(s["Action"]): s["Resource"] for s in statements}
    assert by_action['"sts:AssumeRole"']["Fn::Join"][1][-1] == f":iam::{PROD}:role/mlops-churn-predictor-prod-checks"
    assert by_action['["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"]'] == (
        f"arn:aws:sagemaker:eu-west-1:{DEV}:model-package/mlops-churn-predictor/*")


def test_the_prod_check_role_trusts_the_phases_function_and_may_run_phases(assembly):
    stack = next(s for s in assembly.stacks_recursively if s.stack_name == "mlops-churn-predictor-prod-endpoint")
    roles = of_type(stack.template, "AWS::IAM::Role")
    (role_id, role), = [(k, r) for k, r in roles.items()
                        if r["Properties"].get("RoleName") == "mlops-churn-predictor-prod-checks"]
    condition = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]
    assert [p["Fn::Join"][1][-1] for p in condition["aws:PrincipalArn"]] == [
        f":iam::{DEV}:role/mlops-churn-predictor-delivery-checks-{PROD}-eu-west-1",
        f":iam::{DEV}:role/mlops-churn-predictor-release-phases"]
    actions = {a for p in of_type(stack.template, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
               for s in p["Properties"]["PolicyDocument"]["Statement"]
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"sagemaker:UpdateEndpoint", "sagemaker:CreateEndpointConfig", "sagemaker:DeleteEndpointConfig",
            "sagemaker:CreateModel", "iam:PassRole", "cloudwatch:GetMetricData", "kms:CreateGrant"} <= actions
    assert not {a for a in actions if a.endswith("*") or a in ("sagemaker:DeleteEndpoint", "sagemaker:CreateEndpoint")}


def release_data(**release) -> dict:
    data = yaml.safe_load(CONFIG.read_text())
    data["models"][0]["stages"]["prod"]["release"].update(release)
    return data


@pytest.mark.parametrize("change, message", [
    ({"ab": {"metric": "ChurnApp/Retained", "kind": "rate", "deadline": 604800}},
     f"{PROD_PATH}.release.ab.deadline: must be at most 561600 seconds"),
    ({"poll_interval": 60}, f"{PROD_PATH}.release.ab.poll_interval: must be at least 259 seconds for a deadline of "
                            "518400 s"),
    ({"shadow": {"min_duration": 90000}}, f"{PROD_PATH}.release: shadow.min_duration must not exceed "
                                          "shadow.deadline, got 90000 and 86400 seconds"),
    ({"shadow": {"variant_name": "main"}}, f"{PROD_PATH}.release.shadow.variant_name: must differ from the "
                                           "production variant's name, got 'main' for both"),
    ({"shadow": None, "ab": None}, f"{PROD_PATH}.release: needs at least one phase (shadow, ab), got none"),
    ({"ab": {"weight": 60, "metric": "M/x", "kind": "rate"}}, f"{PROD_PATH}.release.ab.weight"),
])
def test_bad_release_plans_are_one_line(change, message):
    with pytest.raises(ConfigError) as error:
        parse_config(release_data(**change)).check()
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_a_release_plan_needs_the_approved_version_in_one_production_variant():
    data = release_data()
    prod = data["models"][0]["stages"]["prod"]
    prod["variants"].append({**prod["variants"][0], "name": "other"})
    with pytest.raises(ConfigError, match=re.escape(f"{PROD_PATH}.variants: a release with phases needs exactly one")):
        parse_config(data).check()
    data["models"][0]["stages"]["test"]["release"] = {"shadow": {}}
    prod["variants"].pop()
    with pytest.raises(ConfigError, match=re.escape("models[0].stages.test.release: applies to the prod stage only")):
        parse_config(data).check()
