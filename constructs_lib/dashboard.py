"""``EndpointDashboard``: one CloudWatch dashboard per endpoint, where the on-call engineer sees a release.

Per production variant and for the shadow, side by side: traffic, model latency at p50 and p99, the 5XX and
model-error rates (percent of invocations, as the rollback alarms judge them), and the rollback alarms' states.
The body is rendered when the template is written, so alarms added after construction
(``ModelEndpoint.add_rollback_alarm``) are on it. An ``AWS::CloudWatch::Dashboard`` (L1) with the body as one
JSON document: one resource, two jsii calls, whatever the number of widgets.

Drift and model-quality widgets join it with drift monitoring (issue 15; SageMaker Model Monitor is closed to
new customers, so that engine is still to be chosen).
"""

from __future__ import annotations

import re
from typing import Mapping

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from .endpoint import NAMESPACE, ModelEndpoint
from .errors import ConfigError, cut
from .lazy import lazy_string
from .variants import _is_token

__all__ = ["EndpointDashboard"]

#: CloudWatch dashboard names: letters, digits, '-' and '_', at most 255.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_WIDTH, _HEIGHT = 12, 6


class EndpointDashboard(Construct):
    """A CloudWatch dashboard for ``endpoint``: ``mlops status`` names it (stack output ``DashboardName``).

    :param endpoint: the endpoint to watch.
    :param dashboard_name: letters, digits, '-' and '_' (at most 255); default ``<endpoint name>-<region>``
      (dashboards are global to an account, endpoint names only to a region), or a name CloudFormation gives
      when either is known only at deploy time.
    :param candidate_variants: variants a release adds for a while (a progressive release's shadow and
      challenger), by name, with the role shown next to them: their lines stay empty between releases.
    """

    def __init__(self, scope: Construct, id: str, *, endpoint: ModelEndpoint, dashboard_name: str | None = None,
                 candidate_variants: Mapping[str, str] | None = None) -> None:
        super().__init__(scope, id)
        self.candidate_variants = dict(candidate_variants or {})
        stack = Stack.of(self)
        if dashboard_name is not None:
            if not isinstance(dashboard_name, str) or not _NAME.match(dashboard_name):
                raise ConfigError("dashboard_name", f"must be 1-255 letters, digits, '-' and '_', got "
                                  f"{cut(dashboard_name)}")
            name: str | None = dashboard_name
        elif _is_token(endpoint.endpoint_name + stack.region):
            name = None  # known only at deploy time: CloudFormation names it
        else:
            # Dashboards are global to an account; endpoint names only to a region.
            name = f"{endpoint.endpoint_name}-{stack.region}"
        self.endpoint = endpoint
        self._drift: tuple[int, list[str], dict | None] | None = None
        self._dashboard = cloudwatch.CfnDashboard(
            self, "Resource", dashboard_name=name,
            dashboard_body=lazy_string(lambda: stack.to_json_string(self.body(stack.region))))
        self.dashboard_name: str = name if name is not None else self._dashboard.ref
        """The dashboard's name (a reference when CloudFormation names it)."""

    def add_drift(self, *, window_minutes: int, alarm_arns: list[str], quality: dict | None = None) -> None:
        """Show the endpoint's drift check (``DriftMonitor``): the largest feature PSI and the features above
        their limit per window, the drift alarms' states, and with ``quality`` (its ``metric`` and
        ``threshold``) the model's quality against labels."""
        self._drift = (window_minutes, list(alarm_arns), quality)

    def body(self, region: str) -> dict:
        """The dashboard's body (CloudWatch's dashboard body structure) for ``region``."""
        endpoint = self.endpoint
        variants = [(v.name, "production") for v in endpoint.variants]
        if endpoint.shadow_variant is not None:
            variants.append((endpoint.shadow_variant.variant.name, "shadow"))
        variants += [(name, role) for name, role in self.candidate_variants.items()
                     if name not in {v for v, _ in variants}]

        def metric(name: str, variant: str, **options) -> list:
            return [NAMESPACE, name, "EndpointName", endpoint.endpoint_name, "VariantName", variant, options]

        # An asynchronous endpoint counts requests in InvocationsProcessed and failures of any kind in
        # InvocationFailures (it publishes no Invocations), and has a queue, the endpoint's own.
        asynchronous = endpoint.async_inference is not None
        requests = "InvocationsProcessed" if asynchronous else "Invocations"

        def rates(errors: str, label: str) -> list:
            rows: list = []
            for i, (variant, role) in enumerate(variants):
                rows += [metric(errors, variant, id=f"e{i}", stat="Sum", visible=False),
                         metric(requests, variant, id=f"n{i}", stat="Sum", visible=False),
                         [{"expression": f"100 * e{i} / n{i}", "id": f"r{i}", "label": f"{variant} ({role}) {label}"}]]
            return rows

        graphs = [
            ("Requests processed per minute" if asynchronous else "Invocations per minute",
             [metric(requests, v, stat="Sum", label=f"{v} ({role})") for v, role in variants], "Count"),
            ("Model latency (microseconds)", [metric("ModelLatency", v, stat=p, label=f"{v} ({role}) {p}")
                                              for v, role in variants for p in ("p50", "p99")], "Microseconds"),
            ("5XX error rate (% of invocations)", rates("Invocation5XXErrors", "5XX %"), "Percent"),
            ("Failure rate (% of requests processed)", rates("InvocationFailures", "failures %"), "Percent")
            if asynchronous else
            ("Model error rate (% of invocations)", rates("InvocationModelErrors", "model errors %"), "Percent"),
        ]
        if asynchronous:
            queue = ["EndpointName", endpoint.endpoint_name]
            graphs.append(("Queue: requests waiting, and the oldest one's age (s)", [
                [NAMESPACE, "ApproximateBacklogSize", *queue, {"stat": "Average", "label": "requests waiting"}],
                [NAMESPACE, "ApproximateAgeOfOldestRequest", *queue,
                 {"stat": "Maximum", "label": "oldest request age (s)", "yAxis": "right"}],
                [NAMESPACE, "HasBacklogWithoutCapacity", *queue,
                 {"stat": "Maximum", "label": "waiting with no instance (1)"}]], "Count"))
        widgets: list[dict] = [{
            "type": "text", "x": 0, "y": 0, "width": 2 * _WIDTH, "height": 2,
            "properties": {"markdown": f"## Endpoint {endpoint.endpoint_name}\nProduction variants: "
                           + ", ".join(v.name for v in endpoint.variants)
                           + (f"; shadow: {endpoint.shadow_variant.variant.name} (a copy of its share of requests; "
                              "its answers are dropped)" if endpoint.shadow_variant is not None else "")
                           + ("; during a release: " + ", ".join(f"{n} ({r})" for n, r in self.candidate_variants.items())
                              if self.candidate_variants else "")
                           + f". `mlops status {endpoint.endpoint_name}` shows the release state."}}]
        for index, (title, metrics, unit) in enumerate(graphs):
            widgets.append({
                "type": "metric", "x": (index % 2) * _WIDTH, "y": 2 + (index // 2) * _HEIGHT,
                "width": _WIDTH, "height": _HEIGHT,
                "properties": {"title": title, "region": region, "view": "timeSeries", "period": 60,
                               "metrics": metrics, "yAxis": {"left": {"label": unit, "showUnits": False}}}})
        y = 2 + ((len(graphs) + 1) // 2) * _HEIGHT
        alarms = endpoint.rollback_alarm_arns
        if alarms:
            widgets.append({
                "type": "alarm", "x": 0, "y": y, "width": 2 * _WIDTH, "height": 4,
                "properties": {"title": "Rollback alarms (any in ALARM stops a guarded deployment and rolls it back)",
                               "alarms": alarms, "sortBy": "stateUpdatedTimestamp"}})
            y += 4
        if self._drift is not None:
            widgets += self._drift_widgets(region, y)
        return {"widgets": widgets}

    def _drift_widgets(self, region: str, y: int) -> list[dict]:
        from .ops.drift import DEFAULT_MAX_PSI, NAMESPACE as DRIFT

        window, alarms, quality = self._drift
        dims = ["EndpointName", self.endpoint.endpoint_name]
        judged = [] if quality is None else [{
            "type": "metric", "x": 0, "y": y + _HEIGHT, "width": 2 * _WIDTH, "height": _HEIGHT,
            "properties": {"title": f"Model quality against the application's labels ({quality['metric']}, of "
                                    "the requests a label delay back)",
                           "region": region, "view": "timeSeries", "period": window * 60, "metrics": [
                               [DRIFT, "ModelQuality", *dims, "Metric", quality["metric"],
                                {"stat": "Minimum", "label": quality["metric"]}],
                               [DRIFT, "LabeledRecords", *dims, {"stat": "Sum", "yAxis": "right",
                                                                 "label": "labelled rows"}]],
                           "annotations": {"horizontal": [{"value": quality["threshold"], "label": "threshold"}]},
                           "yAxis": {"left": {"label": quality["metric"], "showUnits": False, "min": 0, "max": 1}}}}]
        alarms_y = y + _HEIGHT * (2 if judged else 1)
        return judged + [{
            "type": "metric", "x": 0, "y": y, "width": _WIDTH, "height": _HEIGHT,
            "properties": {"title": "Drift of the requests against the released version's baseline (PSI)",
                           "region": region, "view": "timeSeries", "period": window * 60, "metrics": [
                               [DRIFT, "MaxFeatureDrift", *dims, {"stat": "Maximum", "label": "largest feature PSI"}],
                               [DRIFT, "DriftViolations", *dims, {"stat": "Maximum", "yAxis": "right",
                                                                   "label": "features above their limit"}]],
                           "annotations": {"horizontal": [{"value": DEFAULT_MAX_PSI,
                                                           "label": "the build's default limit"}]},
                           "yAxis": {"left": {"label": "PSI", "showUnits": False, "min": 0}}}}, {
            "type": "metric", "x": _WIDTH, "y": y, "width": _WIDTH, "height": _HEIGHT,
            "properties": {"title": "Rows each drift check read", "region": region, "view": "timeSeries",
                           "period": window * 60, "metrics": [
                               [DRIFT, "DriftRecords", *dims, {"stat": "Sum", "label": "rows read"}]],
                           "yAxis": {"left": {"label": "Count", "showUnits": False, "min": 0}}}}, {
            "type": "alarm", "x": 0, "y": alarms_y, "width": 2 * _WIDTH, "height": 3,
            "properties": {"title": "Monitoring alarms (data drift"
                                    + (", model quality, labels missing" if judged else "") + "; the check failing)",
                           "alarms": alarms, "sortBy": "stateUpdatedTimestamp"}}]
