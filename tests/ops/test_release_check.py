"""The in-stack release check's handler against a moto server: what it answers CloudFormation, and when.

CloudFormation's side is a local HTTP server standing in for the pre-signed ResponseURL (it records the PUT);
SageMaker, CloudWatch and CloudFormation are the moto server, with Stubber only for a stack status moto
cannot produce (a rollback in progress) and an endpoint that never settles.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from botocore.stub import Stubber

from constructs_lib.ops import release_check
from ops_support import ENDPOINT, NEW_CONFIG, OLD_CONFIG, STACK, create_alarm, create_endpoint, create_stack, \
    endpoint_description

ALARMS = [f"{ENDPOINT}-champion-5xx-rate", f"{ENDPOINT}-challenger-5xx-rate"]


class _Recorder(BaseHTTPRequestHandler):
    answers: list[dict] = []

    def do_PUT(self):  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        type(self).answers.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def cloudformation_url():
    """A stand-in for CloudFormation's pre-signed response URL on 127.0.0.1; yields (url, answers)."""
    _Recorder.answers = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    # A short poll interval: shutdown() waits for it (0.5 s by default, per test).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/response?signature=x", _Recorder.answers
    finally:
        server.shutdown()
        server.server_close()


class _Context:
    def __init__(self, remaining_ms: int = 900_000):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _event(url: str, stack_id: str, request: str = "Update", expected: str = NEW_CONFIG) -> dict:
    return {"RequestType": request, "ResponseURL": url, "StackId": stack_id, "RequestId": "req-1",
            "LogicalResourceId": "EndpointReleaseCheck", "PhysicalResourceId": f"{ENDPOINT}-release-check",
            "ResourceProperties": {"EndpointName": ENDPOINT, "EndpointConfigName": expected, "AlarmNames": ALARMS}}


@pytest.fixture
def stack_id(aws_client):
    create_stack(aws_client("cloudformation"), STACK, {"EndpointName": ENDPOINT})
    return aws_client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["StackId"]


def test_success_when_the_endpoint_runs_the_config_just_deployed(aws_client, cloudformation_url, stack_id):
    url, answers = cloudformation_url
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG)
    result = release_check.handler(_event(url, stack_id), _Context())
    assert result["Status"] == "SUCCESS"
    (answer,) = answers
    assert answer == {"Status": "SUCCESS", "PhysicalResourceId": f"{ENDPOINT}-release-check", "StackId": stack_id,
                      "RequestId": "req-1", "LogicalResourceId": "EndpointReleaseCheck", "Data": {},
                      "Reason": f"endpoint {ENDPOINT} is InService on {NEW_CONFIG}, the config this stack deployed"}


def test_a_rolled_back_release_fails_the_stack_naming_the_alarm_and_the_running_config(
        aws_client, cloudformation_url, stack_id):
    url, answers = cloudformation_url
    create_endpoint(aws_client("sagemaker"), running=OLD_CONFIG)  # SageMaker rolled back to the old config
    cloudwatch = aws_client("cloudwatch")
    create_alarm(cloudwatch, ALARMS[1], "ALARM")
    create_alarm(cloudwatch, ALARMS[0], "OK")
    result = release_check.handler(_event(url, stack_id), _Context())
    assert result["Status"] == "FAILED"
    (answer,) = answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"] == (
        f"SageMaker rolled the release back: endpoint {ENDPOINT} runs {OLD_CONFIG}, not {NEW_CONFIG} which this "
        f"stack deployed; alarm(s) in ALARM: {ALARMS[1]}. The stack rolls back and keeps the config and models "
        "the endpoint serves from")


def test_create_is_checked_too_and_delete_never_fails(aws_client, cloudformation_url, stack_id):
    url, answers = cloudformation_url
    create_endpoint(aws_client("sagemaker"), running=OLD_CONFIG)
    assert release_check.handler(_event(url, stack_id, "Create"), _Context())["Status"] == "FAILED"
    assert release_check.handler(_event(url, stack_id, "Delete"), _Context())["Status"] == "SUCCESS"
    assert [a["Status"] for a in answers] == ["FAILED", "SUCCESS"]


def test_stands_aside_while_the_stack_rolls_back(aws_client, cloudformation_url, stack_id):
    """Failing during the rollback would leave the stack UPDATE_ROLLBACK_FAILED: CloudFormation is restoring
    the previous config, which the endpoint may not run yet."""
    url, answers = cloudformation_url
    create_endpoint(aws_client("sagemaker"), running=NEW_CONFIG)  # the check of OLD_CONFIG would fail
    cloudformation = aws_client("cloudformation")
    stacks = cloudformation.describe_stacks(StackName=stack_id)
    stacks["Stacks"][0]["StackStatus"] = "UPDATE_ROLLBACK_IN_PROGRESS"
    stacks.pop("ResponseMetadata")
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", stacks, {"StackName": stack_id})
        clients = {"sagemaker": aws_client("sagemaker"), "cloudwatch": aws_client("cloudwatch"),
                   "cloudformation": cloudformation, "application-autoscaling": aws_client("application-autoscaling")}
        result = release_check.handler(_event(url, stack_id, expected=OLD_CONFIG), _Context(), clients=clients)
    assert result["Status"] == "SUCCESS"
    assert "rolling back" in answers[0]["Reason"]


def test_an_error_still_answers_cloudformation(aws_client, cloudformation_url, stack_id):
    url, answers = cloudformation_url  # no endpoint at all: DescribeEndpoint fails
    result = release_check.handler(_event(url, stack_id), _Context())
    assert result["Status"] == "FAILED"
    assert answers[0]["Reason"].startswith("release check error: ClientError:")
    assert len(answers[0]["Reason"]) <= release_check.MAX_REASON


def test_waits_for_a_moving_endpoint_within_its_deadline(aws_client):
    sagemaker = aws_client("sagemaker")
    now = [0.0]
    with Stubber(sagemaker) as stub:
        for status in ("Updating", "Updating", "InService"):
            stub.add_response("describe_endpoint", endpoint_description(status, NEW_CONFIG), {"EndpointName": ENDPOINT})
        verdict = release_check.check_release(sagemaker, aws_client("cloudwatch"), ENDPOINT, NEW_CONFIG, ALARMS,
                                              deadline=100, poll_seconds=15, clock=lambda: now[0],
                                              sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert verdict.startswith(f"endpoint {ENDPOINT} is InService on {NEW_CONFIG}")
    assert now[0] == 30
    with Stubber(sagemaker) as stub:
        for _ in range(3):
            stub.add_response("describe_endpoint", endpoint_description("Updating", NEW_CONFIG))
        now[0] = 0.0
        with pytest.raises(release_check.ReleaseCheckFailed, match="still Updating; the release check timed out"):
            release_check.check_release(sagemaker, aws_client("cloudwatch"), ENDPOINT, NEW_CONFIG, ALARMS,
                                        deadline=40, poll_seconds=15, clock=lambda: now[0],
                                        sleep=lambda s: now.__setitem__(0, now[0] + s))


def _preflight_event(url: str, stack_id: str, variants: dict, guarded: bool = True) -> dict:
    event = _event(url, stack_id)
    event["LogicalResourceId"] = "EndpointPreflight"
    event.pop("PhysicalResourceId")
    event["ResourceProperties"] = {"Check": "before", "EndpointName": ENDPOINT, "EndpointConfigName": NEW_CONFIG,
                                   "Variants": variants, "Guarded": str(guarded).lower()}
    return event


def test_preflight_stops_a_guarded_rename_before_the_endpoint_is_touched(aws_client, cloudformation_url, stack_id):
    """The custom resource the endpoint depends on: the same check as `mlops preflight` (tests/ops/test_preflight)."""
    url, answers = cloudformation_url
    create_endpoint(aws_client("sagemaker"), running=OLD_CONFIG)  # champion + challenger
    renamed = {"champion": "ml.m5.large", "winner": "ml.m5.large"}
    assert release_check.handler(_preflight_event(url, stack_id, renamed), _Context())["Status"] == "FAILED"
    same = {"champion": "ml.m5.large", "challenger": "ml.m5.large"}
    assert release_check.handler(_preflight_event(url, stack_id, same), _Context())["Status"] == "SUCCESS"
    failed, passed = answers
    assert failed["PhysicalResourceId"] == f"{ENDPOINT}-preflight"
    assert "this release changes the production variants (challenger, champion -> champion, winner)" in failed["Reason"]
    assert passed["Reason"] == f"endpoint {ENDPOINT}: same production variants (challenger, champion)"


def test_preflight_refuses_to_make_an_async_endpoint_real_time(aws_client, cloudformation_url, stack_id):
    """SageMaker refuses an update that removes AsyncInferenceConfig ("cannot be removed from this endpoint"):
    the preflight says so before the endpoint is touched, and lets an async-to-async release through."""
    url, answers = cloudformation_url
    sagemaker = aws_client("sagemaker")
    sagemaker.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
                           PrimaryContainer={"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/m:1"})
    sagemaker.create_endpoint_config(
        EndpointConfigName=OLD_CONFIG, ProductionVariants=[{"VariantName": "main", "ModelName": "m",
                                                            "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://io/async/output"}})
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=OLD_CONFIG)
    for asynchronous in (False, True):
        event = _preflight_event(url, stack_id, {"main": "ml.m5.large"})
        event["ResourceProperties"]["Asynchronous"] = str(asynchronous).lower()
        release_check.handler(event, _Context())
    refused, passed = answers
    assert refused["Status"] == "FAILED" and refused["Reason"].startswith(
        f"endpoint {ENDPOINT} is asynchronous and this release makes it real-time, which SageMaker refuses")
    assert passed["Status"] == "SUCCESS"


def test_handler_source_is_self_contained():
    """It is deployed as inline source: only the standard library and boto3/botocore may be imported."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(release_check.__file__).read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert modules <= {"__future__", "hashlib", "json", "time", "urllib", "typing", "boto3", "botocore"}, modules


COMPONENT = "churn-prod"
COMPONENT_ALARMS = [f"{ENDPOINT}-{COMPONENT}-5xx-rate", f"{ENDPOINT}-{COMPONENT}-latency"]


def _component(status: str, model: str, memory: int = 1024) -> dict:
    return {"InferenceComponentName": COMPONENT, "InferenceComponentArn":
            f"arn:aws:sagemaker:eu-west-1:123456789012:inference-component/{COMPONENT}", "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{ENDPOINT}",
            "InferenceComponentStatus": status, "Specification": {"ModelName": model, "ComputeResourceRequirements": {
                "MinMemoryRequiredInMb": memory, "NumberOfCpuCoresRequired": 1.0}},
            "CreationTime": 0, "LastModifiedTime": 0}


def _component_event(url: str, stack_id: str) -> dict:
    return {"RequestType": "Update", "ResponseURL": url, "StackId": stack_id, "RequestId": "req-2",
            "LogicalResourceId": "ChurnReleaseCheck", "ResourceProperties": {
                "Check": "component", "EndpointName": ENDPOINT, "InferenceComponentName": COMPONENT,
                "ModelName": "model-new", "AlarmNames": COMPONENT_ALARMS,
                # CloudFormation passes a custom resource's numbers as text
                "Compute": {"MinMemoryRequiredInMb": "2048", "NumberOfCpuCoresRequired": "1"}}}


@pytest.mark.parametrize("running, status, verdict, memory", [
    ("model-new", "InService", "SUCCESS", 2048),
    ("model-old", "InService", "FAILED", 2048),   # SageMaker rolled the component back to the previous model
    ("model-new", "Failed", "FAILED", 2048),
    ("model-new", "InService", "FAILED", 1024),   # ...or back to the previous compute (a memory-only release)
])
def test_a_component_release_passes_only_on_the_model_just_deployed(aws_client, cloudformation_url, stack_id,
                                                                     monkeypatch, running, status, verdict, memory):
    """moto has no inference components: SageMaker's answers are stubbed, CloudWatch and CloudFormation are moto."""
    url, answers = cloudformation_url
    cloudwatch = aws_client("cloudwatch")
    create_alarm(cloudwatch, COMPONENT_ALARMS[0], "ALARM" if running == "model-old" else "OK")
    create_alarm(cloudwatch, COMPONENT_ALARMS[1], "OK")
    sagemaker = aws_client("sagemaker")
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_inference_component", _component("Updating", running),
                          {"InferenceComponentName": COMPONENT})
        stub.add_response("describe_inference_component", _component(status, running, memory),
                          {"InferenceComponentName": COMPONENT})
        clients = {"sagemaker": sagemaker, "cloudwatch": cloudwatch, "cloudformation": aws_client("cloudformation"),
                   "application-autoscaling": aws_client("application-autoscaling")}
        monkeypatch.setattr(release_check, "POLL_SECONDS", 0.01)
        result = release_check.handler(_component_event(url, stack_id), _Context(), clients=clients)
    assert result["Status"] == verdict
    (answer,) = answers
    assert answer["PhysicalResourceId"] == f"{COMPONENT}-release-check"
    if running == "model-old":
        assert answer["Reason"] == (
            f"SageMaker rolled the release back: inference component {COMPONENT} runs model model-old, not model-new "
            f"which this stack deployed; alarm(s) in ALARM: {COMPONENT_ALARMS[0]}. The stack rolls back and keeps "
            "the model the component serves from")
    elif status == "Failed":
        assert answer["Reason"].startswith(f"inference component {COMPONENT} is Failed on model model-new")
    elif memory == 1024:
        assert answer["Reason"].startswith(
            f"SageMaker rolled the release back: inference component {COMPONENT} runs model model-new with other "
            "compute (MinMemoryRequiredInMb), not model-new which this stack deployed")
    else:
        assert answer["Reason"] == (f"inference component {COMPONENT} is InService on model model-new, the model "
                                    "this stack deployed")


def _package(sagemaker, model_data: str, group: str = "churn-regional", metadata: dict | None = None) -> str:
    try:
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    except sagemaker.exceptions.ClientError:
        pass
    return sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", CustomerMetadataProperties=metadata or {},
        InferenceSpecification={"Containers": [{"Image": "x", "ModelDataUrl": model_data}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]


def test_a_model_release_copies_the_version_once_and_never_overwrites(aws_client, cloudformation_url, stack_id):
    """moto's S3 and SageMaker (the package's model data), through the handler as CloudFormation calls it."""
    url, answers = cloudformation_url
    s3, sagemaker = aws_client("s3"), aws_client("sagemaker")
    for bucket in ("artifacts", "models"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="artifacts", Key="models/churn-regional/job-1/model.tar.gz", Body=b"v1")
    s3.put_object(Bucket="artifacts", Key="models/churn-regional/job-2/model.tar.gz", Body=b"v2")
    first = _package(sagemaker, "s3://artifacts/models/churn-regional/job-1/model.tar.gz")
    second = _package(sagemaker, "s3://artifacts/models/churn-regional/job-2/model.tar.gz")

    def release(arn: str, key: str, request: str = "Create") -> dict:
        event = {"RequestType": request, "ResponseURL": url, "StackId": stack_id, "RequestId": "req-3",
                 "LogicalResourceId": "Release", "ResourceProperties": {
                     "Check": "artifact", "EndpointName": "many-prod", "ModelPackageArn": arn, "Bucket": "models",
                     "Key": key}}
        return release_check.handler(event, _Context())

    assert release(first, "models/churn-regional/v1.tar.gz")["Status"] == "SUCCESS"
    assert answers[-1]["PhysicalResourceId"] == "s3://models/models/churn-regional/v1.tar.gz"
    assert release(first, "models/churn-regional/v1.tar.gz", "Update")["Reason"].endswith("holds " + first +
                                                                                          "'s artifact already")
    assert release(second, "models/churn-regional/v2.tar.gz", "Update")["Status"] == "SUCCESS"
    copied = s3.get_object(Bucket="models", Key="models/churn-regional/v2.tar.gz")
    assert copied["Body"].read() == b"v2"
    assert copied["Metadata"] == {"source": "s3://artifacts/models/churn-regional/job-2/model.tar.gz",
                                  "model-package": second}
    # Another version under an existing key: refused, the served artifact untouched.
    refused = release(second, "models/churn-regional/v1.tar.gz", "Update")
    assert refused["Status"] == "FAILED" and "is never overwritten" in refused["Reason"]
    assert s3.get_object(Bucket="models", Key="models/churn-regional/v1.tar.gz")["Body"].read() == b"v1"
    # Delete keeps the artifact: an earlier version stays available to go back to.
    assert release(first, "models/churn-regional/v1.tar.gz", "Delete")["Status"] == "SUCCESS"
    assert s3.head_object(Bucket="models", Key="models/churn-regional/v1.tar.gz")


def test_a_large_model_is_copied_in_parts_with_its_source_recorded(aws_client):
    """Above 8 MiB boto3 copies in parts (CreateMultipartUpload carries the metadata): moto's S3."""
    s3, sagemaker = aws_client("s3"), aws_client("sagemaker")
    for bucket in ("big-artifacts", "big-models"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="big-artifacts", Key="models/big/model.tar.gz", Body=b"x" * (9 * 1024 * 1024))
    arn = _package(sagemaker, "s3://big-artifacts/models/big/model.tar.gz")
    verdict = release_check.release_artifact(sagemaker, s3, arn, "big-models", "models/big/v1.tar.gz")
    assert verdict.startswith("copied ")
    head = s3.head_object(Bucket="big-models", Key="models/big/v1.tar.gz")
    assert head["ContentLength"] == 9 * 1024 * 1024
    assert head["Metadata"] == {"source": "s3://big-artifacts/models/big/model.tar.gz", "model-package": arn}


# --------------------------------------------------------------------------------------------- edge releases
COMPONENT_ARN = "arn:aws:greengrass:eu-west-1:123456789012:components:mlops.churn-edge:versions:1.0.{}"


def _recipe(version: int, bucket: str = "edge") -> str:
    return json.dumps({"RecipeFormatVersion": "2020-01-25", "ComponentName": "mlops.churn-edge",
                       "ComponentVersion": f"1.0.{version}", "Manifests": [{"Platform": {"os": "linux"}, "Artifacts": [
                           {"URI": f"s3://{bucket}/churn-edge/v{version}.tar.gz", "Unarchive": "NONE"}]}]})


def _state(state: str, **extra) -> dict:
    return {"arn": COMPONENT_ARN.format(1), "status": {"componentState": state, **extra}}


def _edge_package(sagemaker, artifact: str | None) -> str:
    """A version of an edge build: its compiled artifact in the customer metadata (none: a build without it)."""
    return _package(sagemaker, "s3://artifacts/m/model.tar.gz", group="churn-edge",
                    metadata=None if artifact is None else {"edge-artifact": artifact, "edge-target": "rasp4b"})


def test_an_edge_release_copies_the_compiled_artifact_and_makes_the_component_once(aws_client, cloudformation_url,
                                                                                      stack_id):
    """moto's S3 and SageMaker (the version's edge-artifact metadata); Greengrass v2, which moto lacks, stubbed."""
    import boto3

    url, answers = cloudformation_url
    s3, sagemaker = aws_client("s3"), aws_client("sagemaker")
    for bucket in ("artifacts", "edge"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="artifacts", Key="models/churn-edge/neo-1/model.tar.gz", Body=b"compiled")
    arn = _edge_package(sagemaker, "s3://artifacts/models/churn-edge/neo-1/model.tar.gz")
    greengrass = boto3.client("greengrassv2", region_name="eu-west-1")
    stubber = Stubber(greengrass)
    clients = {"sagemaker": sagemaker, "s3": s3, "cloudformation": aws_client("cloudformation"),
               "greengrassv2": greengrass}

    def release(recipe: str, request: str = "Create", version: int = 1) -> dict:
        event = {"RequestType": request, "ResponseURL": url, "StackId": stack_id, "RequestId": "req-4",
                 "LogicalResourceId": "Component", "ResourceProperties": {
                     "Check": "edge", "ModelPackageArn": arn, "Bucket": "edge", "Key": f"churn-edge/v{version}.tar.gz",
                     "ComponentArn": COMPONENT_ARN.format(version), "Recipe": recipe}}
        with stubber:
            return release_check.handler(event, _Context(), clients=clients)

    # First release: the artifact is copied, the version made (with an idempotency token) and found DEPLOYABLE.
    stubber.add_client_error("describe_component", "ResourceNotFoundException", http_status_code=404,
                             expected_params={"arn": COMPONENT_ARN.format(1)})
    stubber.add_response("create_component_version", {
        "componentName": "mlops.churn-edge", "componentVersion": "1.0.1", "creationTimestamp": 0,
        "status": {"componentState": "REQUESTED"}}, {"inlineRecipe": _recipe(1).encode(), "clientToken": __import__(
            "hashlib").sha256((_recipe(1) + "req-4").encode()).hexdigest()})
    stubber.add_response("describe_component", _state("DEPLOYABLE"), {"arn": COMPONENT_ARN.format(1)})
    made = release(_recipe(1))
    assert made == {"Status": "SUCCESS", "Reason": f"copied {arn}'s artifact to s3://edge/churn-edge/v1.tar.gz; "
                                                   "made component mlops.churn-edge 1.0.1, DEPLOYABLE"}
    assert answers[-1]["PhysicalResourceId"] == COMPONENT_ARN.format(1)
    copied = s3.get_object(Bucket="edge", Key="churn-edge/v1.tar.gz")
    assert copied["Body"].read() == b"compiled"
    assert copied["Metadata"] == {"source": "s3://artifacts/models/churn-edge/neo-1/model.tar.gz",
                                  "model-package": arn}

    # Released again (a rollback to it): the artifact and the version are found in place, nothing is made.
    stubber.add_response("describe_component", _state("DEPLOYABLE"), {"arn": COMPONENT_ARN.format(1)})
    stubber.add_response("get_component", {"recipeOutputFormat": "JSON", "recipe": _recipe(1).encode()},
                         {"arn": COMPONENT_ARN.format(1), "recipeOutputFormat": "JSON"})
    stubber.add_response("describe_component", _state("DEPLOYABLE"), {"arn": COMPONENT_ARN.format(1)})
    again = release(_recipe(1), "Update")
    assert again["Reason"] == (f"s3://edge/churn-edge/v1.tar.gz holds {arn}'s artifact already; found component "
                               "mlops.churn-edge 1.0.1, DEPLOYABLE")

    # A version that exists with another artifact is never replaced (Greengrass may spell the key Uri).
    other = json.loads(_recipe(1, "other"))
    other["Manifests"][0]["Artifacts"] = [{"Uri": "s3://other/churn-edge/v1.tar.gz", "Digest": "x", "Algorithm": "SHA-256"}]
    stubber.add_response("describe_component", _state("DEPLOYABLE"), {"arn": COMPONENT_ARN.format(1)})
    stubber.add_response("get_component", {"recipeOutputFormat": "JSON", "recipe": json.dumps(other).encode()},
                         {"arn": COMPONENT_ARN.format(1), "recipeOutputFormat": "JSON"})
    refused = release(_recipe(1), "Update")
    assert refused["Status"] == "FAILED" and refused["Reason"] == (
        'component mlops.churn-edge 1.0.1 exists and installs {"artifacts": ["s3://other/churn-edge/v1.tar.gz"], '
        '"dependencies": {}}, not {"artifacts": ["s3://edge/churn-edge/v1.tar.gz"], "dependencies": {}}; versions '
        "are immutable: it is never replaced")

    # Greengrass could not make the version (its artifact unreadable then): the stack fails with its words...
    stubber.add_client_error("describe_component", "ResourceNotFoundException", http_status_code=404)
    stubber.add_response("create_component_version", {
        "componentName": "mlops.churn-edge", "componentVersion": "1.0.1", "creationTimestamp": 0,
        "status": {"componentState": "REQUESTED"}})
    stubber.add_response("describe_component", _state(
        "FAILED", message="artifact validation failed",
        errors={"s3://edge/churn-edge/v1.tar.gz": "Access denied"}))
    failed = release(_recipe(1), "Update")
    assert failed["Status"] == "FAILED" and failed["Reason"] == (
        "component mlops.churn-edge 1.0.1 is FAILED: artifact validation failed (s3://edge/churn-edge/v1.tar.gz: "
        "Access denied); the next release of this version makes it again")
    # ...and the next attempt (another CloudFormation request: another token) deletes the failed version and
    # makes it again, instead of finding it and failing forever.
    stubber.add_response("describe_component", _state("FAILED"), {"arn": COMPONENT_ARN.format(1)})
    stubber.add_response("delete_component", {}, {"arn": COMPONENT_ARN.format(1)})
    stubber.add_response("create_component_version", {
        "componentName": "mlops.churn-edge", "componentVersion": "1.0.1", "creationTimestamp": 0,
        "status": {"componentState": "REQUESTED"}}, {"inlineRecipe": _recipe(1).encode(), "clientToken": __import__(
            "hashlib").sha256((_recipe(1) + "req-4").encode()).hexdigest()})
    stubber.add_response("describe_component", _state("DEPLOYABLE"), {"arn": COMPONENT_ARN.format(1)})
    assert release(_recipe(1), "Update")["Reason"].endswith(
        "made again (the earlier attempt had FAILED) component mlops.churn-edge 1.0.1, DEPLOYABLE")
    stubber.assert_no_pending_responses()
    # Delete keeps the version and its artifact: going back deploys them again.
    assert release(_recipe(1), "Delete")["Status"] == "SUCCESS"
    assert s3.head_object(Bucket="edge", Key="churn-edge/v1.tar.gz")


def test_a_version_without_a_compiled_artifact_is_refused_before_anything_is_made(aws_client):
    s3, sagemaker = aws_client("s3"), aws_client("sagemaker")
    arn = _edge_package(sagemaker, None)
    with pytest.raises(release_check.ReleaseCheckFailed) as failure:
        release_check.release_artifact(sagemaker, s3, arn, "edge", "churn-edge/v9.tar.gz", kind="edge")
    assert str(failure.value) == (f"{arn} has no compiled edge artifact (customer metadata edge-artifact: an s3:// "
                                  ".tar.gz, what a build with build.edge registers), got none")


def test_a_component_version_being_made_is_waited_for_within_the_deadline():
    import boto3

    greengrass = boto3.client("greengrassv2", region_name="eu-west-1")
    now = [0.0]
    with Stubber(greengrass) as stubber:
        stubber.add_client_error("describe_component", "ResourceNotFoundException", http_status_code=404)
        stubber.add_response("create_component_version", {
            "componentName": "mlops.churn-edge", "componentVersion": "1.0.1", "creationTimestamp": 0,
            "status": {"componentState": "REQUESTED"}})
        for state in ("REQUESTED", "INITIATED", "DEPLOYABLE"):
            stubber.add_response("describe_component", _state(state))
        verdict = release_check.release_component(greengrass, COMPONENT_ARN.format(1), _recipe(1), deadline=60,
                                                  clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
        assert verdict == "made component mlops.churn-edge 1.0.1, DEPLOYABLE" and now[0] == 10
        stubber.add_response("describe_component", _state("DEPLOYABLE"))
        stubber.add_response("get_component", {"recipeOutputFormat": "JSON", "recipe": _recipe(1).encode()})
        stubber.add_response("describe_component", _state("INITIATED"))
        with pytest.raises(release_check.ReleaseCheckFailed, match="is still INITIATED; the release check timed out"):
            release_check.release_component(greengrass, COMPONENT_ARN.format(1), _recipe(1), deadline=now[0] + 1,
                                            clock=lambda: now[0], sleep=lambda s: None)


def test_the_registry_is_read_in_its_own_region(aws_client):
    """A stage in another region than dev reads the version where it was registered: SageMaker answers for its
    own region's ARNs only."""
    here = aws_client("sagemaker")
    aws = {"sagemaker": here}
    there = release_check._registry(aws, "arn:aws:sagemaker:us-east-1:111111111111:model-package/g/1", False)
    assert (here.meta.region_name, there.meta.region_name) == ("eu-west-1", "us-east-1")
    assert release_check._registry(aws, "arn:aws:sagemaker:eu-west-1:111111111111:model-package/g/1", False) is here
