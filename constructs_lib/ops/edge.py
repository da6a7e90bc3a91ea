"""``mlops edge status --thing-group NAME``: where a fleet's Greengrass v2 release stands.

The group's latest deployment (``EdgeFleetDeployment``): the component versions it installs, its status, and
its IoT job's progress over the devices (succeeded, failed, timed out, rejected, in progress, queued) with the
rollout and abort settings the job runs with. A job that was cancelled stopped reaching devices: those still
queued keep what they run; those that took the version keep it until a deployment of the previous version.
"""

from __future__ import annotations

import re
from typing import Any

from . import output
from .base import EXIT_USAGE, OpsError, Output

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
    deployment = greengrass.get_deployment(deploymentId=latest[0]["deploymentId"])
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


def run(args, ctx) -> Output:
    if not re.fullmatch(r"[a-zA-Z0-9:_-]{1,128}", args.thing_group):
        raise OpsError(f"--thing-group must be 1-128 letters, digits, ':', '_' or '-' (an IoT thing group name), "
                       f"got {args.thing_group[:80]!r}", EXIT_USAGE)
    facts = edge_status(ctx, args.thing_group)
    facts["verdict"] = verdict(facts)
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
    return Output(data=facts, text="\n\n".join(lines))


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else "?"


def register(subparsers) -> None:
    """Add ``edge status`` to the ``mlops`` command."""
    parser = subparsers.add_parser("edge", help="edge releases (Greengrass v2 fleets): status",
                                   description="Edge releases to AWS IoT Greengrass v2 thing groups.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=type(parser))
    status = commands.add_parser(
        "status", help="a thing group's latest deployment and its devices' progress",
        description="The thing group's latest Greengrass deployment: the component versions it installs, its "
                    "status, and its IoT job's progress (devices succeeded, failed, timed out, rejected, in "
                    "progress, queued) with the rollout and abort settings; a cancelled job (its abort criteria, "
                    "or a person) is said in the first line.",
        epilog="example:\n  mlops edge status --thing-group churn-devices-prod --region eu-west-1")
    status.add_argument("--thing-group", required=True, metavar="NAME", help="the fleet's thing group")
    status.set_defaults(handler=run)
    parser.set_defaults(handler=_no_command)


def _no_command(args, ctx) -> Output:
    raise OpsError("mlops edge needs a command: mlops edge status --thing-group NAME", EXIT_USAGE)


__all__ = ["edge_status", "register", "verdict"]
