"""``mlops smoke``: sample payloads through the endpoint, success and p95 latency budget."""

import io
import json

import pytest
from botocore.response import StreamingBody
from ops_support import ENDPOINT, create_endpoint, endpoint_description

from constructs_lib.ops.base import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE
from constructs_lib.ops.smoke import percentile


@pytest.fixture
def payloads(tmp_path):
    folder = tmp_path / "payloads"
    folder.mkdir()
    (folder / "a.json").write_text('{"features": [1, 2, 3]}')
    (folder / "b.csv").write_text("1,2,3\n")
    (folder / ".hidden").write_text("ignored")
    return folder


def test_passes_within_budget(mlops, aws_client, payloads):
    create_endpoint(aws_client("sagemaker"))
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "6", "--p95-ms", "5000",
                   "--json")
    data = json.loads(result.out)
    assert (result.code, data["calls"], data["failures"], data["passed"]) == (0, 6, 0, True)
    assert data["payloads"] == ["a.json", "b.csv"]
    assert 0 < data["p50_ms"] <= data["p95_ms"] <= data["max_ms"]


def test_fails_above_the_latency_budget(mlops, aws_client, payloads):
    create_endpoint(aws_client("sagemaker"))
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "4", "--p95-ms", "0.001")
    assert result.code == EXIT_FAILED
    lines = result.out.splitlines()
    assert lines[0].split() == ["calls", "failures", "p50", "ms", "p95", "ms", "max", "ms", "p95", "budget", "ms",
                                "result"]
    assert lines[2].split()[:2] == ["4", "0"] and lines[2].split()[-2:] == ["0.001", "FAIL"]
    assert lines[3].startswith("FAIL: p95 latency ") and lines[3].endswith(" ms is above the budget of 0.001 ms")


def test_a_failing_invocation_fails_the_test(mlops, stub_client, payloads):
    # moto's InvokeEndpoint always succeeds: the model error comes from Stubber.
    sagemaker = stub_client("sagemaker")
    sagemaker.add_response("describe_endpoint", endpoint_description())
    runtime = stub_client("sagemaker-runtime")
    runtime.add_client_error("invoke_endpoint", "ModelError", "Received server error (500) from primary",
                             http_status_code=424)
    runtime.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"0.7"), 3)},
                         {"EndpointName": ENDPOINT, "Body": b"1,2,3\n", "ContentType": "text/csv"})
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "2")
    assert result.code == EXIT_FAILED
    assert result.out.splitlines()[-1] == ("FAIL: 1 of 2 invocations failed (first: a.json: AWS error: InvokeEndpoint: "
                                           "ModelError: Received server error (500) from primary)")
    runtime.assert_no_pending_responses()


def test_unknown_endpoint(mlops, payloads):
    assert mlops("smoke", "nope", "--payloads", str(payloads)).code == EXIT_NOT_FOUND


@pytest.mark.parametrize("argv, message", [
    (["--payloads", "/no/such/dir"], "--payloads: /no/such/dir is not a directory"),
    (["--payloads", "{empty}"], "--payloads: {empty} holds no payload files"),
    (["--payloads", "{payloads}", "--invocations", "0"],
     "argument --invocations: must be at least 1 and at most 1000, got 0"),
    (["--payloads", "{payloads}", "--p95-ms", "-1"], "argument --p95-ms: must be more than 0"),
])
def test_bad_arguments(mlops, payloads, tmp_path, argv, message):
    (tmp_path / "empty").mkdir()
    values = {"empty": str(tmp_path / "empty"), "payloads": str(payloads)}
    argv = [a.format(**values) for a in argv]
    result = mlops("smoke", ENDPOINT, *argv)
    assert result.code == EXIT_USAGE and message.format(**values) in result.err, result.err


def test_percentile_is_nearest_rank():
    values = list(range(1, 21))  # 1..20: nearest-rank p95 is the 19th value, p50 the 10th
    assert (percentile(values, 95), percentile(values, 50), percentile([7.0], 95)) == (19, 10, 7.0)


# --------------------------------------------------------------------------------------------- --stream
def _message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of AWS's event-stream encoding (application/vnd.amazon.eventstream): prelude (total and
    headers length, CRC32), string headers, payload, message CRC32; what SageMaker sends and botocore parses."""
    import struct
    import zlib

    encoded = b"".join(struct.pack(">B", len(name)) + name.encode() + struct.pack(">BH", 7, len(value))
                       + value.encode() for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack(">I", zlib.crc32(head))


def _part(data: bytes) -> bytes:
    return _message({":event-type": "PayloadPart", ":content-type": "application/octet-stream",
                     ":message-type": "event"}, data)


def _error(kind: str, message: str) -> bytes:
    return _message({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                    json.dumps({"Message": message}).encode())


@pytest.fixture
def streaming_endpoint(monkeypatch):
    """A local HTTP server answering InvokeEndpointWithResponseStream with real event-stream bytes (moto has no
    endpoint runtime and botocore's Stubber refuses event streams); ``streams`` holds what each call gets."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    streams: list[bytes] = []
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            paths.append(self.path)
            body = streams.pop(0) if len(streams) > 1 else streams[0]
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("X-Amzn-SageMaker-Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{server.server_port}")
    yield streams, paths
    server.shutdown()


def test_streamed_responses_are_read_to_the_end(mlops, aws_client, payloads, streaming_endpoint):
    streams, paths = streaming_endpoint
    streams.append(_part(b'{"token": "Hel') + _part(b'lo"}'))
    create_endpoint(aws_client("sagemaker"))
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "3", "--stream", "--json")
    data = json.loads(result.out)
    assert (result.code, data["calls"], data["failures"], data["passed"]) == (0, 3, 0, True)
    assert 0 < data["first_part_p95_ms"] <= data["max_ms"]
    assert paths == [f"/endpoints/{ENDPOINT}/invocations-response-stream"] * 3


@pytest.mark.parametrize("stream, message", [
    (_part(b"partial") + _error("ModelStreamError", "the model stopped"), "the model stopped"),
    (b"", "the response stream carried no payload part"),
])
def test_a_stream_that_ends_in_an_error_or_carries_nothing_fails(mlops, aws_client, payloads, streaming_endpoint,
                                                                  stream, message):
    streaming_endpoint[0].append(stream)
    create_endpoint(aws_client("sagemaker"))
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "2", "--stream", "--json")
    data = json.loads(result.out)
    assert (result.code, data["failures"], data["passed"]) == (EXIT_FAILED, 2, False)
    assert message in data["errors"][0]["error"]


# ------------------------------------------------------------------------------------------- asynchronous
ASYNC_CONFIG = "churn-async-1"


def create_async_endpoint(sagemaker, s3, output="s3://churn-async-io/async/output"):
    """An asynchronous endpoint laid out as ModelEndpoint does, and its bucket."""
    s3.create_bucket(Bucket="churn-async-io", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    sagemaker.create_model(ModelName="churn-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
                           PrimaryContainer={"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn:1"})
    sagemaker.create_endpoint_config(
        EndpointConfigName=ASYNC_CONFIG, ProductionVariants=[
            {"VariantName": "main", "ModelName": "churn-model", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large", "InitialVariantWeight": 1}],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": output,
                                               "S3FailurePath": output.replace("output", "failure")}})
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ASYNC_CONFIG)


def queue_async_results(moto_server, *results):
    """moto's queue of async results, in order: (is_failure, data)."""
    import urllib.request
    body = json.dumps({"account_id": "123456789012", "region": "eu-west-1", "results": [
        {"is_failure": failure, "data": data} for failure, data in results]}).encode()
    request = urllib.request.Request(f"{moto_server}/moto-api/static/sagemaker/async-endpoint-results", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def test_async_requests_go_under_the_input_folder_and_every_result_must_arrive(mlops, aws_client, payloads):
    s3 = aws_client("s3")
    create_async_endpoint(aws_client("sagemaker"), s3)
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "3", "--async", "--json")
    data = json.loads(result.out)
    assert (result.code, data["calls"], data["failures"], data["passed"]) == (0, 3, 0, True), result.out
    assert data["input_location"] == "s3://churn-async-io/async/input"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="churn-async-io")["Contents"]]
    assert len(keys) == 3 and all(k.startswith("async/input/smoke-") for k in keys)
    assert [k.rsplit("/", 1)[1] for k in sorted(keys)] == ["0000-a.json", "0001-b.csv", "0002-a.json"]
    assert data["p50_ms"] is not None


def test_an_async_error_report_fails_the_call_with_its_text(mlops, aws_client, payloads, moto_server):
    create_async_endpoint(aws_client("sagemaker"), aws_client("s3"))
    queue_async_results(moto_server, (False, '{"score": 0.7}'), (True, "ModelError: out of memory"))
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "2", "--async")
    assert result.code == EXIT_FAILED
    last = result.out.splitlines()[-1]
    assert last.startswith("FAIL: 1 of 2 invocations failed (first: b.csv: error report s3://")
    assert last.endswith("/failure.json: ModelError: out of memory)")


def test_an_async_result_that_never_arrives_fails_after_the_timeout(mlops, aws_client, stub_client, payloads):
    create_async_endpoint(aws_client("sagemaker"), aws_client("s3"))
    runtime = stub_client("sagemaker-runtime")
    runtime.add_response("invoke_endpoint_async", {
        "InferenceId": "1", "OutputLocation": "s3://churn-async-io/async/output/1.out",
        "FailureLocation": "s3://churn-async-io/async/failure/1-error.out"})
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "1", "--async", "--timeout", "1")
    assert result.code == EXIT_FAILED
    assert result.out.splitlines()[-1] == "FAIL: 1 of 1 invocations failed (first: a.json: no result within 1 s)"
    runtime.assert_no_pending_responses()


@pytest.mark.parametrize("argv, output, message", [
    (["--async", "--stream"], None, "--async and --stream exclude each other"),
    (["--input-location", "s3://b/in"], None, "--input-location goes with --async"),
    (["--async"], "s3://churn-async-io/results", "--input-location is needed: the endpoint writes results to "
                                                 "s3://churn-async-io/results, not to an output/ folder"),
])
def test_async_usage_errors(mlops, aws_client, payloads, argv, output, message):
    create_async_endpoint(aws_client("sagemaker"), aws_client("s3"), **({"output": output} if output else {}))
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), *argv)
    assert result.code == EXIT_USAGE and message in result.err, result.err


def test_async_on_a_real_time_endpoint_is_a_usage_error(mlops, aws_client, payloads):
    create_endpoint(aws_client("sagemaker"))
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--async")
    assert result.code == EXIT_USAGE and "has no AsyncInferenceConfig): leave out --async" in result.err, result.err


def test_every_call_names_the_inference_component(mlops, aws_client, stub_client, payloads):
    """An endpoint hosting components answers only requests that name one: moto's DescribeEndpoint, the
    runtime stubbed so that each call's InferenceComponentName is checked."""
    create_endpoint(aws_client("sagemaker"))
    runtime = stub_client("sagemaker-runtime")
    for body, mime in ((b'{"features": [1, 2, 3]}', "application/json"), (b"1,2,3\n", "text/csv")):
        runtime.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"0.7"), 3)},
                             {"EndpointName": ENDPOINT, "Body": body, "ContentType": mime,
                              "InferenceComponentName": "churn-lite-test"})
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "2",
                   "--component", "churn-lite-test", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["failures"] == 0
    runtime.assert_no_pending_responses()
    refused = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--component", "x", "--async")
    assert (refused.code, refused.err.strip()) == (EXIT_USAGE, "error: --component and --async exclude each other: "
                                                   "inference components serve real-time requests")


def test_every_call_names_the_target_model(mlops, aws_client, stub_client, payloads):
    create_endpoint(aws_client("sagemaker"))
    runtime = stub_client("sagemaker-runtime")
    for body, mime in ((b'{"features": [1, 2, 3]}', "application/json"), (b"1,2,3\n", "text/csv")):
        runtime.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"0.7"), 3)},
                             {"EndpointName": ENDPOINT, "Body": body, "ContentType": mime,
                              "TargetModel": "churn-regional/v3.tar.gz"})
    result = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--invocations", "2",
                   "--target-model", "churn-regional/v3.tar.gz")
    assert result.code == 0, result.err
    runtime.assert_no_pending_responses()
    refused = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--target-model", "x", "--stream")
    assert refused.code == EXIT_USAGE and "only InvokeEndpoint names a target model" in refused.err
    both = mlops("smoke", ENDPOINT, "--payloads", str(payloads), "--target-model", "x", "--component", "c")
    assert both.code == EXIT_USAGE and "--component and --target-model exclude each other" in both.err
