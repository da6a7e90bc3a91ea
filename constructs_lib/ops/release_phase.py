"""The progressive release's phases on a live endpoint: start a shadow or A/B phase next to the unchanged
production variant, and end it by restoring the endpoint's *steady* config.

A phase never edits the stack's resources. It copies the endpoint config the stack deployed (the steady config),
adds the version being released as a shadow variant (a copy of ``percent`` % of requests, answers dropped) or as
a challenger (``percent`` % of requests answered), and moves the endpoint to that *trial* config; the end moves it
back and deletes the trial config and model. So CloudFormation's view (the steady config) is true again at both
ends of every phase: the rollout that follows is a guarded update between two configs with the same variant names
(what blue/green and rolling updates require), and a failed rollout's stack rollback returns to the steady config.

Every function here is safe to call again after a timeout or a retry (the state machine retries its tasks): it
reads where the endpoint stands and does only what is left. boto3 and the standard library only.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

#: Tags on a trial config: the release phase it serves, and the steady config to return to.
PHASE_TAG, STEADY_TAG, VERSION_TAG = "mlops:release-phase", "mlops:steady-config", "mlops:release-version"
#: On an endpoint whose stack grants the phases what they need of its resources (``platform/release_access.py``):
#: without it (a stack from before the release plan) a phase is skipped.
READY_TAG = "mlops:release-phases"
#: In the READY_TAG's value (space-separated grants) when the phases may also read the endpoint's captured data.
CAPTURE_GRANTED = "capture"
#: How long the endpoint may take to reach a trial config, or the steady config again, before the phase gives up
#: (and says so): an update provisions a fleet, typically 5-10 minutes.
ENDPOINT_UPDATE_LIMIT_SECONDS = 2 * 3600
PHASES = ("shadow", "ab")
#: What a trial config copies from the steady one (CreateEndpointConfig's request keys that DescribeEndpointConfig
#: returns); the rest of the description is read-only.
_CONFIG_KEYS = ("ProductionVariants", "DataCaptureConfig", "KmsKeyId", "ExecutionRoleArn", "VpcConfig",
                "EnableNetworkIsolation")
_MODEL_KEYS = ("ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation")
#: The properties SageMaker returns in a ProductionVariant description that CreateEndpointConfig does not take.
_VARIANT_KEYS = ("VariantName", "ModelName", "InitialInstanceCount", "InstanceType", "InitialVariantWeight",
                 "AcceleratorType", "VolumeSizeInGB", "ModelDataDownloadTimeoutInSeconds",
                 "ContainerStartupHealthCheckTimeoutInSeconds", "EnableSSMAccess", "RoutingConfig",
                 "InferenceAmiVersion", "ManagedInstanceScaling", "CoreDumpConfig")


def state_machine_name(project: str, model: str, phase: str) -> str:
    """The state machine of a model's release phase in the pipeline account: ``<project>-<model>-release-<phase>``
    (what the pipeline stack creates and ``mlops release`` reads)."""
    return f"{project}-{model}-release-{phase}"


class PhaseError(Exception):
    """The phase cannot go on (one line: what is wrong and what to do)."""


class EndpointBusy(Exception):
    """The endpoint is updating for another reason (autoscaling, a SageMaker system update): try again later (the
    state machine retries this error, and only this one, for up to an hour)."""


def trial_name(steady_config: str, phase: str, version_arn: str) -> str:
    """The trial config's (and model's) name: the steady config's, the phase and a hash of all three
    (<= 63 characters, deterministic, so a retried start finds what the first attempt created)."""
    digest = hashlib.sha256(f"{steady_config}|{phase}|{version_arn}".encode()).hexdigest()[:8]
    suffix = f"-{phase}-{digest}"
    return steady_config[:63 - len(suffix)].rstrip("-") + suffix


def tags_of(sagemaker: Any, arn: str) -> dict[str, str]:
    """A SageMaker resource's tags as a dict."""
    return {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn).get("Tags", [])}


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


def _exists(call, **kwargs) -> bool:
    try:
        call(**kwargs)
        return True
    except Exception as error:  # botocore.exceptions.ClientError; the Lambda has botocore, the tests too
        if _error_code(error) in ("ValidationException", "ResourceNotFound"):
            return False
        raise


def steady_config_of(sagemaker: Any, endpoint: dict) -> str:
    """The steady config of an endpoint description: its current config, or, when that is a trial config, the
    one the trial's tag names."""
    current = endpoint["EndpointConfigName"]
    arn = sagemaker.describe_endpoint_config(EndpointConfigName=current)["EndpointConfigArn"]
    return tags_of(sagemaker, arn).get(STEADY_TAG, current)


def start(sagemaker: Any, *, endpoint: str, phase: str, version_arn: str, variant_name: str, percent: float,
          instance_count: int | None = None) -> dict:
    """Move ``endpoint`` to a trial config with the version ``version_arn`` as ``variant_name``: a shadow of
    ``percent`` % of requests (``phase="shadow"``) or a challenger answering ``percent`` % (``phase="ab"``).

    The production variant keeps its model, instance count (retained, autoscaling included) and name. Returns
    ``{"steady_config", "trial_config", "status"}``; ``status`` is the endpoint's (Updating while it moves); or
    ``{"skipped": reason}`` when there is nothing to compare: no endpoint yet (the first release), or its
    production variant already serves the version."""
    if phase not in PHASES:
        raise PhaseError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    if not 0 < percent <= (100 if phase == "shadow" else 50):
        raise PhaseError(f"percent out of range for a {phase} phase, got {percent!r}")
    try:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
    except Exception as error:
        if _error_code(error) not in ("ValidationException", "ResourceNotFound"):
            raise
        # The first release: nothing serves yet, so there is nothing to compare the version with.
        return {"skipped": f"endpoint {endpoint} does not exist yet: the first release has nothing to compare with"}
    if READY_TAG not in tags_of(sagemaker, described["EndpointArn"]):
        return {"skipped": f"endpoint {endpoint} was deployed without the release phases' grants (its stack predates "
                           "the release plan): this release goes straight to the guarded rollout, the next one has "
                           "phases"}
    status = described["EndpointStatus"]
    current = described["EndpointConfigName"]
    pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    steady = steady_config_of(sagemaker, described)
    trial = trial_name(steady, phase, version_arn)
    if trial in (current, pending):  # started already (a retried task)
        return {"steady_config": steady, "trial_config": trial, "status": status}
    if steady != current:
        raise PhaseError(f"endpoint {endpoint} runs {current}, a trial config of another release phase: return it "
                         f"to {steady} first (`mlops release restore`)")
    if status in ("Updating", "SystemUpdating"):
        raise EndpointBusy(f"endpoint {endpoint} is {status} (autoscaling or a system update)")
    if status != "InService":
        raise PhaseError(f"endpoint {endpoint} is {status}; a release phase starts from an InService endpoint")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=steady)
    variants = config["ProductionVariants"]
    if len(variants) != 1 or config.get("ShadowProductionVariants"):
        raise PhaseError(f"endpoint config {steady} must hold exactly one production variant and no shadow for a "
                         f"release phase, got {len(variants)} and {len(config.get('ShadowProductionVariants', []))}")
    production = {k: v for k, v in variants[0].items() if k in _VARIANT_KEYS}
    if "InstanceType" not in production:
        raise PhaseError(f"the production variant of {steady} is serverless: release phases need instances")
    if production["VariantName"] == variant_name:
        raise PhaseError(f"the {phase} variant needs a name other than the production variant's, got {variant_name}")
    serving = sagemaker.describe_model(ModelName=production["ModelName"]).get("PrimaryContainer", {})
    if serving.get("ModelPackageName") == version_arn:
        return {"skipped": f"endpoint {endpoint} already serves {version_arn} (a re-run release)"}
    tags = [{"Key": PHASE_TAG, "Value": phase}, {"Key": STEADY_TAG, "Value": steady},
            {"Key": VERSION_TAG, "Value": version_arn}]
    _create_model(sagemaker, trial, production["ModelName"], version_arn, tags)
    candidate = {"VariantName": variant_name, "ModelName": trial, "InstanceType": production["InstanceType"],
                 "InitialInstanceCount": instance_count or candidate_instances(described, production, phase, percent)}
    weight = float(production.get("InitialVariantWeight", 1.0))
    request = {k: config[k] for k in _CONFIG_KEYS if config.get(k) not in (None, {}, [])}
    if phase == "shadow":
        # As ModelEndpoint renders a shadow: its weight relative to the production variant's is the share copied.
        request["ProductionVariants"] = [production]
        request["ShadowProductionVariants"] = [{**candidate, "InitialVariantWeight": weight * percent / 100}]
    else:
        request["ProductionVariants"] = [{**production, "InitialVariantWeight": float(100 - percent)},
                                         {**candidate, "InitialVariantWeight": float(percent)}]
    if not _exists(sagemaker.describe_endpoint_config, EndpointConfigName=trial):
        sagemaker.create_endpoint_config(EndpointConfigName=trial, Tags=tags, **request)
    _update(sagemaker, endpoint, trial)
    return {"steady_config": steady, "trial_config": trial, "status": "Updating",
            "candidate_instances": candidate["InitialInstanceCount"]}


def candidate_instances(described: dict, production: dict, phase: str, percent: float) -> int:
    """The candidate's instances: the production variant's *current* count (autoscaling included) scaled to the
    candidate's share, so that each instance of either sees about the same load: a shadow gets ``percent`` % of
    production's requests, a challenger ``percent / (100 - percent)`` of what production keeps. At least one."""
    live = next((v for v in described.get("ProductionVariants", []) if v.get("VariantName") == production["VariantName"]),
                {})
    count = live.get("CurrentInstanceCount") or live.get("DesiredInstanceCount") or production.get("InitialInstanceCount", 1)
    share = percent / 100 if phase == "shadow" else percent / (100 - percent)
    return max(1, math.ceil(count * share - 1e-9))


def _update(sagemaker: Any, endpoint: str, config: str) -> None:
    """UpdateEndpoint to ``config``, keeping the variants' current instance counts (autoscaling's) and taking the
    config's weights. SageMaker refuses an update while another is in progress: that is ``EndpointBusy``."""
    try:
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config, RetainAllVariantProperties=True,
                                  ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredWeight"}])
    except Exception as error:
        if _error_code(error) == "ValidationException" and sagemaker.describe_endpoint(
                EndpointName=endpoint)["EndpointStatus"] in ("Updating", "SystemUpdating"):
            raise EndpointBusy(f"endpoint {endpoint} is updating for another reason: {error}") from None
        raise


def _create_model(sagemaker: Any, name: str, production_model: str, version_arn: str, tags: list[dict]) -> None:
    """The trial model: the version's package, with the production model's role, network and isolation."""
    if _exists(sagemaker.describe_model, ModelName=name):
        return
    model = sagemaker.describe_model(ModelName=production_model)
    request = {k: model[k] for k in _MODEL_KEYS if model.get(k) not in (None, {}, [])}
    sagemaker.create_model(ModelName=name, PrimaryContainer={"ModelPackageName": version_arn}, Tags=tags, **request)


def status(sagemaker: Any, *, endpoint: str, config: str) -> dict:
    """Where ``endpoint`` stands against the ``config`` it should reach: ``{"status", "current_config",
    "reached"}``; raises ``PhaseError`` when the endpoint failed or SageMaker rolled the update back."""
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    state, current = described["EndpointStatus"], described["EndpointConfigName"]
    pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if state == "Failed":
        raise PhaseError(f"endpoint {endpoint} is Failed: {described.get('FailureReason', 'no reason given')}")
    if state == "InService" and current != config and pending != config:
        raise PhaseError(f"endpoint {endpoint} is InService on {current}, not on {config}: the update to it was "
                         "rolled back or replaced")
    return {"status": state, "current_config": current, "reached": state == "InService" and current == config}


def restore(sagemaker: Any, *, endpoint: str, steady_config: str) -> dict:
    """End the phase: move ``endpoint`` back to ``steady_config`` (the production variant keeps its retained
    instance count and gets its whole weight back), then delete the trial configs and models made from it.
    Returns ``{"status", "reached"}`` (and ``cleanup``, a failure to delete, once reached: the endpoint is back
    either way); call again while ``reached`` is false (the endpoint is updating)."""
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    state, current = described["EndpointStatus"], described["EndpointConfigName"]
    pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if state == "InService" and current == steady_config:
        result = {"status": state, "reached": True}
        try:
            _delete_trials(sagemaker, steady_config)
        except Exception as error:  # noqa: BLE001 - the endpoint is back; a leftover trial only costs a name
            result["cleanup"] = f"trial configs or models of {steady_config} left behind: {error}"
        return result
    if state in ("InService", "Failed") and pending != steady_config:
        try:
            _update(sagemaker, endpoint, steady_config)
        except EndpointBusy:
            return {"status": "Updating", "reached": False}
        return {"status": "Updating", "reached": False}
    return {"status": state, "reached": False}


def _delete_trials(sagemaker: Any, steady_config: str) -> None:
    """Delete the trial configs and models made from ``steady_config`` (tagged with it; their names start with
    its name's stem): a trial model whose config was never made is found too."""
    stem = steady_config[:40]
    for kind, key, arn_key, delete in (
            ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigArn", sagemaker.delete_endpoint_config),
            ("list_models", "Models", "ModelArn", sagemaker.delete_model)):
        name_key = "EndpointConfigName" if kind == "list_endpoint_configs" else "ModelName"
        for page in sagemaker.get_paginator(kind).paginate(NameContains=stem):
            for summary in page.get(key, []):
                name = summary[name_key]
                if name == steady_config or not name.startswith(stem):
                    continue
                if tags_of(sagemaker, summary[arn_key]).get(STEADY_TAG) != steady_config:
                    continue
                try:
                    delete(**{name_key: name})
                except Exception as error:
                    if _error_code(error) not in ("ValidationException", "ResourceNotFound"):
                        raise
