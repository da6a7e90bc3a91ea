"""Retraining on drift: the dev account's function that starts a model's build pipeline when a stage's drift
alarm (``DriftMonitor``) goes into ALARM, at most once per interval.

An EventBridge rule in the stage account forwards the alarm's state change to the dev account's default bus
(``DriftRetraining``); the dev bus accepts only that account's alarm events, and a rule there invokes this
function (deployed as its inline source: standard library and boto3 only). It starts the build unless an
execution started within ``MIN_INTERVAL_HOURS``, names the execution after the alarm (its display name, with
the reason in its description), and uses the event's id as the request token, so a redelivered event starts
nothing twice. The new version goes through the same approval and release path as any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any

#: SageMaker's PipelineExecutionDisplayName: letters, digits and hyphens, at most 82.
_DISPLAY = re.compile(r"[^a-zA-Z0-9-]+")


def decide(sagemaker: Any, pipeline: str, now: datetime, min_interval: timedelta) -> tuple[bool, str]:
    """``(start?, why)``: start unless the pipeline's newest execution started within ``min_interval``."""
    latest = sagemaker.list_pipeline_executions(PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending",
                                                MaxResults=1).get("PipelineExecutionSummaries", [])
    if latest:
        started = latest[0]["StartTime"]
        if started.tzinfo is None:
            started = started.replace(tzinfo=timezone.utc)
        if now - started < min_interval:
            return False, (f"{pipeline} started an execution at {started.isoformat()}, within the last "
                           f"{min_interval}: no retraining before {(started + min_interval).isoformat()}")
    return True, f"no execution of {pipeline} within the last {min_interval}"


def retrain(sagemaker: Any, event: dict, pipeline: str, min_interval: timedelta,
            now: datetime | None = None) -> dict:
    """Start ``pipeline`` for the alarm ``event`` (a CloudWatch alarm state change) unless one started within
    ``min_interval``; return what was done."""
    detail = event.get("detail") or {}
    alarm = str(detail.get("alarmName", "unknown alarm"))
    state = (detail.get("state") or {}).get("value")
    if state != "ALARM":
        return {"started": False, "why": f"{alarm} is {state}, not ALARM"}
    now = now or datetime.now(timezone.utc)
    start, why = decide(sagemaker, pipeline, now, min_interval)
    if not start:
        return {"started": False, "alarm": alarm, "why": why}
    reason = (f"Retraining on drift: alarm {alarm} in account {event.get('account', '?')} went into ALARM at "
              f"{event.get('time', now.isoformat())} ({(detail.get('state') or {}).get('reason', '')})")[:3072]
    display = _DISPLAY.sub("-", f"drift-{now:%Y%m%d%H%M}-{alarm}").strip("-")[:82]
    # The event's id as the token: EventBridge may deliver an event twice; SageMaker starts it once.
    token = hashlib.sha256(str(event.get("id", display)).encode()).hexdigest()[:64]
    arn = sagemaker.start_pipeline_execution(PipelineName=pipeline, PipelineExecutionDisplayName=display,
                                             PipelineExecutionDescription=reason,
                                             ClientRequestToken=token)["PipelineExecutionArn"]
    return {"started": True, "alarm": alarm, "execution": arn, "why": reason}


def handler(event: dict, context: Any, sagemaker: Any = None) -> dict:
    """The Lambda entry point (``index.handler``): settings from the environment."""
    if sagemaker is None:
        import boto3
        from botocore.config import Config

        sagemaker = boto3.client("sagemaker", config=Config(connect_timeout=5, read_timeout=30,
                                                            retries={"max_attempts": 3, "mode": "standard"}))
    result = retrain(sagemaker, event, os.environ["PIPELINE_NAME"],
                     timedelta(hours=float(os.environ.get("MIN_INTERVAL_HOURS", "24"))))
    print(json.dumps(result))
    return result
