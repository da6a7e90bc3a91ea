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
