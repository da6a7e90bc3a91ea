"""ModelProject: one construct per model composing its dev stack, delivery pipeline and endpoint stages."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import aws_cdk as cdk
import pytest

from constructs_lib.config import load_config
from constructs_lib.platform.dev import PlatformStack
from constructs_lib.platform.project import ModelProject, project_id

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "platform.yaml"
VERSION = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-churn-predictor/3"


def build(approved: str | None, config=None):
    config = config or load_config(CONFIG)
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="cdk-project-"), context={"nag": "false"})
    platform = PlatformStack(app, "mlops-platform", config=config)
    model = config.models[0]
    project = ModelProject(app, project_id(config, model), config=config, model=model, config_dir=CONFIG.parent,
                           approved_version_arn=approved, platform=platform, repo_root=ROOT)
    return config, project, app.synth()


@pytest.fixture(scope="module")
def released():
    return build(VERSION)


def test_a_project_holds_the_models_dev_pipeline_and_endpoint_stacks(released):
    config, project, assembly = released
    assert project.node.id == "mlops-churn-predictor"
    assert project.dev.stack_name == "mlops-churn-predictor-dev"
    assert project.pipeline.stack_name == "mlops-churn-predictor-pipeline"
    assert {name: (stage.account, stage.region) for name, stage in project.stages.items()} == {
        "test": (config.accounts.test.account_id, config.accounts.test.region),
        "prod": (config.accounts.prod.account_id, config.accounts.prod.region)}
    assert sorted(s.hierarchical_id for s in assembly.stacks_recursively) == [
        "mlops-churn-predictor/dev", "mlops-churn-predictor/pipeline",
        "mlops-churn-predictor/pipeline/churn-predictor-prod/Endpoint",
        "mlops-churn-predictor/pipeline/churn-predictor-prod/ReleaseAccess",
        "mlops-churn-predictor/pipeline/churn-predictor-test/Endpoint", "mlops-platform"]


def test_the_environment_remembered_for_each_stack_is_the_one_cdk_gives_it(released):
    """The stacks record the account and region they were given (StackArns.remember) instead of reading them
    back: what they recorded must be what the stack itself reports."""
    from constructs_lib.arns import StackArns

    _, project, _ = released
    stacks = [project.dev, project.pipeline] + [stage.stack for stage in project.stages.values()]
    assert len(stacks) == 4
    for stack in stacks:
        assert (StackArns.of(stack).partition, StackArns.of(stack).region, StackArns.of(stack).account) == (
            stack.partition, stack.region, stack.account)


def test_the_dev_stack_deploys_after_the_platform_and_exports_nothing(released):
    _, _, assembly = released
    dev = assembly.get_stack_by_name("mlops-churn-predictor-dev")
    assert [d.id for d in dev.dependencies if "platform" in d.id] == ["mlops-platform"]
    pipeline = assembly.get_stack_by_name("mlops-churn-predictor-pipeline")
    for stack in (dev, pipeline):
        text = json.dumps(stack.template)
        assert "Fn::ImportValue" not in text and "Export" not in text


def test_approval_of_a_version_starts_this_models_delivery_pipeline(released):
    _, project, assembly = released
    template = assembly.get_stack_by_name("mlops-churn-predictor-dev").template
    (rule,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"
               and "aws.sagemaker" in json.dumps(r["Properties"].get("EventPattern", {}))]
    assert rule["Properties"]["EventPattern"]["detail"]["ModelApprovalStatus"] == ["Approved"]
    assert rule["Properties"]["EventPattern"]["detail"]["ModelPackageGroupName"] == ["mlops-churn-predictor"]
    (target,) = rule["Properties"]["Targets"]
    assert "mlops-churn-predictor-delivery" in json.dumps(target["Arn"])
    delivery = project.pipeline.delivery.pipeline_name
    assert delivery == "mlops-churn-predictor-delivery"


def test_without_an_approved_version_the_project_has_no_endpoint_stages():
    _, project, assembly = build(None)
    assert project.stages == {}
    assert sorted(s.hierarchical_id for s in assembly.stacks_recursively) == [
        "mlops-churn-predictor/dev", "mlops-churn-predictor/pipeline", "mlops-platform"]


def _endpoint_stack(assembly, stage: str):
    return next(s for s in assembly.stacks_recursively if s.stack_name == f"mlops-churn-predictor-{stage}-endpoint")


def _dashboards(assembly, stage: str) -> list[dict]:
    stack = _endpoint_stack(assembly, stage)
    return [r for r in stack.template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]


def test_each_endpoint_has_a_dashboard_with_its_release_candidates_unless_the_stage_turns_it_off(released):
    """The dashboard is named after the endpoint (output DashboardName, which ``mlops status`` reads) and shows
    the progressive release's shadow and challenger next to the production variant; ``dashboard: false``."""
    _, _, assembly = released
    prod = _endpoint_stack(assembly, "prod")
    assert prod.template["Outputs"]["DashboardName"]["Value"] == "churn-predictor-prod-eu-west-1"
    (dashboard,) = _dashboards(assembly, "prod")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for line in ("main (production)", "shadow (shadow phase)", "challenger (ab phase)"):
        assert line in body
    assert len(_dashboards(assembly, "test")) == 1
    config = load_config(CONFIG)
    model = config.models[0]
    quiet = model.model_copy(update={"stages": model.stages.model_copy(update={
        "test": model.stages.test.model_copy(update={"dashboard": False})})})
    _, _, assembly = build(VERSION, config.model_copy(update={"models": [quiet]}))
    assert _dashboards(assembly, "test") == [] and len(_dashboards(assembly, "prod")) == 1
    assert "DashboardName" not in _endpoint_stack(assembly, "test").template.get("Outputs", {})
