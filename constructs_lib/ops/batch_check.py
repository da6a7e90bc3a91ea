"""``mlops batch-check PIPELINE --payloads DIR``: run a batch-inference pipeline over sample files and check
that every one of them got a result.

The delivery pipeline runs this in the test account after a batch stage deploys (``BatchInference``). The
sample files go under the pipeline's input prefix (its ``InputData`` parameter's default) in a folder of their
own, and one execution transforms that folder only; it must succeed within ``--timeout`` and leave a non-empty
result (``<file>.out``) per sample under the output prefix's folder for that execution. An execution still
running at the timeout is stopped (and waited for, a few looks), and the samples are deleted however the check
ends, so a scheduled run of the whole prefix never scores them.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from . import output
from .base import EXIT_USAGE, OpsError, Output, bounded, checked
from .capture import split_s3_uri
from .smoke import load_payloads

#: Seconds between two looks at the execution (DescribePipelineExecution).
POLL_SECONDS = 15.0
_DONE = ("Succeeded", "Failed", "Stopped")


def locations(sagemaker: Any, pipeline_name: str) -> tuple[str, str]:
    """(input prefix URI, output root URI) from the pipeline's definition: the InputData parameter's default and
    the transform step's output path before the execution's folder."""
    described = sagemaker.describe_pipeline(PipelineName=pipeline_name)
    definition = json.loads(described["PipelineDefinition"])
    input_uri = next((p.get("DefaultValue") for p in definition.get("Parameters", []) if p.get("Name") == "InputData"),
                     None)
    transform = next((s for s in definition.get("Steps", []) if s.get("Type") == "Transform"), None)
    path = (transform or {}).get("Arguments", {}).get("TransformOutput", {}).get("S3OutputPath")
    output_root = path.get("Std:Join", {}).get("Values", [None])[0] if isinstance(path, dict) else path
    if not input_uri or not isinstance(output_root, str):
        raise OpsError(f"pipeline {pipeline_name} is not a batch-inference pipeline (no InputData parameter or no "
                       "transform step writing to an S3 path)", EXIT_USAGE)
    return input_uri.rstrip("/"), output_root.rstrip("/")


def batch_check(sagemaker: Any, s3: Any, pipeline_name: str, payloads: list[Path], timeout: float,
                run_id: str, sleep=time.sleep, clock=time.monotonic) -> dict[str, Any]:
    """Upload ``payloads``, run the pipeline over them, wait, and compare results with inputs; the uploaded
    samples are deleted however it ends."""
    input_uri, output_root = locations(sagemaker, pipeline_name)
    bucket, prefix = split_s3_uri(input_uri)
    folder = f"{prefix + '/' if prefix else ''}check-{run_id}"
    keys = [f"{folder}/{path.name}" for path in payloads]
    try:
        for key, path in zip(keys, payloads):
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        return _run(sagemaker, s3, pipeline_name, payloads, timeout, run_id, bucket, folder, output_root, sleep,
                    clock)
    finally:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True})


#: Looks at a stopped execution before the check reports it as still stopping.
_STOP_LOOKS = 4


def _run(sagemaker, s3, pipeline_name, payloads, timeout, run_id, bucket, folder, output_root, sleep,
         clock) -> dict[str, Any]:
    started = clock()
    execution = sagemaker.start_pipeline_execution(
        PipelineName=pipeline_name, PipelineExecutionDisplayName=f"check-{run_id}"[:82],
        PipelineParameters=[{"Name": "InputData", "Value": f"s3://{bucket}/{folder}/"}],
        ClientRequestToken=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{pipeline_name}/{run_id}")))["PipelineExecutionArn"]
    status, described = "Executing", {}
    while True:
        described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution)
        status = described["PipelineExecutionStatus"]
        if status in _DONE or clock() - started >= timeout:
            break
        sleep(min(POLL_SECONDS, max(0.0, timeout - (clock() - started))))
    data: dict[str, Any] = {"pipeline": pipeline_name, "execution": execution, "status": status,
                            "inputs": f"s3://{bucket}/{folder}/", "samples": [p.name for p in payloads],
                            "seconds": round(clock() - started), "missing": [], "problems": []}
    if status not in _DONE:
        if status != "Stopping":
            sagemaker.stop_pipeline_execution(PipelineExecutionArn=execution,
                                              ClientRequestToken=str(uuid.uuid5(uuid.NAMESPACE_URL, execution)))
        for _ in range(_STOP_LOOKS):
            sleep(POLL_SECONDS)
            status = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution)["PipelineExecutionStatus"]
            if status in _DONE:
                break
        data["status"] = status
        data["problems"].append(f"the run did not finish within {timeout:g} s: it was stopped (now {status})")
        return data
    if status != "Succeeded":
        data["problems"].append(f"the run {status.lower()}: {described.get('FailureReason') or 'no reason given'}")
        return data
    out_bucket, out_prefix = split_s3_uri(output_root)
    results = f"{out_prefix + '/' if out_prefix else ''}{execution.rsplit('/', 1)[1]}/"
    sizes: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=out_bucket, Prefix=results):
        sizes.update({o["Key"][len(results):]: o["Size"] for o in page.get("Contents", [])})
    data["results"] = f"s3://{out_bucket}/{results}"
    data["missing"] = [p.name for p in payloads if sizes.get(f"{p.name}.out", 0) == 0]
    if data["missing"]:
        data["problems"].append(f"no result (or an empty one) for {len(data['missing'])} of {len(payloads)} "
                                f"samples: {', '.join(data['missing'][:5])}")
    return data


def run(args, ctx) -> Output:
    """Handler of ``mlops batch-check``."""
    payloads = load_payloads(args.payloads)
    data = batch_check(ctx.client("sagemaker"), ctx.client("s3"), args.pipeline, payloads, args.timeout,
                       run_id=time.strftime("%Y%m%dT%H%M%S", time.gmtime()))
    data["passed"] = not data["problems"]
    text = output.table(["pipeline", "status", "samples", "missing", "seconds", "result"],
                        [[data["pipeline"], data["status"], len(data["samples"]), len(data["missing"]),
                          data["seconds"], "pass" if data["passed"] else "FAIL"]])
    text += f"\ninputs: {data['inputs']}" + (f"\nresults: {data['results']}" if data.get("results") else "")
    return checked(data, text, data["problems"])


def register(subparsers) -> None:
    """Add ``batch-check`` to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "batch-check", help="run a batch-inference pipeline over sample files; every one must get a result",
        description="Put the payload files of DIR under the pipeline's input prefix (a folder of their own), run "
                    "the pipeline over that folder, wait for it (stopping it at --timeout), and fail (exit 1) "
                    "unless it succeeded and wrote a non-empty result per file.",
        epilog="example:\n  mlops batch-check churn-nightly-test --payloads config/models/churn-predictor/sample_payloads")
    parser.add_argument("pipeline", metavar="PIPELINE", help="the batch-inference pipeline's name")
    parser.add_argument("--payloads", required=True, metavar="DIR", help="folder of sample input files")
    parser.add_argument("--timeout", type=bounded(60, 3600), default=1800, metavar="SECONDS",
                        help="how long the run may take (default 1800: a transform job starts its instances first)")
    parser.set_defaults(handler=run)
