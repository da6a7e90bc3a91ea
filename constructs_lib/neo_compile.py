"""Compile a trained model with SageMaker Neo for an edge target: the model-build pipeline's ``Compile`` step.

SageMaker Pipelines has no compilation step any more (SDK v2's ``CompilationStep`` is gone, and the pipeline
definition schema knows none), so this script runs as a processing job of the pipeline and calls the API:
CreateCompilationJob on the trained ``model.tar.gz``, then DescribeCompilationJob until the job ends, and
writes the report ``--report`` (``{"artifact": s3://..., "job": name, "target": ...}``, by default the step's
output ``edge/compilation.json``) for the pipeline's property file. A failed or stopped compilation fails the step, so no version is registered without its
compiled artifact. A retried step (same execution) finds the job it started and waits for it, or starts the
next attempt when that one failed (``compile_model``). Bounded: it stops the job and fails after ``--max-wait``;
a failure's reason goes to the processing job's failure message.

Only the standard library and boto3 (in every SageMaker framework image).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

POLL_SECONDS = 30
#: Jobs a retried step may start (a name per attempt: a failed job keeps its name).
MAX_ATTEMPTS = 5
#: Where SageMaker takes a processing job's failure reason from.
FAILURE_FILE = "/opt/ml/output/message"
_ENDED = ("COMPLETED", "FAILED", "STOPPED")


def compile_model(sagemaker, *, job: str, role: str, model: str, output: str, framework: str, target: dict,
                  kms_key: str | None, max_runtime: int, max_wait: int, sleep=time.sleep, clock=time.monotonic) -> dict:
    """Start (or find) the compilation job and wait for it; the described job when it completed.

    A name already taken is a retried step of the same execution: the job found goes on if it compiles this
    model to this output (anything else is refused); if it already failed or was stopped, the next attempt
    (``<job>-2``...) starts, so a retried step can succeed."""
    request = {
        "RoleArn": role, "InputConfig": {"S3Uri": model, "Framework": framework},
        "OutputConfig": dict({"S3OutputLocation": output}, **target, **({"KmsKeyId": kms_key} if kms_key else {})),
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }
    for attempt in range(1, MAX_ATTEMPTS + 1):
        name = job if attempt == 1 else f"{job}-{attempt}"
        try:
            sagemaker.create_compilation_job(CompilationJobName=name, **request)
            break
        except sagemaker.exceptions.ResourceInUse:
            found = sagemaker.describe_compilation_job(CompilationJobName=name)
            if (found.get("InputConfig", {}).get("S3Uri"), found.get("OutputConfig", {}).get("S3OutputLocation")) \
                    != (model, output):
                raise SystemExit(f"compilation job {name} exists and compiles another model "
                                 f"({found.get('InputConfig', {}).get('S3Uri')}): not this execution's")
            if found["CompilationJobStatus"] not in ("FAILED", "STOPPED"):
                break  # this step's own job, started before a retry: wait for it
    else:
        raise SystemExit(f"compilation job {job} failed {MAX_ATTEMPTS} times; see DescribeCompilationJob")
    deadline = clock() + max_wait
    while True:
        described = sagemaker.describe_compilation_job(CompilationJobName=name)
        status = described["CompilationJobStatus"]
        if status in _ENDED:
            break
        if clock() >= deadline:
            try:
                sagemaker.stop_compilation_job(CompilationJobName=name)
            except sagemaker.exceptions.ClientError:
                pass  # it ended meanwhile: the step fails all the same, since it was not seen completed
            raise SystemExit(f"compilation job {name} is still {status} after {max_wait} s: stopped it")
        sleep(POLL_SECONDS)
    if status != "COMPLETED":
        raise SystemExit(f"compilation job {name} {status}: {described.get('FailureReason') or 'no reason given'}")
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
    parser.add_argument("--region", default=None, help="the SageMaker region (default: the container's)")
    args = parser.parse_args(argv)
    if sagemaker is None:
        import boto3

        sagemaker = boto3.client("sagemaker", region_name=args.region)
    target = json.loads(args.target)
    described = compile_model(sagemaker, job=args.job, role=args.role, model=args.model, output=args.output,
                              framework=args.framework, target=target, kms_key=args.kms_key,
                              max_runtime=args.max_runtime, max_wait=args.max_wait)
    report = {"artifact": described["ModelArtifacts"]["S3ModelArtifacts"], "job": described["CompilationJobName"],
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
        if isinstance(error.code, str):  # a reason: the job's failure message, then a failed exit
            print(error.code, file=sys.stderr)
            try:
                with open(FAILURE_FILE, "w", encoding="utf-8") as file:
                    file.write(error.code[:1000])
            except OSError:
                pass
            raise SystemExit(1) from None
        raise
