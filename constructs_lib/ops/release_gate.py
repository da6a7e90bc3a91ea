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


#: A person's decision on a phase's gate: ``skip`` (pass it) or ``stop`` (fail it), with the reason. Kept in an SSM
#: parameter of the pipeline account per model and phase (``override_parameter``), not on the version: any change
#: to an Approved model package emits the approval event that starts the delivery pipeline.
OVERRIDES = ("skip", "stop")
#: The longest reason: it becomes the version's ApprovalDescription (at most 1024 characters) after a prefix.
MAX_REASON = 900


def override_parameter(project: str, model: str, phase: str) -> str:
    """The SSM parameter holding a person's decision on ``phase``'s gate of ``model``."""
    return f"/{project}/{model}/release/{phase}-gate"


def override_of(ssm: Any, parameter: str, version_arn: str, phase: str) -> dict | None:
    """A person's decision on ``phase``'s gate for this version, as a verdict, or None (none recorded, or one for
    another version)."""
    import json

    try:
        value = json.loads(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    except Exception as error:
        if getattr(error, "response", {}).get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    if not isinstance(value, dict) or value.get("version_arn") != version_arn or value.get("decision") not in OVERRIDES:
        return None
    verb = "skipped" if value["decision"] == "skip" else "stopped"
    by = f" ({value['by']})" if value.get("by") else ""
    return {"phase": phase, "decision": PASS if value["decision"] == "skip" else FAIL, "override": value["decision"],
            "reason": f"gate {verb} by a person{by}: {value.get('reason') or 'no reason given'}", "checks": []}


def record_override(ssm: Any, parameter: str, version_arn: str, decision: str, reason: str, by: str = "") -> dict:
    """Record a person's decision for ``version_arn`` in ``parameter`` (read at the phase's next look, cleared
    when the phase concludes). Returns what was written."""
    import json

    if decision not in OVERRIDES:
        raise ValueError(f"decision must be one of {', '.join(OVERRIDES)}, got {decision!r}")
    if not reason.strip() or len(reason) > MAX_REASON:
        raise ValueError(f"reason must hold 1 to {MAX_REASON} characters, got {len(reason.strip())}")
    value = {"decision": decision, "reason": reason, "version_arn": version_arn, "by": by}
    text = json.dumps(value, ensure_ascii=False)
    if len(text.encode("utf-8")) > 4096:  # a Standard parameter's limit
        raise ValueError(f"reason is too long in UTF-8 for an SSM parameter (4 KB with the version), got "
                         f"{len(reason.encode('utf-8'))} bytes")
    ssm.put_parameter(Name=parameter, Value=text, Type="String", Overwrite=True,
                      Description="A person's decision on a release gate (mlops release skip-gate|stop)")
    return value


def clear_override(ssm: Any, parameter: str, version_arn: str) -> None:
    """Remove the decision for ``version_arn`` (one phase run consumes it); another version's is left."""
    import json

    try:
        value = json.loads(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
        if isinstance(value, dict) and value.get("version_arn") == version_arn:
            ssm.delete_parameter(Name=parameter)
    except Exception as error:
        if getattr(error, "response", {}).get("Error", {}).get("Code") != "ParameterNotFound":
            raise


def conclude(sagemaker: Any, sns: Any, release: dict, verdict: dict | None, error: dict | None,
             restored: bool = True, ssm: Any = None) -> dict:
    """After the endpoint is back on its steady config: reject the version when its gate failed (the verdict's
    reason recorded as the approval description) and tell the release topic what happened. Returns the outcome
    (``passed``, ``failed`` or ``error``).

    A person's ``stop`` recorded after the gate passed still fails the phase, and so does a version no longer
    Approved in the registry (a person rejected it meanwhile). The decision is cleared last (it applies to one run
    of the phase), so a retry after a failed call reaches the same outcome."""
    phase, version = release["phase"], release["version_arn"]
    parameter = release.get("override_parameter") if ssm is not None else None
    late = override_of(ssm, parameter, version, phase) if parameter else None
    if late is not None and late["decision"] == FAIL:
        verdict = late
    described = sagemaker.describe_model_package(ModelPackageName=version)
    status = described.get("ModelApprovalStatus")
    if verdict is not None and verdict.get("decision") == FAIL:
        outcome, reason = "failed", verdict.get("reason", "")
    elif verdict is not None and verdict.get("decision") == PASS and restored:
        outcome, reason = "passed", verdict.get("reason", "")
        if status != "Approved":
            outcome, reason = "failed", f"the version is {status} in the registry ({described.get('ApprovalDescription') or 'no reason given'})"
    else:
        outcome = "error"
        reason = _error_text(error)
    if outcome == "failed" and status == "Approved":
        sagemaker.update_model_package(ModelPackageArn=version, ModelApprovalStatus="Rejected",
                                       ApprovalDescription=f"release {phase} gate: {reason}"[:1024])
    topic = release.get("topic_arn")
    if topic:
        words = {"passed": "passed its", "failed": "failed its", "error": "stopped in its"}[outcome]
        subject = f"{release['endpoint']}: {version.rsplit('/', 1)[-1]} {words} {phase} phase"
        back = ("The endpoint is back on its steady config" if restored else "The endpoint could NOT be returned "
                f"to its steady config: look at it now (mlops status {release['endpoint']}) and return it with "
                "`mlops release restore`")
        message = (f"Version {version} {words} {phase} phase on endpoint {release['endpoint']}: {reason}\n"
                   + (f"{back}; the version is Rejected in the registry." if outcome == "failed" else f"{back}."
                      if outcome == "error" else "The release goes on."))
        sns.publish(TopicArn=topic, Subject=subject[:100], Message=message)
    if parameter:
        clear_override(ssm, parameter, version)
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


def _within_limit(since: str, now: datetime, what: str) -> None:
    """Raise ``PhaseError`` once an endpoint update has taken longer than ``ENDPOINT_UPDATE_LIMIT_SECONDS``."""
    from .release_phase import ENDPOINT_UPDATE_LIMIT_SECONDS, PhaseError

    if (now - datetime.fromisoformat(since)).total_seconds() > ENDPOINT_UPDATE_LIMIT_SECONDS:
        raise PhaseError(f"{what} within {ENDPOINT_UPDATE_LIMIT_SECONDS // 3600} h (since {since})")


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
    now = datetime.now(timezone.utc)
    if action == "start":
        # A version rejected meanwhile (`mlops reject`: how a person stops a release before its phases) stops here.
        status = here.client("sagemaker").describe_model_package(
            ModelPackageName=release["version_arn"]).get("ModelApprovalStatus")
        if status != "Approved":
            raise release_phase.PhaseError(f"version {release['version_arn']} is {status} in the registry: the "
                                           "release stops")
        started = release_phase.start(prod.client("sagemaker"), endpoint=endpoint, phase=release["phase"],
                                      version_arn=release["version_arn"], variant_name=release["candidate_variant"],
                                      percent=release["percent"], instance_count=release.get("instance_count"))
        return {**started, "at": now.isoformat()}
    if action == "status":
        if state["started"].get("at"):  # (an execution started by an earlier version of this code has none)
            _within_limit(state["started"]["at"], now, f"endpoint {endpoint} did not reach the trial config")
        result = release_phase.status(prod.client("sagemaker"), endpoint=endpoint,
                                      config=state["started"]["trial_config"])
        return {**result, "now": now.isoformat()}
    if action == "evaluate":
        verdict = None
        if release.get("override_parameter"):
            verdict = override_of(here.client("ssm"), release["override_parameter"], release["version_arn"],
                                  release["phase"])
        if verdict is not None:
            return verdict
        gate = dict(release.get("gate", {}))
        unchecked = None
        if release["phase"] == "shadow" and gate.get("min_agreement_pct") is not None:
            sagemaker = prod.client("sagemaker")
            arn = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointArn"]
            granted = release_phase.tags_of(sagemaker, arn).get(release_phase.READY_TAG, "").split()
            if release_phase.CAPTURE_GRANTED not in granted:
                # The endpoint's stack predates the agreement check (its grants, or the capture itself, come with
                # this release's deploy): the phase is judged without it.
                for key in ("min_agreement_pct", "agreement_tolerance", "min_agreement_pairs"):
                    gate.pop(key, None)
                unchecked = {"check": "prediction agreement", "status": "not checked", "detail": "the endpoint's "
                             "stack does not yet grant reading its captured data (it comes with this release)"}
        verdict = evaluate(prod.client("cloudwatch"), {**release, "gate": gate, "phase_started": state["status"]["now"]},
                           now, sagemaker=prod.client("sagemaker") if "min_agreement_pct" in gate else None,
                           s3=prod.client("s3") if "min_agreement_pct" in gate else None)
        if unchecked is not None:
            verdict["checks"].append(unchecked)
        return verdict
    if action == "restore":
        since = (state.get("restored") or {}).get("since") or now.isoformat()
        _within_limit(since, now, f"endpoint {endpoint} did not get back to its steady config")
        sagemaker = prod.client("sagemaker")
        steady = (state.get("started") or {}).get("steady_config") or release_phase.steady_config_of(
            sagemaker, sagemaker.describe_endpoint(EndpointName=endpoint))
        return {**release_phase.restore(sagemaker, endpoint=endpoint, steady_config=steady), "since": since}
    if action == "conclude":
        return conclude(here.client("sagemaker"), here.client("sns") if release.get("topic_arn") else None,
                        release, state.get("verdict"), state.get("error"),
                        restored=bool((state.get("restored") or {}).get("reached")),
                        ssm=here.client("ssm") if release.get("override_parameter") else None)
    raise ValueError(f"action must be start, status, evaluate, restore or conclude, got {action!r}")
