"""``StreamInference``: predictions for a stream, Kinesis Data Streams in and out, through an endpoint.

Records arrive on the input stream; a Lambda function (``ops/stream_consumer.py``) reads them in batches, sends
each to the endpoint (``InvokeEndpoint``) and writes the answers to the output stream with the record's partition
key. What fails is retried and, in the end, set aside, never silently
lost:

* a record the endpoint refuses is reported back to Lambda (partial batch response) and Lambda retries from it;
  when it is the batch's first record the function fails the batch, so Lambda splits it in two
  (``bisect-on-error``) and one bad record does not take its neighbours to the discarded queue;
* after ``retry_attempts`` or once older than ``max_record_age``, the failed records' positions go to an SQS
  queue (KMS-encrypted, kept 14 days): ``discarded_queue``, whose first message raises an alarm;
* alarms also watch how far behind the stream the function is (``IteratorAge``) and the function's own errors.

Delivery is at least once: a retry writes again what a partly written batch had written, so a key's
predictions can then arrive twice or out of order. The endpoint keeps its own guardrail: a release of the model
behind the stream is guarded as any other; records that fail while a bad version is rolled back can use up their
retries and be set aside (their positions stay in the queue for 14 days, the records in the stream for 24 hours).
"""

from __future__ import annotations

import functools
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .endpoint import IModelEndpoint
from .keys import customer_key
from .nag import acknowledge, acknowledge_wildcards
from .permissions import allow, allow_service_to_publish
from .stream_rules import check_stream
from .variants import _is_token

__all__ = ["StreamInference"]


class StreamInference(Construct):
    """Kinesis Data Streams -> Lambda -> ``endpoint`` -> Kinesis Data Streams.

    :param endpoint: the endpoint that predicts (a ``ModelEndpoint``, or one imported by name).
    :param input_stream: where records arrive; default: a stream created here (``shards``, KMS with
      ``encryption_key``, 24 hours' retention).
    :param output_stream: where predictions go; default: created like the input stream.
    :param content_type: ContentType of each record sent to the endpoint (default ``application/json``);
      ``accept``: the answer's type (default ``application/json``).
    :param batch_size: records per invocation, 1-10000 (default 10); ``max_batching_window``: how long Lambda
      gathers records before invoking, 0-300 s (default 0); ``parallelization_factor``: batches per shard at
      once, 1-10 (default 1: strict order per shard).
    :param retry_attempts: retries of a failing batch before its records are set aside, 0-10000 (default 3);
      ``max_record_age``: records older than this are set aside unprocessed, 60 s-7 days (default 1 hour).
    :param timeout: the function's timeout, 1-900 s (default 60 s): a batch's endpoint calls must fit in it.
    :param max_iterator_age: the alarm on ``IteratorAge``: fires when the oldest record read is older than
      this for 3 of 5 minutes (default 5 minutes).
    :param encryption_key: the key of the created streams and the discarded-records queue; default: created.
    :param alarm_topic: where the alarms notify; default: a topic created here (``alarm_topic``, KMS). The
      alarms are named ``<endpoint name>-stream-<behind|errors|discarded>``, so an endpoint's own alarm topic
      (``ModelEndpoint.alarm_topic``, which CloudWatch may publish to for alarms named after the endpoint)
      takes them as they are.
    """

    def __init__(self, scope: Construct, id: str, *, endpoint: IModelEndpoint,
                 input_stream: kinesis.IStream | None = None, output_stream: kinesis.IStream | None = None,
                 content_type: str = "application/json", accept: str = "application/json",
                 batch_size: int = 10, max_batching_window: Duration | None = None,
                 parallelization_factor: int = 1, retry_attempts: int = 3, max_record_age: Duration | None = None,
                 timeout: Duration | None = None, shards: int = 1, max_iterator_age: Duration | None = None,
                 encryption_key: kms.IKey | None = None, alarm_topic: sns.ITopic | None = None) -> None:
        super().__init__(scope, id)
        window = 0 if max_batching_window is None else max_batching_window.to_seconds()
        record_age = 3600 if max_record_age is None else max_record_age.to_seconds()
        timeout_seconds = 60 if timeout is None else timeout.to_seconds()
        iterator_age = 300 if max_iterator_age is None else max_iterator_age.to_seconds()
        check_stream(batch_size=batch_size, max_batching_window=window, parallelization_factor=parallelization_factor,
                     retry_attempts=retry_attempts, max_record_age=record_age, timeout=timeout_seconds, shards=shards,
                     max_iterator_age=iterator_age, content_type=content_type, accept=accept)
        self.endpoint = endpoint
        self.encryption_key = encryption_key or customer_key(
            self, "Key", description=f"Stream inference of {endpoint.endpoint_name}: streams, discarded records, "
                                     "alarm notifications")

        def stream(id: str) -> kinesis.Stream:
            created = kinesis.Stream(self, id, shard_count=shards, retention_period=Duration.hours(24),
                                     encryption=kinesis.StreamEncryption.KMS, encryption_key=self.encryption_key,
                                     removal_policy=RemovalPolicy.DESTROY)
            acknowledge(created, "KDS3", "A customer managed key (rotation on, retained, grants only for AWS "
                        "services), shared with the discarded-records queue and the alarm topic: its own policy, "
                        "not AWS's, decides who may read the records; its cost is in the README's cost section.")
            return created

        self.input_stream: kinesis.IStream = input_stream or stream("Input")
        """Where records arrive."""
        self.output_stream: kinesis.IStream = output_stream or stream("Output")
        """Where the predictions go, with each input record's partition key."""
        self.discarded_queue = sqs.Queue(
            self, "Discarded", encryption=sqs.QueueEncryption.KMS, encryption_master_key=self.encryption_key,
            enforce_ssl=True, retention_period=Duration.days(14), removal_policy=RemovalPolicy.RETAIN)
        """Where the positions (shard, sequence numbers) of records set aside after the retries go."""
        acknowledge(self.discarded_queue, "SQS3", "This queue is the dead-letter destination itself (the stream "
                    "consumer's on-failure destination): a queue behind it would only move the same messages.")

        # ------------------------------------------------------------------ the consumer
        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR,
                                  removal_policy=RemovalPolicy.RETAIN)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"Stream inference through endpoint {endpoint.endpoint_name}")
        role.add_to_policy(iam.PolicyStatement.from_json(
            allow(["logs:CreateLogStream", "logs:PutLogEvents"], [log_group.log_group_arn])))
        self.function = lambda_.Function(
            self, "Function", runtime=lambda_.Runtime.PYTHON_3_14, handler="index.handler",
            code=lambda_.Code.from_inline(_consumer_source()), timeout=Duration.seconds(timeout_seconds),
            memory_size=256, role=role, log_group=log_group,
            description=f"Sends stream records to endpoint {endpoint.endpoint_name}, predictions to a stream",
            environment={"ENDPOINT_NAME": endpoint.endpoint_name, "OUTPUT_STREAM_ARN": self.output_stream.stream_arn,
                         "CONTENT_TYPE": content_type, "ACCEPT": accept,
                         # One endpoint call may take a third of the timeout (the consumer stops sending in time).
                         "READ_TIMEOUT": str(max(1, int(timeout_seconds) // 3))})
        """The consumer function."""
        endpoint.grant_invoke(self.function)
        self.output_stream.grant_write(self.function)
        self.function.add_event_source(sources.KinesisEventSource(
            self.input_stream, starting_position=lambda_.StartingPosition.LATEST, batch_size=batch_size,
            max_batching_window=Duration.seconds(window), parallelization_factor=parallelization_factor,
            retry_attempts=retry_attempts, max_record_age=Duration.seconds(record_age), bisect_batch_on_error=True,
            report_batch_item_failures=True, on_failure=sources.SqsDlq(self.discarded_queue)))
        acknowledge_wildcards(role, actions={
            "kms:GenerateDataKey*": "CDK's stream write grant: Kinesis asks for a data key per record batch.",
            "kms:ReEncrypt*": "CDK's stream write grant (Kinesis server-side encryption).",
        })

        # ------------------------------------------------------------------ alarms
        self.alarm_topic = alarm_topic or sns.Topic(
            self, "AlarmTopic", master_key=self.encryption_key, enforce_ssl=True,
            display_name=f"{endpoint.endpoint_name} stream inference alarms"[:100])
        """Where the alarms notify (created unless given)."""
        if alarm_topic is None:  # CloudWatch publishes the alarms' notifications as itself
            allow_service_to_publish(self.alarm_topic, self.encryption_key, "cloudwatch.amazonaws.com",
                                     Stack.of(self).account)
        period = Duration.minutes(1)
        self.alarms = [
            self.function.metric("IteratorAge", statistic="Maximum", period=period).create_alarm(
                self, "BehindAlarm", alarm_name=self._alarm_name("behind"), threshold=iterator_age * 1000, evaluation_periods=5, datapoints_to_alarm=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Stream inference through {endpoint.endpoint_name} is more than "
                                  f"{iterator_age:g} s behind its stream (IteratorAge)"),
            self.function.metric_errors(period=Duration.minutes(5)).create_alarm(
                self, "ErrorsAlarm", alarm_name=self._alarm_name("errors"), threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"The stream consumer of {endpoint.endpoint_name} failed (crash or timeout)"),
            self.discarded_queue.metric_approximate_number_of_messages_visible(period=period).create_alarm(
                self, "DiscardedAlarm", alarm_name=self._alarm_name("discarded"), threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Records of the stream into {endpoint.endpoint_name} were set aside after "
                                  "their retries: their positions are in the discarded-records queue"),
        ]
        """IteratorAge behind, function errors, records set aside."""
        for alarm in self.alarms:
            alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))

    def _alarm_name(self, kind: str) -> str | None:
        name = self.endpoint.endpoint_name
        return None if _is_token(name) else f"{name}-stream-{kind}"


@functools.cache
def _consumer_source() -> str:
    """The consumer's source, deployed inline (no asset to publish across accounts)."""
    return (Path(__file__).parent / "ops" / "stream_consumer.py").read_text(encoding="utf-8")
