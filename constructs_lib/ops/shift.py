"""``mlops shift ENDPOINT --weights a=90,b=10``: change A/B traffic weights on a live endpoint.

Every check runs before the one call that changes something, so a refused request changes nothing.
"""

from __future__ import annotations

import math
from typing import Any

from . import output
from .aws import AWS_ERRORS, translate
from .base import EXIT_FAILED, EXIT_USAGE, OpsError, Output, bounded
from .signals import Interrupted, deferred_signals
from .verify import wait_final

NEXT_RELEASE_NOTE = ("note: weights changed here live only until the next release: the delivery pipeline "
                     "deploys a new endpoint config, which sets each variant's weight back to the config's "
                     "value. To keep them, change the weights in the config file.")


#: Weights are relative; a bound keeps sums and shares finite (1e308 + 1e308 is inf).
MAX_WEIGHT = 1_000_000


def parse_weights(text: str) -> dict[str, float]:
    """``"champion=90,challenger=10"`` -> ``{"champion": 90.0, "challenger": 10.0}``.

    Raises ``OpsError(EXIT_USAGE)`` for malformed pairs, duplicate names, negative or non-finite numbers, and
    when every weight is zero (the endpoint would serve nothing).
    """
    weights: dict[str, float] = {}
    for pair in text.split(","):
        name, sep, value = pair.strip().partition("=")
        name = name.strip()
        if not sep or not name:
            raise OpsError(f"--weights: expected VARIANT=WEIGHT[,VARIANT=WEIGHT...], got {text!r}", EXIT_USAGE)
        try:
            weight = float(value)
        except ValueError:
            raise OpsError(f"--weights: weight of {name} must be a number, got {value.strip()!r}",
                           EXIT_USAGE) from None
        if not math.isfinite(weight) or not 0 <= weight <= MAX_WEIGHT:
            raise OpsError(f"--weights: weight of {name} must be a number from 0 to {MAX_WEIGHT:g} (weights are "
                           f"relative), got {value.strip()[:80]}", EXIT_USAGE)
        if name in weights:
            raise OpsError(f"--weights: variant {name} is given twice", EXIT_USAGE)
        weights[name] = weight
    return weights


def plan_shift(endpoint: dict[str, Any], weights: dict[str, float]) -> list[dict[str, Any]]:
    """Before/after rows for every production variant; raises ``OpsError`` when the request is not applicable.

    Unknown variant names and an all-zero result (counting the variants not named) are refused; the endpoint
    must be InService (an update in flight would reject the call anyway).
    """
    production = {v["VariantName"]: v for v in endpoint.get("ProductionVariants", [])}
    shadows = {v["VariantName"] for v in endpoint.get("ShadowProductionVariants", [])}
    unknown = sorted(set(weights) - set(production))
    if unknown:
        hint = (" (shadow variants take no production traffic; promote one with `mlops promote`)"
                if set(unknown) & shadows else "")
        raise OpsError(f"--weights: unknown variant(s) {', '.join(unknown)} on endpoint {endpoint['EndpointName']}; "
                       f"its production variants are {', '.join(sorted(production))}{hint}", EXIT_USAGE)
    after = {name: weights.get(name, v.get("CurrentWeight") or 0.0) for name, v in production.items()}
    if not any(after.values()):
        raise OpsError("--weights: all weights would be zero, the endpoint would serve no traffic", EXIT_USAGE)
    if endpoint["EndpointStatus"] != "InService":
        raise OpsError(f"endpoint {endpoint['EndpointName']} is {endpoint['EndpointStatus']}; weights can only "
                       "change when it is InService", EXIT_FAILED)
    total_before = sum(v.get("CurrentWeight") or 0.0 for v in production.values()) or 1.0
    total_after = sum(after.values())
    return [{"variant": name, "weight_before": v.get("CurrentWeight"),
             "share_before": round(100 * (v.get("CurrentWeight") or 0.0) / total_before, 1),
             "weight_after": after[name], "share_after": round(100 * after[name] / total_after, 1)}
            for name, v in production.items()]


def run(args, ctx) -> Output:
    """Handler of ``mlops shift``."""
    weights = parse_weights(args.weights)
    sagemaker_client = ctx.client("sagemaker")
    endpoint = sagemaker_client.describe_endpoint(EndpointName=args.endpoint)
    rows = plan_shift(endpoint, weights)
    with deferred_signals() as received:  # the change completes (or fails) whatever signal comes meanwhile
        sagemaker_client.update_endpoint_weights_and_capacities(
            EndpointName=args.endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": name, "DesiredWeight": weight}
                                         for name, weight in weights.items()])
    if received:
        raise Interrupted(received[0], f"endpoint {args.endpoint} is taking the new weights; check it with "
                                       f"`mlops status {args.endpoint}`")
    try:
        final = wait_final(sagemaker_client, args.endpoint, args.timeout, args.poll_interval)
    except (OpsError, *AWS_ERRORS) as error:
        # The change itself was accepted: say so, or the user would "try again" a change already made.
        cause = error if isinstance(error, OpsError) else translate(error)
        raise OpsError(f"the new weights were applied (SageMaker accepted the change), but waiting for endpoint "
                       f"{args.endpoint} failed: {cause}; check it with `mlops status {args.endpoint}`",
                       cause.exit_code) from None
    if final["EndpointStatus"] != "InService":
        raise OpsError(f"endpoint {args.endpoint} is {final['EndpointStatus']} after the weight change: "
                       f"{final.get('FailureReason') or 'no reason given'}", EXIT_FAILED)
    text = output.table(["variant", "weight before", "share before %", "weight after", "share after %"],
                        [[r["variant"], r["weight_before"], r["share_before"], r["weight_after"], r["share_after"]]
                         for r in rows])
    text += f"\nendpoint {args.endpoint} is InService with the new weights.\n{NEXT_RELEASE_NOTE}"
    return Output(data={"endpoint": args.endpoint, "status": final["EndpointStatus"], "variants": rows,
                        "note": NEXT_RELEASE_NOTE}, text=text)


def register(subparsers) -> None:
    """Add ``shift`` to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "shift", help="change A/B traffic weights of an endpoint's production variants",
        description="Change the traffic weights of production variants (UpdateEndpointWeightsAndCapacities) "
                    "and wait until the endpoint is InService again. Variants not named keep their weight. "
                    "Unknown variants, negative, malformed or all-zero weights are refused before anything "
                    "changes. The next release through the pipeline resets the weights to the config's values.",
        epilog="example:\n  mlops shift churn-predictor-prod --weights main=90,challenger=10")
    parser.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    parser.add_argument("--weights", required=True, metavar="V=W,...",
                        help="new weights, e.g. champion=90,challenger=10 (relative, need not sum to 100)")
    parser.add_argument("--timeout", type=bounded(0, 86400, above=True), default=1800, metavar="S",
                        help="seconds to wait for InService (default: 1800)")
    parser.add_argument("--poll-interval", type=bounded(0, 3600, above=True), default=10, metavar="S",
                        help="seconds between checks (default: 10)")
    parser.set_defaults(handler=run)
