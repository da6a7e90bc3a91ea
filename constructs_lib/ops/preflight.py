"""``mlops preflight ENDPOINT``: would SageMaker accept this change of the endpoint's production variants?

The endpoint stack runs this check itself before every update (``ops/release_check.py``, the custom resource
the endpoint depends on); this command runs it from a laptop, with what a change would deploy. It stops, with
the way through, when:

* a **guarded** update (blue/green or rolling) would rename, add or remove a production variant: AWS, "your new
  endpoint configuration must have the same variant name as the old endpoint configuration". Such a change
  is released once with ``deployment: {type: unguarded}`` (SageMaker's plain blue/green update: no baking, no
  alarm rollback; the in-stack release check still runs), then the guarded policy comes back;
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

from constructs_lib.errors import ConfigError, check_sagemaker_name
from constructs_lib.instance_types import INFERENCE_INSTANCE_TYPES
from . import output, release_check
from .base import EXIT_FAILED, EXIT_USAGE, OpsError, Output

_EPILOG = """examples:
  mlops preflight churn-predictor-prod --variants main=ml.m5.large --guarded
  mlops preflight churn-predictor-prod --variants main=ml.m5.large,candidate=ml.m5.large --unguarded
"""

def register(subparsers: Any) -> None:
    """Add the ``preflight`` subcommand."""
    parser = subparsers.add_parser(
        "preflight", help="would SageMaker accept this change of the production variants? (the endpoint stack's own preflight)",
        description=(
            "Would SageMaker accept this change of the endpoint's production variants? The endpoint stack runs "
            "this check itself before every update (its preflight custom resource); this command runs it from a "
            "laptop. Exit 1, with the way through, when a guarded update (blue/green or rolling) would rename, add "
            "or remove a production variant (SageMaker requires the new endpoint config to keep the old variant "
            "names: release such a change alone with deployment type unguarded); when an unguarded update would "
            "not change them; when an autoscaled variant would be removed or change instance type (release "
            "without its autoscaling first); or when the endpoint is in the middle of another update. A first "
            "release (no endpoint yet) passes. Read-only."),
        epilog=_EPILOG)
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
        try:
            check_sagemaker_name("--variants", name)
        except ConfigError as error:
            raise OpsError(error.message.replace("must be", f"variant name {name[:80]!r} must be", 1).split(", got")[0],
                           EXIT_USAGE) from None
        if kind != "serverless" and kind not in INFERENCE_INSTANCE_TYPES:
            raise OpsError(f"--variants: {name}'s type must be a SageMaker real-time inference instance type (for "
                           f"example ml.m5.large) or serverless, got {kind[:80]!r}", EXIT_USAGE)
        variants[name] = kind
    return variants


def check(ctx: Any, endpoint_name: str, new: dict[str, str], guarded: bool) -> dict[str, Any]:
    """The preflight verdict (``release_check.preflight``, what the endpoint stack's own preflight runs);
    raises ``OpsError(EXIT_FAILED)`` naming the problem and the way through."""
    try:
        verdict = release_check.preflight(ctx.client("sagemaker"), ctx.client("application-autoscaling"),
                                          endpoint_name, new, guarded)
    except release_check.ReleaseCheckFailed as failure:
        raise OpsError(str(failure), EXIT_FAILED) from None
    return {"endpoint": endpoint_name, "new": sorted(new), "guarded": guarded, "verdict": verdict}


def run(args: Any, ctx: Any) -> Output:
    """Handler of ``mlops preflight``."""
    data = check(ctx, args.endpoint, parse_variants(args.variants), args.guarded)
    text = output.fields([("endpoint", data["endpoint"]), ("new", ", ".join(data["new"])),
                          ("verdict", data["verdict"])])
    return Output(data=data, text=text)
