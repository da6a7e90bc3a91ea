"""``mlops status ENDPOINT``: what an endpoint runs, what was last requested, and whether SageMaker rolled back.

The facts gathered here (requested config from the owning CloudFormation stack, rollback alarms, the
deployment outcome) are shared with ``mlops verify``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.exceptions

from . import output
from .aws import error_code, translate
from .base import Output
from .release_check import TRANSITIONAL

#: The tag CloudFormation puts on every resource it creates.
STACK_TAG = "aws:cloudformation:stack-name"
#: Endpoint stacks emit these outputs (optionally with a common prefix when a stack holds several endpoints).
ENDPOINT_OUTPUT = "EndpointName"
CONFIG_OUTPUT = "EndpointConfigName"
#: The endpoint's CloudWatch dashboard (``EndpointDashboard``), when the stack has one.
DASHBOARD_OUTPUT = "DashboardName"
#: Mode streaming's stack outputs (``EndpointStack``): the Kinesis streams in front of and behind the endpoint.
STREAM_INPUT_OUTPUT, STREAM_OUTPUT_OUTPUT = "StreamInputName", "StreamOutputName"
#: A component host's stack (``HostStack``) says so: ``mlops status`` then lists the endpoint's components.
COMPONENTS_OUTPUT = "HostsInferenceComponents"
#: A multi-model host's stack (``MultiModelHostStack``): where its models are, and how each model's target
#: parameter is named (``{model}`` in it), so that ``mlops status`` lists the models and the version each serves.
MODELS_BUCKET_OUTPUT, TARGET_PARAMETERS_OUTPUT = "ModelsBucket", "TargetParameterNames"
#: Statuses in which the endpoint is still moving; anything else is final.


def requested_config(ctx, endpoint: dict[str, Any], stack: str | None = None) -> tuple[str | None, str | None, str]:
    """The endpoint config last requested for ``endpoint`` by its CloudFormation stack.

    Returns ``(stack name, config name, note)``; the names are None (and the note says why) when the stack
    cannot be found. The stack is ``stack`` or the one named by the endpoint's ``aws:cloudformation:stack-name``
    tag; its outputs ``EndpointName``/``EndpointConfigName`` (or ``<Prefix>EndpointName``/
    ``<Prefix>EndpointConfigName`` when the stack has several endpoints) name the config just deployed.
    """
    stack_name, outputs, note = endpoint_outputs(ctx, endpoint, stack)
    return (stack_name, *_requested(stack_name, outputs, note, endpoint["EndpointName"]))


def _requested(stack_name: str | None, outputs: dict[str, str] | None, note: str,
               endpoint_name: str) -> tuple[str | None, str]:
    """``(config name, note)`` from ``endpoint_outputs``' answer."""
    if outputs is None:
        return None, note
    if CONFIG_OUTPUT in outputs:
        return outputs[CONFIG_OUTPUT], ""
    return None, f"stack {stack_name} has no {CONFIG_OUTPUT} output for endpoint {endpoint_name}"


def endpoint_outputs(ctx, endpoint: dict[str, Any], stack: str | None = None
                     ) -> tuple[str | None, dict[str, str] | None, str]:
    """``(stack name, outputs, note)``: the outputs of the stack that deploys ``endpoint`` that are about it,
    without their prefix (``EndpointConfigName``, ``DashboardName``...); None and a note when there is no stack.
    A stack with several endpoints prefixes each one's outputs (``<Prefix>EndpointName``)."""
    if stack is None:
        stack = _stack_tag(ctx.client("sagemaker"), endpoint["EndpointArn"])
        if stack is None:
            return None, None, f"endpoint has no {STACK_TAG} tag: pass --stack NAME to compare with the last release"
    try:
        stacks = ctx.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in str(error):
            return stack, None, f"stack {stack} does not exist"
        raise
    outputs = {o["OutputKey"]: o.get("OutputValue") for o in stacks[0].get("Outputs", [])}
    for key, value in outputs.items():
        if key.endswith(ENDPOINT_OUTPUT) and value == endpoint["EndpointName"]:
            prefix = key[: -len(ENDPOINT_OUTPUT)]
            if prefix + CONFIG_OUTPUT in outputs:  # the prefix that names this endpoint's config
                return stack, {k[len(prefix):]: v for k, v in outputs.items() if k.startswith(prefix)}, ""
    return stack, outputs, ""


def _stack_tag(sagemaker_client: Any, endpoint_arn: str) -> str | None:
    for page in sagemaker_client.get_paginator("list_tags").paginate(ResourceArn=endpoint_arn):
        for tag in page.get("Tags", []):
            if tag["Key"] == STACK_TAG:
                return tag["Value"]
    return None


def rollback_alarms(ctx, endpoint: dict[str, Any], scan_all: bool = True) -> list[dict[str, Any]]:
    """The endpoint's rollback alarms with their states: name, state, reason, updated.

    Found three ways, cheapest and narrowest first: the alarms named in the endpoint's last DeploymentConfig
    (AutoRollbackConfiguration); alarms whose name starts with the endpoint's name (the library's naming, which
    the pipeline's check role may read); and, with ``scan_all``, every metric alarm of the account that has the
    dimension ``EndpointName=<endpoint>`` (directly or inside a metric-math query).
    """
    cloudwatch = ctx.client("cloudwatch")
    paginator = cloudwatch.get_paginator("describe_alarms")
    name = endpoint["EndpointName"]
    named = [a["AlarmName"] for a in
             (endpoint.get("LastDeploymentConfig") or {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])]
    found: dict[str, dict[str, Any]] = {}
    # DescribeAlarms accepts at most 100 names per call.
    for start in range(0, len(named), 100):
        for page in paginator.paginate(AlarmNames=named[start:start + 100]):
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                found[alarm["AlarmName"]] = alarm
    queries = [{"AlarmNamePrefix": name, "AlarmTypes": ["MetricAlarm"]}]
    if scan_all:
        queries.append({"AlarmTypes": ["MetricAlarm"]})
    for query in queries:
        for page in paginator.paginate(**query):
            for alarm in page.get("MetricAlarms", []):
                if _watches(alarm, name):
                    found.setdefault(alarm["AlarmName"], alarm)
    return [
        {"name": alarm_name, "state": alarm.get("StateValue"), "reason": alarm.get("StateReason"),
         "updated": alarm.get("StateUpdatedTimestamp")}
        for alarm_name, alarm in sorted(found.items())
    ]


def _watches(alarm: dict[str, Any], endpoint_name: str) -> bool:
    """The alarm watches the endpoint and is not a scaling alarm (target tracking's, or an async endpoint's
    scale-from-zero: their actions are Application Auto Scaling policies, and their ALARM is routine)."""
    if any(":autoscaling:" in action for action in alarm.get("AlarmActions", [])):
        return False
    dimension_lists = [alarm.get("Dimensions", [])] + [
        query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []) for query in alarm.get("Metrics", [])
    ]
    return any(d.get("Name") == "EndpointName" and d.get("Value") == endpoint_name
               for dimensions in dimension_lists for d in dimensions)


def deployment_outcome(endpoint: dict[str, Any], requested: str | None) -> tuple[str, str]:
    """``(outcome, explanation)`` of the last deployment: in_progress, failed, rolled_back, succeeded or unknown.

    A silent rollback is an endpoint that is InService on another config than the one last requested.
    """
    status = endpoint.get("EndpointStatus")
    current = endpoint.get("EndpointConfigName")
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if status in TRANSITIONAL:
        target = f" to {pending}" if pending else ""
        return "in_progress", f"{status}{target}"
    if status in {"Failed", "UpdateRollbackFailed", "OutOfService"}:
        return "failed", f"{status}: {endpoint.get('FailureReason') or 'no failure reason given'}"
    if requested is None:
        return "unknown", f"{status} on {current}; the last requested config is unknown"
    if requested != current:
        reason = endpoint.get("FailureReason")
        return "rolled_back", (f"SageMaker rolled the release back: {requested} was requested, the endpoint "
                               f"still runs {current}" + (f" ({reason})" if reason else ""))
    return "succeeded", f"{status} on the requested config {current}"


def variant_rows(endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """Production and shadow variants: weight, share of traffic (or shadow sampling), instance counts."""
    production = endpoint.get("ProductionVariants", [])
    total = sum(v.get("CurrentWeight") or 0 for v in production)
    rows = []
    for variant in production:
        weight = variant.get("CurrentWeight")
        rows.append({"variant": variant["VariantName"], "role": "production", "weight": weight,
                     "desired_weight": variant.get("DesiredWeight"),
                     "traffic_percent": round(100 * weight / total, 1) if total and weight is not None else None,
                     "instances": variant.get("CurrentInstanceCount"),
                     "desired_instances": variant.get("DesiredInstanceCount")})
    for variant in endpoint.get("ShadowProductionVariants", []):
        weight = variant.get("CurrentWeight")
        # A shadow variant receives a copy of this share of the production requests (its weight relative to
        # the production weights), capped at every request.
        sampling = min(100.0, round(100 * weight / total, 1)) if total and weight is not None else None
        rows.append({"variant": variant["VariantName"], "role": "shadow", "weight": weight,
                     "desired_weight": variant.get("DesiredWeight"), "traffic_percent": sampling,
                     "instances": variant.get("CurrentInstanceCount"),
                     "desired_instances": variant.get("DesiredInstanceCount")})
    return rows


def async_queue(ctx, endpoint: dict[str, Any]) -> dict[str, Any] | None:
    """An asynchronous endpoint's output locations and queue over the last 10 minutes (the newest minute's
    ``ApproximateBacklogSize``, ``ApproximateAgeOfOldestRequest`` and ``HasBacklogWithoutCapacity``: requests
    waiting with no instance running); None for a real-time endpoint. A metric with no data in the window is
    None (an idle endpoint publishes none)."""
    config = endpoint.get("AsyncInferenceConfig")
    if config is None:
        return None
    output = config.get("OutputConfig", {})
    queue: dict[str, Any] = {"output": output.get("S3OutputPath"), "failures": output.get("S3FailurePath")}
    cloudwatch = ctx.client("cloudwatch")
    end = datetime.now(timezone.utc)
    for key, metric in (("waiting", "ApproximateBacklogSize"), ("oldest_seconds", "ApproximateAgeOfOldestRequest"),
                        ("waiting_without_instance", "HasBacklogWithoutCapacity")):
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName=metric, StartTime=end - timedelta(minutes=10), EndTime=end,
            Period=60, Statistics=["Maximum"],
            Dimensions=[{"Name": "EndpointName", "Value": endpoint["EndpointName"]}])["Datapoints"]
        newest = max(points, key=lambda p: p["Timestamp"], default=None)
        queue[key] = None if newest is None else newest["Maximum"]
    if queue["waiting_without_instance"] is not None:
        queue["waiting_without_instance"] = queue["waiting_without_instance"] >= 1
    return queue


def pipeline_status(ctx, pipeline_name: str, executions: int = 5) -> dict[str, Any]:
    """A batch-inference pipeline (mode batch: no endpoint): its model, input, and last ``executions`` runs
    (newest first; the newest failed run's reason)."""
    sagemaker = ctx.client("sagemaker")
    described = sagemaker.describe_pipeline(PipelineName=pipeline_name)
    definition = json.loads(described.get("PipelineDefinition") or "{}")
    transform = next((s["Arguments"] for s in definition.get("Steps", []) if s.get("Type") == "Transform"), {})
    input_data = next((p.get("DefaultValue") for p in definition.get("Parameters", []) if p.get("Name") == "InputData"),
                      None)
    runs = sagemaker.list_pipeline_executions(PipelineName=pipeline_name, SortBy="CreationTime", SortOrder="Descending",
                                              MaxResults=executions).get("PipelineExecutionSummaries", [])
    rows = [{"execution": r.get("PipelineExecutionDisplayName") or r["PipelineExecutionArn"].rsplit("/", 1)[1],
             "status": r.get("PipelineExecutionStatus"), "started": r.get("StartTime"),
             "arn": r["PipelineExecutionArn"]} for r in runs]
    failed = next((r for r in rows if r["status"] == "Failed"), None)
    reason = None
    if failed is not None:
        reason = sagemaker.describe_pipeline_execution(PipelineExecutionArn=failed["arn"]).get("FailureReason")
    return {"pipeline": pipeline_name, "mode": "batch", "status": described.get("PipelineStatus"),
            "model": transform.get("ModelName"), "instances": "{} x {}".format(
                transform.get("TransformResources", {}).get("InstanceCount"),
                transform.get("TransformResources", {}).get("InstanceType")),
            "input": input_data, "runs": rows, "last_failure": reason}


def component_row(sagemaker: Any, name: str) -> dict[str, Any]:
    """One inference component: its endpoint, model, status, copies and last rollout policy."""
    described = sagemaker.describe_inference_component(InferenceComponentName=name)
    runtime = described.get("RuntimeConfig") or {}
    return {"component": name, "endpoint": described.get("EndpointName"),
            "status": described.get("InferenceComponentStatus"),
            "model": (described.get("Specification") or {}).get("ModelName"),
            "copies": runtime.get("CurrentCopyCount"), "desired_copies": runtime.get("DesiredCopyCount"),
            "deployment_policy": _policy_name(described.get("LastDeploymentConfig") or {}),
            "failure_reason": described.get("FailureReason")}


def component_rows(ctx, endpoint_name: str, limit: int = 50) -> list[dict[str, Any]]:
    """The inference components of ``endpoint_name`` (at most ``limit``, by name), each ``component_row``."""
    sagemaker = ctx.client("sagemaker")
    names: list[str] = []
    for page in sagemaker.get_paginator("list_inference_components").paginate(
            EndpointNameEquals=endpoint_name, PaginationConfig={"MaxItems": limit}):
        names += [c["InferenceComponentName"] for c in page.get("InferenceComponents", [])]
    return [component_row(sagemaker, name) for name in sorted(names)]


def hosted_models(ctx, bucket: str, parameter_names: str | None, limit: int = 1000) -> list[dict[str, Any]]:
    """A multi-model host's models: the versions under ``models/<model>/`` (at most ``limit`` keys) and, when
    ``parameter_names`` is given (``/project/{model}/stage/target-model``), the version each model's
    parameter names: what callers are sent to."""
    versions: dict[str, list[str]] = {}
    for page in ctx.client("s3").get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="models/", PaginationConfig={"MaxItems": limit}):
        for item in page.get("Contents", []):
            model, _, version = item["Key"][len("models/"):].partition("/")
            if version:
                versions.setdefault(model, []).append(version)
    rows = []
    for model in sorted(versions):
        current = None
        if parameter_names:
            try:
                current = ctx.client("ssm").get_parameter(
                    Name=parameter_names.replace("{model}", model))["Parameter"]["Value"]
            except botocore.exceptions.ClientError as error:
                if error_code(error) != "ParameterNotFound":
                    raise
        rows.append({"model": model, "versions": sorted(versions[model]), "target_model": current})
    return rows


def endpoint_status(ctx, endpoint_name: str, stack: str | None = None) -> dict[str, Any]:
    """Everything ``mlops status`` reports, as data."""
    endpoint = ctx.client("sagemaker").describe_endpoint(EndpointName=endpoint_name)
    stack_name, outputs, note = endpoint_outputs(ctx, endpoint, stack)
    requested, note = _requested(stack_name, outputs, note, endpoint_name)
    dashboard = (outputs or {}).get(DASHBOARD_OUTPUT)
    outcome, explanation = deployment_outcome(endpoint, requested)
    deployment = endpoint.get("LastDeploymentConfig") or {}
    try:
        alarms, alarms_note = rollback_alarms(ctx, endpoint), ""
    except botocore.exceptions.ClientError as error:
        # The status is still worth showing when only the alarms cannot be read.
        alarms, alarms_note = [], f"alarm states unavailable: {translate(error)}"
    try:
        queue, queue_note = async_queue(ctx, endpoint), ""
    except botocore.exceptions.ClientError as error:
        queue, queue_note = {}, f"queue metrics unavailable: {translate(error)}"
    components, components_note = None, ""
    if (outputs or {}).get(COMPONENTS_OUTPUT):
        try:
            components = component_rows(ctx, endpoint_name)
        except botocore.exceptions.ClientError as error:
            components, components_note = [], f"inference components unavailable: {translate(error)}"
    drift, drift_note = None, ""
    if (outputs or {}).get(DRIFT_REPORTS_OUTPUT):
        try:
            drift = _drift(ctx, endpoint_name, outputs[DRIFT_REPORTS_OUTPUT])
        except botocore.exceptions.ClientError as error:
            drift_note = f"drift reports unavailable: {translate(error)}"
    models, models_note = None, ""
    if (outputs or {}).get(MODELS_BUCKET_OUTPUT):
        try:
            models = hosted_models(ctx, outputs[MODELS_BUCKET_OUTPUT], outputs.get(TARGET_PARAMETERS_OUTPUT))
        except botocore.exceptions.ClientError as error:
            models, models_note = [], f"hosted models unavailable: {translate(error)}"
    return {
        "endpoint": endpoint_name,
        "status": endpoint.get("EndpointStatus"),
        "failure_reason": endpoint.get("FailureReason"),
        "current_config": endpoint.get("EndpointConfigName"),
        "pending_config": (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName"),
        "requested_config": requested,
        "stack": stack_name,
        "stack_note": note,
        "last_modified": endpoint.get("LastModifiedTime"),
        "deployment_policy": _policy_name(deployment),
        "outcome": outcome,
        "outcome_detail": explanation,
        "variants": variant_rows(endpoint),
        "alarms": alarms,
        "alarms_note": alarms_note,
        "dashboard": dashboard,
        "mode": "async" if endpoint.get("AsyncInferenceConfig") else (
            "streaming" if (outputs or {}).get(STREAM_INPUT_OUTPUT) else "realtime"),
        "streams": {key: (outputs or {}).get(key) for key in (STREAM_INPUT_OUTPUT, STREAM_OUTPUT_OUTPUT)
                    if (outputs or {}).get(key)},
        "queue": queue,
        "queue_note": queue_note,
        "components": components,
        "components_note": components_note,
        "models": models,
        "models_note": models_note,
        "drift": drift,
        "drift_note": drift_note,
    }


#: The endpoint stack's output naming where the drift check writes its reports (``DriftMonitor``).
DRIFT_REPORTS_OUTPUT = "DriftReports"


def _drift(ctx, endpoint_name: str, reports_uri: str) -> dict[str, Any]:
    """The last drift check's verdict (``mlops monitor`` has the rest), looked for over the last week."""
    from datetime import datetime, timezone

    from .drift import split_s3_uri
    from .monitor import headline, newest_report, quality_headline

    bucket, _ = split_s3_uri(reports_uri)
    found = newest_report(ctx.client("s3"), bucket, endpoint_name, 7, datetime.now(timezone.utc))
    if found is None:
        return {"verdict": None, "headline": "no report in the last 7 days (has the schedule run?)", "report": None}
    uri, report = found
    quality = report.get("quality")
    return {"verdict": report.get("verdict"), "headline": headline(report), "report": uri,
            "window_end": (report.get("window") or {}).get("end"),
            "quality": quality_headline(quality) if quality else None}


def _policy_name(deployment: dict[str, Any]) -> str | None:
    if "RollingUpdatePolicy" in deployment:
        return "rolling"
    routing = (deployment.get("BlueGreenUpdatePolicy") or {}).get("TrafficRoutingConfiguration", {}).get("Type")
    return f"blue/green {routing.lower().replace('_', '-')}" if routing else None


def run(args, ctx) -> Output:
    """Handler of ``mlops status``: an endpoint, or (mode batch) a batch-inference pipeline of that name."""
    try:
        data = endpoint_status(ctx, args.endpoint, args.stack)
    except botocore.exceptions.ClientError as error:
        if not (error_code(error) == "ValidationException" and "Could not find endpoint" in str(error)):
            raise
        try:
            return _component_output(component_row(ctx.client("sagemaker"), args.endpoint))
        except botocore.exceptions.ClientError:
            # Not a component (SageMaker: "Could not find inference component"), or one this caller may not
            # read: the name may still be a batch pipeline's, and a caller with batch rights only must see it.
            pass
        try:
            return _batch_output(pipeline_status(ctx, args.endpoint))
        except botocore.exceptions.ClientError as pipeline_error:
            # SageMaker answers ResourceNotFound (moto a ValidationException) for a pipeline that does not exist.
            if not (error_code(pipeline_error) == "ResourceNotFound" or "Could not find pipeline" in str(pipeline_error)):
                raise
        raise error from None  # neither an endpoint nor a pipeline: the endpoint's not-found
    return _endpoint_output(data)


def _component_output(data: dict[str, Any]) -> Output:
    text = output.fields([
        ("component", f"{data['component']} (inference component of endpoint {data['endpoint']}: "
                      f"`mlops status {data['endpoint']}` for the host)"),
        ("status", data["status"]), ("model", data["model"]),
        ("copies", f"{data['copies']} (desired {data['desired_copies']})"),
        ("deployment policy", data["deployment_policy"])])
    warnings = [f"failure: {data['failure_reason']}"] if data["failure_reason"] else []
    return Output(data=data, text=text, warnings=warnings)


def _batch_output(data: dict[str, Any]) -> Output:
    head = output.fields([("pipeline", f"{data['pipeline']} (batch inference: no endpoint)"),
                          ("status", data["status"]), ("model", data["model"]), ("instances", data["instances"]),
                          ("input", data["input"])])
    runs = (output.table(["run", "status", "started"], [[r["execution"], r["status"], r["started"]]
                                                         for r in data["runs"]])
            if data["runs"] else "no runs yet")
    warnings = [f"the newest failed run's reason: {data['last_failure']}"] if data["last_failure"] else []
    return Output(data=data, text=f"{head}\n\n{runs}", warnings=warnings)


def _endpoint_output(data: dict[str, Any]) -> Output:
    dashboard = [("dashboard", f"{data['dashboard']} (CloudWatch dashboards)")] if data["dashboard"] else []
    dashboard += [("stream in", data["streams"][STREAM_INPUT_OUTPUT]),
                  ("stream out", data["streams"][STREAM_OUTPUT_OUTPUT])] if data["streams"] else []
    queue = data["queue"]
    if queue is not None:
        def shown(value, unit=""):
            return "no data (idle)" if value is None else f"{value:g}{unit}"
        waiting = shown(queue.get("waiting"))
        if queue.get("waiting_without_instance"):
            waiting += " (waiting with no instance running: one is being started)"
        dashboard += [("results", f"{queue.get('output')} (errors: {queue.get('failures')})"),
                      ("queued requests", waiting),
                      ("oldest request", shown(queue.get("oldest_seconds"), " s"))] if queue else []
    head = output.fields([
        ("endpoint", data["endpoint"] + (" (asynchronous)" if data["mode"] == "async" else "")),
        ("status", data["status"]),
        ("current config", data["current_config"]),
        ("requested config", f"{data['requested_config'] or '-'}" + (f" (stack {data['stack']})" if data["stack"]
                                                                       else "")),
        ("pending config", data["pending_config"]),
        ("deployment policy", data["deployment_policy"]),
        ("last deployment", f"{data['outcome'].upper().replace('_', ' ')}: {data['outcome_detail']}"),
        *dashboard,
        *([("drift", f"{data['drift']['headline']}" + (f" (window to {data['drift']['window_end']}; mlops "
                                                         f"monitor {data['endpoint']})" if data["drift"]["report"]
                                                        else ""))] if data.get("drift") else []),
        *([("quality", data["drift"]["quality"])] if (data.get("drift") or {}).get("quality") else []),
        *([("drift", data["drift_note"])] if data.get("drift_note") else []),
    ])
    variants = output.table(
        ["variant", "role", "weight", "traffic %", "instances", "desired"],
        [[v["variant"], v["role"], v["weight"], v["traffic_percent"], v["instances"], v["desired_instances"]]
         for v in data["variants"]])
    alarms = (output.table(["alarm", "state", "since"],
                           [[a["name"], a["state"], a["updated"]] for a in data["alarms"]])
              if data["alarms"] else "no rollback alarms found for this endpoint")
    warnings = [note for note in (data["stack_note"], data["alarms_note"], data["queue_note"]) if note]
    if data["outcome"] == "rolled_back":
        firing = [a["name"] for a in data["alarms"] if a["state"] == "ALARM"]
        warnings.append("silent rollback: " + data["outcome_detail"]
                        + (f"; alarms in ALARM: {', '.join(firing)}" if firing else ""))
    if any(v["role"] == "shadow" for v in data["variants"]):
        variants += "\n(traffic % of a shadow variant: the share of production requests copied to it)"
    text = f"{head}\n\n{variants}\n\n{alarms}"
    if data["components"] is not None:
        text += "\n\n" + (output.table(
            ["component", "status", "model", "copies", "desired", "policy"],
            [[c["component"], c["status"], c["model"], c["copies"], c["desired_copies"], c["deployment_policy"]]
             for c in data["components"]]) if data["components"] else "no inference components on this endpoint yet")
        warnings += [f"component {c['component']}: {c['failure_reason']}" for c in data["components"]
                     if c["failure_reason"]]
    if data["components_note"]:
        warnings.append(data["components_note"])
    if data["models"] is not None:
        text += "\n\n" + (output.table(
            ["model", "callers sent to", "versions on the endpoint"],
            [[m["model"], m["target_model"] or "-", ", ".join(m["versions"])] for m in data["models"]])
            if data["models"] else "no models on this multi-model endpoint yet")
    if data["models_note"]:
        warnings.append(data["models_note"])
    return Output(data=data, text=text, warnings=warnings)


def register(subparsers) -> None:
    """Add ``status`` to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "status", help="endpoint status, variants, last deployment outcome (rollbacks), alarms",
        description="Show an endpoint's status, current and requested endpoint configs, variants with weights "
                    "and instance counts, shadow sampling, rollback alarm states, and the last deployment's "
                    "outcome. A release is ROLLED BACK when the endpoint runs another config than the one its "
                    "CloudFormation stack last deployed (output EndpointConfigName). An endpoint hosting inference "
                    "components lists them; a component's name (<model>-<stage>) shows that component; a batch "
                    "stage's pipeline name (<model>-<stage>) shows the pipeline.",
        epilog="example:\n  mlops status churn-predictor-prod\n  mlops status churn-predictor-prod --stack mlops-churn-predictor-prod-endpoint --json\n  mlops status shared-prod\n  mlops status churn-lite-prod")
    parser.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name (mode batch: the batch pipeline's, <model>-<stage>)")
    parser.add_argument("--stack", metavar="NAME",
                        help="the CloudFormation stack that deploys the endpoint (default: from its "
                             f"{STACK_TAG} tag)")
    parser.set_defaults(handler=run)
