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

from .gates import FAIL, PASS, ABGate, ShadowGate, judge_ab, judge_shadow
from .reports import ab_sample, measure_ab
from .release_phase import PHASES
from .shadow_report import measure, measure_agreement



def evaluate(cloudwatch: Any, event: dict, now: datetime, *, sagemaker: Any = None, s3: Any = None) -> dict:
    """The verdict on the phase so far (``phase_started`` .. ``now``), as JSON-ready data. A shadow gate that
    checks prediction agreement (``min_agreement_pct``) also reads the captured data: the endpoint's capture
    location through ``sagemaker``, the files through ``s3``."""
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
        gate = ShadowGate(**event.get("gate", {}))
        agreement = None
        if gate.min_agreement_pct is not None:
            agreement, _ = measure_agreement(s3, sagemaker.describe_endpoint(EndpointName=event["endpoint"]),
                                             variants, started, now, gate.agreement_tolerance)
        verdict = judge_shadow(production, candidate, gate, elapsed, agreement)
    else:
        kind = event["kind"]
        if kind not in ("rate", "mean"):
            raise ValueError(f"kind must be rate or mean, got {kind!r}")
        champion, challenger = (ab_sample(kind, group) for group in measure_ab(
            cloudwatch, event["endpoint"], list(variants), event["metric"], kind, started, now))
        verdict = judge_ab(champion, challenger, ABGate(**event.get("gate", {})), elapsed)
    return {"phase": phase, "endpoint": event["endpoint"], "decision": verdict.decision, "reason": verdict.reason,
            "elapsed_seconds": round(elapsed), "checks": [check.as_dict() for check in verdict.checks]}


#: The version's metadata keys (customer metadata of the model package, in the registry) where a person's
#: decision on a phase's gate is recorded: ``skip`` (pass it) or ``stop`` (fail it), and why.
OVERRIDE_KEY, REASON_KEY = "release-{phase}-gate", "release-{phase}-reason"
OVERRIDES = ("skip", "stop")


def override_of(sagemaker: Any, version_arn: str, phase: str) -> dict | None:
    """A person's recorded decision on ``phase``'s gate for this version, as a verdict, or None."""
    metadata = sagemaker.describe_model_package(ModelPackageName=version_arn).get("CustomerMetadataProperties") or {}
    decision = metadata.get(OVERRIDE_KEY.format(phase=phase))
    if decision not in OVERRIDES:
        return None
    reason = metadata.get(REASON_KEY.format(phase=phase), "no reason given")
    verb = "skipped" if decision == "skip" else "stopped"
    return {"phase": phase, "decision": PASS if decision == "skip" else FAIL, "override": decision,
            "reason": f"gate {verb} by a person: {reason}", "checks": []}


#: What SageMaker accepts in a customer metadata value besides letters, digits and spaces (botocore's pattern).
_METADATA_PUNCTUATION = "_.:/=+-@"


def check_metadata_value(name: str, value: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a customer metadata value SageMaker accepts: 1-256 letters,
    digits, spaces and ``_.:/=+-@`` (no commas, quotes or parentheses)."""
    import unicodedata

    if not 1 <= len(value) <= 256:
        raise ValueError(f"{name} must hold 1 to 256 characters, got {len(value)}")
    bad = sorted({c for c in value if c not in _METADATA_PUNCTUATION
                  and unicodedata.category(c)[0] not in ("L", "N", "Z")})
    if bad:
        raise ValueError(f"{name} may hold letters, digits, spaces and {' '.join(_METADATA_PUNCTUATION)} only "
                         f"(SageMaker's metadata values), got {' '.join(repr(c) for c in bad)}")


def record_override(sagemaker: Any, version_arn: str, phase: str, decision: str, reason: str) -> dict:
    """Record a person's decision on ``phase``'s gate on the version (the state machine reads it at its next
    look). Keeps the version's other metadata; returns the metadata written."""
    if decision not in OVERRIDES:
        raise ValueError(f"decision must be one of {', '.join(OVERRIDES)}, got {decision!r}")
    check_metadata_value("reason", reason)
    metadata = dict(sagemaker.describe_model_package(ModelPackageName=version_arn)
                    .get("CustomerMetadataProperties") or {})
    metadata[OVERRIDE_KEY.format(phase=phase)] = decision
    metadata[REASON_KEY.format(phase=phase)] = reason
    sagemaker.update_model_package(ModelPackageArn=version_arn, CustomerMetadataProperties=metadata)
    return metadata


def conclude(sagemaker: Any, sns: Any, release: dict, verdict: dict | None, error: dict | None,
             restored: bool = True) -> dict:
    """After the endpoint is back on its steady config: reject the version when its gate failed (the verdict's
    reason recorded as the approval description) and tell the release topic what happened. Returns the outcome
    (``passed``, ``failed`` or ``error``)."""
    phase, version = release["phase"], release["version_arn"]
    if verdict is not None and verdict.get("decision") == FAIL:
        outcome, reason = "failed", verdict.get("reason", "")
    elif verdict is not None and verdict.get("decision") == PASS and restored:
        outcome, reason = "passed", verdict.get("reason", "")
    else:
        outcome = "error"
        reason = _error_text(error)
    if outcome == "failed":
        described = sagemaker.describe_model_package(ModelPackageName=version)
        if described.get("ModelApprovalStatus") == "Approved":
            sagemaker.update_model_package(ModelPackageArn=version, ModelApprovalStatus="Rejected",
                                           ApprovalDescription=f"release {phase} gate: {reason}"[:1024])
    topic = release.get("topic_arn")
    if topic:
        words = {"passed": "passed its", "failed": "failed its", "error": "stopped in its"}[outcome]
        subject = f"{release['endpoint']}: {version.rsplit('/', 1)[-1]} {words} {phase} phase"
        back = ("The endpoint is back on its steady config" if restored else "The endpoint could NOT be returned "
                f"to its steady config: look at it now (mlops status {release['endpoint']}) and update it to the "
                "config named by the tag mlops:steady-config of the config it runs")
        message = (f"Version {version} {words} {phase} phase on endpoint {release['endpoint']}: {reason}\n"
                   + (f"{back}; the version is Rejected in the registry." if outcome == "failed" else f"{back}."
                      if outcome == "error" else "The release goes on."))
        sns.publish(TopicArn=topic, Subject=subject[:100], Message=message)
    return {"outcome": outcome, "reason": reason}


def _error_text(error: dict | None) -> str:
    """One line from a Step Functions Catch result (``{"Error", "Cause"}``, the cause a Lambda's error JSON)."""
    if not error:
        return "unknown error"
    import json

    cause = error.get("Cause", "")
    try:
        cause = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        pass
    return f"{error.get('Error', 'Error')}: {cause}"[:1000]


def handler(event: dict, context: Any) -> dict:
    """The Lambda entry point of the release's state machine. ``event`` is ``{"action", "state"}``: the action
    (start, status, evaluate, restore, conclude) and the execution's state so far: ``release`` (the phase's
    settings, the pipeline action's input), ``started`` (start's answer), ``status`` (the last status, whose
    ``now`` is when the trial config was reached), ``verdict``, ``error`` (a caught failure).

    The endpoint is reached through ``release["role_arn"]`` (the stage account's release-check role); the
    registry and the topic with the function's own role."""
    from . import release_phase
    from .aws import Context

    action, state = event["action"], event["state"]
    release = state["release"]
    here = Context()
    prod = Context(region=release.get("region"), role_arn=release.get("role_arn"))
    endpoint = release["endpoint"]
    if action == "start":
        return release_phase.start(prod.client("sagemaker"), endpoint=endpoint, phase=release["phase"],
                                   version_arn=release["version_arn"], variant_name=release["candidate_variant"],
                                   percent=release["percent"], instance_count=release.get("instance_count"))
    if action == "status":
        result = release_phase.status(prod.client("sagemaker"), endpoint=endpoint,
                                      config=state["started"]["trial_config"])
        return {**result, "now": datetime.now(timezone.utc).isoformat()}
    if action == "evaluate":
        verdict = override_of(here.client("sagemaker"), release["version_arn"], release["phase"])
        if verdict is not None:
            return verdict
        needs_capture = release["phase"] == "shadow" and release.get("gate", {}).get("min_agreement_pct") is not None
        return evaluate(prod.client("cloudwatch"), {**release, "phase_started": state["status"]["now"]},
                        datetime.now(timezone.utc), sagemaker=prod.client("sagemaker") if needs_capture else None,
                        s3=prod.client("s3") if needs_capture else None)
    if action == "restore":
        sagemaker = prod.client("sagemaker")
        steady = (state.get("started") or {}).get("steady_config") or release_phase.steady_config_of(
            sagemaker, sagemaker.describe_endpoint(EndpointName=endpoint))
        return release_phase.restore(sagemaker, endpoint=endpoint, steady_config=steady)
    if action == "conclude":
        return conclude(here.client("sagemaker"), here.client("sns") if release.get("topic_arn") else None,
                        release, state.get("verdict"), state.get("error"),
                        restored=bool((state.get("restored") or {}).get("reached")))
    raise ValueError(f"action must be start, status, evaluate, restore or conclude, got {action!r}")
