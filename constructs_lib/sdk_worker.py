"""The SageMaker SDK's work in a process of its own, overlapping the CDK work of a synth.

The SDK takes ~3 s to import and ~3.5 s per pipeline template (``build_pipeline_sdk``); the CDK side of a synth
takes about as long and waits on jsii's Node process. ``prewarm`` (called by the app's entry point before
``aws_cdk`` is imported) starts one worker process that imports the SDK at once, and ``submit`` hands it work as
constructs are built; the results are read (``result``) only when the templates are written. Measured
(issue 19, alternating runs): in this process instead, the example app's synth takes 11 % longer and the
50-model platform's 58 % longer.

Without ``prewarm`` (a platform team's own app, the tests), ``submit`` does the work at once, in this process.
"""

from __future__ import annotations

import atexit
import signal
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from .build_pipeline_sdk import import_offline

__all__ = ["failures", "prewarm", "result", "submit"]


_WORKER: list = []


def prewarm(region: str) -> None:
    """Import the SDK (~2-3 s) in a worker process while the caller goes on, and build every definition
    there: the import and the definitions then run on the second core, overlapping the CDK work (a thread
    would contend for the GIL). The worker is spawned (a fresh interpreter: it inherits no jsii state), so call
    this before aws_cdk is imported for the full overlap. Definitions are pure functions of their spec (CDK
    tokens are opaque strings to them), so their text is the same as when built in this process.

    A ``multiprocessing`` pool rather than a ``ProcessPoolExecutor``: at exit the pool terminates its idle
    worker, where the executor would wait for the worker's interpreter to tear the SDK down (~0.5 s)."""
    if _WORKER:
        return
    import multiprocessing

    # The pool starts its worker (and the SDK import) now, not at the first definition. Ctrl-C reaches the whole
    # process group: the synth (the parent) stops and ends the worker itself, so the worker is born ignoring
    # SIGINT (an ignored signal stays ignored across exec) instead of adding a traceback to the synth's line.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        pool = multiprocessing.get_context("spawn").Pool(1, initializer=import_offline, initargs=(region,))
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    atexit.register(pool.terminate)  # before interpreter teardown, where the pool's own finaliser can fail
    _WORKER.append(pool)
    # The worker's process id: a pool replaces a dead worker but loses the task it was running, so a wait for
    # that task would never end; ``result`` watches this process instead.
    _WORKER_PIDS.update(child.pid for child in multiprocessing.active_children())


_WORKER_PIDS: set[int] = set()
#: How often a wait for the worker checks that it is still alive.
_POLL_SECONDS = 0.5


def result(future: Future) -> object:
    """``future.result()``, but a worker that died (the OOM killer, a signal) fails every pending definition
    within ``_POLL_SECONDS`` instead of leaving the synth waiting forever."""
    import multiprocessing

    while True:
        try:
            return future.result(timeout=_POLL_SECONDS)
        except FutureTimeout:
            if _WORKER_PIDS and not _WORKER_PIDS & {child.pid for child in multiprocessing.active_children()}:
                died = RuntimeError("the SageMaker SDK worker process died before it answered (killed, or out "
                                    "of memory?); run the synth again")
                for _, pending in _SUBMITTED:
                    if not pending.done():
                        pending.set_exception(died)


def failures() -> list[str]:
    """One line per definition or image lookup the SDK failed on (``<what>: <error>``), for the caller to report
    when synthesis fails because a ``Lazy`` value could not be produced."""
    return [f"{label}: the SageMaker SDK failed: {type(error).__name__}: {error}"
            for label, future in _SUBMITTED if future.done() and (error := future.exception()) is not None]


def submit(label: str, function, *args) -> Future:
    """A future of ``function(*args)`` (a module-level function: it is pickled by name), computed in the worker
    if ``prewarm`` started one, else here and now; ``label`` names it in ``failures``."""
    future: Future = Future()
    _SUBMITTED.append((label, future))
    if _WORKER:
        # A future already failed by ``result`` (its worker died) ignores a late answer.
        _WORKER[0].apply_async(function, args,
                               callback=lambda value: future.done() or future.set_result(value),
                               error_callback=lambda error: future.done() or future.set_exception(error))
        return future
    try:
        future.set_result(function(*args))
    except Exception as error:  # raised again by .result(), as the worker's would be
        future.set_exception(error)
    return future


_SUBMITTED: list[tuple[str, Future]] = []
