"""``mlops preflight ENDPOINT``: before a stage deploys, refuse a release SageMaker would refuse or half-apply.

The delivery pipeline runs it right before each endpoint deploy, with what the new template deploys (its
production variants, their instance types, whether the update is guarded). It compares that with the running
endpoint and stops the release with an explanation when:

* a **guarded** update (blue/green or rolling) would rename, add or remove a production variant: AWS, "your new
  endpoint configuration must have the same variant name as the old endpoint configuration". Such a change
  is released once with ``deployment: {type: unguarded}`` (SageMaker's plain blue/green update: no baking, no
  alarm rollback; the in-stack release check and verification still run), then the guarded policy comes back;
* an **unguarded** update would not change the variants (the escape hatch is for that one release only);
* an **autoscaled** variant would be removed or change instance type: it must be deregistered from Application
  Auto Scaling first ("If the update would change the instance type for any model that is a target for auto
  scaling, the update fails"); the two-step path is to release without its ``autoscaling`` first;
* the endpoint is in the middle of another update.

A first release (no endpoint yet) passes. Read-only: DescribeEndpoint, DescribeEndpointConfig,
application-autoscaling DescribeScalableTargets.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from constructs_lib.ops import output
from constructs_lib.ops.base import EXIT_FAILED, EXIT_USAGE, OpsError, Output

_EPILOG = """examples (the pipeline's preflight step passes what the new template deploys):
  mlops preflight churn-predictor-prod --variants champion=ml.m5.large,challenger=ml.m5.large --guarded
  mlops preflight churn-predictor-prod --variants champion=ml.m5.large --unguarded
"""

BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


def register(subparsers: Any) -> None:
    """Add the ``preflight`` subcommand."""
    parser = subparsers.add_parser(
        "preflight", help="before a deploy: refuse a variant change SageMaker's guardrails would refuse",
        description=__doc__.split("\n\n", 1)[1].split("A first release")[0].strip(), epilog=_EPILOG)
    parser.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    parser.add_argument("--variants", required=True, metavar="NAME=TYPE,...",
                        help="the new template's production variants with their instance types (TYPE "
                             "'serverless' for a serverless variant)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--guarded", dest="guarded", action="store_true",
                      help="the update has a deployment guardrail (blue/green or rolling)")
    mode.add_argument("--unguarded", dest="guarded", action="store_false",
                      help="the update is SageMaker's plain blue/green (deployment type unguarded)")
    parser.set_defaults(handler=run)


def parse_variants(text: str) -> dict[str, str]:
    """``a=ml.m5.large,b=serverless`` as {name: instance type}; raises ``OpsError`` (usage) when malformed."""
    variants: dict[str, str] = {}
    for item in text.split(","):
        name, sep, kind = item.partition("=")
        if not sep or not name or not kind or name in variants:
            raise OpsError(f"--variants: expected NAME=TYPE pairs separated by commas, each name once, got "
                           f"{text[:200]!r}", EXIT_USAGE)
        variants[name] = kind
    return variants


def check(ctx: Any, endpoint_name: str, new: dict[str, str], guarded: bool) -> dict[str, Any]:
    """The preflight verdict: raises ``OpsError(EXIT_FAILED)`` naming the problem and the way through."""
    sagemaker = ctx.client("sagemaker")
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except botocore.exceptions.ClientError as error:
        if "Could not find endpoint" in str(error):
            return {"endpoint": endpoint_name, "running": [], "new": sorted(new), "verdict": "first release"}
        raise
    status = endpoint["EndpointStatus"]
    if status in BUSY:
        raise OpsError(f"endpoint {endpoint_name} is {status}: another update is in progress; retry this stage "
                       "when `mlops status` shows it InService", EXIT_FAILED)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    running = {v["VariantName"]: v.get("InstanceType") or "serverless" for v in config["ProductionVariants"]}
    changed = set(running) != set(new)
    facts = {"endpoint": endpoint_name, "running": sorted(running), "new": sorted(new),
             "config": endpoint["EndpointConfigName"]}
    if guarded and changed:
        raise OpsError(
            f"endpoint {endpoint_name}: this release changes the production variants ({_names(running)} -> "
            f"{_names(new)}), which a guarded update cannot do (SageMaker: the new endpoint config must keep the "
            "old variant names). To keep them, swap models instead (`mlops promote` does); to change them, release "
            "this change alone with `deployment: {type: unguarded}` (no baking, no alarm rollback), then restore "
            "the guarded policy", EXIT_FAILED)
    if not guarded and not changed:
        raise OpsError(
            f"endpoint {endpoint_name}: deployment type unguarded is only for a release that changes the production "
            f"variants, and this one keeps them ({_names(new)}): restore the guarded policy", EXIT_FAILED)
    scaled = _scaled_variants(ctx, endpoint_name, list(running))
    for name in sorted(scaled):
        if name not in new:
            raise OpsError(
                f"endpoint {endpoint_name}: variant {name} is autoscaled and this release removes it; SageMaker "
                f"cannot remove a variant registered with Application Auto Scaling. First release without "
                f"{name}'s autoscaling (its scalable target is deregistered), then remove the variant",
                EXIT_FAILED)
        if new[name] != running[name]:
            raise OpsError(
                f"endpoint {endpoint_name}: variant {name} is autoscaled and this release changes its instance "
                f"type ({running[name]} -> {new[name]}), which SageMaker refuses for a scaling target. First "
                f"release without {name}'s autoscaling, then change the type (and add autoscaling back)",
                EXIT_FAILED)
    verdict = "variant change, unguarded release" if changed else "same production variants"
    return {**facts, "autoscaled": sorted(scaled), "verdict": verdict}


def _scaled_variants(ctx: Any, endpoint_name: str, variants: list[str]) -> set[str]:
    autoscaling = ctx.client("application-autoscaling")
    ids = {f"endpoint/{endpoint_name}/variant/{v}": v for v in variants}
    answer = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=list(ids),
                                                   ScalableDimension="sagemaker:variant:DesiredInstanceCount")
    return {ids[t["ResourceId"]] for t in answer.get("ScalableTargets", []) if t["ResourceId"] in ids}


def _names(variants: dict[str, str]) -> str:
    return ", ".join(sorted(variants)) or "none"


def run(args: Any, ctx: Any) -> Output:
    """Handler of ``mlops preflight``."""
    data = check(ctx, args.endpoint, parse_variants(args.variants), args.guarded)
    text = output.fields([("endpoint", data["endpoint"]), ("running", ", ".join(data["running"]) or "-"),
                          ("new", ", ".join(data["new"])), ("verdict", data["verdict"])])
    return Output(data=data, text=text)
