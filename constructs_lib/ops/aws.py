"""The AWS side of every ``mlops`` subcommand: one lazily built session, role assumption, retries, error translation.

Clients honour ``AWS_ENDPOINT_URL`` (boto3's own setting), which is how the tests point them at a moto server.
"""

from __future__ import annotations

import getpass
import re
from typing import Any

import boto3
import botocore.exceptions
import botocore.loaders
import botocore.session
from botocore.config import Config

from .base import (
    EXIT_ACCESS,
    EXIT_AWS,
    EXIT_NOT_FOUND,
    EXIT_THROTTLED,
    EXIT_USAGE,
    OpsError,
)

#: Attempts per call (the first one included) before throttling or a transient error reaches the user.
MAX_ATTEMPTS = 5
#: Seconds to connect, and to wait for an answer, per attempt.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 20
#: botocore's standard retry mode waits at most this long between attempts.
MAX_BACKOFF_SECONDS = 20
#: Environment variables that override the three settings above (a CI job with a short budget, a slow link):
#: name -> (default, smallest, largest).
OVERRIDES = {
    "MLOPS_AWS_MAX_ATTEMPTS": (MAX_ATTEMPTS, 1, 10),
    "MLOPS_AWS_CONNECT_TIMEOUT": (CONNECT_TIMEOUT_SECONDS, 1, 60),
    "MLOPS_AWS_READ_TIMEOUT": (READ_TIMEOUT_SECONDS, 1, 300),
}


def max_call_seconds(attempts: int = MAX_ATTEMPTS, connect: int = CONNECT_TIMEOUT_SECONDS,
                     read: int = READ_TIMEOUT_SECONDS) -> int:
    """The longest one call can take against an unresponsive endpoint: every attempt times out, with the
    standard backoff between attempts. The README documents it; a test pins the arithmetic."""
    return attempts * (connect + read) + (attempts - 1) * MAX_BACKOFF_SECONDS


MAX_CALL_SECONDS = max_call_seconds()


def client_settings() -> tuple[int, int, int]:
    """(attempts, connect timeout, read timeout) with the ``OVERRIDES`` from the environment applied; a value
    that is not a whole number in range is a usage error."""
    import os

    values = []
    for name, (default, low, high) in OVERRIDES.items():
        text = os.environ.get(name, "").strip()
        if not text:
            values.append(default)
            continue
        if not (text.isascii() and text.isdecimal()) or not low <= int(text) <= high:
            raise OpsError(f"{name} must be a whole number from {low} to {high}, got {text[:40]!r}", EXIT_USAGE)
        values.append(int(text))
    return values[0], values[1], values[2]


def client_config() -> Config:
    """Throttling and transient errors retried with exponential backoff and jitter (botocore's "standard"
    mode) before they reach the user; the timeouts bound a hung connection (``client_settings``)."""
    attempts, connect, read = client_settings()
    return Config(retries={"mode": "standard", "total_max_attempts": attempts}, connect_timeout=connect,
                  read_timeout=read, user_agent_extra="mlops-cli")


_NOT_FOUND_CODES = {
    "ResourceNotFound", "ResourceNotFoundException", "NotFoundException", "NoSuchEntity",
    "PipelineNotFoundException", "StackNotFoundException",
}
_ACCESS_CODES = {
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException",
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
    "RequestExpired", "SignatureDoesNotMatch", "InvalidSignatureException", "MissingAuthenticationToken",
    "IncompleteSignature",
}
_THROTTLING_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "RequestThrottled", "SlowDown", "BandwidthLimitExceeded",
}
_VALIDATION_CODES = {
    "ValidationException", "ValidationError", "InvalidParameterValue", "InvalidParameterValueException",
    "InvalidParameterCombination", "InvalidParameterException", "MissingParameter", "ConflictException",
}
# SageMaker and CloudFormation report a missing resource as a validation error; only the message tells.
_NOT_FOUND_MESSAGE = re.compile(r"could not find|not found|does not exist|cannot find", re.IGNORECASE)


class Context:
    """Where a command acts: profile, region and optionally a role to assume in another account.

    The boto3 session is built on the first ``client()`` call, so ``--help`` and argument errors never touch
    credentials. With ``role_arn`` the caller's credentials assume that role through STS (session name
    ``mlops-<user>``, visible in CloudTrail) and every client acts as the role.
    """

    def __init__(self, profile: str | None = None, region: str | None = None, role_arn: str | None = None) -> None:
        self.profile = profile
        self.region = region
        self.role_arn = role_arn
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}

    @property
    def session(self) -> boto3.Session:
        """The boto3 session (the assumed role's when ``role_arn`` is set), built once."""
        if self._session is None:
            base = _session(profile_name=self.profile, region_name=self.region)
            if self.role_arn:
                base = self._assume_role(base)
            self._session = base
        return self._session

    def _assume_role(self, base: boto3.Session) -> boto3.Session:
        sts = base.client("sts", config=client_config())
        response = sts.assume_role(RoleArn=self.role_arn, RoleSessionName=session_name())
        credentials = response["Credentials"]
        return _session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=base.region_name,
        )

    def client(self, service_name: str) -> Any:
        """A boto3 client for ``service_name`` (cached), with retries on throttling."""
        if service_name not in self._clients:
            if not self.session.region_name:
                raise OpsError("no AWS region: pass --region or set AWS_REGION / a profile region", EXIT_USAGE)
            try:
                self._clients[service_name] = self.session.client(service_name, config=client_config())
            except botocore.exceptions.InvalidRegionError as error:
                raise translate(error) from None
            except ValueError as error:  # botocore's "Invalid endpoint: ..." for a malformed AWS_ENDPOINT_URL
                raise OpsError(f"cannot build an AWS client: {error} (check AWS_ENDPOINT_URL and the profile's "
                               "endpoint_url)", EXIT_USAGE) from None
        return self._clients[service_name]


_LOADER: botocore.loaders.Loader | None = None


def _session(**kwargs: Any) -> boto3.Session:
    # Service models are large JSON files; one loader per process parses each once, however many contexts
    # (commands run in one process, assumed roles) ask for clients.
    global _LOADER
    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, **kwargs)


def session_name() -> str:
    """``mlops-<local user>``, trimmed to STS's allowed characters and length, so CloudTrail shows who acted."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers; the prefix alone still identifies the tool
        user = "user"
    return ("mlops-" + re.sub(r"[^\w+=,.@-]", "-", user))[:64]


def error_code(error: botocore.exceptions.ClientError) -> str:
    """The AWS error code of a ClientError ('' when absent)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def translate(error: Exception) -> OpsError:
    """Turn a botocore/boto3 exception into a one-line ``OpsError`` with an exit code per cause.

    Not found -> EXIT_NOT_FOUND; access denied, expired or missing credentials -> EXIT_ACCESS; throttling
    still failing after the retries -> EXIT_THROTTLED; validation errors -> EXIT_USAGE; anything else EXIT_AWS.
    """
    if isinstance(error, OpsError):
        return error
    if isinstance(error, botocore.exceptions.ClientError):
        code = error_code(error)
        message = str(error.response.get("Error", {}).get("Message", "")).strip() or code
        operation = getattr(error, "operation_name", "") or "request"
        where = f"{operation}: {code}: {message}"
        if code in _NOT_FOUND_CODES or (code in _VALIDATION_CODES and _NOT_FOUND_MESSAGE.search(message)):
            return OpsError(f"not found: {where}", EXIT_NOT_FOUND)
        if code in _ACCESS_CODES or code.startswith("AccessDenied"):
            hint = ("credentials expired: refresh them (aws sso login / new session)"
                    if "Expired" in code else "access denied: check --profile/--role-arn and the role's policy")
            return OpsError(f"{hint}: {where}", EXIT_ACCESS)
        if code in _THROTTLING_CODES:
            return OpsError(f"throttled by AWS after {_attempts(client_settings()[0])}, "
                            f"try again later: {where}", EXIT_THROTTLED)
        if code in _VALIDATION_CODES:
            return OpsError(f"rejected by AWS: {where}", EXIT_USAGE)
        return OpsError(f"AWS error: {where}", EXIT_AWS)
    if isinstance(error, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return OpsError("no AWS credentials found: pass --profile, run aws configure/sso login, "
                        "or set AWS_ACCESS_KEY_ID", EXIT_ACCESS)
    if isinstance(error, (botocore.exceptions.TokenRetrievalError, botocore.exceptions.SSOError,
                          botocore.exceptions.CredentialRetrievalError)):
        return OpsError(f"credentials could not be refreshed (expired SSO session?): {error}", EXIT_ACCESS)
    if isinstance(error, botocore.exceptions.ProfileNotFound):
        return OpsError(f"{error}: check --profile", EXIT_USAGE)
    if isinstance(error, botocore.exceptions.InvalidRegionError):
        return OpsError(f"{error}: check --region", EXIT_USAGE)
    if isinstance(error, botocore.exceptions.NoRegionError):
        return OpsError("no AWS region: pass --region or set AWS_REGION / a profile region", EXIT_USAGE)
    if isinstance(error, botocore.exceptions.ParamValidationError):
        return OpsError(f"invalid request: {' '.join(str(error).split())}", EXIT_USAGE)
    if isinstance(error, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError)):
        attempts, _, read = client_settings()
        return OpsError(f"no answer from AWS after {_attempts(attempts)} of {read} s ({' '.join(str(error).split())})"
                        f"{_MAY_HAVE_LANDED}", EXIT_AWS)
    if isinstance(error, (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.EndpointConnectionError)):
        return OpsError(f"cannot reach AWS after {_attempts(client_settings()[0])} ({' '.join(str(error).split())}): "
                        f"check the network, proxy or AWS_ENDPOINT_URL{_MAY_HAVE_LANDED}", EXIT_AWS)
    if isinstance(error, botocore.exceptions.BotoCoreError):
        return OpsError(f"AWS request failed: {' '.join(str(error).split())}", EXIT_AWS)
    raise TypeError(f"not an AWS error: {error!r}")


#: After a call that got no answer: what may have happened, and how to look.
_MAY_HAVE_LANDED = ("; if the command makes a change (approve, reject, shift, rollback), it may have been applied: "
                    "look (mlops resolve GROUP, mlops status ENDPOINT) before running it again")


def _attempts(count: int) -> str:
    return f"{count} attempt" + ("" if count == 1 else "s")


#: The exceptions ``translate`` understands (what the CLI catches around a handler).
AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
