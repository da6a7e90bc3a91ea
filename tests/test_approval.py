"""ApprovalTrigger fires on approvals of its group only; RetrainingSchedule may only start its pipeline."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events_targets as targets
from aws_cdk.assertions import Template

from constructs_lib.approval import ApprovalTrigger, RetrainingSchedule, approval_event_pattern, start_pipeline_command
from constructs_lib.errors import ConfigError
from support import check_assembly, nag_app, synth_checked

DEV, REGION = "111111111111", "eu-west-1"
PIPELINE_ARN = f"arn:aws:sagemaker:{REGION}:{DEV}:pipeline/mlops-churn-predictor-build"
DELIVERY_ARN = f"arn:aws:codepipeline:{REGION}:{DEV}:mlops-churn-predictor-delivery"
EXACT_PATTERN = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Package State Change"],
    "detail": {"ModelPackageGroupName": ["churn-predictor"], "ModelApprovalStatus": ["Approved"]},
}


@pytest.fixture(scope="module")
def template() -> Template:
    app = nag_app()
    stack = cdk.Stack(app, "Dev", env=cdk.Environment(account=DEV, region=REGION))
    delivery = codepipeline.Pipeline.from_pipeline_arn(stack, "Delivery", DELIVERY_ARN)
    ApprovalTrigger(stack, "Approval", model_package_group_name="churn-predictor",
                    target=targets.CodePipeline(delivery))
    RetrainingSchedule(stack, "Retraining", pipeline=PIPELINE_ARN, schedule="cron(0 3 ? * MON *)",
                       parameters={"Threshold": "0.9"})
    return Template.from_json(check_assembly(synth_checked(app))["Dev"])


def matches(pattern: dict, event: dict) -> bool:
    """EventBridge matching for the pattern forms used here: exact values (lists) and nested objects."""
    for key, expected in pattern.items():
        value = event.get(key)
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
        elif value not in expected:
            return False
    return True


def event(status: str, group: str = "churn-predictor", source: str = "aws.sagemaker") -> dict:
    """A SageMaker Model Package State Change event as EventBridge delivers it (fields trimmed)."""
    return {
        "version": "0", "source": source, "account": DEV, "region": REGION,
        "detail-type": "SageMaker Model Package State Change",
        "detail": {"ModelPackageGroupName": group, "ModelPackageVersion": 3, "ModelApprovalStatus": status,
                   "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/{group}/3"},
    }


def test_rule_has_exactly_the_approval_pattern(template):
    rules = template.find_resources("AWS::Events::Rule")
    assert len(rules) == 1
    rule = next(iter(rules.values()))["Properties"]
    assert rule["EventPattern"] == EXACT_PATTERN == approval_event_pattern("churn-predictor")
    assert rule["State"] == "ENABLED"
    assert rule["Targets"][0]["Arn"] == DELIVERY_ARN


@pytest.mark.parametrize("sample, fires", [
    (event("Approved"), True),
    (event("PendingManualApproval"), False),
    (event("Rejected"), False),
    (event("Approved", group="fraud-detector"), False),
    (event("Approved", source="custom.sagemaker"), False),
])
def test_only_an_approval_of_this_group_matches(template, sample, fires):
    pattern = next(iter(template.find_resources("AWS::Events::Rule").values()))["Properties"]["EventPattern"]
    assert matches(pattern, sample) is fires


def test_the_rule_may_only_start_the_delivery_pipeline(template):
    statements = [p["Properties"]["PolicyDocument"]["Statement"] for p in template.find_resources("AWS::IAM::Policy").values()
                  if "codepipeline" in str(p)]
    assert statements == [[{"Action": "codepipeline:StartPipelineExecution", "Effect": "Allow",
                            "Resource": DELIVERY_ARN}]]


def test_schedule_starts_the_pipeline_with_its_own_role(template):
    schedule = next(iter(template.find_resources("AWS::Scheduler::Schedule").values()))["Properties"]
    assert schedule["ScheduleExpression"] == "cron(0 3 ? * MON *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == PIPELINE_ARN
    assert target["SageMakerPipelineParameters"] == {"PipelineParameterList": [{"Name": "Threshold", "Value": "0.9"}]}
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
                      "Condition": {"StringEquals": {"aws:SourceAccount": DEV}}}]
    policies = [p["Properties"] for p in template.find_resources("AWS::IAM::Policy").values()
                if p["Properties"]["Roles"] == [{"Ref": role_id}]]
    assert [p["PolicyDocument"]["Statement"] for p in policies] == [[{
        "Action": "sagemaker:StartPipelineExecution", "Effect": "Allow", "Resource": PIPELINE_ARN}]]


def test_on_demand_command():
    assert start_pipeline_command("mlops-churn-predictor-build", REGION) == (
        "aws sagemaker start-pipeline-execution --pipeline-name mlops-churn-predictor-build "
        "--pipeline-execution-display-name manual-$(date +%Y%m%d-%H%M%S) --region eu-west-1")


@pytest.mark.parametrize("build, message", [
    (lambda s: RetrainingSchedule(s, "R", pipeline=PIPELINE_ARN, schedule="cron(0 3 * *)"),
     "schedule: a cron expression has six fields (minutes hours day-of-month month day-of-week year) separated "
     "by single spaces, got 4 in 'cron(0 3 * *)'"),
    (lambda s: RetrainingSchedule(s, "R", pipeline=PIPELINE_ARN, schedule="cron(0 24 ? * MON *)"),
     "schedule: cron hours must be 0-23 (with the field's wildcards), got '24' in 'cron(0 24 ? * MON *)'"),
    (lambda s: RetrainingSchedule(s, "R", pipeline="mlops-build", schedule="rate(7 days)"),
     "pipeline: must be a ModelBuildPipeline or a SageMaker pipeline ARN, got 'mlops-build'"),
    (lambda s: RetrainingSchedule(s, "R", pipeline=PIPELINE_ARN, schedule="rate(1 day)", retry_attempts=200),
     "retry_attempts: must be between 0 and 185, got 200"),
    (lambda s: ApprovalTrigger(s, "A", model_package_group_name="churn_predictor",
                               target=targets.CodePipeline(codepipeline.Pipeline.from_pipeline_arn(s, "P", DELIVERY_ARN))),
     "model_package_group_name: must be 1-63 characters of letters, digits and single or repeated hyphens, starting "
     "and ending with a letter or digit ([a-zA-Z0-9](-*[a-zA-Z0-9])*), got 'churn_predictor'"),
    (lambda s: ApprovalTrigger(s, "A", model_package_group_name="churn-predictor", target=None),
     "target: is required (the deployment to start on approval), got None"),
])
def test_bad_input_fails_with_one_line(build, message):
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account=DEV, region=REGION))
    with pytest.raises(ConfigError) as caught:
        build(stack)
    assert str(caught.value) == message
