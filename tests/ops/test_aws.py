"""AWS context and error translation: retries on throttling, one-line errors with distinct exit codes."""

import botocore.exceptions
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from ops_support import create_versions

from constructs_lib.ops.aws import Context, translate
from constructs_lib.ops.base import (
    EXIT_ACCESS,
    EXIT_AWS,
    EXIT_NOT_FOUND,
    EXIT_THROTTLED,
    EXIT_USAGE,
)

GROUP = "churn-models"


def test_clients_retry_throttling_with_backoff_within_a_bounded_time(moto_server):
    """A hung endpoint cannot hold a command for minutes: 5 attempts x (5 s connect + 20 s read) + 4 backoffs of
    at most 20 s = 205 s per call, the bound the README documents."""
    config = Context().client("sagemaker").meta.config
    assert config.retries["mode"] == "standard"
    assert config.retries["total_max_attempts"] == 5
    assert (config.connect_timeout, config.read_timeout) == (5, 20)
    from constructs_lib.ops.aws import MAX_CALL_SECONDS, max_call_seconds
    assert MAX_CALL_SECONDS == 205
    assert max_call_seconds(2, 1, 1) == 2 * (1 + 1) + 20


def test_the_bounds_can_be_overridden_and_bad_overrides_are_one_line(moto_server, monkeypatch, mlops):
    monkeypatch.setenv("MLOPS_AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("MLOPS_AWS_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv("MLOPS_AWS_READ_TIMEOUT", "7")
    config = Context().client("sagemaker").meta.config
    assert (config.retries["total_max_attempts"], config.connect_timeout, config.read_timeout) == (2, 3, 7)
    for bad in ("0", "nan", "1e3", "301", "-1", "\u00b2"):
        monkeypatch.setenv("MLOPS_AWS_READ_TIMEOUT", bad)
        result = mlops("resolve", GROUP)
        assert (result.code, result.err) == (
            EXIT_USAGE, f"error: MLOPS_AWS_READ_TIMEOUT must be a whole number from 1 to 300, got {bad!r}\n")


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


def test_a_throttled_call_is_retried_and_succeeds(mlops, aws_client, monkeypatch):
    [arn] = create_versions(aws_client("sagemaker"), GROUP, ["Approved"])
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0)
    sent = []

    # The first two ListModelPackages requests get a real throttling response at the HTTP layer; botocore's
    # retry logic then sends the request again, and the moto server answers it.
    def throttle(request, **_):
        sent.append(request.url)
        if len(sent) <= 2:
            return AWSResponse(request.url, 400, {"x-amzn-requestid": "r", "content-type": "application/x-amz-json-1.1"},
                               _Body(b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'))
        return None

    original = Context.client

    def client(self, name):
        made = original(self, name)
        made.meta.events.register("before-send.sagemaker.ListModelPackages", throttle)
        return made

    monkeypatch.setattr(Context, "client", client)
    result = mlops("resolve", GROUP)
    assert (result.code, result.out.strip(), len(sent)) == (0, arn, 3)


@pytest.mark.parametrize("code, message, exit_code, line", [
    ("AccessDeniedException", "User: arn:aws:sts::1:assumed-role/x is not authorized to perform: "
     "sagemaker:ListModelPackages", EXIT_ACCESS,
     "error: access denied: check --profile/--role-arn and the role's policy: ListModelPackages: "
     "AccessDeniedException: User: arn:aws:sts::1:assumed-role/x is not authorized to perform: "
     "sagemaker:ListModelPackages\n"),
    ("ExpiredTokenException", "The security token included in the request is expired", EXIT_ACCESS,
     "error: credentials expired: refresh them (aws sso login / new session): ListModelPackages: "
     "ExpiredTokenException: The security token included in the request is expired\n"),
    ("ThrottlingException", "Rate exceeded", EXIT_THROTTLED,
     "error: throttled by AWS after 5 attempts, try again later: ListModelPackages: ThrottlingException: "
     "Rate exceeded\n"),
    ("ValidationException", "1 validation error detected: Value 'x y' at 'modelPackageGroupName' failed",
     EXIT_USAGE, "error: rejected by AWS: ListModelPackages: ValidationException: 1 validation error detected: "
     "Value 'x y' at 'modelPackageGroupName' failed\n"),
    ("ResourceNotFound", "Group missing", EXIT_NOT_FOUND,
     "error: not found: ListModelPackages: ResourceNotFound: Group missing\n"),
    ("InternalFailure", "oops", EXIT_AWS, "error: AWS error: ListModelPackages: InternalFailure: oops\n"),
])
def test_service_errors_become_one_line_and_an_exit_code(mlops, stub_client, code, message, exit_code, line):
    # Stubber: moto cannot deny access, expire tokens or throttle. (Stubbed errors skip botocore's retries:
    # the throttling case is the error still left after them.)
    stubber = stub_client("sagemaker")
    stubber.add_client_error("list_model_packages", service_error_code=code, service_message=message,
                             http_status_code=400)
    result = mlops("resolve", GROUP)
    assert (result.code, result.out, result.err) == (exit_code, "", line)


def test_missing_credentials(mlops, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = mlops("resolve", GROUP)
    assert (result.code, result.err) == (
        EXIT_ACCESS, "error: no AWS credentials found: pass --profile, run aws configure/sso login, or set "
                     "AWS_ACCESS_KEY_ID\n")


def test_unknown_profile(mlops):
    result = mlops("resolve", GROUP, "--profile", "nope")
    assert (result.code, result.err) == (EXIT_USAGE, "error: The config profile (nope) could not be found: "
                                                     "check --profile\n")


def test_no_region(mlops, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = mlops("resolve", GROUP)
    assert (result.code, result.err) == (
        EXIT_USAGE, "error: no AWS region: pass --region or set AWS_REGION / a profile region\n")


def test_role_assumption_uses_a_named_session(moto_server, aws_client):
    context = Context(role_arn="arn:aws:iam::222222222222:role/ops")
    identity = context.client("sts").get_caller_identity()
    assert identity["Account"] == "222222222222"
    assert identity["Arn"].startswith("arn:aws:sts::222222222222:assumed-role/ops/mlops-")


def test_translate_leaves_other_exceptions_alone():
    with pytest.raises(TypeError):
        translate(ValueError("not AWS"))
    error = translate(botocore.exceptions.EndpointConnectionError(endpoint_url="https://x"))
    assert (error.exit_code, str(error)) == (
        EXIT_AWS, 'cannot reach AWS after 5 attempts (Could not connect to the endpoint URL: "https://x"): check '
                  'the network, proxy or AWS_ENDPOINT_URL; if the command makes a change (approve, reject, shift, '
                  'rollback), it may have been applied: look (mlops resolve GROUP, mlops status ENDPOINT) before '
                  'running it again')
