"""``SmokeTest``: the post-deploy smoke and latency check of a stage, in plain Python, so that its rules serve
``DeliveryPipeline`` and the config's ``checks`` section alike (the config's schema shows ``INVOCATIONS`` and
``LATENCY_P95_MS``)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError, Limit

if TYPE_CHECKING:
    from aws_cdk import Duration

__all__ = ["CONTENT_TYPES", "INVOCATIONS", "LATENCY_P95_MS", "SmokeTest", "check_smoke", "content_type_of"]

#: Calls per check: enough for a p95, few enough for the step's 30-minute timeout.
INVOCATIONS = Limit(1, 1000, whole=True)
#: The p95 latency budget, in milliseconds.
LATENCY_P95_MS = Limit(1, None, "ms")
_RELATIVE_PATH = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/ -]+$")


#: A payload file's ContentType by its extension, when the check gives none.
CONTENT_TYPES = {".json": "application/json", ".jsonl": "application/jsonlines", ".csv": "text/csv",
                  ".txt": "text/plain", ".npy": "application/x-npy", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                  ".png": "image/png"}


def content_type_of(path: Path) -> str:
    """The ContentType a payload file goes with when the check gives none: from its extension."""
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


@dataclass(frozen=True)
class SmokeTest:
    """A post-deploy smoke and latency check: ``invocations`` calls cycling through the sample payloads in
    ``payloads_dir`` (a folder of the source repository); every call must succeed and, when ``latency_p95``
    is given, the p95 of the client-side latencies must stay within it.

    :param payloads_dir: folder of sample request bodies, relative to the repository root.
    :param invocations: number of calls, 1-1000; default 20.
    :param latency_p95: latency budget of the p95; default: none (success only).
    :param content_type: ContentType of every call; default: from each file's extension.
    :param stream: call ``InvokeEndpointWithResponseStream`` and read each stream to its end (for a container
      that streams its responses); default ``False``.
    :param asynchronous: the endpoint is asynchronous: put each payload under its input prefix, call
      ``InvokeEndpointAsync`` and wait (up to 20 minutes: it may start from zero instances) for every result;
      the latency budget then covers queueing and processing. Default ``False``.
    """

    payloads_dir: str
    invocations: int = 20
    latency_p95: Duration | None = None
    content_type: str | None = None
    stream: bool = False
    asynchronous: bool = False

    def __post_init__(self) -> None:
        if self.stream and self.asynchronous:
            raise ConfigError("stream", "must be false for an asynchronous endpoint (it writes its results to S3), "
                              "got true")
        if not isinstance(self.payloads_dir, str) or not _RELATIVE_PATH.match(self.payloads_dir):
            raise ConfigError("payloads_dir", "must be a folder relative to the repository root (no '..', not "
                              f"absolute), got {self.payloads_dir!r}")
        check_smoke(self.invocations, None if self.latency_p95 is None else self.latency_p95.to_milliseconds(),
                    latency_path="latency_p95")

    def command(self) -> str:
        """The ``mlops smoke`` arguments after the endpoint name."""
        args = ["--payloads", self.payloads_dir, "--invocations", str(self.invocations)]
        if self.latency_p95 is not None:
            args += ["--p95-ms", f"{self.latency_p95.to_milliseconds():g}"]
        if self.content_type:
            args += ["--content-type", self.content_type]
        if self.stream:
            args.append("--stream")
        if self.asynchronous:
            args.append("--async")
        return " ".join(shlex.quote(a) for a in args)


def check_smoke(invocations: int, latency_p95_ms: float | None, latency_path: str = "latency_p95_ms") -> None:
    """A smoke check's numbers: ``SmokeTest``'s rules, which the config's ``checks`` section gets too."""
    INVOCATIONS.check("invocations", invocations)
    if latency_p95_ms is not None:
        LATENCY_P95_MS.check(latency_path, latency_p95_ms)
