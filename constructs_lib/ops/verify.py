"""``mlops verify ENDPOINT``: the delivery pipeline's post-deploy check that a release really landed.

SageMaker rolls a guarded deployment back *silently*: the endpoint returns to InService on the old config and
CloudFormation may still report success. This check waits for a final status and fails unless the endpoint
runs exactly the config just deployed.
"""

from __future__ import annotations

import time
from typing import Any

import botocore.exceptions

from . import output
from .aws import translate
from .base import EXIT_FAILED, EXIT_ROLLED_BACK, EXIT_USAGE, OpsError, Output, bounded
from .status import TRANSITIONAL, requested_config, rollback_alarms
from constructs_lib.variants import ALARM_KINDS


def wait_final(sagemaker_client: Any, endpoint_name: str, timeout: float, interval: float) -> dict[str, Any]:
    """Poll DescribeEndpoint until the endpoint leaves its transitional statuses; return that description.

    Raises ``OpsError(EXIT_FAILED)`` when it is still moving after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        endpoint = sagemaker_client.describe_endpoint(EndpointName=endpoint_name)
        status = endpoint["EndpointStatus"]
        if status not in TRANSITIONAL:
            return endpoint
        if time.monotonic() + interval > deadline:
            raise OpsError(f"endpoint {endpoint_name} is still {status} after {timeout:g} s; "
                           "raise --timeout or look at it with `mlops status`", EXIT_FAILED)
        time.sleep(interval)


def verify(ctx, endpoint_name: str, expected: str | None, timeout: float, interval: float,
           stack: str | None = None) -> dict[str, Any]:
    """Wait for the endpoint, then check it runs ``expected`` (default: its stack's EndpointConfigName output).

    Returns the facts on success; raises ``OpsError`` with EXIT_FAILED (failed endpoint, timeout) or
    EXIT_ROLLED_BACK (InService on another config, naming the rollback alarms in ALARM).
    """
    sagemaker_client = ctx.client("sagemaker")
    endpoint = wait_final(sagemaker_client, endpoint_name, timeout, interval)
    if expected is None:
        _, expected, note = requested_config(ctx, endpoint, stack)
        if expected is None:
            raise OpsError(f"cannot tell which config was deployed ({note}); pass --expected-config NAME",
                           EXIT_USAGE)
    status = endpoint["EndpointStatus"]
    current = endpoint.get("EndpointConfigName")
    if status != "InService":
        raise OpsError(f"endpoint {endpoint_name} is {status}: {endpoint.get('FailureReason') or 'no reason given'}",
                       EXIT_FAILED)
    if current != expected:
        try:
            # Narrow lookups only: the pipeline's check role may read just this endpoint's alarms.
            firing = [a["name"] for a in rollback_alarms(ctx, endpoint, scan_all=False) if a["state"] == "ALARM"]
            cause = (f"alarm(s) in ALARM: {', '.join(firing)}" if firing
                     else "no rollback alarm is in ALARM now (it may have recovered, or the update failed)")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            # The rollback is the verdict; unreadable alarms must not turn it into an access error.
            cause = f"alarm states unavailable ({translate(error)})"
        reason = endpoint.get("FailureReason")
        raise OpsError(
            f"SageMaker rolled the release back: endpoint {endpoint_name} runs {current}, not the deployed "
            f"{expected}; {cause}" + (f"; reason: {reason}" if reason else ""), EXIT_ROLLED_BACK)
    return {"endpoint": endpoint_name, "status": status, "config": current, "expected_config": expected,
            "verified": True}




def verify_component(ctx, endpoint_name: str, component_name: str, expected_model: str, timeout: float,
                     interval: float) -> dict[str, Any]:
    """Wait for the inference component to settle, then check it serves ``expected_model`` (the model its stack
    deployed): the in-stack release check's rule (``release_check.check_component``), from the pipeline."""
    from .release_check import ReleaseCheckFailed, check_component

    # An InferenceComponent's alarms: <endpoint>-<component>-<kind>, the first three kinds.
    alarms = [f"{endpoint_name}-{component_name}-{kind}" for kind in ALARM_KINDS[:3]]
    try:
        verdict = check_component(ctx.client("sagemaker"), ctx.client("cloudwatch"), component_name, expected_model,
                                  alarms, time.monotonic() + timeout, poll_seconds=interval)
    except ReleaseCheckFailed as failure:
        raise OpsError(str(failure), EXIT_ROLLED_BACK if failure.rolled_back else EXIT_FAILED) from None
    return {"endpoint": endpoint_name, "component": component_name, "model": expected_model, "status": "InService",
            "verified": True, "verdict": verdict}


def verify_target(ctx, endpoint_name: str, target_model: str, parameter: str, timeout: float,
                  interval: float) -> dict[str, Any]:
    """A model released onto a multi-model endpoint: the endpoint is InService and the parameter callers read
    names ``target_model`` (another value: a later release or a rollback moved it since this one)."""
    endpoint = wait_final(ctx.client("sagemaker"), endpoint_name, timeout, interval)
    if endpoint["EndpointStatus"] != "InService":
        raise OpsError(f"endpoint {endpoint_name} is {endpoint['EndpointStatus']}: "
                       f"{endpoint.get('FailureReason') or 'no reason given'}", EXIT_FAILED)
    current = ctx.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    if current != target_model:
        raise OpsError(f"parameter {parameter} names {current}, not the released {target_model}: callers are not "
                       "sent to this release (a later release or a rollback moved it)", EXIT_ROLLED_BACK)
    return {"endpoint": endpoint_name, "status": "InService", "target_model": target_model, "parameter": parameter,
            "verified": True}


def _together(first: object, second: object, options: str, why: str) -> bool:
    """Whether a pair of options that go together is given (both), after refusing one without the other."""
    if (first is None) != (second is None):
        raise OpsError(f"{options} go together ({why})", EXIT_USAGE)
    return first is not None


def run(args, ctx) -> Output:
    """Handler of ``mlops verify``."""
    kinds = [name for name, given in (("--expected-config", args.expected_config), ("--component", args.component),
                                      ("--target-model", args.target_model)) if given is not None]
    if len(kinds) > 1:
        raise OpsError(f"{' and '.join(kinds)} exclude each other: an endpoint's config, an inference component, "
                       "or a multi-model target", EXIT_USAGE)
    if _together(args.target_model, args.target_parameter, "--target-model and --target-parameter",
                 "the model released onto a multi-model endpoint and the parameter that names it"):
        data = verify_target(ctx, args.endpoint, args.target_model, args.target_parameter, args.timeout,
                             args.poll_interval)
        text = output.fields([("endpoint", data["endpoint"]), ("target model", data["target_model"]),
                              ("verified", f"{data['parameter']} names the released model")])
        return Output(data=data, text=text)
    if _together(args.component, args.expected_model, "--component and --expected-model",
                 "the component and the model its stack deployed"):
        data = verify_component(ctx, args.endpoint, args.component, args.expected_model, args.timeout,
                                args.poll_interval)
        text = output.fields([("endpoint", data["endpoint"]), ("component", data["component"]),
                              ("model", data["model"]), ("verified", "the deployed model is live")])
        return Output(data=data, text=text)
    data = verify(ctx, args.endpoint, args.expected_config, args.timeout, args.poll_interval, args.stack)
    text = output.fields([("endpoint", data["endpoint"]), ("status", data["status"]),
                          ("config", data["config"]), ("verified", "the deployed config is live")])
    return Output(data=data, text=text)


def register(subparsers) -> None:
    """Add ``verify`` to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "verify", help="fail unless the endpoint is InService on the config just deployed",
        description="Wait until the endpoint is no longer Creating/Updating/RollingBack, then check that it is "
                    "InService on the expected endpoint config; with --component, that the inference component is "
                    "InService on the model its stack deployed; with --target-model, that the multi-model "
                    "endpoint is InService and --target-parameter names that model. Exit 6 when SageMaker rolled "
                    "the release back (naming the rollback alarms in ALARM) or the parameter names another model, "
                    "1 when the endpoint failed or the wait timed out.",
        epilog="examples (pipeline steps, names from the stack outputs):\n"
               "  mlops verify churn-predictor-prod --expected-config \"$ENDPOINT_CONFIG_NAME\" --timeout 3600\n"
               "  mlops verify shared-prod --component churn-lite-prod --expected-model \"$EXPECTED_MODEL\"\n"
               "  mlops verify many-prod --target-model churn-regional/v4.tar.gz "
               "--target-parameter /mlops/churn-regional/prod/target-model")
    parser.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    parser.add_argument("--expected-config", metavar="NAME",
                        help="the endpoint config just deployed (default: the EndpointConfigName output of the "
                             "endpoint's CloudFormation stack)")
    parser.add_argument("--stack", metavar="NAME", help="stack to read the expected config from (default: tag)")
    parser.add_argument("--component", metavar="NAME",
                        help="an inference component of the endpoint: check it instead (with --expected-model)")
    parser.add_argument("--expected-model", metavar="MODEL",
                        help="the model the component's stack deployed (its ModelName output)")
    parser.add_argument("--target-model", metavar="PATH",
                        help="a model released onto a multi-model endpoint (with --target-parameter)")
    parser.add_argument("--target-parameter", metavar="NAME",
                        help="the SSM parameter that must name --target-model (its stack's TargetParameterName)")
    parser.add_argument("--timeout", type=bounded(0, 86400, above=True), default=3600, metavar="S",
                        help="seconds to wait for a final status (default: 3600, a full guarded rollout)")
    parser.add_argument("--poll-interval", type=bounded(0, 3600, above=True), default=30, metavar="S",
                        help="seconds between checks (default: 30)")
    parser.set_defaults(handler=run)
