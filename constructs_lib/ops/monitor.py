"""``mlops monitor ENDPOINT``: what the endpoint's drift check (``DriftMonitor``) found last.

The newest report (``monitoring/<endpoint>/yyyy/mm/dd/HHMM.json`` in the endpoint's capture bucket, found from
its endpoint config's capture destination), read back over the last ``--days`` days: the verdict (``drift``,
``ok`` or ``too few requests``), the window and the requests it read, the features above the version's
constraint, every feature's PSI (largest first), the model's quality against labels when the check judges it
(the metric, the earlier window it judged and the labelled rows), and the states of the monitoring alarms.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from . import output
from .base import EXIT_NOT_FOUND, OpsError, Output, bounded
from .drift import REPORTS_PREFIX, split_s3_uri

#: The alarms DriftMonitor names after the endpoint (the last two with a quality check only).
ALARMS = ("data-drift", "drift-check-failed", "model-quality", "labels-missing")


def latest_report(ctx, endpoint: str, days: int, now: datetime) -> tuple[str, dict] | None:
    """``(s3 URI, report)`` of the newest drift report of ``endpoint`` within ``days`` days, or None."""
    sagemaker, s3 = ctx.client("sagemaker"), ctx.client("s3")
    config_name = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    capture = sagemaker.describe_endpoint_config(EndpointConfigName=config_name).get("DataCaptureConfig") or {}
    if not capture.get("DestinationS3Uri"):
        raise OpsError(f"endpoint {endpoint} captures no data (its config {config_name} has no DataCaptureConfig): "
                       "no drift check runs for it", EXIT_NOT_FOUND)
    bucket, _ = split_s3_uri(capture["DestinationS3Uri"])
    return newest_report(s3, bucket, endpoint, days, now)


def newest_report(s3: Any, bucket: str, endpoint: str, days: int, now: datetime) -> tuple[str, dict] | None:
    """``(s3 URI, report)`` of the newest report under ``monitoring/<endpoint>/`` in ``bucket``, or None."""
    paginator = s3.get_paginator("list_objects_v2")
    for back in range(days + 1):  # newest day first: one listing per day until a report turns up
        day = now - timedelta(days=back)
        keys = [item["Key"] for page in paginator.paginate(
                    Bucket=bucket, Prefix=f"{REPORTS_PREFIX}/{endpoint}/{day:%Y/%m/%d}/")
                for item in page.get("Contents", []) if item["Key"].endswith(".json")]
        if keys:
            key = max(keys)
            return f"s3://{bucket}/{key}", json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return None


def headline(report: dict) -> str:
    """The report's verdict in one line."""
    return {"drift": f"DRIFT: {', '.join(report.get('violations', []))} above PSI {report.get('max_psi')}",
            "ok": f"OK: no feature above PSI {report.get('max_psi')}",
            "too few requests": f"NO VERDICT: {report.get('rows')} rows read, {report.get('min_records')} needed"
            }.get(report.get("verdict", "?"), str(report.get("verdict")))


def quality_headline(quality: dict) -> str:
    """A quality verdict in one line."""
    metric, value, threshold = quality.get("metric"), quality.get("value"), quality.get("threshold")
    built = quality.get("registered_value")
    context = f" ({built} on the build's test split)" if built is not None else ""
    return {"ok": f"OK: {metric} {value}, threshold {threshold}{context}",
            "below threshold": f"BELOW THRESHOLD: {metric} {value} < {threshold}{context}",
            "too few labels": f"NO VERDICT: {quality.get('labeled')} labelled rows of {quality.get('rows')}, "
                              f"{quality.get('min_labels')} needed (labels missing?)",
            "too few requests": f"NO VERDICT: {quality.get('rows')} rows requested in the window, "
                                f"{quality.get('min_labels')} needed to judge",
            "unreadable": f"FAILED: {quality.get('unreadable')} prediction(s) and {quality.get('unreadable_labels')} "
                          f"label line(s) could not be read, against {quality.get('labeled')} labelled rows",
            "undefined": f"NO VERDICT: {metric} is undefined on these labels (one class only)",
            "previous version": f"NO VERDICT: the judged window began before the current endpoint config served "
                                f"(since {quality.get('serving_since')}): it held an earlier version's predictions",
            "labels not all read": "FAILED: the label files could not all be read in the function's time",
            "failed": f"FAILED: {quality.get('error')}"}.get(quality.get("verdict", "?"), str(quality.get("verdict")))


def alarm_states(ctx, endpoint: str) -> dict[str, str]:
    """The drift alarms' states by name (absent ones left out)."""
    names = [f"{endpoint}-{kind}" for kind in ALARMS]
    found = ctx.client("cloudwatch").describe_alarms(AlarmNames=names).get("MetricAlarms", [])
    return {alarm["AlarmName"]: alarm["StateValue"] for alarm in found}


def run(args, ctx) -> Output:
    now = datetime.now(timezone.utc)
    found = latest_report(ctx, args.endpoint, int(args.days), now)
    alarms = alarm_states(ctx, args.endpoint)
    if found is None:
        text = (f"no drift report for {args.endpoint} in the last {int(args.days)} day(s): is its stage's "
                "monitoring deployed, and has its schedule run? (the check's log group says why it failed)")
        return Output(data={"endpoint": args.endpoint, "report": None, "alarms": alarms},
                      text=text + ("\n\n" + output.table(["alarm", "state"], alarms.items()) if alarms else ""))
    uri, report = found
    scored = sorted((f for f in report.get("features", []) if "psi" in f), key=lambda f: -f["psi"])
    window = report.get("window") or {}
    verdict = report.get("verdict", "?")
    lines = [output.fields([
        ("endpoint", args.endpoint), ("drift", headline(report)),
        ("window", f"{window.get('start', '?')} to {window.get('end', '?')}"),
        ("rows", f"{report.get('rows')} read, {report.get('unreadable', 0)} unreadable"),
        ("version", report.get("model_package", "?")), ("report", uri)])]
    quality = report.get("quality")
    if quality:
        judged = quality.get("window")
        lines.append(output.fields([
            ("quality", quality_headline(quality)),
            *([("judged window", f"{judged.get('start', '?')} to {judged.get('end', '?')}")] if judged else []),
            *([("labels", f"{quality['labeled']} labelled rows of {quality.get('rows')}; "
                          f"{quality.get('unlabeled')} request(s) without a label; unreadable: "
                          f"{quality.get('unreadable', 0)} prediction(s), {quality.get('unreadable_labels', 0)} label "
                          f"line(s); from {quality.get('labels', '?')}")] if "labeled" in quality else [])]))
    if scored:
        lines.append(output.table(["feature", "psi", "drifted"], [
            (f["name"], f"{f['psi']:.4f}", "yes" if f["name"] in report.get("violations", []) else "")
            for f in scored[:int(args.top)]]))
    if alarms:
        lines.append(output.table(["alarm", "state"], alarms.items()))
    return Output(data={"endpoint": args.endpoint, "report": uri, "verdict": verdict, "alarms": alarms,
                        "violations": report.get("violations", []), "features": scored,
                        "window": window, "rows": report.get("rows"), "quality": quality},
                  text="\n\n".join(lines))


def register(subparsers) -> None:
    """Add ``monitor`` to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "monitor", help="the endpoint's last drift check: verdict, drifted features, quality, alarms",
        description="The newest report of the endpoint's drift check (a stage's monitoring section): the verdict, "
                    "the window and the requests it read, the features whose PSI against the released version's "
                    "baseline is above its constraint, each feature's PSI (largest first), the model's quality "
                    "against the application's labels (with monitoring.quality), and the monitoring alarms' "
                    "states. Run it with the credentials of the endpoint's account.",
        epilog="example:\n  mlops --profile prod monitor churn-predictor-prod --region eu-west-1")
    parser.add_argument("endpoint", metavar="ENDPOINT", help="the endpoint")
    parser.add_argument("--days", type=bounded(0, 90, integer=True), default=7, metavar="N",
                        help="how many days back to look for a report (default 7)")
    parser.add_argument("--top", type=bounded(1, 1000, integer=True), default=20, metavar="N",
                        help="features shown, largest PSI first (default 20)")
    parser.set_defaults(handler=run)


__all__ = ["alarm_states", "headline", "latest_report", "newest_report", "quality_headline", "register"]
