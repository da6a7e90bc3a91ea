"""Retraining on drift (``ops/retrain.py``): a drift alarm's state change starts the model's build pipeline in
the moto server, at most once per interval, named after the alarm, once per event."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from constructs_lib.ops import retrain

PIPELINE = "mlops-churn-predictor-build"
DEFINITION = json.dumps({"Version": "2020-12-01", "Steps": [{"Name": "Fail", "Type": "Fail", "Arguments": {}}]})


def _event(state: str = "ALARM", event_id: str = "e-1") -> dict:
    return {"id": event_id, "account": "333333333333", "time": "2026-11-30T12:00:00Z",
            "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "detail": {"alarmName": "churn-predictor-prod-data-drift",
                       "state": {"value": state, "reason": "Threshold Crossed: 2 out of the last 2 datapoints"}}}


@pytest.fixture
def sagemaker(aws_client):
    client = aws_client("sagemaker")
    client.create_pipeline(PipelineName=PIPELINE, PipelineDefinition=DEFINITION,
                           RoleArn="arn:aws:iam::123456789012:role/build")
    return client


def _executions(sagemaker) -> list[dict]:
    return sagemaker.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]


def test_an_alarm_starts_the_build_named_after_it(sagemaker):
    done = retrain.retrain(sagemaker, _event(), PIPELINE, timedelta(hours=24))
    assert done["started"] is True
    (execution,) = _executions(sagemaker)
    described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution["PipelineExecutionArn"])
    assert described["PipelineExecutionDisplayName"].startswith("drift-")
    assert described["PipelineExecutionDisplayName"].endswith("-churn-predictor-prod-data-drift")
    assert described["PipelineExecutionDescription"].startswith(
        "Retraining on drift: alarm churn-predictor-prod-data-drift in account 333333333333 went into ALARM")


def test_at_most_one_retraining_per_interval(sagemaker):
    assert retrain.retrain(sagemaker, _event(event_id="e-1"), PIPELINE, timedelta(hours=24))["started"]
    second = retrain.retrain(sagemaker, _event(event_id="e-2"), PIPELINE, timedelta(hours=24))
    assert second["started"] is False and "no retraining before" in second["why"]
    assert len(_executions(sagemaker)) == 1
    # Once the interval has passed, the next alarm retrains again.
    later = datetime.now(timezone.utc) + timedelta(hours=25)
    assert retrain.retrain(sagemaker, _event(event_id="e-3"), PIPELINE, timedelta(hours=24), now=later)["started"]


def test_a_return_to_ok_starts_nothing(sagemaker):
    assert retrain.retrain(sagemaker, _event("OK"), PIPELINE, timedelta(hours=1)) == {
        "started": False, "why": "churn-predictor-prod-data-drift is OK, not ALARM"}
    assert _executions(sagemaker) == []


def test_the_function_reads_its_settings(sagemaker, monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("MIN_INTERVAL_HOURS", "6")
    assert retrain.handler(_event(), None, sagemaker=sagemaker)["started"] is True
