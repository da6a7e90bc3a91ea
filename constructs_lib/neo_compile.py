"""Compile a trained model with SageMaker Neo for an edge target: the model-build pipeline's ``Compile`` step.

SageMaker Pipelines has no compilation step any more (SDK v2's ``CompilationStep`` is gone, and the pipeline
definition schema knows none), so this script runs as a processing job of the pipeline and calls the API:
CreateCompilationJob on the trained ``model.tar.gz``, then DescribeCompilationJob until the job ends, and
writes ``<output>/compilation.json`` (``{"artifact": s3://..., "job": name, "target": ...}``) for the pipeline's
property file. A failed or stopped compilation fails the step, so no version is registered without its
compiled artifact. Idempotent: a retried step finds the job it started (the name is the pipeline execution's)
and waits for it instead of starting another. Bounded: it stops the job and fails after ``--max-wait``.

Only the standard library and boto3 (in every SageMaker framework image).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

POLL_SECONDS = 30
_ENDED = ("COMPLETED", "FAILED", "STOPPED")


def compile_model(sagemaker, *, job: str, role: str, model: str, output: str, framework: str, target: dict,
                  kms_key: str | None, max_runtime: int, max_wait: int, sleep=time.sleep, clock=time.monotonic) -> dict:
    """Start (or find) the compilation job and wait for it; the described job when it completed."""
    request = {
        "CompilationJobName": job, "RoleArn": role,
        "InputConfig": {"S3Uri": model, "Framework": framework},
        "OutputConfig": dict({"S3OutputLocation": output}, **target, **({"KmsKeyId": kms_key} if kms_key else {})),
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }
    try:
        sagemaker.create_compilation_job(**request)
    except sagemaker.exceptions.ResourceInUse:
        pass  # a retried step: the job it started goes on
    deadline = clock() + max_wait
    while True:
        described = sagemaker.describe_compilation_job(CompilationJobName=job)
        status = described["CompilationJobStatus"]
        if status in _ENDED:
            break
        if clock() >= deadline:
            sagemaker.stop_compilation_job(CompilationJobName=job)
            raise SystemExit(f"compilation job {job} is still {status} after {max_wait} s: stopped it")
        sleep(POLL_SECONDS)
    if status != "COMPLETED":
        raise SystemExit(f"compilation job {job} {status}: {described.get('FailureReason') or 'no reason given'}")
    return described


def main(argv: list[str] | None = None, sagemaker=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--job", required=True, help="compilation job name (unique per execution)")
    parser.add_argument("--role", required=True, help="the role Neo reads the model and writes the output with")
    parser.add_argument("--model", required=True, help="s3:// URI of the trained model.tar.gz")
    parser.add_argument("--output", required=True, help="s3:// prefix for the compiled model")
    parser.add_argument("--framework", default="XGBOOST")
    parser.add_argument("--target", required=True, help="JSON: {TargetDevice} or {TargetPlatform, CompilerOptions}")
    parser.add_argument("--kms-key", default=None)
    parser.add_argument("--max-runtime", type=int, default=900, help="the job's own limit, seconds")
    parser.add_argument("--max-wait", type=int, default=3600, help="seconds this step waits before stopping it")
    parser.add_argument("--report", default="/opt/ml/processing/edge/compilation.json")
    args = parser.parse_args(argv)
    if sagemaker is None:
        import boto3

        sagemaker = boto3.client("sagemaker")
    target = json.loads(args.target)
    described = compile_model(sagemaker, job=args.job, role=args.role, model=args.model, output=args.output,
                              framework=args.framework, target=target, kms_key=args.kms_key,
                              max_runtime=args.max_runtime, max_wait=args.max_wait)
    report = {"artifact": described["ModelArtifacts"]["S3ModelArtifacts"], "job": args.job,
              "target": target.get("TargetDevice") or target.get("TargetPlatform")}
    os.makedirs(os.path.dirname(args.report), exist_ok=True)
    with open(args.report, "w", encoding="utf-8") as file:
        json.dump(report, file)
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    try:
        main()
    except SystemExit as error:
        if error.code not in (0, None) and not isinstance(error.code, int):
            print(error.code, file=sys.stderr)
            raise SystemExit(1) from None
        raise
