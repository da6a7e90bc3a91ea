"""``BatchInference``: a model scoring whole datasets with SageMaker batch transform, run by a SageMaker pipeline.

What it builds:

* the model (``AWS::SageMaker::Model``, from a registered version or an image, network isolation on by default)
  and its execution role, which reads only the bucket's ``input/`` prefix and writes only ``output/``;
* a bucket (KMS with the construct's key, TLS only, versioned, retained, access-logged; objects expire after
  ``retention_days``) unless one is given;
* the batch-inference pipeline, defined with the SageMaker SDK at synth (``batch_sdk``: one transform step over
  the ``InputData`` parameter, default ``s3://<bucket>/<prefix>/input/``, results under ``output/<execution
  id>/``, KMS-encrypted), and its role, which may only run and watch transform jobs of this model;
* optionally a schedule (EventBridge Scheduler) that starts it;
* a notification of every failed run (an EventBridge rule on the pipeline's execution status, to a
  KMS-encrypted topic CloudWatch and EventBridge may publish to) and an alarm on it.

A release of a new model version is a stack update: a new model, and the pipeline's definition naming it; runs
already started finish with the model they started with (CloudFormation replaces the model, and a transform
job holds its own copy).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from .access_logs import data_bucket
from .approval import RetrainingSchedule
from .arns import StackArns
from .batch_sdk import BatchSpec, submit_batch_definition
from .endpoint import container_statements, isolated_model
from .batch_rules import check_batch
from .errors import ConfigError, check_sagemaker_name, cut
from .instance_types import LOCAL_STORAGE_FAMILIES, family
from .keys import customer_key
from .lazy import lazy_string
from .nag import acknowledge_wildcards
from .permissions import allow, allow_service_to_publish, attach_policy
from .variants import ModelSource

__all__ = ["BatchInference"]


class BatchInference(Construct):
    """Batch transform of ``model`` over the files put under the bucket's ``input/`` prefix.

    :param model: the model (``ModelSource.from_model_package`` for a registered version, or an image).
    :param pipeline_name: the SageMaker pipeline's name (1-256 letters, digits, hyphens).
    :param instance_type: the transform job's instances (``ml.*``); ``instance_count`` 1-100 (default 1).
    :param content_type: each input file's MIME type (default ``text/csv``); ``accept``: the results'
      (default ``text/csv``).
    :param split_type: how input files are cut into records (``Line`` default, ``None``, ``RecordIO``,
      ``TFRecord``); ``strategy``: ``MultiRecord`` (default: as many records per request as ``max_payload_mb``
      allows, 0-100, default 6) or ``SingleRecord``.
    :param schedule: ``cron(...)`` or ``rate(...)``: runs over the whole input prefix on that schedule; default
      none (started by ``mlops batch-check``, the console, or ``aws sagemaker start-pipeline-execution``).
    :param bucket: the data bucket; default: created (see the module docstring). ``prefix`` (default ``batch``)
      holds ``input/`` and ``output/``; ``retention_days`` (default 30) in the created bucket.
    :param network_isolation: no network access for the model's container (default ``True``).
    :param encryption_key: the key of the bucket, the outputs, the volumes and the topic; default: created.
    :param alarm_topic: where failed runs are announced; default: a topic created here.
    """

    def __init__(self, scope: Construct, id: str, *, model: ModelSource, pipeline_name: str, instance_type: str,
                 instance_count: int = 1, content_type: str = "text/csv", accept: str = "text/csv",
                 split_type: str = "Line", strategy: str = "MultiRecord", max_payload_mb: int = 6,
                 schedule: str | None = None, bucket: s3.IBucket | None = None, prefix: str = "batch",
                 retention_days: int = 30, network_isolation: bool = True, encryption_key: kms.IKey | None = None,
                 alarm_topic: sns.ITopic | None = None) -> None:
        super().__init__(scope, id)
        check_sagemaker_name("pipeline_name", pipeline_name, 256)
        check_batch(instance_type, instance_count, max_payload_mb, retention_days, prefix,
                    content_type=content_type, accept=accept, split_type=split_type, strategy=strategy)
        if not isinstance(model, ModelSource) or model.parts:  # the config's schema says so too (SingleModelRef)
            raise ConfigError("model", "must be one container (ModelSource.from_model_package or from_image), got "
                              + (model.description if isinstance(model, ModelSource) else cut(model)))
        env = StackArns.of(Stack.of(self))
        self.pipeline_name = pipeline_name
        self.encryption_key = encryption_key or customer_key(
            self, "Key", description=f"Batch inference {pipeline_name}: data, results, volumes, notifications")
        root = prefix.rstrip("/")
        self.input_prefix, self.output_prefix = f"{root}/input", f"{root}/output"
        self.bucket: s3.IBucket = bucket or data_bucket(
            self, "Data", key=self.encryption_key, what="batch inference", log_prefix="batch/",
            rule="BatchDataRetention", retention_days=retention_days)
        """Where the inputs (``input_prefix``) and the results (``output_prefix``) are."""

        # ------------------------------------------------------------------ the model and its role
        self.role = iam.Role(self, "ModelRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                             description=f"Transform jobs of batch inference {pipeline_name}")
        """The model's execution role: the transform jobs read and write S3 with it."""
        statements, wildcards = container_statements(
            [model], env, "/aws/sagemaker/TransformJobs",
            "SageMaker names each transform job's log streams after the job and its instances.")
        inputs = self.bucket.arn_for_objects(f"{self.input_prefix}/*")
        outputs = self.bucket.arn_for_objects(f"{self.output_prefix}/*")
        statements += [
            allow(["s3:GetObject"], [inputs]),
            allow(["s3:ListBucket"], [self.bucket.bucket_arn], {"StringLike": {"s3:prefix": [f"{self.input_prefix}/*"]}}),
            allow(["s3:PutObject", "s3:AbortMultipartUpload"], [outputs]),
            # Transform output with a KmsKeyId: SageMaker encrypts with the model's role.
            allow(["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"], [self.encryption_key.key_arn]),
        ]
        attach_policy(self.role, "Permissions", statements)
        wildcards[inputs] = "Callers name their input files under input/."
        wildcards[outputs] = "SageMaker names each result after its input file, in a folder per run."
        acknowledge_wildcards(self.role, wildcards)
        self.model = isolated_model(self, "Model", model, self.role, network_isolation,
                                    "The caller chose network access for this model's container.")

        # ------------------------------------------------------------------ the pipeline
        self.pipeline_arn = env.arn("sagemaker", "pipeline", pipeline_name.lower())
        self._definition = submit_batch_definition(BatchSpec(
            pipeline_name=pipeline_name, region=env.region, model_name=self.model.attr_model_name,
            input_uri=f"s3://{self.bucket.bucket_name}/{self.input_prefix}/",
            output_uri=f"s3://{self.bucket.bucket_name}/{self.output_prefix}", kms_key=self.encryption_key.key_arn,
            # SageMaker refuses a volume key for instances with local NVMe storage (encrypted in hardware).
            volume_kms_key=None if family(instance_type) in LOCAL_STORAGE_FAMILIES else self.encryption_key.key_arn,
            instance_type=instance_type, instance_count=instance_count, content_type=content_type, accept=accept,
            split_type=split_type, strategy=strategy, max_payload_mb=max_payload_mb))
        pipeline_role = iam.Role(self, "PipelineRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                                 description=f"Runs batch inference pipeline {pipeline_name}")
        jobs = env.arn("sagemaker", "transform-job", "*")
        attach_policy(pipeline_role, "Permissions", [
            # Pipelines tags the jobs it starts with the pipeline's execution (AddTags on the job).
            allow(["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
                   "sagemaker:AddTags"], [jobs]),
            allow(["kms:CreateGrant", "kms:DescribeKey"], [self.encryption_key.key_arn],
                  {"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        ])
        acknowledge_wildcards(pipeline_role, {jobs: "SageMaker Pipelines names each transform job it starts "
                                                    "(pipelines-<execution>-Transform-...)."})
        self.pipeline = sagemaker.CfnPipeline(
            self, "Pipeline", pipeline_name=pipeline_name, role_arn=pipeline_role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": lazy_string(self._definition.result)},
            pipeline_description=f"Batch transform with {model.description}"[:3072])
        self.pipeline.node.add_dependency(pipeline_role)
        self.schedule = (RetrainingSchedule(self, "Schedule", pipeline=self.pipeline_arn, schedule=schedule,
                                            description=f"Runs batch inference {pipeline_name}")
                         if schedule is not None else None)
        """The schedule that starts runs (None without ``schedule``)."""

        # ------------------------------------------------------------------ failed runs
        self.alarm_topic = alarm_topic or sns.Topic(self, "AlarmTopic", master_key=self.encryption_key,
                                                    enforce_ssl=True,
                                                    display_name=f"{pipeline_name} failed runs"[:100])
        """Where failed runs are announced (the execution's event: its ARN and display name; ``aws sagemaker
        describe-pipeline-execution`` gives the reason)."""
        if alarm_topic is None:  # the rule's SNS target adds EventBridge to the topic's policy, not to the key's
            allow_service_to_publish(self.alarm_topic, self.encryption_key, "events.amazonaws.com", env.account,
                                     topic_policy=False)
        self.failure_rule = events.Rule(
            self, "FailedRuns", description=f"Failed runs of batch inference {pipeline_name}",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"], detail_type=["SageMaker Model Building Pipeline Execution Status Change"],
                resources=[self.pipeline_arn], detail={"currentPipelineExecutionStatus": ["Failed"]}),
            targets=[targets.SnsTopic(self.alarm_topic)])
        self.failure_alarm = cloudwatch.Alarm(
            self, "FailedRunsAlarm", alarm_description=f"A run of batch inference {pipeline_name} failed",
            metric=cloudwatch.Metric(namespace="AWS/Events", metric_name="TriggeredRules", statistic="Sum",
                                     dimensions_map={"RuleName": self.failure_rule.rule_name}),
            threshold=1, evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
        """In ALARM for the five minutes after a failed run; it notifies the topic too (next to the event, which
        names the failed execution)."""
        self.failure_alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))
        if alarm_topic is None:  # CloudWatch publishes the alarm's notifications as itself
            allow_service_to_publish(self.alarm_topic, self.encryption_key, "cloudwatch.amazonaws.com", env.account)

    @property
    def definition(self) -> str:
        """The pipeline definition's JSON text (tokens unresolved), for inspection."""
        from .build_pipeline import sdk_result

        return sdk_result(self._definition)
