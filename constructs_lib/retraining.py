"""Retraining on drift, across accounts: a stage's drift alarm (``DriftMonitor``) starts the model's build
pipeline in the dev account, at most once per interval.

* ``DriftAlarmForwarder`` (stage account): an EventBridge rule sends the drift alarms' changes into ALARM to
  the dev account's default event bus, through a role that may put events on that bus only.
* ``DriftRetraining`` (dev account): the default bus accepts, from the given stage accounts only, CloudWatch
  alarm state changes (a bus policy statement conditioned on the event's source and detail type); a rule
  matches those of the named alarms going into ALARM and invokes the retraining function (``ops/retrain.py``),
  which starts the build unless an execution started within ``min_interval``, names the execution after the
  alarm and records why in its description. The version it registers goes through the same approval and
  release path as any other.
* ``RetrainingNotice`` (dev account, next to the delivery pipeline): the same forwarded alarms are announced on
  the pipeline's release topic, so the people who approve releases hear why a new version is coming.
"""

from __future__ import annotations

import re
from typing import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from .arns import StackArns
from .endpoint import _inline_policy, _source, inline_function, invoked_by_rule
from .errors import ConfigError, check_account_ids, cut
from .monitoring import whole_units
from .monitoring_rules import RETRAIN_INTERVAL_HOURS
from .permissions import allow

__all__ = ["ALARM_STATE_CHANGE", "DriftAlarmForwarder", "DriftRetraining", "RetrainingNotice"]

#: The CloudWatch event of an alarm changing state.
ALARM_STATE_CHANGE = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
_ALARM_NAME = re.compile(r"^[^:*?]{1,255}$")


def _alarm_pattern(alarm_names: Sequence[str]) -> dict:
    if isinstance(alarm_names, str) or not alarm_names or not all(
            isinstance(n, str) and _ALARM_NAME.match(n) for n in alarm_names):
        raise ConfigError("alarm_names", f"must list one or more alarm names, got {cut(alarm_names)}")
    return {**ALARM_STATE_CHANGE, "detail": {"alarmName": list(alarm_names), "state": {"value": ["ALARM"]}}}


class DriftAlarmForwarder(Construct):
    """The stage account's side: ``alarm_names`` going into ALARM are sent to ``dev_account``'s default bus in
    ``dev_region``."""

    def __init__(self, scope: Construct, id: str, *, alarm_names: Sequence[str], dev_account: str,
                 dev_region: str) -> None:
        super().__init__(scope, id)
        pattern = _alarm_pattern(alarm_names)
        check_account_ids("dev_account", [dev_account])
        env = StackArns.of(Stack.of(self))
        self.bus_arn = env.arn("events", "event-bus", "default", account=dev_account, region=dev_region)
        role = iam.CfnRole(
            self, "Role", description="Sends this stage's drift alarms to the dev account's event bus",
            assume_role_policy_document={"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": env.account}}}]},
            policies=[_inline_policy([allow(["events:PutEvents"], [self.bus_arn])])])
        events.CfnRule(self, "Rule", description="Drift alarms into ALARM, to the dev account (retraining)",
                       event_pattern=pattern, targets=[events.CfnRule.TargetProperty(
                           arn=self.bus_arn, id="DevEventBus", role_arn=role.attr_arn)])


def _interval_hours(min_interval: Duration | None) -> int:
    """``min_interval`` (default 24 hours) in whole hours, checked."""
    hours = whole_units("min_interval", min_interval or Duration.hours(24), "hours")
    RETRAIN_INTERVAL_HOURS.check("min_interval", hours)
    return hours


class RetrainingNotice(Construct):
    """The dev account's side, for people: the named alarms of ``source_accounts`` going into ALARM (forwarded
    to this account's default bus by ``DriftAlarmForwarder``, accepted by ``DriftRetraining``'s bus policy) are
    announced on ``topic`` (the delivery pipeline's release topic), with what happens next."""

    def __init__(self, scope: Construct, id: str, *, topic: sns.ITopic, pipeline_name: str,
                 source_accounts: Sequence[str], alarm_names: Sequence[str],
                 min_interval: Duration | None = None) -> None:
        super().__init__(scope, id)
        pattern = _alarm_pattern(alarm_names)
        accounts = check_account_ids("source_accounts", list(source_accounts))
        hours = _interval_hours(min_interval)
        field = events.EventField.from_path
        self.rule = events.Rule(
            self, "Rule", description=f"Monitoring alarms of {', '.join(accounts)} that retrain: tell the release topic",
            event_pattern=events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"],
                                              account=accounts, detail=pattern["detail"]),
            targets=[targets.SnsTopic(topic, message=events.RuleTargetInput.from_text(
                f"Alarm {field('$.detail.alarmName')} of account {field('$.account')} went into ALARM: "
                f"{field('$.detail.state.reason')}. The build pipeline {pipeline_name} starts to retrain the model "
                f"unless an execution started in the last {hours} hours; the version it registers goes through "
                "the same approval and release as any other. `mlops monitor` in that account shows what the "
                "check found."))])


class DriftRetraining(Construct):
    """The dev account's side: the named drift alarms of ``source_accounts`` start ``pipeline_name``, at most
    once per ``min_interval`` (default 24 hours; 1 hour to 30 days)."""

    def __init__(self, scope: Construct, id: str, *, pipeline_name: str, source_accounts: Sequence[str],
                 alarm_names: Sequence[str], min_interval: Duration | None = None, statement_id: str) -> None:
        super().__init__(scope, id)
        pattern = _alarm_pattern(alarm_names)
        accounts = check_account_ids("source_accounts", list(source_accounts))
        hours = _interval_hours(min_interval)
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,50}", statement_id):
            raise ConfigError("statement_id", f"must be 1-50 letters, digits, '-' or '_', got {cut(statement_id)}")
        stack = Stack.of(self)
        env = StackArns.of(stack)
        bus = env.arn("events", "event-bus", "default")
        # The bus takes, from each stage account, alarm state changes and nothing else.
        for account in accounts:
            events.CfnEventBusPolicy(
                self, f"From{account}", event_bus_name="default", statement_id=f"{statement_id}-{account}",
                statement={"Effect": "Allow", "Principal": {"AWS": f"arn:{env.partition}:iam::{account}:root"},
                           "Action": "events:PutEvents", "Resource": bus,
                           # As AWS's cross-account example: events:source is multi-valued, detail-type one value.
                           "Condition": {"ForAllValues:StringEquals": {"events:source": ["aws.cloudwatch"]},
                                         "StringEquals": {"events:detail-type": "CloudWatch Alarm State Change"}}})
        pipeline_arn = env.arn("sagemaker", "pipeline", pipeline_name.lower())
        _, self.function, _ = inline_function(
            self, role_description=f"Starts {pipeline_name} when a drift alarm fires", source=_source("retrain.py"),
            description=f"Retrains {pipeline_name} on drift, at most once per {hours:g} hours",
            statements=[allow(["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"],
                              [pipeline_arn])],
            wildcards={}, timeout=60,
            environment={"PIPELINE_NAME": pipeline_name, "MIN_INTERVAL_HOURS": f"{hours:g}"})
        invoked_by_rule(self, self.function, rule_id="Rule", permission_id="RuleInvokes", target_id="Retrain",
                        event_pattern={**pattern, "account": accounts},
                        description=f"Drift alarms of {', '.join(accounts)}: retrain")
