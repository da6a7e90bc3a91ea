"""The dev account's stacks from the example config: synthesised offline (no AWS call, no network, no
telemetry), deterministically, holding the registry, build pipeline, schedule and approval rule."""

from __future__ import annotations

import copy
import json
import os
import socket
from pathlib import Path
from unittest import mock

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events_targets as targets

from build_support import pipeline_definition, steps_by_name
from constructs_lib.config import load_config, parse_config
from constructs_lib.errors import ConfigError
from constructs_lib.platform.dev import ModelDevStack, PlatformStack
from support import check_assembly, nag_app, no_aws_calls, synth_checked

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "platform.yaml"
DEV, TEST, PROD, REGION = "111111111111", "222222222222", "333333333333", "eu-west-1"
DELIVERY_ARN = f"arn:aws:codepipeline:{REGION}:{DEV}:mlops-churn-predictor-delivery"
PLATFORM, MODEL = "mlops-platform", "mlops-churn-predictor-dev"


def build_app(app: cdk.App) -> cdk.App:
    """What the app does for the dev account, with a stand-in delivery pipeline as the approval target."""
    config = load_config(CONFIG)
    platform = PlatformStack(app, PLATFORM, config=config)
    for model in config.models:
        stack = ModelDevStack(app, f"mlops-{model.name}-dev", config=config, model=model, config_dir=CONFIG.parent,
                              artifacts=platform)
        stack.add_approval_trigger(targets.CodePipeline(
            codepipeline.Pipeline.from_pipeline_arn(stack, "Delivery", DELIVERY_ARN)))
    return app


@pytest.fixture(scope="module")
def synthesised():
    """Credentials, region and every non-local connection removed; AWS calls, connections and telemetry
    requests are recorded (and fail) instead of happening."""
    import sagemaker.core.telemetry.telemetry_logging as telemetry_logging

    region = {k: os.environ.pop(k) for k in ("AWS_DEFAULT_REGION", "AWS_REGION") if k in os.environ}
    telemetry, connections = [], []
    connect = socket.socket.connect

    def local_only(sock, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("/"):
            connections.append(address)
            raise AssertionError(f"network connection attempted during synth: {address}")
        return connect(sock, address)

    try:
        with no_aws_calls() as calls, mock.patch.object(socket.socket, "connect", local_only), \
                mock.patch.object(telemetry_logging, "_send_telemetry_request",
                                  lambda *args, **kwargs: telemetry.append(args)):
            assembly = synth_checked(build_app(nag_app()))
        assert "AWS_DEFAULT_REGION" not in os.environ, "the construct restores the environment it changes"
    finally:
        os.environ.update(region)
    return {"calls": calls, "telemetry": telemetry, "connections": connections, "assembly": assembly,
            "templates": check_assembly(assembly)}


def _resources(synthesised, stack: str, kind: str) -> list[dict]:
    return [r for r in synthesised["templates"][stack]["Resources"].values() if r["Type"] == kind]


def test_synth_makes_no_aws_call_connection_or_telemetry_request(synthesised):
    assert synthesised["calls"] == []
    assert synthesised["connections"] == []
    assert synthesised["telemetry"] == []


def test_two_synths_give_byte_identical_templates(synthesised, tmp_path):
    again = build_app(cdk.App(outdir=str(tmp_path))).synth()
    for name in (PLATFORM, MODEL):
        first = Path(synthesised["assembly"].directory, f"{name}.template.json").read_bytes()
        assert Path(again.directory, f"{name}.template.json").read_bytes() == first


def test_stack_names_and_independence(synthesised):
    assert set(synthesised["templates"]) == {PLATFORM, MODEL, "mlops-churn-scorer-dev", "mlops-churn-nightly-dev",
                                                 "mlops-churn-lite-dev", "mlops-churn-segment-dev",
                                                 "mlops-churn-regional-dev", "mlops-churn-raw-dev",
                                                 "mlops-churn-edge-dev"}
    model = synthesised["assembly"].get_stack_by_name(MODEL)
    assert [d.id for d in model.dependencies if d.id == PLATFORM] == [PLATFORM]
    text = json.dumps(synthesised["templates"][MODEL])
    assert "Fn::ImportValue" not in text, "model stacks reference the artifacts by name, not by export"
    assert model.environment.account == DEV and model.environment.region == REGION


def test_platform_stack_holds_the_deterministic_artifacts(synthesised):
    [bucket] = [b for b in _resources(synthesised, PLATFORM, "AWS::S3::Bucket") if "BucketName" in b["Properties"]]
    assert bucket["Properties"]["BucketName"] == f"mlops-model-artifacts-{DEV}-{REGION}"
    [alias] = _resources(synthesised, PLATFORM, "AWS::KMS::Alias")
    assert alias["Properties"]["AliasName"] == "alias/mlops-model-artifacts"


def test_registry_group_policy_names_the_test_and_prod_accounts(synthesised):
    [group] = _resources(synthesised, MODEL, "AWS::SageMaker::ModelPackageGroup")
    assert group["Properties"]["ModelPackageGroupName"] == "mlops-churn-predictor"  # <project>-<model>
    assert group["DeletionPolicy"] == "Retain"
    assert "RegistryGroupF9A457C4" in synthesised["templates"][MODEL]["Resources"]
    for statement in group["Properties"]["ModelPackageGroupPolicy"]["Statement"]:
        principals = json.dumps(statement["Principal"])
        assert TEST in principals and PROD in principals and DEV not in principals


def test_build_pipeline_definition_holds_every_step_and_the_threshold(synthesised):
    [resource] = _resources(synthesised, MODEL, "AWS::SageMaker::Pipeline")
    assert resource["Properties"]["PipelineName"] == "mlops-churn-predictor-build"
    definition = pipeline_definition(resource)
    types = {name: step["Type"] for name, step in steps_by_name(definition).items()}
    assert types == {"Preprocess": "Processing", "Baseline": "Processing", "Train": "Training", "Evaluate": "Processing",
                     "CheckMetric": "Condition", "Register": "RegisterModel", "MetricBelowThreshold": "Fail"}
    assert {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.8} in definition["Parameters"]
    register = steps_by_name(definition)["Register"]["Arguments"]
    assert register["ModelApprovalStatus"] == "PendingManualApproval"


def test_schedule_and_its_role(synthesised):
    [schedule] = _resources(synthesised, MODEL, "AWS::Scheduler::Schedule")
    assert schedule["Properties"]["ScheduleExpression"] == "cron(0 3 ? * MON *)"
    assert ":sagemaker:eu-west-1:111111111111:pipeline/mlops-churn-predictor-build" in json.dumps(
        schedule["Properties"]["Target"]["Arn"])
    role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    policies = [p for p in _resources(synthesised, MODEL, "AWS::IAM::Policy")
                if p["Properties"]["Roles"] == [{"Ref": role_id}]]
    [statement] = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sagemaker:StartPipelineExecution"


def test_approval_rule_has_exactly_the_approved_pattern(synthesised):
    [rule] = [r for r in _resources(synthesised, MODEL, "AWS::Events::Rule")
              if "aws.sagemaker" in json.dumps(r["Properties"].get("EventPattern", {}))]
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["mlops-churn-predictor"], "ModelApprovalStatus": ["Approved"]}}
    assert rule["Properties"]["Targets"][0]["Arn"] == DELIVERY_ARN


def test_a_missing_model_folder_names_the_config_path(tmp_path):
    config = load_config(CONFIG)
    app = cdk.App()
    with pytest.raises(ConfigError) as caught:
        ModelDevStack(app, "S", config=config, model=config.models[0], config_dir=tmp_path)
    assert str(caught.value) == (
        f"models[0].project_dir: must be a model folder holding preprocess.py and evaluate.py (missing "
        f"preprocess.py, evaluate.py), got '{tmp_path / 'models' / 'churn-predictor'}'")


def test_the_dev_stacks_refuse_another_account():
    config = load_config(CONFIG)
    with pytest.raises(ConfigError) as caught:
        PlatformStack(cdk.App(), "P", config=config, env=cdk.Environment(account=PROD, region=REGION))
    assert str(caught.value) == ("accounts.dev: the dev stacks deploy to the dev account and region "
                                 "(111111111111/eu-west-1), got env 333333333333/eu-west-1")


@pytest.mark.parametrize("field, value, message", [
    ("schedule", "cron(0 3 * * MON *)",
     "models[0].build.schedule: cron: exactly one of day-of-month and day-of-week must be '?', got '*' and 'MON' "
     "in 'cron(0 3 * * MON *)'"),
    ("threshold", 1.5, "models[0].build.threshold: must be between 0 and 1, got 1.5"),
    # the construct's rule (build_spec), which the config's own pattern (s3://.+) used to let through to synth
    ("input_data", "s3://x", "models[0].build.input_data: must be an s3:// URI (s3://bucket/key), got 's3://x'"),
    ("inference_instance_types", ["ml.m5.large", "ml.m5.huge"],
     "models[0].build.inference_instance_types[1]: must be a SageMaker real-time inference instance type "
     "(ml.m5.large...), got 'ml.m5.huge'"),
])
def test_config_errors_of_the_build_section(field, value, message):
    data = copy.deepcopy(yaml.safe_load(CONFIG.read_text()))
    data["models"][0]["build"][field] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == message


def test_prod_s_drift_alarm_starts_the_build_at_most_once_a_day(synthesised):
    """``build.retrain_on_drift``: the default bus takes alarm state changes from the prod account only; its
    rule starts the retraining function, which may list and start this build pipeline only."""
    (policy,) = _resources(synthesised, MODEL, "AWS::Events::EventBusPolicy")
    statement = policy["Properties"]["Statement"]
    assert policy["Properties"]["StatementId"] == "mlops-churn-predictor-drift-333333333333"
    assert statement["Principal"] == {"AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::333333333333:root"]]}}
    assert statement["Condition"] == {"ForAllValues:StringEquals": {"events:source": ["aws.cloudwatch"]},
                                      "StringEquals": {"events:detail-type": "CloudWatch Alarm State Change"}}
    rules = [r["Properties"] for r in _resources(synthesised, MODEL, "AWS::Events::Rule")
             if "alarmName" in json.dumps(r["Properties"].get("EventPattern", {}))]
    (rule,) = rules
    assert rule["EventPattern"]["account"] == ["333333333333"]
    assert rule["EventPattern"]["detail"] == {"alarmName": ["churn-predictor-prod-data-drift",
                                                            "churn-predictor-prod-model-quality"],
                                              "state": {"value": ["ALARM"]}}
    (function,) = [r["Properties"] for r in _resources(synthesised, MODEL, "AWS::Lambda::Function")
                   if r["Properties"].get("Description", "").startswith("Retrains")]
    assert function["Environment"]["Variables"] == {"PIPELINE_NAME": "mlops-churn-predictor-build",
                                                    "MIN_INTERVAL_HOURS": "24"}
    (role,) = [r["Properties"] for r in _resources(synthesised, MODEL, "AWS::IAM::Role")
               if r["Properties"].get("Description", "").startswith("Starts mlops-churn-predictor-build")]
    start = role["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert start["Action"] == ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"]
    assert json.dumps(start["Resource"]).endswith(':pipeline/mlops-churn-predictor-build"]]}]')
