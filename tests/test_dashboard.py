"""EndpointDashboard: one dashboard per endpoint, every variant (shadow and release candidates included) side by
side, the error rates as the rollback alarms judge them, and every rollback alarm's state."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk.assertions import Template

from constructs_lib.dashboard import EndpointDashboard
from constructs_lib.endpoint import ModelEndpoint
from constructs_lib.errors import ConfigError
from constructs_lib.variants import ShadowVariant
from build_support import _render
from test_endpoint import ENV, V1, V2, instance


def _body(template: Template) -> dict:
    """The dashboard body, references (alarm ARNs, the partition) as readable placeholders."""
    (resource,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = resource["Properties"]["DashboardBody"]
    if isinstance(body, dict):
        body = "".join(_render(part) for part in body["Fn::Join"][1])
    return json.loads(body)


@pytest.fixture(scope="module")
def dashboard():
    stack = Stack(App(), "Dash", env=ENV)
    endpoint = ModelEndpoint(stack, "Endpoint", endpoint_name="churn-prod",
                             variants=[instance("champion", V1, weight=90), instance("challenger", V2, weight=10)])
    EndpointDashboard(stack, "Dashboard", endpoint=endpoint, candidate_variants={"canary-shadow": "shadow phase"})
    late = cloudwatch.Alarm(stack, "Kpi", metric=cloudwatch.Metric(namespace="ChurnApp", metric_name="Retained"),
                            threshold=1, evaluation_periods=1)
    endpoint.add_rollback_alarm(late)  # after the dashboard: the body is rendered at synthesis
    template = Template.from_stack(stack)
    return template, _body(template), stack.get_logical_id(late.node.default_child)


def test_every_variant_is_on_every_graph(dashboard):
    template, body, _ = dashboard
    template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": "churn-prod-eu-west-1"})
    graphs = {w["properties"]["title"]: w["properties"] for w in body["widgets"] if w["type"] == "metric"}
    assert list(graphs) == ["Invocations per minute", "Model latency (microseconds)",
                            "5XX error rate (% of invocations)", "Model error rate (% of invocations)"]
    traffic = graphs["Invocations per minute"]["metrics"]
    assert [m[5] for m in traffic] == ["champion", "challenger", "canary-shadow"]
    assert all(m[:5] == ["AWS/SageMaker", "Invocations", "EndpointName", "churn-prod", "VariantName"] for m in traffic)
    latency = graphs["Model latency (microseconds)"]["metrics"]
    assert [(m[5], m[6]["stat"]) for m in latency] == [(v, p) for v in ("champion", "challenger", "canary-shadow")
                                                        for p in ("p50", "p99")]
    assert all(g["region"] == "eu-west-1" and g["period"] == 60 for g in graphs.values())


def test_error_rates_are_percent_of_invocations_per_variant(dashboard):
    _, body, _ = dashboard
    rates = next(w["properties"]["metrics"] for w in body["widgets"]
                 if w["type"] == "metric" and w["properties"]["title"].startswith("5XX"))
    errors, invocations, expression = rates[3:6]  # the challenger's
    assert errors[1:6] == ["Invocation5XXErrors", "EndpointName", "churn-prod", "VariantName", "challenger"]
    assert invocations[1] == "Invocations" and invocations[5] == "challenger"
    assert (errors[6]["id"], invocations[6]["id"], errors[6]["visible"]) == ("e1", "n1", False)
    assert expression == [{"expression": "100 * e1 / n1", "id": "r1", "label": "challenger (production) 5XX %"}]


def test_the_alarm_widget_shows_every_rollback_alarm_even_one_added_later(dashboard):
    _, body, late_id = dashboard
    (widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarms = widget["properties"]["alarms"]
    assert len(alarms) == 7  # 3 per production variant, and the late one
    assert ":cloudwatch:eu-west-1:333333333333:alarm:churn-prod-champion-" in alarms[0]
    assert alarms[-1] == f"<{late_id}.Arn>"


def test_a_shadow_variant_is_on_the_dashboard():
    stack = Stack(App(), "Shadowed", env=ENV)
    endpoint = ModelEndpoint(stack, "Endpoint", endpoint_name="churn-shadow", variants=[instance("main", V1)],
                             shadow_variant=ShadowVariant(instance("candidate", V2), sampling_percentage=25))
    EndpointDashboard(stack, "Dashboard", endpoint=endpoint, dashboard_name="churn_shadow-ops")
    body = _body(Template.from_stack(stack))
    traffic = next(w for w in body["widgets"] if w["type"] == "metric")["properties"]["metrics"]
    assert [(m[5], m[6]["label"]) for m in traffic] == [("main", "main (production)"),
                                                        ("candidate", "candidate (shadow)")]


def test_a_bad_dashboard_name_is_one_line():
    stack = Stack(App(), "Bad", env=ENV)
    endpoint = ModelEndpoint(stack, "Endpoint", endpoint_name="churn-bad", variants=[instance()])
    with pytest.raises(ConfigError, match=r"^dashboard_name: must be 1-255 letters, digits, '-' and '_', "
                                          r"got 'churn prod'$"):
        EndpointDashboard(stack, "Dashboard", endpoint=endpoint, dashboard_name="churn prod")


def test_a_dashboard_of_an_endpoint_named_at_deploy_time_is_named_by_cloudformation():
    """Dashboards are global to an account, so the default name carries the region; when the endpoint's name
    (or the region) is known only at deploy time, CloudFormation names the dashboard."""
    from aws_cdk import CfnParameter

    stack = Stack(App(), "Late", env=ENV)
    endpoint = ModelEndpoint(stack, "E", endpoint_name=CfnParameter(stack, "Name").value_as_string,
                             variants=[instance()])
    dashboard = EndpointDashboard(stack, "Dashboard", endpoint=endpoint)
    (resource,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    assert "DashboardName" not in resource["Properties"]
    assert stack.resolve(dashboard.dashboard_name) == {"Ref": stack.get_logical_id(dashboard.node.default_child)}


def test_an_async_endpoint_shows_requests_processed_failures_and_its_queue():
    from constructs_lib.variants import AsyncInference

    stack = Stack(App(), "Queued", env=ENV)
    endpoint = ModelEndpoint(stack, "Endpoint", endpoint_name="scorer", variants=[instance("main", V1)],
                             async_inference=AsyncInference())
    EndpointDashboard(stack, "Dashboard", endpoint=endpoint)
    body = _body(Template.from_stack(stack))
    graphs = {w["properties"]["title"]: w for w in body["widgets"] if w["type"] == "metric"}
    assert list(graphs) == ["Requests processed per minute", "Model latency (microseconds)",
                            "5XX error rate (% of invocations)", "Failure rate (% of requests processed)",
                            "Queue: requests waiting, and the oldest one's age (s)"]
    names = {m[1] for w in graphs.values() for m in w["properties"]["metrics"] if len(m) > 1}
    assert "Invocations" not in names and "InvocationModelErrors" not in names  # async publishes neither
    assert {"InvocationsProcessed", "InvocationFailures", "ApproximateBacklogSize"} <= names
    queue = graphs["Queue: requests waiting, and the oldest one's age (s)"]["properties"]["metrics"]
    assert all(m[2:4] == ["EndpointName", "scorer"] and len(m) == 5 for m in queue)  # the endpoint's, no variant
    (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    bottom = max(w["y"] + w["height"] for w in graphs.values())
    assert alarms["y"] == bottom  # below the fifth graph, not over it
