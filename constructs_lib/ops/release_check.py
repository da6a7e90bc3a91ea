"""The in-stack release check: a CloudFormation custom resource handler (AWS Lambda, Python, boto3 only).

SageMaker rolls a guarded deployment back on its own when a rollback alarm fires, and CloudFormation may
still report the endpoint's update as complete. Its cleanup would then delete the *old* endpoint config and
models, the very ones the endpoint serves from again. ``ModelEndpoint`` therefore adds a custom resource after
the endpoint whose handler is this file: on every create and update it waits for the endpoint to settle and
answers FAILED unless the endpoint is InService on exactly the config the stack just deployed. The stack then
rolls back before any cleanup, keeps what the endpoint runs on, and ``cdk deploy`` and the pipeline's deploy
action fail on their own, naming the alarm(s) in ALARM and the running config.

It is deployed as the function's inline source, so it imports only the standard library and boto3 (no
package of this project). The CloudFormation protocol: the event's ``ResourceProperties`` carry
``EndpointName``, ``EndpointConfigName`` and ``AlarmNames``; the answer is PUT to ``ResponseURL``.

* ``Delete`` always succeeds (nothing to undo).
* While the stack is *rolling back* (its status ends in ``ROLLBACK_IN_PROGRESS``) the check succeeds without
  looking: CloudFormation is restoring the previous config, and failing there would leave the stack in
  ``UPDATE_ROLLBACK_FAILED``.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any, Callable

#: Endpoint statuses that are still moving.
TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
#: Seconds kept free before the function's own timeout to answer CloudFormation.
ANSWER_MARGIN_SECONDS = 30
#: CloudFormation shows at most this much of a custom resource's reason.
MAX_REASON = 1000
POLL_SECONDS = 15


def _clients(region: str | None = None) -> tuple[Any, Any, Any]:
    import boto3
    from botocore.config import Config

    # Bounded calls: a hung API must not keep the stack waiting for the custom resource's whole timeout.
    config = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 5, "mode": "standard"})
    return (boto3.client("sagemaker", region_name=region, config=config),
            boto3.client("cloudwatch", region_name=region, config=config),
            boto3.client("cloudformation", region_name=region, config=config))


def check_release(sagemaker: Any, cloudwatch: Any, endpoint_name: str, expected_config: str,
                  alarm_names: list[str], deadline: float, poll_seconds: float = POLL_SECONDS,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> str:
    """Wait (until ``deadline`` on ``clock``) for the endpoint to leave its transitional statuses; return a
    one-line verdict when it is InService on ``expected_config``, else raise ``ReleaseCheckFailed``."""
    while True:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        status = endpoint["EndpointStatus"]
        if status not in TRANSITIONAL:
            break
        if clock() + poll_seconds > deadline:
            raise ReleaseCheckFailed(f"endpoint {endpoint_name} is still {status}; the release check timed out "
                                     "waiting for it (see `mlops status`)")
        sleep(poll_seconds)
    current = endpoint.get("EndpointConfigName")
    if status == "InService" and current == expected_config:
        return f"endpoint {endpoint_name} is InService on {expected_config}, the config this stack deployed"
    firing = _firing(cloudwatch, alarm_names)
    reason = endpoint.get("FailureReason")
    if status != "InService":
        raise ReleaseCheckFailed(f"endpoint {endpoint_name} is {status} on {current}, not InService on "
                                 f"{expected_config}" + (f"; reason: {reason}" if reason else "") + f"; {firing}")
    raise ReleaseCheckFailed(
        f"SageMaker rolled the release back: endpoint {endpoint_name} runs {current}, not {expected_config} "
        f"which this stack deployed; {firing}" + (f"; reason: {reason}" if reason else "")
        + ". The stack rolls back and keeps the config and models the endpoint serves from")


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
    """The endpoint does not run the config the stack deployed."""


def stack_rolling_back(cloudformation: Any, stack_id: str) -> bool:
    """Whether the stack is rolling back (then the previous config is being restored: nothing to check)."""
    stacks = cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
    return bool(stacks) and stacks[0]["StackStatus"].endswith("ROLLBACK_IN_PROGRESS")


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


def handler(event: dict, context: Any, clients: tuple[Any, Any, Any] | None = None) -> dict:
    """The Lambda entry point (``index.handler``)."""
    props = event.get("ResourceProperties", {})
    endpoint_name = props.get("EndpointName", "")
    physical_id = event.get("PhysicalResourceId") or f"{endpoint_name}-release-check"
    status, reason = "SUCCESS", "nothing to check"
    try:
        if event["RequestType"] != "Delete":
            sagemaker, cloudwatch, cloudformation = clients or _clients()
            if event["RequestType"] == "Update" and stack_rolling_back(cloudformation, event["StackId"]):
                reason = "the stack is rolling back: CloudFormation restores the previous config, nothing to check"
            else:
                remaining = context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS
                reason = check_release(sagemaker, cloudwatch, endpoint_name, props["EndpointConfigName"],
                                       list(props.get("AlarmNames", [])), time.monotonic() + max(0, remaining))
    except ReleaseCheckFailed as failure:
        status, reason = "FAILED", str(failure)
    except Exception as error:  # noqa: BLE001 - CloudFormation must get an answer whatever happened
        status, reason = "FAILED", f"release check error: {type(error).__name__}: {error}"
    print(json.dumps({"status": status, "reason": reason, "endpoint": endpoint_name}))
    respond(event, status, reason, physical_id)
    return {"Status": status, "Reason": reason}
