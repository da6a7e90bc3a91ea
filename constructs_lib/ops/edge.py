"""``mlops edge``: where a fleet's Greengrass v2 release stands, and the delivery pipeline's wait on it.

* ``mlops edge status MODEL --config FILE`` (each of the model's edge stages, in its region) or ``--thing-group
  NAME``: the group's latest deployment (``EdgeFleetDeployment``): the component versions it installs, its
  status, and its IoT job's progress over the devices (succeeded, failed, timed out, rejected, in progress,
  queued) with the rollout and abort settings the job runs with. A job that was cancelled stopped reaching
  devices: those still queued keep what they run; those that took the version keep it until a deployment of
  the previous version.
* ``mlops edge wait DEPLOYMENT_ID``: the pipeline's check after an edge stage's deploy. It watches the
  deployment's job until its devices pass or fail the stage's gate (``EdgeGate``), and names the devices that
  failed. A deployment to a thing group is a continuous job, IN_PROGRESS for as long as it is the group's, so
  the gate reads the devices' counts.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any, Callable

from constructs_lib.edge_rules import THING_GROUP, EdgeGate

from . import output
from .aws import translate
from .base import EXIT_FAILED, EXIT_USAGE, OpsError, Output, bounded


#: ``jobProcessDetails`` counters, as the report names them.
_COUNTS = (("succeeded", "numberOfSucceededThings"), ("failed", "numberOfFailedThings"),
           ("timed out", "numberOfTimedOutThings"), ("rejected", "numberOfRejectedThings"),
           ("in progress", "numberOfInProgressThings"), ("queued", "numberOfQueuedThings"),
           ("canceled", "numberOfCanceledThings"), ("removed", "numberOfRemovedThings"))
#: Devices that received the version: every state but queued (not yet notified), canceled and removed.
_REACHED = ("succeeded", "failed", "timed out", "rejected", "in progress")


def edge_status(ctx, thing_group: str) -> dict[str, Any]:
    """The thing group's latest deployment and its job's progress (``{}`` parts when there is none yet)."""
    iot, greengrass = ctx.client("iot"), ctx.client("greengrassv2")
    group_arn = iot.describe_thing_group(thingGroupName=thing_group)["thingGroupArn"]
    latest = greengrass.list_deployments(targetArn=group_arn, historyFilter="LATEST_ONLY").get("deployments", [])
    facts: dict[str, Any] = {"thing_group": thing_group, "thing_group_arn": group_arn, "deployment": None}
    if not latest:
        return facts
    return facts | deployment_facts(ctx, latest[0]["deploymentId"])


def deployment_facts(ctx, deployment_id: str) -> dict[str, Any]:
    """A deployment (``deployment``) and, once Greengrass made it, its IoT job's progress (``job``)."""
    iot, greengrass = ctx.client("iot"), ctx.client("greengrassv2")
    deployment = greengrass.get_deployment(deploymentId=deployment_id)
    facts: dict[str, Any] = {}
    facts["deployment"] = {
        "id": deployment["deploymentId"], "name": deployment.get("deploymentName"),
        "status": deployment.get("deploymentStatus"), "revision": deployment.get("revisionId"),
        "created": str(deployment.get("creationTimestamp", "")),
        "components": {name: spec.get("componentVersion")
                       for name, spec in sorted((deployment.get("components") or {}).items())},
        "failure_handling": (deployment.get("deploymentPolicies") or {}).get("failureHandlingPolicy"),
    }
    job_id = deployment.get("iotJobId")
    if job_id:
        job = iot.describe_job(jobId=job_id)["job"]
        details = job.get("jobProcessDetails") or {}
        counts = {label: int(details.get(key) or 0) for label, key in _COUNTS}
        facts["job"] = {
            "id": job_id, "status": job.get("status"), "reason": job.get("reasonCode"), "comment": job.get("comment"),
            "devices": counts, "reached": sum(counts[label] for label in _REACHED),
            # IoT is still rolling the job out to targets (its documentation: null once it reached them all).
            "rolling_out": bool(details.get("processingTargets")),
            "rollout": job.get("jobExecutionsRolloutConfig"), "abort": job.get("abortConfig"),
            "timeout": job.get("timeoutConfig"),
        }
    return facts


def verdict(facts: dict[str, Any]) -> str:
    """One line: where the release stands, in the words an on-call engineer needs."""
    deployment, job = facts["deployment"], facts.get("job")
    if deployment is None:
        return f"no deployment targets thing group {facts['thing_group']} yet"
    versions = ", ".join(f"{name} {version}" for name, version in deployment["components"].items())
    if job is None:
        return f"deployment {deployment['status']} of {versions} (its IoT job is not known yet)"
    devices = job["devices"]
    bad = devices["failed"] + devices["timed out"] + devices["rejected"]
    if job["status"] == "CANCELED":
        return (f"STOPPED: the rollout of {versions} was cancelled ({job['reason'] or 'abort criteria or a person'}"
                f") after reaching {job['reached']} devices, {bad} of them failed; {devices['queued']} queued "
                "devices keep what they run, the others keep the new version until a deployment of the previous one")
    if job["status"] == "COMPLETED":
        return f"DONE: {versions} reached {job['reached']} devices, {devices['succeeded']} succeeded, {bad} failed"
    return (f"ROLLING OUT: {versions} reached {job['reached']} devices ({devices['succeeded']} succeeded, {bad} "
            f"failed, {devices['in progress']} in progress), {devices['queued']} queued")


def _report(facts: dict[str, Any]) -> str:
    """The status of one thing group's release as text."""
    lines = [output.fields([("thing group", facts["thing_group"]), ("release", facts["verdict"])])]
    deployment, job = facts["deployment"], facts.get("job")
    if deployment is not None:
        lines.append(output.fields([("deployment", f"{deployment['id']} ({deployment['status']}, revision "
                                                   f"{deployment['revision']})"),
                                    ("on failure", deployment["failure_handling"] or "ROLLBACK (default)")]))
        lines.append(output.table(["component", "version"], deployment["components"].items()))
    if job is not None:
        lines.append(output.table(["devices", "count"], job["devices"].items()))
        rate = ((job.get("rollout") or {}).get("exponentialRate") or {})
        criteria = (job.get("abort") or {}).get("criteriaList") or []
        lines.append(output.fields([
            ("job", f"{job['id']} ({job['status']})"),
            ("rollout", f"{rate.get('baseRatePerMinute', '?')}/min x{_num(rate.get('incrementFactor'))} up to "
                        f"{(job.get('rollout') or {}).get('maximumPerMinute', '?')}/min" if rate else "all at once"),
            ("abort", "; ".join(f"{c.get('failureType')} over {_num(c.get('thresholdPercentage'))}% of at least "
                                f"{c.get('minNumberOfExecutedThings')}" for c in criteria) or "none (nothing stops it)"),
        ]))
    return "\n\n".join(lines)


def _check_group(name: str) -> None:
    if not THING_GROUP.fullmatch(name):
        raise OpsError(f"--thing-group must be 1-128 letters, digits, ':', '_' or '-' (an IoT thing group name), "
                       f"got {name[:80]!r}", EXIT_USAGE)


def run(args, ctx) -> Output:
    """``mlops edge status``: one thing group, or each edge stage of a model (from the config file)."""
    if (args.model is None) == (args.thing_group is None):
        raise OpsError("mlops edge status needs a MODEL (with --config) or --thing-group NAME, one of them",
                       EXIT_USAGE)
    if args.thing_group is not None:
        _check_group(args.thing_group)
        facts = edge_status(ctx, args.thing_group)
        facts["verdict"] = verdict(facts)
        return Output(data=facts, text=_report(facts))
    stages = _edge_stages(args.config, args.model, args.stage)
    data, texts, failed = [], [], 0
    for stage_name, component, thing_group, region in stages:
        # Each stage in its own region (its account is the credentials'), unless --region says otherwise.
        stage_ctx = type(ctx)(profile=ctx.profile, region=ctx.region or region, role_arn=ctx.role_arn)
        try:
            facts = edge_status(stage_ctx, thing_group)
        except Exception as error:  # noqa: BLE001 - one stage's error (its account, its rights) is reported there
            problem = translate(error)
            failed = failed or problem.exit_code  # the first stage's error says how it failed (access, not found...)
            data.append({"stage": stage_name, "thing_group": thing_group, "error": str(problem)})
            texts.append(f"{stage_name}: thing group {thing_group}: {problem}")
            continue
        facts["verdict"] = verdict(facts)
        deployed = ((facts["deployment"] or {}).get("components") or {}).get(component)
        facts |= {"stage": stage_name, "component": component, "component_version": deployed,
                  "model_version": deployed.rsplit(".", 1)[-1] if deployed else None}
        data.append(facts)
        texts.append(f"{stage_name}: model version {facts['model_version'] or 'none'} (component {component} "
                     f"{deployed or 'not deployed'})\n{_report(facts)}")
    return Output(data={"model": args.model, "stages": data}, text="\n\n".join(texts),
                  exit_code=failed)


def _edge_stages(config_path: str, model_name: str, only: str | None) -> list[tuple[str, str, str, str]]:
    """``(stage, component, thing group, region)`` of the model's edge stages, from the config file."""
    from constructs_lib.config import load_config
    from constructs_lib.errors import ConfigError

    try:
        config = load_config(config_path)
        model = config.model(model_name)
    except ConfigError as error:
        raise OpsError(str(error), EXIT_USAGE) from None
    stages = [(name, getattr(model.stages, name)) for name in ((only,) if only else ("test", "prod"))]
    found = [(name, stage.edge.component(config.project, model.name), stage.edge.thing_group,
              getattr(config.accounts, name).region) for name, stage in stages if stage.edge is not None]
    if not found:
        raise OpsError(f"model {model_name} has no stage in mode edge{' ' + only if only else ''} "
                       f"(models[].stages.<stage>.edge in {config_path})", EXIT_USAGE)
    return found


# --------------------------------------------------------------------------------------------- the wait
#: How many failed devices the wait names.
NAMED_DEVICES = 10


def wait_for_devices(ctx, deployment_id: str, gate: EdgeGate, poll_seconds: float = 30,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Watch deployment ``deployment_id`` until its devices pass or fail ``gate`` or ``gate.wait_minutes`` end
    (then it failed). Returns the facts with ``state`` (passed/failed), ``why`` and ``failed_devices``."""
    deadline = clock() + gate.wait_minutes * 60
    while True:
        facts = deployment_facts(ctx, deployment_id)
        job = facts.get("job")
        if job is None:
            state, why = "waiting", "Greengrass has not made the deployment's IoT job yet"
        else:
            state, why = gate.judge(job["status"], job["devices"], rolling_out=job["rolling_out"])
        if state == "waiting" and clock() + poll_seconds > deadline:
            state, why = "failed", f"not done after {gate.wait_minutes} minute(s): {why} (offline devices stay " \
                                   "queued: a stage that may have some sets edge.verify.min_succeeded_devices)"
        if state != "waiting":
            break
        sleep(poll_seconds)
    facts |= {"state": state, "why": why, "failed_devices": [], "cancelled": False}
    if state == "failed" and job is not None:
        facts["failed_devices"] = _failed_devices(ctx.client("iot"), job["id"])
    if state == "failed" and facts["deployment"]["status"] == "ACTIVE" and (job or {}).get("status") != "CANCELED":
        # A failed gate stops the rollout: devices not yet reached never get the version (those that took it
        # keep it until a deployment of the previous one: mlops rollback).
        ctx.client("greengrassv2").cancel_deployment(deploymentId=deployment_id)
        facts["cancelled"] = True
    return facts


def _failed_devices(iot: Any, job_id: str) -> list[dict[str, str]]:
    """Up to ``NAMED_DEVICES`` devices whose execution failed, timed out or was rejected."""
    found: list[dict[str, str]] = []
    for status in ("FAILED", "TIMED_OUT", "REJECTED"):
        listed = iot.list_job_executions_for_job(jobId=job_id, status=status, maxResults=NAMED_DEVICES)
        found += [{"device": summary.get("thingArn", "").rsplit("/", 1)[-1], "status": status}
                  for summary in listed.get("executionSummaries", [])]
    return found[:NAMED_DEVICES]


def run_wait(args, ctx) -> Output:
    """``mlops edge wait``: the delivery pipeline's check of an edge stage."""
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", args.deployment_id):
        raise OpsError(f"DEPLOYMENT_ID must be a Greengrass deployment id (letters, digits, '-'), got "
                       f"{args.deployment_id[:80]!r}", EXIT_USAGE)
    gate = EdgeGate(wait_minutes=int(args.wait_minutes), max_failed_percent=args.max_failed_percent,
                    min_succeeded_devices=None if args.min_succeeded is None else int(args.min_succeeded),
                    min_executed=int(args.min_executed))
    facts = wait_for_devices(ctx, args.deployment_id, gate, poll_seconds=args.poll_interval)
    deployment = facts["deployment"]
    versions = ", ".join(f"{name} {version}" for name, version in deployment["components"].items())
    text = output.fields([("deployment", f"{deployment['id']} ({versions})"),
                          ("verdict", f"{facts['state'].upper()}: {facts['why']}")]
                         + ([("cancelled", "yes: devices not yet reached will not get this version; those that took "
                                           "it keep it until a deployment of the previous one (mlops rollback)")]
                            if facts["cancelled"] else []))
    if facts["failed_devices"]:
        text += "\n\n" + output.table(["device", "status"], [(d["device"], d["status"]) for d in facts["failed_devices"]])
        text += ("\n\nEach failed device went back to what it ran (its deployment's failure handling); "
                 "`mlops edge status` shows the group, the device's Greengrass log (greengrass.log) why.")
    return Output(data=facts, text=text, exit_code=EXIT_FAILED if facts["state"] == "failed" else 0)


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else "?"


def register(subparsers) -> None:
    """Add ``edge status`` and ``edge wait`` to the ``mlops`` command."""
    parser = subparsers.add_parser("edge", help="edge releases (Greengrass v2 fleets): status, wait",
                                   description="Edge releases to AWS IoT Greengrass v2 thing groups.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=type(parser))
    status = commands.add_parser(
        "status", help="a model's edge stages, or a thing group: the latest deployment and its devices",
        description="The thing group's latest Greengrass deployment: the component versions it installs, its "
                    "status, and its IoT job's progress (devices succeeded, failed, timed out, rejected, in "
                    "progress, queued) with the rollout and abort settings; a cancelled job (its abort criteria, "
                    "or a person) is said in the first line. With MODEL, each of its edge stages (thing group "
                    "and region from the config file; the credentials must reach the stage's account).",
        epilog="examples:\n  mlops --profile prod edge status churn-edge --config config/platform.yaml --stage prod\n"
               "  mlops edge status --thing-group churn-devices-prod --region eu-west-1")
    status.add_argument("model", nargs="?", metavar="MODEL", help="a model with stages in mode edge")
    status.add_argument("--config", default="config/platform.yaml", metavar="FILE",
                        help="the platform config file (default: config/platform.yaml)")
    status.add_argument("--stage", choices=("test", "prod"), help="one stage (default: each edge stage)")
    status.add_argument("--thing-group", metavar="NAME", help="instead of MODEL: a fleet's thing group")
    status.set_defaults(handler=run)
    wait = commands.add_parser(
        "wait", help="wait until a deployment's devices pass or fail the stage's gate (the pipeline's check)",
        description="Watch a Greengrass deployment's IoT job until its devices pass the gate (every targeted "
                    "device finished, or --min-succeeded succeeded, with at most --max-failed-percent of the "
                    "finished ones failed) or fail it (too many failures, the job cancelled, or the wait over). "
                    "A failed gate cancels the deployment (devices not yet reached never get the version). "
                    "Exit 1 when it failed, naming up to 10 failed devices.",
        epilog="example:\n  mlops --region eu-west-1 edge wait 4f5e...-deployment-id --wait-minutes 30")
    wait.add_argument("deployment_id", metavar="DEPLOYMENT_ID", help="the stage stack's DeploymentId output")
    wait.add_argument("--wait-minutes", type=bounded(1, 55, integer=True), default=30, metavar="MINUTES",
                      help="how long to watch (1-55, default 30)")
    wait.add_argument("--min-succeeded", type=bounded(1, 2 ** 31 - 1, integer=True), metavar="DEVICES",
                      help="devices that must succeed (default: every targeted device finishes)")
    wait.add_argument("--max-failed-percent", type=bounded(0, 100), default=0.0, metavar="PERCENT",
                      help="share of finished devices allowed to fail (default 0)")
    wait.add_argument("--min-executed", type=bounded(1, 2 ** 31 - 1, integer=True), default=1, metavar="DEVICES",
                      help="finished devices before the failure share is judged (default 1; the pipeline passes "
                           "the abort's min_executed)")
    wait.add_argument("--poll-interval", type=bounded(1, 300), default=30, metavar="SECONDS", help=argparse.SUPPRESS)
    wait.set_defaults(handler=run_wait)
    parser.set_defaults(handler=_no_command)


def _no_command(args, ctx) -> Output:
    raise OpsError("mlops edge needs a command: mlops edge status MODEL | --thing-group NAME, or mlops edge wait "
                   "DEPLOYMENT_ID", EXIT_USAGE)


__all__ = ["deployment_facts", "edge_status", "register", "verdict", "wait_for_devices"]
