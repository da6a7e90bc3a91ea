"""A real moto server process on 127.0.0.1 for the ``mlops`` tests, and helpers to run the command.

``moto_server`` (per test) resets the server's state and yields its URL; the process itself starts once per
test session (per xdist worker). boto3 reaches it through ``AWS_ENDPOINT_URL``, exactly as the CLI would reach
AWS, with fake credentials and no profile files. ``stub_client`` is for the few calls moto lacks.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from io import StringIO

import boto3
import pytest
from botocore.stub import Stubber

from ops_support import OperationStubber
from support import moto_server_process

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account

_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
          "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")


@pytest.fixture(scope="session")
def _moto_process():
    """The session's moto server process, with AWS_ENDPOINT_URL and fake credentials set for the tests."""
    with moto_server_process() as url:
        yield from _configured(url)


def _configured(url: str):
    # moto loads a service's backend on its first request; CloudFormation's pulls in every resource model
    # (~1.5 s). A read-only request in the background overlaps that with the first tests.
    threading.Thread(target=_warm_up, args=(url,), daemon=True).start()
    saved = {key: os.environ.get(key) for key in (*_ENV, *_UNSET, "AWS_ENDPOINT_URL")}
    os.environ.update(_ENV, AWS_ENDPOINT_URL=url)
    for key in _UNSET:
        os.environ.pop(key, None)
    try:
        yield url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _warm_up(url: str) -> None:
    try:
        boto3.client("cloudformation", endpoint_url=url, region_name="us-west-2", aws_access_key_id="warm",
                     aws_secret_access_key="warm").list_stacks()
    except Exception:  # noqa: BLE001 - only a speed-up; a failure here shows up in the tests that need it
        pass


@pytest.fixture
def moto_server(_moto_process):
    """The moto server's URL, with its state reset for this test (AWS_ENDPOINT_URL and credentials set)."""
    request = urllib.request.Request(f"{_moto_process}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return _moto_process


@pytest.fixture
def aws_client(moto_server):
    """Factory: ``aws_client("sagemaker")`` is a boto3 client talking to the moto server."""
    def make(service: str, region: str = REGION):
        return boto3.client(service, region_name=region)
    return make


@pytest.fixture
def stub_client(moto_server, monkeypatch):
    """Factory: ``stub_client("sagemaker")`` returns an activated ``Stubber`` whose client the CLI will use;
    ``stub_client("cloudwatch", ["GetMetricStatistics"])`` stubs only those operations (an
    ``OperationStubber``: the client's other calls reach the moto server, and every queued response must
    have been used by the end of the test).

    Only for calls moto lacks (update_endpoint, shadow variants, deployment configs, percentiles) or errors it
    cannot produce (access denied, throttling). Other services keep talking to the moto server.
    """
    from constructs_lib.ops.aws import Context

    stubbed: dict[str, object] = {}
    original = Context.client

    def client(self, service_name):
        return stubbed[service_name] if service_name in stubbed else original(self, service_name)

    monkeypatch.setattr(Context, "client", client)
    stubbers = []

    def make(service: str, operations: list[str] | None = None) -> Stubber:
        real = boto3.client(service, region_name=REGION)
        stubber = Stubber(real) if operations is None else OperationStubber(real, operations)
        stubber.activate()
        stubbed[service] = real
        stubbers.append(stubber)
        return stubber

    yield make
    for stubber in stubbers:
        if isinstance(stubber, OperationStubber):
            stubber.assert_no_pending_responses()
        stubber.deactivate()


@dataclass
class Result:
    """What ``mlops`` did: exit code, stdout and stderr."""

    code: int
    out: str
    err: str


@pytest.fixture
def mlops(moto_server):
    """Run ``mlops ARGS...`` in-process (``main(argv)``) and capture its exit code and output."""
    from constructs_lib.ops.cli import main

    def run(*argv: str) -> Result:
        out, err = StringIO(), StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(argv))
        return Result(code, out.getvalue(), err.getvalue())
    return run
