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
