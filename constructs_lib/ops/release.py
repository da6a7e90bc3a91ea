"""``mlops release status|skip-gate|stop|restore MODEL``: where a model's progressive release stands, a person's
decision on the gate that is judging it, and the way back to the steady config.

The release's phases are state machines in the pipeline (dev) account, ``<project>-<model>-release-<phase>``
(``release_phase.state_machine_name``). ``status`` reads each phase's latest execution: its state, the version it
releases, and the gate's last verdict with its numbers (the function records them at every look, so they are at
most one poll interval old). ``skip-gate`` and ``stop`` record the decision for the running version in an SSM
parameter of the pipeline account (``release_gate.record_override``; not on the version, whose every change would
start the pipeline again); the phase reads it at its next look: skip passes the gate, stop fails it (the endpoint
returns to its steady config and the version is rejected with the reason); a stop given after the gate passed
still fails the phase at its conclusion. These run with the pipeline account's credentials.

``restore`` (with credentials of the stage's account, ``--role-arn``) moves the endpoint back to its steady config
(the config the trial config's tag names) and deletes the trial, for a phase that ended without doing so.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import Any

from .aws import session_name
from .base import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, OpsError, Output, bounded
from .output import duration, table
from .release_gate import MAX_REASON, override_parameter, record_override
from .release_phase import PHASES, restore, state_machine_name, steady_config_of
from .signals import Interrupted, deferred_signals

_EPILOG = """examples:
  mlops release status churn-predictor --config config/platform.yaml
  mlops release skip-gate churn-predictor --config config/platform.yaml --reason "holiday traffic, p99 checked by hand"
  mlops release stop churn-predictor --config config/platform.yaml --reason "wrong feature set in v7"
  mlops --role-arn arn:aws:iam::333333333333:role/ops release restore churn-predictor --config config/platform.yaml
"""
#: States of a phase's execution in which its gate still looks (a decision recorded now is read).
_LOOKING = {"Release", "StartPhase", "AnythingToCompare", "WaitForTrialConfig", "TrialConfigStatus",
            "TrialConfigInService", "EvaluateGate", "GateDecision", "WaitForTraffic"}
#: States of an execution that has not ended.
_RUNNING = "RUNNING"


def register(subparsers: Any) -> None:
    """Add ``release`` (status, skip-gate, stop, restore) to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "release", help="progressive release: where it stands; skip or stop the running gate; restore",
        description="The prod release's phases (shadow, A/B) of a model: each phase's latest execution, the "
                    "version it releases and its gate's last verdict; a person's decision on the gate that is "
                    "running, with its reason (read at the gate's next look); or the endpoint put back on its "
                    "steady config. status, skip-gate and stop use the pipeline (dev) account's credentials, "
                    "restore the stage account's.", epilog=_EPILOG)
    actions = parser.add_subparsers(dest="release_action", metavar="ACTION", required=True)
    for name, help_text in (("status", "each phase's state, version and gate verdict"),
                            ("skip-gate", "pass the running phase's gate, with a reason"),
                            ("stop", "fail the running phase's gate (the version is rejected), with a reason"),
                            ("restore", "move the stage's endpoint back to its steady config and delete the trial")):
        action = actions.add_parser(name, help=help_text, description=help_text, epilog=_EPILOG)
        action.add_argument("model", metavar="MODEL", help="the model's name in the config")
        action.add_argument("--config", required=True, metavar="FILE", help="the platform config file (YAML)")
        if name in ("skip-gate", "stop"):
            action.add_argument("--reason", required=True, help=f"why (1-{MAX_REASON} characters; it becomes the "
                                "verdict, and a rejected version's approval description)")
            action.add_argument("--phase", choices=PHASES, help="the running phase meant (a check: refused when "
                                "another one runs)")
        if name == "restore":
            action.add_argument("--timeout", type=bounded(60, 7200), default=1800, metavar="SECONDS",
                                help="how long to wait for the endpoint (default 1800)")
            action.add_argument("--poll-interval", type=bounded(1, 300), default=30, metavar="SECONDS",
                                help=argparse.SUPPRESS)
        action.set_defaults(handler=run)


def run(args: Any, ctx: Any) -> Output:
    """Handler of ``mlops release``."""
    project, phases = _plan(args.config, args.model)
    if args.release_action == "restore":
        return _restore(args, ctx)
    if args.release_action != "status" and not 1 <= len(args.reason.strip()) <= MAX_REASON:
        raise OpsError(f"--reason must hold 1 to {MAX_REASON} characters, got {len(args.reason.strip())}", EXIT_USAGE)
    states = ctx.client("stepfunctions")
    executions = {phase: latest_execution(states, state_machine_name(project, args.model, phase))
                  for phase in phases}
    if args.release_action == "status":
        return _status(args.model, executions, datetime.now(timezone.utc))
    return _decide(args, ctx, project, executions)


def _plan(config_path: str, model_name: str) -> tuple[str, list[str]]:
    """The project and the model's release phases, from the config file."""
    from constructs_lib.config import load_config
    from constructs_lib.errors import ConfigError

    try:
        config = load_config(config_path)
        model = config.model(model_name)
    except ConfigError as error:
        raise OpsError(str(error), EXIT_USAGE) from None
    release = model.stages.prod.release
    if release is None:
        raise OpsError(f"model {model_name} has no release plan (models[].stages.prod.release in {config_path})",
                       EXIT_USAGE)
    return config.project, [phase for phase in PHASES if getattr(release, phase) is not None]


def latest_execution(states: Any, name: str) -> dict | None:
    """The newest execution of the state machine ``name`` with its state so far, or None when it never ran.
    Raises ``OpsError(EXIT_NOT_FOUND)`` when the state machine does not exist (the pipeline stack is not deployed)."""
    arn = None
    for page in states.get_paginator("list_state_machines").paginate():
        arn = next((m["stateMachineArn"] for m in page.get("stateMachines", []) if m["name"] == name), arn)
    if arn is None:
        raise OpsError(f"state machine {name} not found: is the model's pipeline stack deployed in this account "
                       "and region?", EXIT_NOT_FOUND)
    listed = states.list_executions(stateMachineArn=arn, maxResults=1).get("executions", [])
    if not listed:
        return None
    execution = states.describe_execution(executionArn=listed[0]["executionArn"])
    return {**execution, "state": _last_state(states, execution["executionArn"])}


def _last_state(states: Any, execution_arn: str) -> dict:
    """The execution's current state name and its last gate verdict (with the phase's settings and start)."""
    found: dict[str, Any] = {}
    pages = states.get_paginator("get_execution_history").paginate(executionArn=execution_arn, reverseOrder=True)
    for page in pages:
        for event in page.get("events", []):
            entered = event.get("stateEnteredEventDetails")
            if entered and "current" not in found:
                found["current"] = entered["name"]
            exited = event.get("stateExitedEventDetails")
            if exited and exited["name"] == "EvaluateGate":
                found["look"] = json.loads(exited.get("output") or "{}")
                return found
    return found


def _status(model: str, executions: dict[str, dict | None], now: datetime) -> Output:
    rows, data = [], []
    for phase, execution in executions.items():
        if execution is None:
            data.append({"phase": phase, "status": "never run"})
            rows.append([phase, "never run", "-", "-", "-", "-", "-"])
            continue
        look = execution["state"].get("look", {})
        verdict = look.get("verdict") or {}
        release = look.get("release") or json.loads(execution.get("input") or "{}")
        version = release.get("version_arn") or json.loads(execution.get("input") or "{}").get("version_arn", "-")
        gate = release.get("gate", {})
        started = (look.get("status") or {}).get("now")
        elapsed = (now - datetime.fromisoformat(started)).total_seconds() if started else None
        status = execution["status"]
        # Time left counts only while the phase runs.
        left = {key: max(0, round(gate[f"{key}_seconds"] - elapsed)) if elapsed is not None and
                f"{key}_seconds" in gate and status == _RUNNING else None for key in ("min_duration", "deadline")}
        reason = verdict.get("reason") or execution.get("cause") or ""
        data.append({"phase": phase, "status": status, "state": execution["state"].get("current"),
                     "version": version, "execution": execution["executionArn"],
                     "started": execution["startDate"].isoformat(), "elapsed_seconds": round(elapsed)
                     if elapsed is not None else None, "minimum_left_seconds": left["min_duration"],
                     "deadline_left_seconds": left["deadline"], "decision": verdict.get("decision"),
                     "reason": reason, "checks": verdict.get("checks", [])})
        rows.append([phase, status, execution["state"].get("current", "-"), version.rsplit("/", 1)[-1],
                     *("-" if left[key] is None else duration(left[key]) for key in ("min_duration", "deadline")),
                     f"{verdict.get('decision', '-')}: {reason}" if reason else verdict.get("decision", "-")])
    text = table(["phase", "execution", "state", "version", "min left", "deadline in", "gate"], rows)
    checks = [(d["phase"], c) for d in data for c in d.get("checks", [])]
    if checks:
        text += "\n\n" + table(["phase", "check", "status", "detail"],
                               [[phase, c["check"], c["status"], c["detail"]] for phase, c in checks])
    return Output(data={"model": model, "phases": data}, text=text)


def _decide(args: Any, ctx: Any, project: str, executions: dict[str, dict | None]) -> Output:
    decision = "skip" if args.release_action == "skip-gate" else "stop"
    running = [(phase, e) for phase, e in executions.items() if e is not None and e["status"] == _RUNNING
               and (args.phase is None or phase == args.phase)]
    if not running:
        raise OpsError(f"no release phase of model {args.model} is running"
                       + (f" in phase {args.phase}" if args.phase else "") + ": to stop a release before its phases, "
                       "reject the version (`mlops reject VERSION_ARN --reason ...`), which they honour",
                       EXIT_NOT_FOUND)
    phase, execution = running[0]
    version = json.loads(execution.get("input") or "{}").get("version_arn")
    if not version:
        raise OpsError(f"the running {phase} phase has no version in its input", EXIT_FAILED)
    try:
        record_override(ctx.client("ssm"), override_parameter(project, args.model, phase), version, decision,
                        args.reason, by=session_name())
    except ValueError as error:
        raise OpsError(f"--{error}", EXIT_USAGE) from None
    effect = ("passes it; the endpoint returns to its steady config and the release goes on" if decision == "skip"
              else "fails it; the endpoint returns to its steady config and the version is rejected")
    text = (f"recorded: {decision} the {phase} gate of {version} ({args.reason}). The phase reads it at its next "
            f"look (within its poll interval) and {effect}.")
    warnings = []
    current = execution.get("state", {}).get("current")
    if current not in _LOOKING:
        warnings.append(f"the {phase} gate has already decided (the phase is at {current}): "
                        + ("a stop still fails it at its conclusion" if decision == "stop"
                           else "a skip cannot undo a failed gate"))
    return Output(data={"model": args.model, "phase": phase, "version": version, "decision": decision,
                        "reason": args.reason}, text=text, warnings=warnings)


def _restore(args: Any, ctx: Any) -> Output:
    """Move the prod endpoint back to its steady config, waiting until it serves it (then delete the trial)."""
    import time

    from constructs_lib.config import load_config

    stage = load_config(args.config).model(args.model).stages.prod
    endpoint = stage.endpoint_name or f"{args.model}-prod"
    sagemaker = ctx.client("sagemaker")
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    steady = steady_config_of(sagemaker, described)
    was = described["EndpointConfigName"]
    deadline = time.monotonic() + args.timeout
    with deferred_signals() as received:  # the update in flight completes (or fails) whatever signal comes
        result = restore(sagemaker, endpoint=endpoint, steady_config=steady)
    if received:
        raise Interrupted(received[0], f"endpoint {endpoint} is moving back to {steady}")
    while not result["reached"]:
        if time.monotonic() > deadline:
            raise OpsError(f"endpoint {endpoint} is {result['status']}, not yet back on {steady} after "
                           f"{args.timeout:g} s: run this again to keep waiting", EXIT_FAILED)
        time.sleep(args.poll_interval)
        result = restore(sagemaker, endpoint=endpoint, steady_config=steady)
    moved = was != steady
    text = (f"endpoint {endpoint} is back on its steady config {steady} (it ran {was})" if moved
            else f"endpoint {endpoint} already runs its steady config {steady}; its trial configs are removed")
    return Output(data={"endpoint": endpoint, "steady_config": steady, "was": was, **result}, text=text,
                  warnings=[result["cleanup"]] if result.get("cleanup") else [])
