#!/usr/bin/env python3
"""Synth time of several checkouts of this repository, alternating runs, with an empty CDK app as the baseline.

How each speed measure of issue 19 was judged: make a worktree per variant (one measure removed in each),
then time them in one run, alternating, so that load drifts hit every variant alike::

    git worktree add /tmp/wt-base HEAD
    git worktree add /tmp/wt-no-worker HEAD   # ...and edit the measure out in that tree
    python benchmarks/compare_checkouts.py --runs 7 /tmp/wt-base /tmp/wt-no-worker
    python benchmarks/compare_checkouts.py --runs 5 --config config/examples/platform-50.yaml \\
        --versions config/examples/platform-50.approved-versions.json /tmp/wt-base /tmp/wt-no-worker

Each app runs as ``python app.py`` in its own process with cdk.json's context (as ``cdk synth`` runs it, cdk-nag
included) and a fresh output folder; the interpreter is this one. Prints each checkout's median and its ratio
to the empty app's median (``synth_ratio.py``'s baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth_ratio import EMPTY_APP  # noqa: E402


def run(checkout: Path, args: list[str], context: dict) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-") as outdir:
        env = dict(os.environ, CDK_OUTDIR=outdir, CDK_CONTEXT_JSON=json.dumps(context))
        env.pop("CDK_VALIDATION", None)
        start = time.perf_counter()
        done = subprocess.run(args, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        elapsed = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{checkout}: synth failed\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--config", default="config/platform.yaml")
    parser.add_argument("--versions", default="config/approved-versions.json")
    args = parser.parse_args()
    contexts = {c: json.loads((c / "cdk.json").read_text())["context"] | {
        "config": args.config, "approved_versions": args.versions} for c in args.checkouts}
    for checkout in args.checkouts:  # warm the file cache and .pyc files once
        run(checkout, [sys.executable, "app.py"], contexts[checkout])
    empty: list[float] = []
    times: dict[Path, list[float]] = {c: [] for c in args.checkouts}
    for _ in range(args.runs):
        empty.append(run(args.checkouts[0], [sys.executable, "-c", EMPTY_APP], {}))
        for checkout in args.checkouts:
            times[checkout].append(run(checkout, [sys.executable, "app.py"], contexts[checkout]))
    base = statistics.median(empty)
    print(f"{'empty CDK app':<32} {base:6.2f} s          ({' '.join(f'{t:.2f}' for t in empty)})")
    for checkout, values in times.items():
        median = statistics.median(values)
        print(f"{str(checkout):<32} {median:6.2f} s  {median / base:5.2f}x  ({' '.join(f'{t:.2f}' for t in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
