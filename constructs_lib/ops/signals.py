"""Signals deferred across a change, so that an interruption cannot leave it half-applied or unknown.

``mlops rollback`` rejects a version and then starts the delivery pipeline; Ctrl-C (SIGINT) or a CodeBuild
timeout (SIGTERM) between the two would leave the version rejected and nothing deployed. ``approve``, ``reject``
and ``shift`` make one call each: interrupted in the middle of it, the user would not know whether it landed.
Inside ``deferred_signals()`` SIGINT, SIGTERM and SIGHUP (a closed terminal) are only recorded; once the block
has finished (each AWS call in it is bounded, ``aws.MAX_CALL_SECONDS``), ``Interrupted`` is raised so the
command still stops, with the change complete and its state said. (If the call itself fails, its error is what
the command reports.)
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """A deferred signal, raised once the protected block is complete; ``exit_code`` is 128 + the signal."""

    def __init__(self, signum: int, done: str) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name} during the change; it was completed first, "
                         f"so nothing is half-applied: {done}")


@contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """Record SIGINT/SIGTERM/SIGHUP instead of acting on them inside the block; yields the list of received signals
    (the caller raises ``Interrupted`` with what it completed). Outside the main thread it defers nothing
    (Python delivers signals to the main thread only)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in DEFERRED}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
