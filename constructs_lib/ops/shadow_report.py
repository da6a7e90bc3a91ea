"""``mlops shadow-report``: does the shadow variant behave as well as production, on the same live requests?

From CloudWatch (``AWS/SageMaker``, dimensions EndpointName and VariantName, both variants publish them):
Invocations, ModelLatency p50/p99 (published in microseconds, shown in ms), and the Invocation4XXErrors,
Invocation5XXErrors and InvocationModelErrors rates. The verdict is the release gate's (``gates.judge_shadow``,
with the window as the phase): it fails (exit 1) when the shadow's latency exceeds production's by more than
``--max-latency-increase-pct`` percent or one of its error rates exceeds production's by more than
``--max-error-rate-increase-pct`` percentage points; with fewer than ``--min-invocations`` requests it is
INSUFFICIENT DATA (exit 1) unless an error-rate increase is already conclusive, which fails.

Latency percentiles come from GetMetricStatistics with a single period spanning the window; if CloudWatch
splits the window into several datapoints the report takes the largest percentile (an upper bound).

With data capture on, prediction agreement is computed from the capture files (see ``capture.py``).
"""

from __future__ import annotations

import math
from typing import Any

from . import capture
from .base import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, OpsError, Output, bounded
from .gates import (ERROR_INCREASE_POINTS, ERROR_METRICS, LATENCY_INCREASE_PCT, PERCENTILES, WAIT, ShadowGate, Side,
                    judge_shadow)
from .output import table
from .reports import (
    SAGEMAKER_NAMESPACE,
    describe_endpoint,
    dimensions,
    get_metric_data,
    metric_query,
    parse_duration,
    period_for,
    window,
)

_EPILOG = """examples:
  mlops shadow-report churn-predictor-prod
  mlops shadow-report churn-predictor-prod --since 6h --max-latency-increase-pct 20 --json
"""


def register(subparsers: Any) -> None:
    """Add the ``shadow-report`` subcommand."""
    parser = subparsers.add_parser(
        "shadow-report",
        help="production vs shadow: latency, error rates, prediction agreement, and a verdict",
        description=(
            "Compare the shadow variant with the production variant it copies requests from: invocations, "
            "ModelLatency p50/p99 (ms), 4XX/5XX/model error rates from CloudWatch, and, when data capture is on, "
            "how often their predictions agree (capture records paired by inferenceId, eventId or identical "
            "request body). Exit 1 when the shadow is worse than production beyond the thresholds or has too few "
            "invocations to judge; exit 0 when it passes."
        ),
        epilog=_EPILOG,
    )
    parser.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    parser.add_argument("--since", default="24h", metavar="DURATION", help="window ending now (default 24h)")
    parser.add_argument("--max-latency-increase-pct", default=10.0, metavar="PCT",
                        type=bounded(LATENCY_INCREASE_PCT.low, LATENCY_INCREASE_PCT.high),
                        help="fail when shadow p50 or p99 latency exceeds production's by more (default 10%%)")
    parser.add_argument("--max-error-rate-increase-pct", default=0.5, metavar="POINTS",
                        type=bounded(ERROR_INCREASE_POINTS.low, ERROR_INCREASE_POINTS.high),
                        help="fail when a shadow error rate exceeds production's by more percentage points "
                             "(default 0.5)")
    parser.add_argument("--min-invocations", type=bounded(1, 1_000_000_000, integer=True), default=100, metavar="N",
                        help="the shadow needs at least N invocations in the window to pass (default 100)")
    parser.add_argument("--production-variant", metavar="NAME",
                        help="production variant (default: the endpoint's first production variant)")
    parser.add_argument("--shadow-variant", metavar="NAME",
                        help="shadow variant (default: the endpoint's shadow variant; any variant may be named)")
    parser.add_argument("--agreement-tolerance", type=bounded(0, 1e6), default=1e-6, metavar="X",
                        help="numeric predictions agree when every value differs by at most X (default 1e-6)")
    parser.add_argument("--max-capture-records", type=bounded(1, 10_000_000, integer=True), default=capture.DEFAULT_MAX_RECORDS, metavar="N",
                        help=f"capture records read per variant (default {capture.DEFAULT_MAX_RECORDS})")
    parser.add_argument("--no-capture", action="store_true", help="skip prediction agreement (no S3 reads)")
    parser.set_defaults(handler=run)


def _variants(args: Any, endpoint: dict) -> tuple[str, str]:
    production = [v["VariantName"] for v in endpoint.get("ProductionVariants", [])]
    shadows = [v["VariantName"] for v in endpoint.get("ShadowProductionVariants", [])]
    known = production + shadows
    for option, name in (("--production-variant", args.production_variant), ("--shadow-variant", args.shadow_variant)):
        if name and name not in known:
            raise OpsError(f"{option}: no variant {name!r} on endpoint {args.endpoint}; variants: "
                           f"{', '.join(known) or 'none'}", EXIT_NOT_FOUND)
    prod = args.production_variant or (production[0] if production else None)
    shadow = args.shadow_variant or (shadows[0] if shadows else None)
    if shadow is None:
        raise OpsError(f"endpoint {args.endpoint} has no shadow variant (production: {', '.join(production)}); "
                       "name a variant to compare with --shadow-variant", EXIT_NOT_FOUND)
    if prod is None or prod == shadow:
        raise OpsError(f"endpoint {args.endpoint}: need a production variant other than {shadow}", EXIT_NOT_FOUND)
    return prod, shadow


def _latency(cloudwatch: Any, endpoint: str, variant: str, start: Any, end: Any, seconds: int) -> dict:
    response = cloudwatch.get_metric_statistics(
        Namespace=SAGEMAKER_NAMESPACE, MetricName="ModelLatency", Dimensions=dimensions(endpoint, variant),
        StartTime=start, EndTime=end, Period=math.ceil(seconds / 60) * 60, ExtendedStatistics=list(PERCENTILES))
    result: dict[str, float | None] = {}
    for percentile in PERCENTILES:
        found = [p["ExtendedStatistics"][percentile] for p in response.get("Datapoints", [])
                 if percentile in (p.get("ExtendedStatistics") or {})]
        result[f"{percentile}_ms"] = max(found) / 1000 if found else None  # CloudWatch has microseconds
    return result


def measure(cloudwatch: Any, endpoint: str, variants: tuple[str, ...], start: Any, end: Any) -> list[Side]:
    """What the shadow gate judges, per variant over ``start``..``end``: invocations, ModelLatency p50/p99 (ms) and
    the error counts, from CloudWatch."""
    seconds = max(60, int((end - start).total_seconds()))
    queries = [metric_query(f"{key}{i}", SAGEMAKER_NAMESPACE, name, dimensions(endpoint, variant), "Sum",
                            period_for(seconds))
               for i, variant in enumerate(variants)
               for key, name in (("inv", "Invocations"), *ERROR_METRICS.items())]
    values = get_metric_data(cloudwatch, queries, start, end)
    sides = []
    for i, variant in enumerate(variants):
        latency = _latency(cloudwatch, endpoint, variant, start, end, seconds)
        sides.append(Side(int(sum(values[f"inv{i}"])), latency["p50_ms"], latency["p99_ms"],
                          {key: int(sum(values[f"{key}{i}"])) for key in ERROR_METRICS}))
    return sides


def _described(role: str, variant: str, side: Side) -> dict[str, Any]:
    """A variant's numbers as the report shows them (JSON keys kept stable)."""
    described: dict[str, Any] = {"role": role, "variant": variant, "invocations": side.invocations,
                                 "p50_ms": side.p50_ms, "p99_ms": side.p99_ms}
    for key in ERROR_METRICS:
        described[f"{key}_errors"] = side.errors.get(key, 0)
        described[f"{key}_rate_pct"] = side.rate_pct(key)
    return described


def run(args: Any, ctx: Any) -> Output:
    """Handler of ``shadow-report``."""
    seconds = parse_duration(args.since)
    # The gate's own judgement, with the report's window as the phase: no minimum duration, no deadline. Built
    # first: its settings are checked before any AWS call (argparse already holds them to the gate's limits).
    gate = ShadowGate(min_duration_seconds=0, min_requests=args.min_invocations,
                      max_latency_increase_pct=args.max_latency_increase_pct,
                      max_error_rate_increase_points=args.max_error_rate_increase_pct, deadline_seconds=math.inf,
                      require_every_check=False)
    endpoint = describe_endpoint(ctx.client("sagemaker"), args.endpoint)
    prod, shadow = _variants(args, endpoint)
    start, end = window(seconds)
    production_side, shadow_side = measure(ctx.client("cloudwatch"), args.endpoint, (prod, shadow), start, end)
    sides = [_described(role, variant, side)
             for role, variant, side in (("production", prod, production_side), ("shadow", shadow, shadow_side))]
    judged = judge_shadow(production_side, shadow_side, gate, elapsed_seconds=seconds)
    checks = [check.as_dict() for check in judged.checks]
    verdict = "INSUFFICIENT DATA" if judged.decision == WAIT else judged.decision
    data: dict[str, Any] = {
        "endpoint": args.endpoint, "window": {"start": start.isoformat(), "end": end.isoformat(), "seconds": seconds},
        "production": sides[0], "shadow": sides[1], "checks": checks, "verdict": verdict,
        "thresholds": {"max_latency_increase_pct": args.max_latency_increase_pct,
                       "max_error_rate_increase_points": args.max_error_rate_increase_pct,
                       "min_invocations": args.min_invocations},
        "agreement": None, "agreement_note": None,
    }
    if args.no_capture:
        data["agreement_note"] = "skipped (--no-capture)"
    else:
        data["agreement"], data["agreement_note"] = measure_agreement(
            ctx.client("s3"), endpoint, (prod, shadow), start, end, args.agreement_tolerance, args.max_capture_records)
    exit_code = EXIT_OK if verdict == "PASS" else EXIT_FAILED
    return Output(data=data, text=_render(data), exit_code=exit_code)


def measure_agreement(s3: Any, endpoint: dict, variants: tuple[str, str], start: Any, end: Any, tolerance: float,
                      limit: int = capture.DEFAULT_MAX_RECORDS) -> tuple[dict | None, str]:
    """Prediction agreement of (production, shadow) from the endpoint's captured data over ``start``..``end``
    (``endpoint`` is its DescribeEndpoint answer): ``(capture.agreement(...) or None, one line saying what it
    found)``."""
    config = endpoint.get("DataCaptureConfig") or {}
    if not config.get("EnableCapture") or not config.get("DestinationS3Uri"):
        return None, "data capture is off on this endpoint: no prediction agreement"
    uri = config["DestinationS3Uri"]
    prod, shadow = variants
    records = {variant: capture.read_records(s3, uri, endpoint["EndpointName"], variant, start, end, limit)
               for variant in variants}
    if not records[shadow]:
        return None, (f"no capture files for {shadow} under {uri} in the window: the shadow's responses are not "
                      "captured (capture disabled when the shadow was added, or no sampled traffic yet)")
    result = capture.agreement(records[prod], records[shadow], tolerance)
    return result, capture.describe_agreement(result)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _render(data: dict) -> str:
    production, shadow = data["production"], data["shadow"]
    rows = [["invocations", production["invocations"], shadow["invocations"]],
            ["latency p50 (ms)", _ms(production["p50_ms"]), _ms(shadow["p50_ms"])],
            ["latency p99 (ms)", _ms(production["p99_ms"]), _ms(shadow["p99_ms"])]]
    rows += [[f"{key} error rate", _rate(production[f"{key}_rate_pct"]), _rate(shadow[f"{key}_rate_pct"])]
             for key in ERROR_METRICS]
    lines = [f"{data['endpoint']}: production {production['variant']} vs shadow {shadow['variant']}, "
             f"{data['window']['start']} to {data['window']['end']}", "",
             table(["", f"production ({production['variant']})", f"shadow ({shadow['variant']})"], rows), "",
             table(["check", "status", "detail"], [[c["check"], c["status"], c["detail"]] for c in data["checks"]]),
             "", f"prediction agreement: {data['agreement_note']}"]
    verdict = data["verdict"]
    if verdict == "INSUFFICIENT DATA":
        verdict += (f" (shadow has {shadow['invocations']} invocations, fewer than "
                    f"{data['thresholds']['min_invocations']})")
    lines.append(f"verdict: {verdict}")
    return "\n".join(lines)
