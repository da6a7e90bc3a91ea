"""The progressive release's gate evaluator: one look at a phase's numbers, judged by ``gates.py``.

The release's state machine (prod account) calls ``handler`` on a schedule while a shadow or A/B phase runs; it
reads CloudWatch exactly as ``mlops shadow-report`` and ``mlops ab-report`` do (``shadow_report.measure``,
``reports.measure_ab``) over the phase so far, and answers PASS, FAIL or WAIT with the reason and the checks.
boto3 and the standard library only: it runs in a Lambda function.

The event (what the state machine passes; times in ISO 8601 with a zone)::

    {"phase": "shadow", "endpoint": "churn-predictor-prod", "phase_started": "2026-11-30T10:00:00+00:00",
     "production_variant": "champion", "candidate_variant": "shadow", "gate": {<ShadowGate fields>}}
    {"phase": "ab", "endpoint": ..., "phase_started": ..., "production_variant": "champion",
     "candidate_variant": "challenger", "metric": "ChurnApp/Retained", "kind": "rate", "gate": {<ABGate fields>}}
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from constructs_lib.ops.gates import ABGate, ShadowGate, judge_ab, judge_shadow
from constructs_lib.ops.reports import ab_sample, measure_ab
from constructs_lib.ops.shadow_report import measure

PHASES = ("shadow", "ab")


def evaluate(cloudwatch: Any, event: dict, now: datetime) -> dict:
    """The verdict on the phase so far (``phase_started`` .. ``now``), as JSON-ready data."""
    phase = event.get("phase")
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    started = datetime.fromisoformat(event["phase_started"])
    if started.tzinfo is None:
        raise ValueError(f"phase_started needs a time zone, got {event['phase_started']!r}")
    elapsed = (now - started).total_seconds()
    if elapsed < 0:
        raise ValueError(f"phase_started is in the future: {event['phase_started']}")
    variants = (event["production_variant"], event["candidate_variant"])
    if phase == "shadow":
        production, candidate = measure(cloudwatch, event["endpoint"], variants, started, now)
        verdict = judge_shadow(production, candidate, ShadowGate(**event.get("gate", {})), elapsed)
    else:
        kind = event["kind"]
        if kind not in ("rate", "mean"):
            raise ValueError(f"kind must be rate or mean, got {kind!r}")
        champion, challenger = (ab_sample(kind, group) for group in measure_ab(
            cloudwatch, event["endpoint"], list(variants), event["metric"], kind, started, now))
        verdict = judge_ab(champion, challenger, ABGate(**event.get("gate", {})), elapsed)
    return {"phase": phase, "endpoint": event["endpoint"], "decision": verdict.decision, "reason": verdict.reason,
            "elapsed_seconds": round(elapsed), "checks": [check.as_dict() for check in verdict.checks]}


def handler(event: dict, context: Any) -> dict:
    """The Lambda entry point (the state machine's gate task)."""
    import boto3

    return evaluate(boto3.client("cloudwatch"), event, datetime.now(timezone.utc))
