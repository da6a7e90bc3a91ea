"""What starts things in the dev account: an approved model version starts the deployment
(``ApprovalTrigger``), and a schedule starts retraining (``RetrainingSchedule``).

``ApprovalTrigger`` matches ``ModelApprovalStatus: ["Approved"]`` only, for one group only: a rule on every
"SageMaker Model Package State Change" (as AWS's multi-account template has) also fires when a version is
registered as PendingManualApproval or Rejected, and deploys unapproved versions.
"""

from __future__ import annotations

from typing import Any, Mapping, Union

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from .schedules import check_schedule
from .errors import ConfigError, check_range, check_sagemaker_name

__all__ = ["ApprovalTrigger", "RetrainingSchedule", "approval_event_pattern", "start_pipeline_command"]

SOURCE = "aws.sagemaker"
DETAIL_TYPE = "SageMaker Model Package State Change"
APPROVED = "Approved"



def approval_event_pattern(model_package_group_name: str) -> dict[str, Any]:
    """The EventBridge pattern of an approval in ``model_package_group_name`` (as it renders in the template)."""
    return {
        "source": [SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {"ModelPackageGroupName": [model_package_group_name], "ModelApprovalStatus": [APPROVED]},
    }


class ApprovalTrigger(Construct):
    """An EventBridge rule that sends an approval of a version of ``model_package_group_name`` to ``target``.

    :param model_package_group_name: the registry group whose approvals start deployments.
    :param target: what an approval starts: the delivery pipeline (``targets.CodePipeline(pipeline)``) or any
        other ``events.IRuleTarget``.

    Pending, rejected and other groups' versions do not match. Note that SageMaker emits the event on every
    change of a version, so editing an approved version's metadata re-sends it (the delivery pipeline
    deploys the same version again, which is idempotent).
    """

    def __init__(self, scope: Construct, id: str, *, model_package_group_name: str,
                 target: events.IRuleTarget) -> None:
        super().__init__(scope, id)
        check_sagemaker_name("model_package_group_name", model_package_group_name)
        if target is None:
            raise ConfigError("target", "is required (the deployment to start on approval), got None")
        pattern = approval_event_pattern(model_package_group_name)
        self.rule = events.Rule(
            self, "Rule", description=f"Starts the release of approved {model_package_group_name} versions",
            event_pattern=events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"],
                                              detail=pattern["detail"]),
            targets=[target],
        )
        self.event_pattern = pattern
        """The rule's event pattern, as rendered in the template."""


class RetrainingSchedule(Construct):
    """An EventBridge Scheduler schedule that starts a SageMaker pipeline.

    :param pipeline: the pipeline: a ``ModelBuildPipeline`` (or anything with ``pipeline_name`` and
        ``pipeline_arn``), or the pipeline's ARN.
    :param schedule: ``cron(m h dom mon dow year)`` or ``rate(N minutes|hours|days)``, in UTC by default.
    :param timezone: the schedule's time zone (IANA name); default ``UTC``.
    :param parameters: pipeline parameters for the scheduled executions; default: the pipeline's defaults.
    :param retry_attempts: retries when starting the execution fails (0-185); default 3.

    Its role may only ``sagemaker:StartPipelineExecution`` on this pipeline.
    On demand: see ``start_pipeline_command``.
    """

    def __init__(self, scope: Construct, id: str, *, pipeline: Union[str, Any], schedule: str,
                 timezone: str = "UTC", parameters: Mapping[str, str] | None = None,
                 retry_attempts: int = 3, description: str = "Retrains the model on the configured schedule") -> None:
        super().__init__(scope, id)
        check_schedule("schedule", schedule)
        check_range("retry_attempts", retry_attempts, 0, 185)
        pipeline_arn = pipeline if isinstance(pipeline, str) else getattr(pipeline, "pipeline_arn", None)
        if not isinstance(pipeline_arn, str) or not (
                pipeline_arn.startswith("arn:") and ":pipeline/" in pipeline_arn or "${Token[" in pipeline_arn):
            raise ConfigError("pipeline", f"must be a ModelBuildPipeline or a SageMaker pipeline ARN, got {pipeline!r}")
        self.pipeline_arn = pipeline_arn
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
            "StringEquals": {"aws:SourceAccount": Stack.of(self).account}}),
            description="Starts scheduled retraining of one model-build pipeline")
        iam.Grant.add_to_principal(grantee=self.role, actions=["sagemaker:StartPipelineExecution"],
                                   resource_arns=[pipeline_arn])
        target: dict[str, Any] = {
            "arn": pipeline_arn, "roleArn": self.role.role_arn,
            "retryPolicy": {"maximumRetryAttempts": retry_attempts, "maximumEventAgeInSeconds": 3600},
        }
        if parameters:
            target["sageMakerPipelineParameters"] = {"pipelineParameterList": [
                {"name": name, "value": value} for name, value in sorted(parameters.items())]}
        self.schedule = scheduler.CfnSchedule(
            self, "Schedule", schedule_expression=schedule, schedule_expression_timezone=timezone,
            flexible_time_window={"mode": "OFF"}, target=target, state="ENABLED",
            description=description,
        )


def start_pipeline_command(pipeline_name: str, region: str) -> str:
    """The on-demand retraining command (for the README and the CLI's hints)."""
    return (f"aws sagemaker start-pipeline-execution --pipeline-name {pipeline_name} "
            f"--pipeline-execution-display-name manual-$(date +%Y%m%d-%H%M%S) --region {region}")
