"""``DriftMonitor``: an endpoint's captured requests compared with the released version's drift baseline on a
schedule, with CloudWatch alarms when features drift or the check itself fails.

SageMaker Model Monitor is "no longer open to new customers" (the notice on its documentation), so the check is
the library's own (``ops/drift.py``, the same file that computes each version's baseline in the build): a
Lambda function, deployed as inline source in the endpoint's stack, run by an EventBridge schedule. Each run
reads the window's captured requests of the production variants (the shadow's copies would count twice; a
window ends ten minutes before its run, so that SageMaker has written its capture files, and windows follow
each other without overlap or gap),
computes each feature's population stability index (PSI) over the version's baseline bins, and publishes:

* ``FeatureDrift`` (per ``EndpointName`` and ``Feature``), ``MaxFeatureDrift`` and ``DriftViolations`` (the
  features above the version's ``max_psi`` constraint), in ``SageMakerSafeRelease/Drift``, once
  ``min_records`` rows were read (thin data judges nothing);
* ``DriftRecords`` every run; and a report in the capture bucket (``monitoring/<endpoint>/yyyy/mm/dd/HHMM.json``,
  what ``mlops monitor`` reads).

Two alarms notify the endpoint's alarm topic: ``<endpoint>-data-drift`` (a violation in
``datapoints_to_alarm`` of ``evaluation_periods`` runs; missing data, as in thin windows, does not breach) and
``<endpoint>-drift-check-failed`` (the function failed: no baseline, no access, a timeout, or requests it
cannot read, such as another column count than the baseline's).

With ``quality`` (``ModelQualityCheck``), each run also judges the model against ground truth: the predictions
captured ``label_delay`` before its window against the 0/1 labels the application writes to the capture bucket
under ``ground-truth/<endpoint>/yyyy/mm/dd/HH/`` (``ground_truth_uri``; Model Monitor's ground-truth record
format, each request named by the ``InferenceId`` its caller gave ``InvokeEndpoint``), and publishes the metric
(``ModelQuality``, per ``EndpointName`` and ``Metric``) once ``min_labels`` rows are labelled. A third alarm,
``<endpoint>-model-quality``, fires when it stays below ``threshold``.

What it needs: data capture of the requests (``capture_mode`` input or both; both for quality) in CSV, and a
released version registered with a baseline (the build's ``Baseline`` step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .arns import StackArns
from .endpoint import ModelEndpoint, _source, inline_function, invoked_by_rule
from .errors import ConfigError, cut
from .nag import acknowledge_wildcards
from .monitoring_rules import check_monitoring, check_quality
from .ops.drift import DEFAULT_MIN_LABELS, DEFAULT_MIN_RECORDS, GROUND_TRUTH_PREFIX, NAMESPACE, REPORTS_PREFIX
from .permissions import allow
from .registry import key_through_s3
from .variants import _MODEL_PACKAGE_ARN

__all__ = ["DriftMonitor", "ModelQualityCheck"]

_UNIT_SECONDS = {"minutes": 60, "hours": 3600}


def whole_units(path: str, value: object, unit: str) -> int:
    """``value`` (a ``Duration``) in whole ``unit`` (minutes or hours), or one line naming ``path``."""
    seconds = _UNIT_SECONDS[unit]
    if not isinstance(value, Duration) or value.to_seconds() % seconds:
        shown = value.to_human_string() if isinstance(value, Duration) else cut(value)
        raise ConfigError(path, f"must be a Duration of whole {unit}, got {shown}")
    return int(value.to_seconds() // seconds)


@dataclass(frozen=True)
class ModelQualityCheck:
    """The model's quality against ground-truth labels, judged by ``DriftMonitor`` at each run.

    :param metric: accuracy, precision, recall, f1 or auc: the build's evaluation metrics of a binary classifier
        scoring probabilities (a probability of 0.5 or more is the positive class).
    :param threshold: the metric's lowest acceptable value (0-1): a window below it breaches.
    :param label_delay: how long after a request its label may still arrive (whole hours, up to 30 days; default
        24 hours): each run judges the window that long before its own, with the labels written since.
    :param min_labels: labelled rows a window needs before it is judged; default 200.
    """

    metric: str
    threshold: float
    label_delay: Duration | None = None
    min_labels: int = DEFAULT_MIN_LABELS

    def settings(self, *, window_minutes: int, retention_days: int | None) -> dict:
        """The function's settings, checked (``check_quality``)."""
        hours = whole_units("quality.label_delay",
                            self.label_delay if self.label_delay is not None else Duration.hours(24), "hours")
        try:
            check_quality(self.metric, self.threshold, hours, self.min_labels, window_minutes=window_minutes,
                          retention_days=retention_days)
        except ConfigError as error:
            raise error.under("quality", {"label_delay_hours": "label_delay"}) from None
        return {"metric": self.metric, "threshold": self.threshold, "label_delay_hours": hours,
                "min_labels": self.min_labels}


class DriftMonitor(Construct):
    """The scheduled drift check of ``endpoint`` against ``model_package_arn``'s baseline (see the module
    docstring).

    :param endpoint: a ``ModelEndpoint`` capturing requests (``data_capture`` with capture mode input or both).
    :param model_package_arn: the released version (its ``DriftCheckBaselines`` are read at each run).
    :param registry_statements: what reading the version and its baseline takes
        (``RegistryRef.consumer_read_statements``), for a version in another account.
    :param window: the requests each run reads, 5 minutes to a day, whole minutes; default one hour. The
        schedule runs once per window (``rate``), so windows neither overlap nor leave gaps.
    :param min_records: captured rows a window needs before it is judged; default 500 (below it, a PSI of
        unchanged data crosses 0.2 by chance too often).
    :param evaluation_periods: runs the drift alarm looks at; default 2.
    :param datapoints_to_alarm: runs among them with a violation that raise it; default 2 (two windows in a
        row: one odd hour is not drift).
    :param variants: the production variants whose requests are read; default the endpoint's.
    :param quality: also judge the model against ground-truth labels (``ModelQualityCheck``); needs the
        responses captured too (capture mode both).
    """

    def __init__(self, scope: Construct, id: str, *, endpoint: ModelEndpoint, model_package_arn: str,
                 registry_statements: tuple[list[dict], dict[str, str]], window: Duration | None = None,
                 min_records: int = DEFAULT_MIN_RECORDS, evaluation_periods: int = 2, datapoints_to_alarm: int = 2,
                 variants: Sequence[str] | None = None, quality: ModelQualityCheck | None = None) -> None:
        super().__init__(scope, id)
        capture, bucket = endpoint.data_capture, endpoint.data_capture_bucket
        if capture is None or bucket is None:
            raise ConfigError("endpoint", f"must capture data for a drift check (data_capture), got endpoint "
                              f"{endpoint.endpoint_name} without")
        if capture.capture_mode == "output":
            raise ConfigError("endpoint", "must capture the requests (capture_mode input or both) for a drift check, "
                              "got output")
        if capture.sampling_percentage == 0:
            raise ConfigError("endpoint", "must capture some requests (data_capture.sampling_percentage above 0) for "
                              "a drift check, got 0")
        if not isinstance(model_package_arn, str) or not _MODEL_PACKAGE_ARN.match(model_package_arn):
            raise ConfigError("model_package_arn", "must be a versioned model package ARN (arn:aws:sagemaker:REGION:"
                              f"ACCOUNT:model-package/GROUP/VERSION), got {cut(model_package_arn)}")
        minutes = whole_units("window", window or Duration.hours(1), "minutes")
        check_monitoring(minutes, min_records, evaluation_periods, datapoints_to_alarm)
        judged = None
        if quality is not None:
            if not isinstance(quality, ModelQualityCheck):
                raise ConfigError("quality", f"must be a ModelQualityCheck, got {cut(quality)}")
            if capture.capture_mode != "both":
                raise ConfigError("endpoint", "must capture the responses too (capture_mode both) for a quality "
                                  f"check, got {capture.capture_mode}")
            judged = quality.settings(window_minutes=minutes,
                                      retention_days=capture.retention_days if capture.bucket is None else None)
        names = [v.name for v in endpoint.variants]
        variants = list(variants) if variants is not None else names
        unknown = [v for v in variants if v not in names]
        if not variants or unknown:
            raise ConfigError("variants", f"must name production variants of {endpoint.endpoint_name} "
                              f"({', '.join(names)}), got {cut(unknown or variants)}")
        self.endpoint, self.window_minutes = endpoint, minutes
        name = endpoint.endpoint_name
        prefix = capture.folder
        captured = bucket.arn_for_objects(f"{prefix}/{name}/*")
        reports = bucket.arn_for_objects(f"{REPORTS_PREFIX}/{name}/*")
        self._labels = bucket.arn_for_objects(f"{GROUND_TRUTH_PREFIX}/{name}/*")
        # The endpoint's configs and its release phases' trial configs, named after it (ops/release_phase).
        configs = StackArns.of(Stack.of(self)).arn("sagemaker", "endpoint-config", f"{name[:40].lower()}*")
        registry, registry_wildcards = registry_statements
        listed = [f"{prefix}/{name}/{v}/*" for v in variants] + ([f"{GROUND_TRUTH_PREFIX}/{name}/*"] if judged else [])
        statements = list(registry) + [
            allow(["s3:ListBucket"], [bucket.bucket_arn], {"StringLike": {"s3:prefix": listed}}),
            allow(["s3:GetObject"], [captured] + ([self._labels] if judged else [])),
            allow(["s3:PutObject"], [reports]),
            *([allow(["sagemaker:DescribeEndpoint"], [endpoint.endpoint_arn]),
               # Which config serves (since when): its name changes with each release and trial.
               allow(["sagemaker:DescribeEndpointConfig"], [configs])] if judged else []),
            allow(["cloudwatch:PutMetricData"], ["*"], {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}),
        ]
        # SageMaker encrypts captured objects with the endpoint's key; reports are written with the bucket's.
        keys = [k for i, k in enumerate((endpoint.encryption_key, bucket.encryption_key))
                if k is not None and (i == 0 or k is not endpoint.encryption_key)]
        statements += [key_through_s3(key, ["kms:Decrypt", "kms:GenerateDataKey"]) for key in keys]
        self.capture_uri = f"s3://{bucket.bucket_name}/{prefix}"
        self.reports_uri = f"s3://{bucket.bucket_name}/{REPORTS_PREFIX}/{name}/"
        """Where the reports go (``mlops monitor`` reads the newest)."""
        self.ground_truth_uri = f"s3://{bucket.bucket_name}/{GROUND_TRUTH_PREFIX}/{name}/"
        """Where the application writes the labels (``yyyy/mm/dd/HH/<any name>``, JSON lines) with ``quality``."""
        self.quality = judged
        environment = {"ENDPOINT_NAME": name, "CAPTURE_URI": self.capture_uri, "VARIANTS": ",".join(variants),
                       "MODEL_PACKAGE_ARN": model_package_arn, "WINDOW_MINUTES": str(minutes),
                       "MIN_RECORDS": str(min_records)}
        if judged:
            environment |= {"QUALITY_METRIC": judged["metric"], "QUALITY_THRESHOLD": str(judged["threshold"]),
                            "LABEL_DELAY_HOURS": str(judged["label_delay_hours"]),
                            "MIN_LABELS": str(judged["min_labels"])}
        _, self.function, _ = inline_function(
            self, role_description=f"Drift check of endpoint {name}", source=_source("drift.py"),
            description=f"Compares endpoint {name}'s requests with the released version's drift baseline",
            statements=statements, timeout=900, memory_size=1024,
            wildcards=dict(registry_wildcards) | {
                captured: "SageMaker names the captured objects by variant, date and hour under the endpoint's "
                          "folder.",
                reports: "One report per run, named after its time, under the endpoint's monitoring folder.",
                "*": "CloudWatch's PutMetricData has no resource; the condition keeps it to the drift namespace."}
            | ({self._labels: "The application names its label files by the hour they were written, under the "
                             "endpoint's ground-truth folder.",
                configs: "The endpoint's configs are named after it with a content hash, one per release and "
                         "trial: the check reads which one serves."} if judged else {}),
            environment=environment)
        # A failed check alarms once; the next window runs anyway (Lambda would retry an asynchronous call twice,
        # publishing its metrics again each time).
        lambda_.CfnEventInvokeConfig(self, "NoRetries", function_name=self.function.ref, qualifier="$LATEST",
                                     maximum_retry_attempts=0)
        invoked_by_rule(self, self.function, rule_id="Schedule", permission_id="ScheduleInvokes",
                        target_id="DriftCheck", schedule_expression=f"rate({minutes} minutes)",
                        description=f"Drift check of endpoint {name}")
        period = Duration.minutes(minutes)
        dims = {"EndpointName": name}
        self.drift_alarm = cloudwatch.Alarm(
            self, "DriftAlarm", alarm_name=f"{name}-data-drift",
            alarm_description=f"Features of endpoint {name}'s requests drifted beyond the released version's "
                              "baseline (PSI above its max_psi): see `mlops monitor` and the reports",
            metric=cloudwatch.Metric(namespace=NAMESPACE, metric_name="DriftViolations", dimensions_map=dims,
                                     statistic="Maximum", period=period),
            threshold=1, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=evaluation_periods, datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        self.check_failed_alarm = cloudwatch.Alarm(
            self, "CheckFailedAlarm", alarm_name=f"{name}-drift-check-failed",
            alarm_description=f"The monitoring check of endpoint {name} failed (see its log group and the "
                              "run's report): this window's drift or quality may not have been judged",
            metric=cloudwatch.Metric(namespace="AWS/Lambda", metric_name="Errors",
                                     dimensions_map={"FunctionName": self.function.ref}, statistic="Sum",
                                     period=period),
            threshold=1, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        self.quality_alarm: cloudwatch.Alarm | None = None
        """``<endpoint>-model-quality``, with ``quality``: the metric below its threshold."""
        self.labels_missing_alarm: cloudwatch.Alarm | None = None
        """``<endpoint>-labels-missing``, with ``quality``: windows with requests enough but labels too few."""
        if judged:
            # An alarm in ALARM stays so while no window is judged (labels late or missing, the windows before a
            # release): only a judged window clears it. Missing labels have their own alarm.
            self.quality_alarm = cloudwatch.Alarm(
                self, "QualityAlarm", alarm_name=f"{name}-model-quality",
                alarm_description=f"Endpoint {name}'s {judged['metric']} against the labels its application wrote "
                                  f"fell below {judged['threshold']}: see `mlops monitor` and the reports",
                metric=cloudwatch.Metric(namespace=NAMESPACE, metric_name="ModelQuality",
                                         dimensions_map=dims | {"Metric": judged["metric"]}, statistic="Minimum",
                                         period=period),
                threshold=judged["threshold"], comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=evaluation_periods, datapoints_to_alarm=datapoints_to_alarm,
                treat_missing_data=cloudwatch.TreatMissingData.IGNORE)
            self.labels_missing_alarm = cloudwatch.Alarm(
                self, "LabelsMissingAlarm", alarm_name=f"{name}-labels-missing",
                alarm_description=f"Endpoint {name}'s application wrote labels for fewer than {judged['min_labels']} "
                                  f"rows of windows that had {judged['min_labels']} requests or more, "
                                  f"{judged['label_delay_hours']} hours on: nothing judges the model's quality. Is "
                                  "the labelling job running, and do callers pass InferenceId?",
                metric=cloudwatch.Metric(namespace=NAMESPACE, metric_name="LabeledRecords", dimensions_map=dims,
                                         statistic="Maximum", period=period),
                threshold=judged["min_labels"], comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=evaluation_periods, datapoints_to_alarm=datapoints_to_alarm,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarms = [a for a in (self.drift_alarm, self.check_failed_alarm, self.quality_alarm,
                              self.labels_missing_alarm) if a is not None]
        if endpoint.alarm_topic is not None:
            from aws_cdk import aws_cloudwatch_actions as actions

            for alarm in alarms:
                alarm.add_alarm_action(actions.SnsAction(endpoint.alarm_topic))
        kinds = ("data-drift", "drift-check-failed") + (("model-quality", "labels-missing") if judged else ())
        self.alarm_arns = [StackArns.of(Stack.of(self)).arn("cloudwatch", "alarm", f"{name}-{kind}", separator=":")
                           for kind in kinds]
        self._bucket_key = bucket.encryption_key

    def grant_write_labels(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (the application's role, in this account) write ground-truth labels under
        ``ground_truth_uri``, encrypted with the bucket's key."""
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=["s3:PutObject"], resource_arns=[self._labels])
        if self._bucket_key is not None:
            grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement.from_json(
                key_through_s3(self._bucket_key, ["kms:GenerateDataKey", "kms:Decrypt"])))
        if isinstance(grantee, Construct):
            acknowledge_wildcards(grantee, {self._labels: "The application names its label files by the hour "
                                                          "they were written, under the endpoint's ground-truth "
                                                          "folder."})
        return grant
