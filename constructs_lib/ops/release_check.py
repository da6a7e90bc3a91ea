"""The in-stack release checks: a CloudFormation custom resource handler (AWS Lambda, Python, boto3 only).

``ModelEndpoint`` adds two custom resources served by this file, one on each side of the endpoint:

* **before** it (``Check: before``, the endpoint depends on it): the *preflight*. SageMaker's guardrails refuse
  an update whose endpoint config renames, adds or removes a production variant ("your new endpoint
  configuration must have the same variant name as the old endpoint configuration"), and SageMaker cannot remove
  or retype a variant Application Auto Scaling still manages. The preflight compares the running endpoint with
  what the stack is about to deploy and fails the update first, with the way through, instead of halfway.
  ``mlops preflight`` runs the same check from a laptop.
* **after** it (``Check: after``): SageMaker rolls a guarded deployment back on its own when a rollback alarm
  fires, and CloudFormation may still report the endpoint's update as complete. Its cleanup would then delete
  the *old* endpoint config and models, the very ones the endpoint serves from again. The release check waits
  for the endpoint to settle and answers FAILED unless it is InService on exactly the config the stack just
  deployed. The stack then rolls back before any cleanup, keeps what the endpoint runs on, and ``cdk deploy``
  and the pipeline's deploy action fail on their own, naming the alarm(s) in ALARM and the running config.

``InferenceComponent`` adds a third kind after each component (``Check: component``, with
``InferenceComponentName``, ``ModelName`` and ``AlarmNames``): SageMaker's rolling update of a component
rolls back to the previous model on its own, and the check fails the update unless the component is
InService on the model the stack just deployed.

``MultiModelRelease`` adds the release of one model to a multi-model endpoint (``Check: artifact``, with
``ModelPackageArn``, ``Bucket`` and ``Key``): the version's artifact is copied from the registry under a key
of its own (SageMaker keeps serving a cached model whose artifact was overwritten, so nothing is ever
overwritten: an existing key from another source fails the release); deleting it keeps the artifact, so an
earlier version stays available to go back to.

``EdgeModelComponent`` makes a Greengrass component version (``Check: edge``, with ``ComponentArn`` and
``Recipe``; with ``ModelPackageArn``, ``Bucket`` and ``Key``, a model version's Neo-compiled artifact, its
customer metadata ``edge-artifact``, is first copied the same way): the component version is made from the
recipe, or taken as it is when it exists with the same artifact (releasing an earlier version again: versions
are immutable, and each is kept on delete, since going back is deploying it again).

It is deployed as the function's inline source, so it imports only the standard library and boto3 (no
package of this project). The CloudFormation protocol: the event's ``ResourceProperties`` carry ``Check``,
``EndpointName``, ``EndpointConfigName`` and, after, ``AlarmNames``; before, ``Variants`` ({name: instance type
or "serverless"}), ``Guarded`` and ``Asynchronous`` ("true"/"false"); the answer is PUT to ``ResponseURL``.

* ``Delete`` always succeeds (nothing to undo).
* While the stack is *rolling back* (its status ends in ``ROLLBACK_IN_PROGRESS``) both checks succeed without
  looking: CloudFormation is restoring the previous config, and failing there would leave the stack in
  ``UPDATE_ROLLBACK_FAILED``.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from typing import Any, Callable

#: Endpoint statuses that are still moving (``mlops status`` and ``verify`` use the same set).
TRANSITIONAL = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
#: Seconds kept free before the function's own timeout to name the firing alarms and answer CloudFormation
#: (an answer that never comes keeps the stack waiting for the custom resource's whole service timeout).
ANSWER_MARGIN_SECONDS = 90
#: CloudFormation shows at most this much of a custom resource's reason.
MAX_REASON = 1000
POLL_SECONDS = 15


SERVICES = ("sagemaker", "cloudwatch", "cloudformation", "application-autoscaling", "s3", "greengrassv2")


def _clients(region: str | None = None) -> dict[str, Any]:
    return {name: _client(name, region) for name in SERVICES}


def _client(name: str, region: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    # Bounded calls: a hung API must not keep the stack waiting for the custom resource's whole timeout.
    # At most 3 attempts x (5 s connect + 10 s read) = 45 s per call, well inside ANSWER_MARGIN_SECONDS.
    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client(name, region_name=region, config=config)


def _registry(aws: dict[str, Any], package_arn: str, injected: bool) -> Any:
    """A SageMaker client in the model package's region (the dev account's registry may be in another region
    than the stage, and SageMaker answers for its own region's ARNs only)."""
    region = package_arn.split(":")[3] if package_arn.count(":") >= 5 else ""
    if injected or not region or region == aws["sagemaker"].meta.region_name:
        return aws["sagemaker"]
    return _client("sagemaker", region)


def _settled(describe: Callable[[], dict], status_key: str, moving: frozenset, what: str, deadline: float,
             poll_seconds: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> dict:
    """``describe()`` again every ``poll_seconds`` until its status leaves ``moving``; ``ReleaseCheckFailed``
    when ``deadline`` (on ``clock``) comes first."""
    while True:
        described = describe()
        status = described[status_key]
        if status not in moving:
            return described
        if clock() + poll_seconds > deadline:
            raise ReleaseCheckFailed(f"{what} is still {status}; the release check timed out waiting for it (see "
                                     "`mlops status`)")
        sleep(poll_seconds)


def check_release(sagemaker: Any, cloudwatch: Any, endpoint_name: str, expected_config: str,
                  alarm_names: list[str], deadline: float, poll_seconds: float = POLL_SECONDS,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> str:
    """Wait (until ``deadline`` on ``clock``) for the endpoint to leave its transitional statuses; return a
    one-line verdict when it is InService on ``expected_config``, else raise ``ReleaseCheckFailed``."""
    endpoint = _settled(lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name), "EndpointStatus",
                        TRANSITIONAL, f"endpoint {endpoint_name}", deadline, poll_seconds, clock, sleep)
    status = endpoint["EndpointStatus"]
    current = endpoint.get("EndpointConfigName")
    if status == "InService" and current == expected_config:
        return f"endpoint {endpoint_name} is InService on {expected_config}, the config this stack deployed"
    # Naming the alarms is worth a call only while the answer to CloudFormation is not at risk.
    firing = (_firing(cloudwatch, alarm_names) if clock() < deadline
              else "no time left to read the rollback alarms (see `mlops status`)")
    reason = endpoint.get("FailureReason")
    if status != "InService":
        raise ReleaseCheckFailed(f"endpoint {endpoint_name} is {status} on {current}, not InService on "
                                 f"{expected_config}" + (f"; reason: {reason}" if reason else "") + f"; {firing}")
    raise ReleaseCheckFailed(
        f"SageMaker rolled the release back: endpoint {endpoint_name} runs {current}, not {expected_config} "
        f"which this stack deployed; {firing}" + (f"; reason: {reason}" if reason else "")
        + ". The stack rolls back and keeps the config and models the endpoint serves from")


#: Inference component statuses that are still moving.
COMPONENT_TRANSITIONAL = frozenset({"Creating", "Updating", "Deleting"})


def check_component(sagemaker: Any, cloudwatch: Any, component_name: str, expected_model: str,
                    alarm_names: list[str], deadline: float, poll_seconds: float = POLL_SECONDS,
                    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                    expected_compute: dict | None = None) -> str:
    """An inference component's release check: wait (until ``deadline``) for the component to settle; return a
    verdict when it is InService on ``expected_model`` (the model this stack deployed) and, when given, with
    ``expected_compute`` (its ``ComputeResourceRequirements``: CloudFormation passes the numbers as text), else
    raise ``ReleaseCheckFailed``. SageMaker's rolling update of a component rolls back to the previous model and
    compute when a rollback alarm fires; the stack must then roll back too, keeping that model."""
    component = _settled(lambda: sagemaker.describe_inference_component(InferenceComponentName=component_name),
                         "InferenceComponentStatus", COMPONENT_TRANSITIONAL, f"inference component {component_name}",
                         deadline, poll_seconds, clock, sleep)
    status = component["InferenceComponentStatus"]
    specification = component.get("Specification") or {}
    current = specification.get("ModelName")
    if expected_compute:
        running = specification.get("ComputeResourceRequirements") or {}
        differs = sorted(key for key, value in expected_compute.items()
                         if key not in running or float(running[key]) != float(value))
        if differs and current == expected_model:
            current = f"{current} with other compute ({', '.join(differs)})"
    if status == "InService" and current == expected_model:
        return (f"inference component {component_name} is InService on model {expected_model}, the model this "
                "stack deployed")
    firing = (_firing(cloudwatch, alarm_names) if clock() < deadline
              else "no time left to read the rollback alarms (see `mlops status`)")
    reason = component.get("FailureReason")
    if status != "InService":
        raise ReleaseCheckFailed(f"inference component {component_name} is {status} on model {current}, not "
                                 f"InService on {expected_model}" + (f"; reason: {reason}" if reason else "")
                                 + f"; {firing}")
    raise ReleaseCheckFailed(
        f"SageMaker rolled the release back: inference component {component_name} runs model {current}, not "
        f"{expected_model} which this stack deployed; {firing}. The stack rolls back and keeps the model the "
        "component serves from", rolled_back=True)


def _firing(cloudwatch: Any, alarm_names: list[str]) -> str:
    """The rollback alarms now in ALARM, as words (never raises: the verdict matters more than its cause)."""
    if not alarm_names:
        return "no rollback alarms are configured"
    try:
        firing: list[str] = []
        for start in range(0, len(alarm_names), 100):  # DescribeAlarms takes at most 100 names
            answer = cloudwatch.describe_alarms(AlarmNames=alarm_names[start:start + 100])
            firing += [a["AlarmName"] for a in answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", [])
                       if a.get("StateValue") == "ALARM"]
    except Exception as error:  # noqa: BLE001 - any failure here only loses the detail
        return f"alarm states unavailable ({type(error).__name__}: {error})"
    if firing:
        return f"alarm(s) in ALARM: {', '.join(sorted(firing))}"
    return "no rollback alarm is in ALARM now (it may have recovered, or the update failed on its own)"


class ReleaseCheckFailed(Exception):
    """The release must not go on (preflight), or did not land (release check); ``rolled_back`` when SageMaker
    returned to what ran before (not a failure of the new release's resources)."""

    def __init__(self, message: str, rolled_back: bool = False) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back


def preflight(sagemaker: Any, autoscaling: Any, endpoint_name: str, new: dict[str, str], guarded: bool,
              asynchronous: bool | None = None) -> str:
    """Compare the running endpoint with the production variants about to be deployed ({name: instance type
    or "serverless"}) and, when ``asynchronous`` is given, with the new config's kind; return a one-line verdict,
    or raise ``ReleaseCheckFailed`` naming the way through."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except Exception as error:  # noqa: BLE001 - botocore's ClientError, without importing botocore here
        if "Could not find endpoint" in str(error):
            return f"endpoint {endpoint_name} does not exist yet: first release"
        raise
    status = endpoint["EndpointStatus"]
    if status in TRANSITIONAL:
        raise ReleaseCheckFailed(f"endpoint {endpoint_name} is {status}: another update is in progress; retry "
                                 "when `mlops status` shows it InService")
    running = {v["VariantName"]: "" for v in endpoint.get("ProductionVariants", [])}
    try:  # instance types, for the autoscaling rule (the config's name is the endpoint's prefix + a hash)
        config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        running.update({v["VariantName"]: v.get("InstanceType") or "serverless"
                        for v in config["ProductionVariants"]})
    except Exception:  # noqa: BLE001 - without the types only the instance-type and async rules are skipped
        config = {}
    if asynchronous is False and config.get("AsyncInferenceConfig"):
        # SageMaker: "The AsyncInferenceConfig parameter cannot be removed from this endpoint".
        raise ReleaseCheckFailed(
            f"endpoint {endpoint_name} is asynchronous and this release makes it real-time, which SageMaker "
            "refuses for an existing endpoint (its AsyncInferenceConfig cannot be removed): release the real-time "
            "endpoint under a new endpoint_name, move the callers, then delete the old one")
    changed = set(running) != set(new)
    if guarded and changed:
        raise ReleaseCheckFailed(
            f"endpoint {endpoint_name}: this release changes the production variants ({_names(running)} -> "
            f"{_names(new)}), which a guarded update cannot do (SageMaker: the new endpoint config must keep the "
            "old variant names). To keep them, swap models instead (`mlops promote` does); to change them, release "
            "this change alone with `deployment: {type: unguarded}` (no baking, no alarm rollback), then restore "
            "the guarded policy")
    if not guarded and not changed:
        raise ReleaseCheckFailed(
            f"endpoint {endpoint_name}: deployment type unguarded is only for a release that changes the production "
            f"variants, and this one keeps them ({_names(new)}): restore the guarded policy")
    ids = {f"endpoint/{endpoint_name}/variant/{name}": name for name in running}
    targets = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=list(ids),
        ScalableDimension="sagemaker:variant:DesiredInstanceCount").get("ScalableTargets", [])
    for name in sorted(ids[t["ResourceId"]] for t in targets if t["ResourceId"] in ids):
        if name not in new:
            raise ReleaseCheckFailed(
                f"endpoint {endpoint_name}: variant {name} is autoscaled and this release removes it; SageMaker "
                f"cannot remove a variant registered with Application Auto Scaling. First release without "
                f"{name}'s autoscaling (its scalable target is deregistered), then remove the variant")
        if running[name] and new[name] != running[name]:
            raise ReleaseCheckFailed(
                f"endpoint {endpoint_name}: variant {name} is autoscaled and this release changes its instance "
                f"type ({running[name]} -> {new[name]}), which SageMaker refuses for a scaling target. First "
                f"release without {name}'s autoscaling, then change the type (and add autoscaling back)")
    return (f"endpoint {endpoint_name}: " + ("the production variants change in an unguarded release"
                                              if changed else f"same production variants ({_names(new)})"))


def _names(variants: dict[str, str]) -> str:
    return ", ".join(sorted(variants)) or "none"


def stack_rolling_back(cloudformation: Any, stack_id: str) -> bool:
    """Whether the stack is rolling back (then the previous config is being restored: nothing to check)."""
    stacks = cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
    return bool(stacks) and stacks[0]["StackStatus"].endswith("ROLLBACK_IN_PROGRESS")


#: The customer metadata key under which the build registers a version's Neo-compiled artifact (``build.edge``).
EDGE_ARTIFACT = "edge-artifact"


def artifact_source(sagemaker: Any, package_arn: str, kind: str = "container") -> str:
    """The ``s3://`` artifact of model package ``package_arn``: its one container's model data (``container``,
    what a multi-model endpoint serves) or its Neo-compiled artifact (``edge``, customer metadata
    ``edge-artifact``); ``ReleaseCheckFailed`` when it has none."""
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    if kind == "edge":
        source = str((package.get("CustomerMetadataProperties") or {}).get(EDGE_ARTIFACT, ""))
        if not (source.startswith("s3://") and source.endswith(".tar.gz")):
            raise ReleaseCheckFailed(f"{package_arn} has no compiled edge artifact (customer metadata "
                                     f"{EDGE_ARTIFACT}: an s3:// .tar.gz, what a build with build.edge registers), "
                                     f"got {source[:200] or 'none'}")
        return source
    containers = (package.get("InferenceSpecification") or {}).get("Containers", [])
    if len(containers) != 1 or not str(containers[0].get("ModelDataUrl", "")).startswith("s3://"):
        raise ReleaseCheckFailed(f"{package_arn} has {len(containers)} container(s)"
                                 + ("" if len(containers) != 1 else " and no s3:// model data")
                                 + ": a multi-model endpoint serves one container's model artifact")
    return containers[0]["ModelDataUrl"]


def release_artifact(sagemaker: Any, s3: Any, package_arn: str, bucket: str, key: str,
                     kind: str = "container") -> str:
    """Copy the artifact of model package ``package_arn`` (``artifact_source``) to ``s3://bucket/key`` unless it
    is there already from the same source; return a verdict, or raise ``ReleaseCheckFailed``."""
    source = artifact_source(sagemaker, package_arn, kind)
    source_bucket, _, source_key = source[len("s3://"):].partition("/")
    # Listing, not HeadObject: a missing key answers 403 to HeadObject for a role that may not list the whole
    # bucket, and this one may list only its own folder.
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if any(item["Key"] == key for item in listed):
        existing = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        if existing.get("source") == source:
            return f"s3://{bucket}/{key} holds {package_arn}'s artifact already"
        raise ReleaseCheckFailed(f"s3://{bucket}/{key} exists with another artifact "
                                 f"({existing.get('source', 'unknown source')}); it is never overwritten, since "
                                 "what serves it may have a copy (an endpoint's cache, a component's digest)")
    # Managed copy: one CopyObject, or a multipart copy above 8 MiB (models are often larger than CopyObject's
    # 5 GB). The source's tags are not copied (nothing reads them; copying them would need tagging rights).
    s3.copy({"Bucket": source_bucket, "Key": source_key}, bucket, key, ExtraArgs={
        "MetadataDirective": "REPLACE", "TaggingDirective": "REPLACE",
        "Metadata": {"source": source, "model-package": package_arn}})
    return f"copied {package_arn}'s artifact to s3://{bucket}/{key}"


#: Greengrass component version states that are still moving.
COMPONENT_VERSION_MOVING = frozenset({"REQUESTED", "INITIATED"})


def _key(mapping: dict, name: str) -> Any:
    """A recipe key, which Greengrass reads in any case (``URI``, ``Uri``)."""
    return next((value for key, value in (mapping or {}).items() if key.lower() == name.lower()), None)


def _installs(recipe: dict) -> dict:
    """What a recipe puts on the devices: its artifacts and the components it depends on (their versions)."""
    artifacts = sorted(str(_key(artifact, "URI") or "") for manifest in _key(recipe, "Manifests") or []
                       for artifact in _key(manifest, "Artifacts") or [])
    dependencies = {name: _key(spec, "VersionRequirement")
                    for name, spec in (_key(recipe, "ComponentDependencies") or {}).items()}
    return {"artifacts": artifacts, "dependencies": dependencies}


def _component_state(greengrass: Any, arn: str) -> str | None:
    try:
        return (greengrass.describe_component(arn=arn).get("status") or {}).get("componentState", "")
    except greengrass.exceptions.ResourceNotFoundException:
        return None


def release_component(greengrass: Any, arn: str, recipe: str, deadline: float, request_id: str = "",
                      poll_seconds: float = 5, clock: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep) -> str:
    """Make component version ``arn`` from ``recipe`` (JSON text), or take the one already there when it
    installs the same artifacts and dependencies (a release of an earlier version again: versions are immutable
    and kept); wait until it is DEPLOYABLE. A version Greengrass failed to make (FAILED: its artifact was not
    readable then) serves no device: it is deleted and made again. Return a verdict, or raise
    ``ReleaseCheckFailed``."""
    wanted = json.loads(recipe)
    what = f"component {wanted['ComponentName']} {wanted['ComponentVersion']}"
    state, verb = _component_state(greengrass, arn), "made"
    if state == "FAILED":
        greengrass.delete_component(arn=arn)
        state, verb = None, "made again (the earlier attempt had FAILED)"
    if state is None:
        # The token makes a call retried within this request (a lost answer) create the version once; another
        # request (CloudFormation's retry after a failure) is a new attempt.
        token = hashlib.sha256(f"{recipe}{request_id}".encode()).hexdigest()
        greengrass.create_component_version(inlineRecipe=recipe.encode(), clientToken=token)
    else:
        found = _installs(json.loads(greengrass.get_component(arn=arn, recipeOutputFormat="JSON")["recipe"]))
        if found != _installs(wanted):
            raise ReleaseCheckFailed(f"{what} exists and installs {json.dumps(found, sort_keys=True)}, not "
                                     f"{json.dumps(_installs(wanted), sort_keys=True)}; versions are immutable: it "
                                     "is never replaced")
        verb = "found"

    def describe() -> dict:
        described = greengrass.describe_component(arn=arn)
        return dict(described, state=(described.get("status") or {}).get("componentState", ""))

    described = _settled(describe, "state", COMPONENT_VERSION_MOVING, what, deadline, poll_seconds, clock, sleep)
    status = described.get("status") or {}
    if status.get("componentState") != "DEPLOYABLE":
        errors = "; ".join(f"{k}: {v}" for k, v in (status.get("errors") or {}).items())
        raise ReleaseCheckFailed(f"{what} is {status.get('componentState')}: {status.get('message', '')}"
                                 + (f" ({errors})" if errors else "")
                                 + ("; the next release of this version makes it again" if
                                    status.get("componentState") == "FAILED" else ""))
    return f"{verb} {what}, DEPLOYABLE"


def respond(event: dict, status: str, reason: str, physical_id: str, opener: Callable = urllib.request.urlopen) -> None:
    """PUT the custom resource's answer to CloudFormation's pre-signed ``ResponseURL``."""
    body = json.dumps({
        "Status": status, "Reason": reason[:MAX_REASON], "PhysicalResourceId": physical_id,
        "StackId": event["StackId"], "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"], "Data": {},
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with opener(request, timeout=30) as answer:
        answer.read()


def handler(event: dict, context: Any, clients: dict[str, Any] | None = None) -> dict:
    """The Lambda entry point (``index.handler``)."""
    props = event.get("ResourceProperties", {})
    endpoint_name = props.get("EndpointName", "")
    check = props.get("Check", "after")
    subject = props.get("InferenceComponentName") or endpoint_name
    physical_id = event.get("PhysicalResourceId") or f"{subject}-{'preflight' if check == 'before' else 'release-check'}"
    if check == "artifact":
        # One resource per artifact: a new version replaces it, and the old one's Delete keeps its artifact.
        physical_id = f"s3://{props.get('Bucket', '')}/{props.get('Key', '')}"
    elif check == "edge":
        # One resource per component version: a new one replaces it, and the old one's Delete keeps it.
        physical_id = props.get("ComponentArn", "")
    status, reason = "SUCCESS", "nothing to check"
    try:
        if event["RequestType"] != "Delete":
            aws = clients or _clients()
            if event["RequestType"] == "Update" and stack_rolling_back(aws["cloudformation"], event["StackId"]):
                reason = "the stack is rolling back: CloudFormation restores the previous config, nothing to check"
            elif check == "artifact":
                package = props["ModelPackageArn"]
                reason = release_artifact(_registry(aws, package, clients is not None), aws["s3"], package,
                                          props["Bucket"], props["Key"])
            elif check == "edge":
                # The deadline counts from now: the copy takes part of the function's time.
                deadline = time.monotonic() + max(0, context.get_remaining_time_in_millis() / 1000
                                                  - ANSWER_MARGIN_SECONDS)
                package = props.get("ModelPackageArn")
                copied = (release_artifact(_registry(aws, package, clients is not None), aws["s3"], package,
                                           props["Bucket"], props["Key"], kind="edge") + "; ") if package else ""
                reason = copied + release_component(aws["greengrassv2"], props["ComponentArn"], props["Recipe"],
                                                    deadline, request_id=event.get("RequestId", ""))
            elif check == "component":
                remaining = context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS
                reason = check_component(aws["sagemaker"], aws["cloudwatch"], props["InferenceComponentName"],
                                         props["ModelName"], list(props.get("AlarmNames", [])),
                                         time.monotonic() + max(0, remaining), poll_seconds=POLL_SECONDS,
                                         expected_compute=props.get("Compute"))
            elif check == "before":
                kind = props.get("Asynchronous")
                reason = preflight(aws["sagemaker"], aws["application-autoscaling"], endpoint_name,
                                   dict(props.get("Variants", {})), str(props.get("Guarded", "true")) == "true",
                                   None if kind is None else str(kind) == "true")
            else:
                remaining = context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS
                reason = check_release(aws["sagemaker"], aws["cloudwatch"], endpoint_name,
                                       props["EndpointConfigName"], list(props.get("AlarmNames", [])),
                                       time.monotonic() + max(0, remaining))
    except ReleaseCheckFailed as failure:
        status, reason = "FAILED", str(failure)
    except Exception as error:  # noqa: BLE001 - CloudFormation must get an answer whatever happened
        status, reason = "FAILED", f"release check error: {type(error).__name__}: {error}"
    print(json.dumps({"check": check, "status": status, "reason": reason, "endpoint": endpoint_name}))
    respond(event, status, reason, physical_id)
    return {"Status": status, "Reason": reason}
