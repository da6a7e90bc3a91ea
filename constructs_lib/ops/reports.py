"""``mlops ab-report``: is the A/B difference between production variants real, and who wins?

The business metric is published by the application per variant (namespace and name given with ``--metric``,
dimensions ``EndpointName`` and ``VariantName``); invocations come from ``AWS/SageMaker``.

* ``--kind rate``: the metric counts successes (value 1 per success; its Sum) and the trials are the variant's
  Invocations -> two-proportion z-test.
* ``--kind mean``: the metric carries one value per observation. CloudWatch keeps SampleCount, Sum, Min, Max and
  percentiles but no sum of squares, so the variance is estimated by the method of batch means from the
  per-period (hourly for windows of a day or more) SampleCount and Sum -> Welch's t-test with
  Welch-Satterthwaite degrees of freedom built on the number of periods. Assumes observations are independent
  within a variant; time-of-day swings inflate the variance, which only makes the test more cautious.

A winner is named only when the difference is significant at ``--alpha`` (split across challengers with
Bonferroni when there are more than two variants). Otherwise the report says how many samples per variant
80% power needs at the observed effect, and how long that takes at the current traffic.

``shadow-report`` lives in ``shadow_report.py`` and is registered here too.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from . import stats
from .base import EXIT_NOT_FOUND, EXIT_USAGE, OpsError, Output, bounded
from .gates import Sample, compare
from .output import table

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: CloudWatch keeps one-minute data for 15 days and five-minute data for 63 days; longer windows use hours.
MAX_WINDOW_SECONDS = 455 * 86400

_EPILOG = """examples:
  mlops ab-report churn-predictor-prod --metric ChurnApp/Retained --kind rate --since 7d
  mlops ab-report churn-predictor-prod --metric ChurnApp/OrderValue --kind mean --variants main,challenger
"""


def register(subparsers: Any) -> None:
    """Add the ``ab-report`` and ``shadow-report`` subcommands."""
    parser = subparsers.add_parser(
        "ab-report",
        help="A/B test between production variants: effect, confidence interval, p-value, winner or traffic needed",
        description=(
            "Compare the production variants of an endpoint on a business metric the application publishes per "
            "variant (CloudWatch dimensions EndpointName and VariantName) and name a winner only when the "
            "difference is statistically significant.\n\n"
            "--kind rate: the metric's Sum counts successes (publish 1 per success), the trials are the "
            "variant's AWS/SageMaker Invocations; two-proportion z-test.\n\n"
            "--kind mean: one metric value per observation. CloudWatch keeps no sum of squares, so the variance "
            "is estimated from how the per-period means (SampleCount and Sum per hour, or per window/24 for "
            "windows under a day) scatter (method of batch means), and Welch's t-test uses the number of "
            "periods for its degrees of freedom. The application may publish single values or StatisticSets "
            "(only SampleCount and Sum per period are used). Assumes independent observations; drifts over the "
            "day make the test more cautious, not less.\n\n"
            "With more than two variants each challenger is compared with the first (champion) at alpha divided "
            "by the number of challengers (Bonferroni), unless --variants picks two. When no difference is "
            "significant the report gives the samples per variant needed for 80% power at the observed effect "
            "(equal-group formula, conservative when the champion gets more traffic) and the time that takes "
            "at the current traffic."
        ),
        epilog=_EPILOG,
    )
    parser.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    parser.add_argument("--metric", required=True, metavar="NAMESPACE/NAME",
                        help="the business metric, e.g. ChurnApp/Retained (namespace may contain '/')")
    parser.add_argument("--kind", choices=("rate", "mean"), default="rate",
                        help="rate: successes over invocations (default); mean: average of the values")
    parser.add_argument("--since", default="7d", metavar="DURATION",
                        help="window ending now: 90m, 24h, 7d, 2w (default 7d)")
    parser.add_argument("--alpha", type=bounded(0, 0.5, above=True), default=0.05,
                        help="significance level; confidence intervals are at 1-alpha (default 0.05)")
    parser.add_argument("--variants", metavar="A,B",
                        help="compare these variants (first is the champion; default: all, first is champion)")
    parser.add_argument("--lower-is-better", action="store_true",
                        help="a smaller metric wins (for example error or latency metrics)")
    parser.set_defaults(handler=run)
    from . import shadow_report

    shadow_report.register(subparsers)


# --------------------------------------------------------------------------------------------- shared helpers
def parse_duration(text: str, option: str = "--since") -> int:
    """``90m``/``24h``/``7d``/``2w``/``3600s`` -> seconds (at least one minute)."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise OpsError(f"{option}: expected a number and a unit s/m/h/d/w (for example 24h or 7d), got {text!r}",
                       EXIT_USAGE)
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not 60 <= seconds <= MAX_WINDOW_SECONDS:
        raise OpsError(f"{option}: must be between 1 minute and 455 days (CloudWatch retention), got {text!r}",
                       EXIT_USAGE)
    return seconds


def window(seconds: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) of the window ending at the current minute."""
    end = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)
    return end - timedelta(seconds=seconds), end


def period_for(seconds: int) -> int:
    """Batch length: an hour for windows of a day or more, else window/24 (whole minutes, at least one)."""
    if seconds >= 86400:
        return 3600
    return max(60, seconds // 24 // 60 * 60)


def describe_endpoint(sagemaker: Any, endpoint: str) -> dict:
    """DescribeEndpoint (a missing endpoint becomes a not-found error through the CLI's translation)."""
    return sagemaker.describe_endpoint(EndpointName=endpoint)


def dimensions(endpoint: str, variant: str) -> list[dict]:
    """The per-variant dimensions SageMaker and the application publish with."""
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]


def metric_query(query_id: str, namespace: str, name: str, dims: list[dict], stat: str, period: int) -> dict:
    """One GetMetricData MetricStat query."""
    return {"Id": query_id, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dims}, "Period": period, "Stat": stat}}


def get_metric_data(cloudwatch: Any, queries: list[dict], start: datetime, end: datetime) -> dict[str, list[float]]:
    """Values per query id (all pages, oldest first; periods without data are absent)."""
    values: dict[str, list[tuple[datetime, float]]] = {q["Id"]: [] for q in queries}
    for chunk in range(0, len(queries), 500):  # GetMetricData takes at most 500 queries per call
        kwargs: dict[str, Any] = {"MetricDataQueries": queries[chunk:chunk + 500], "StartTime": start,
                                  "EndTime": end, "ScanBy": "TimestampAscending"}
        while True:
            response = cloudwatch.get_metric_data(**kwargs)
            for result in response.get("MetricDataResults", []):
                values[result["Id"]].extend(zip(result.get("Timestamps", []), result.get("Values", [])))
            if not response.get("NextToken"):
                break
            kwargs["NextToken"] = response["NextToken"]
    return {key: [v for _, v in sorted(points, key=lambda p: p[0])] for key, points in values.items()}


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (no traffic)"
    if seconds < 3600:
        return f"{math.ceil(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _pct(value: float | None, signed: bool = True) -> str:
    return "-" if value is None else (f"{100 * value:+.2f}%" if signed else f"{100 * value:.2f}%")


# --------------------------------------------------------------------------------------------- ab-report
def run(args: Any, ctx: Any) -> Output:
    """Handler of ``ab-report``."""
    namespace, _, metric = args.metric.rpartition("/")
    if not namespace or not metric:
        raise OpsError(f"--metric: expected NAMESPACE/NAME (for example ChurnApp/Retained), got {args.metric!r}",
                       EXIT_USAGE)
    seconds = parse_duration(args.since)
    chosen = [n.strip() for n in (args.variants or "").split(",") if n.strip()]
    if args.variants is not None and (len(chosen) != 2 or chosen[0] == chosen[1]):
        raise OpsError(f"--variants: name two different variants (champion,challenger), got {args.variants!r}",
                       EXIT_USAGE)
    endpoint = describe_endpoint(ctx.client("sagemaker"), args.endpoint)
    weights = {v["VariantName"]: v.get("CurrentWeight") for v in endpoint.get("ProductionVariants", [])}
    names = chosen or list(weights)
    unknown = [n for n in names if n not in weights]
    if unknown:
        raise OpsError(f"--variants: {', '.join(unknown)} not on endpoint {args.endpoint}; its production "
                       f"variants: {', '.join(weights) or 'none'}", EXIT_NOT_FOUND)
    if len(names) < 2:
        raise OpsError(f"ab-report compares two or more production variants; endpoint {args.endpoint} has "
                       f"{len(names)} ({', '.join(names) or 'none'})", EXIT_USAGE)
    start, end = window(seconds)
    period = period_for(seconds)
    groups = measure_ab(ctx.client("cloudwatch"), args.endpoint, names, args.metric, args.kind, start, end)
    for group in groups:
        group["weight"] = weights[group["variant"]]
    alpha_each = args.alpha / (len(groups) - 1)
    comparisons = [_compare(args, groups[0], challenger, alpha_each, seconds) for challenger in groups[1:]]
    data = {"endpoint": args.endpoint, "metric": {"namespace": namespace, "name": metric}, "kind": args.kind,
            "window": {"start": start.isoformat(), "end": end.isoformat(), "seconds": seconds, "period": period},
            "alpha": args.alpha, "alpha_per_comparison": alpha_each, "lower_is_better": args.lower_is_better,
            "variants": groups, "comparisons": comparisons}
    return Output(data=data, text=_render(args, data))


def measure_ab(cloudwatch: Any, endpoint: str, names: list[str], metric: str, kind: str, start: datetime,
               end: datetime) -> list[dict]:
    """Per variant over ``start``..``end``: its invocations and the business metric ``NAMESPACE/NAME`` (``kind``
    rate or mean: see the module docstring), with the estimate, and for means the batch-means variance and the
    number of periods; what ``ab_sample`` turns into a ``gates.Sample`` for the A/B gate."""
    namespace, _, name = metric.rpartition("/")
    period = period_for(max(60, int((end - start).total_seconds())))
    queries = []
    for i, variant in enumerate(names):
        dims = dimensions(endpoint, variant)
        queries += [metric_query(f"inv{i}", SAGEMAKER_NAMESPACE, "Invocations", dims, "Sum", period),
                    metric_query(f"cnt{i}", namespace, name, dims, "SampleCount", period),
                    metric_query(f"sum{i}", namespace, name, dims, "Sum", period)]
    values = get_metric_data(cloudwatch, queries, start, end)
    return [_group(kind, metric, variant, values[f"inv{i}"], values[f"cnt{i}"], values[f"sum{i}"])
            for i, variant in enumerate(names)]


def _group(kind: str, metric: str, name: str, invocations: list[float], counts: list[float],
           sums: list[float]) -> dict:
    group: dict[str, Any] = {"variant": name, "weight": None, "invocations": int(sum(invocations)),
                             "metric_samples": int(sum(counts)), "metric_sum": sum(sums), "estimate": None}
    if kind == "rate":
        group["samples"] = group["invocations"]
        if group["metric_sum"] > group["invocations"]:
            raise OpsError(f"{metric} sums to {group['metric_sum']:g} for variant {name}, more than its "
                           f"{group['invocations']} invocations: with --kind rate the metric must count successes "
                           "(1 per successful request); use --kind mean for values", EXIT_USAGE)
        if group["invocations"]:
            group["estimate"] = group["metric_sum"] / group["invocations"]
    else:
        group["samples"] = group["metric_samples"]
        try:
            batches = stats.batch_means(counts, sums)
        except ValueError:
            batches = None
        if batches is not None:
            group.update(estimate=batches.mean, variance=batches.variance, periods=batches.df + 1)
        elif group["metric_samples"]:
            group["estimate"] = group["metric_sum"] / group["metric_samples"]
    return group


def ab_sample(kind: str, group: dict) -> Sample:
    """A variant's ``measure_ab`` numbers as the A/B gate's ``Sample``."""
    if kind == "rate":
        return Sample(group["invocations"], successes=int(round(group["metric_sum"])))
    if "variance" not in group:
        raise ValueError("each variant needs metric data in at least 2 periods of the window")
    return Sample(group["samples"], mean=group["estimate"], variance=group["variance"], df=group["periods"] - 1)


def _compare(args: Any, a: dict, b: dict, alpha: float, seconds: int) -> dict:
    comparison: dict[str, Any] = {"champion": a["variant"], "challenger": b["variant"], "alpha": alpha,
                                  "result": None, "winner": None}
    try:
        result = compare(ab_sample(args.kind, a), ab_sample(args.kind, b), alpha)  # the release gate's own test
    except ValueError as error:
        comparison["insufficient_data"] = str(error)
        return comparison
    comparison["result"] = result.as_dict()
    if result.significant:
        challenger_better = (result.difference < 0) if args.lower_is_better else (result.difference > 0)
        comparison["winner"] = b["variant"] if challenger_better else a["variant"]
        return comparison
    if args.kind == "rate":
        needed = stats.required_sample_size_proportions(result.estimate_a, result.estimate_b, alpha)
    else:
        needed = stats.required_sample_size_means(result.difference, math.sqrt(a["variance"]),
                                                  math.sqrt(b["variance"]), alpha)
    comparison["required_per_variant"] = needed
    if needed is not None:
        more = {g["variant"]: max(0, needed - g["samples"]) for g in (a, b)}
        rates = {g["variant"]: g["samples"] / seconds for g in (a, b)}
        waits = [more[v] / rates[v] if rates[v] else None for v in more]
        comparison["more_samples_needed"] = more
        comparison["eta_seconds"] = None if None in waits else max(waits)
    return comparison


def _render(args: Any, data: dict) -> str:
    rate = args.kind == "rate"
    metric = data["metric"]["name"]
    header = (f"{data['endpoint']}: {data['metric']['namespace']}/{metric} ({args.kind}), last {args.since}, "
              f"alpha {args.alpha:g}")
    rows = []
    for g in data["variants"]:
        estimate = g["estimate"]
        shown = _pct(estimate, signed=False) if rate and estimate is not None else estimate
        rows.append([g["variant"], g["weight"], g["invocations"],
                     g["metric_sum"] if rate else g["metric_samples"], shown])
    lines = [header, "", table(["variant", "weight", "invocations", f"{metric} sum" if rate else "samples",
                                "rate" if rate else "mean"], rows)]
    for c in data["comparisons"]:
        lines.append("")
        title = f"{c['challenger']} vs {c['champion']}"
        if c["result"] is None:
            lines.append(f"{title}: not enough data ({c['insufficient_data']})")
            continue
        r = c["result"]
        confidence = f"{100 * (1 - c['alpha']):g}%"
        if rate:
            effect = (f"{100 * r['difference']:+.2f} pp, {confidence} CI [{100 * r['ci_low']:+.2f}, "
                      f"{100 * r['ci_high']:+.2f}] pp")
            statistic = f"z = {r['statistic']:.2f}"
        else:
            effect = f"{r['difference']:+.4g}, {confidence} CI [{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]"
            statistic = f"t = {r['statistic']:.2f}, df = {r['df']:.1f}"
        lines.append(f"{title}: {effect}; relative lift {_pct(r['relative_lift'])} "
                     f"[{_pct(r['lift_ci_low'])}, {_pct(r['lift_ci_high'])}]; {statistic}, p = {r['p_value']:.3g}")
        if c["winner"]:
            lines.append(f"winner: {c['winner']} (significant at alpha {c['alpha']:g})")
        elif c.get("required_per_variant") is None:
            lines.append("no winner: no observed difference, so no sample size can be estimated")
        else:
            more = ", ".join(f"{v} {n:,} more" for v, n in c["more_samples_needed"].items())
            lines.append(f"no winner yet: not significant (p = {r['p_value']:.3g} >= {c['alpha']:g}). 80% power at "
                         f"the observed effect needs {c['required_per_variant']:,} samples per variant ({more}); "
                         f"at the current traffic about {_eta(c.get('eta_seconds'))}.")
    return "\n".join(lines)
