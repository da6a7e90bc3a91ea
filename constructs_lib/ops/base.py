"""What every ``mlops`` subcommand shares: the AWS context, the result type, the error type and exit codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Exit codes: distinct per cause, so scripts and pipelines can branch on them.
EXIT_OK = 0
EXIT_FAILED = 1          # the command ran and its check failed (smoke test, verification, report verdict)
EXIT_USAGE = 2           # bad arguments or bad input (also argparse's own code)
EXIT_NOT_FOUND = 3       # endpoint, group, version or alarm does not exist
EXIT_ACCESS = 4          # access denied, expired or missing credentials
EXIT_THROTTLED = 5       # still throttled after retries
EXIT_ROLLED_BACK = 6     # SageMaker rolled the release back (the endpoint runs another config than deployed)
EXIT_AWS = 7             # any other AWS service error


class OpsError(Exception):
    """A failure reported as one line on stderr with a distinct exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Output:
    """A command's result: ``data`` for ``--json``, ``text`` (a table or report) for humans."""

    data: Any
    text: str
    exit_code: int = EXIT_OK
    warnings: list[str] = field(default_factory=list)
