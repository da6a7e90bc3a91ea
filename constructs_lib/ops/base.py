"""What every ``mlops`` subcommand shares: the AWS context, the result type, the error type and exit codes."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from typing import Any, Callable

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


def checked(data: Any, text: str, problems: list[str]) -> Output:
    """A check's result: ``text`` with one ``FAIL:`` line per problem, exit 1 when there is any (``smoke``,
    ``batch-check``)."""
    if problems:
        text += "\n" + "\n".join(f"FAIL: {p}" for p in problems)
    return Output(data=data, text=text, exit_code=EXIT_FAILED if problems else EXIT_OK)


def bounded(low: float, high: float, *, integer: bool = False, above: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` for a finite number within ``low``-``high`` (``above``: strictly more than ``low``);
    NaN, infinities, 1e308 and, with ``integer``, fractions are refused with one line naming the range."""
    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {'whole ' if integer else ''}number, got {text[:80]!r}")
        if not math.isfinite(value) or value < low or value > high or (above and value == low):
            bound = f"more than {low:g}" if above else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound} and at most {high:g}, got {text[:80]}")
        return value
    return parse
