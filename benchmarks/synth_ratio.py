#!/usr/bin/env python3
"""Synth time of the example app as a ratio to an empty CDK app's, on the same Node, measured in one run.

Each app runs as its own process (`python app.py`, as the CDK CLI runs it, cdk-nag included), alternating,
``--runs`` times; the medians are compared. Budget: example app <= 2.0x. ``--config`` and ``--budget``
measure other configs (the 50-model platform: budget 6.0x).
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

ROOT = Path(__file__).resolve().parents[1]
EMPTY_APP = """
import constructs_lib
constructs_lib.use_bundled_node()  # the same Node (bundled Node 24) as the real app
import aws_cdk as cdk
app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
"""


def run(args: list[str], context: dict, validation: str | None = None) -> float:
    outdir = tempfile.TemporaryDirectory(prefix="bench-")
    env = dict(os.environ, CDK_OUTDIR=outdir.name, CDK_CONTEXT_JSON=json.dumps(context))
    env.pop("CDK_VALIDATION", None)
    if validation is not None:
        env["CDK_VALIDATION"] = validation
    start = time.perf_counter()
    with outdir:
        subprocess.run(args, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--config", default="config/platform.yaml")
    parser.add_argument("--versions", default="config/approved-versions.json")
    parser.add_argument("--budget", type=float, default=2.0)
    args = parser.parse_args()
    context = json.loads((ROOT / "cdk.json").read_text())["context"] | {
        "config": args.config, "approved_versions": args.versions}
    empty, empty_plain, example = [], [], []
    run([sys.executable, "-c", EMPTY_APP], {})  # warm the file cache and .pyc files once
    run([sys.executable, "app.py"], context)
    for _ in range(args.runs):
        empty.append(run([sys.executable, "-c", EMPTY_APP], {}))
        empty_plain.append(run([sys.executable, "-c", EMPTY_APP], {}, validation="false"))
        example.append(run([sys.executable, "app.py"], context))

    def show(label: str, times: list[float]) -> float:
        print(f"{label:<44} median {statistics.median(times):5.2f} s  ({', '.join(f'{t:.2f}' for t in times)})")
        return statistics.median(times)

    base = show("empty CDK app (CDK defaults)", empty)
    plain = show("empty CDK app (built-in validator off)", empty_plain)
    real = show(f"{args.config} (as shipped: validator off, nag on)", example)
    ratio = real / base
    print(f"ratio to an empty CDK app: {ratio:.2f}x (budget {args.budget:.1f}x) "
          f"{'OK' if ratio <= args.budget else 'OVER BUDGET'}")
    print(f"ratio under identical settings (both validator off): {real / plain:.2f}x")
    return 0 if ratio <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
