"""``mlops smoke ENDPOINT --payloads DIR``: invoke an endpoint with sample payloads and check latency.

The delivery pipeline runs this in the test account after each deploy. Latency is measured client-side
around each InvokeEndpoint call (what a caller sees, network included). An asynchronous endpoint (``--async``)
gets each payload as an S3 object under its input prefix, is called with InvokeEndpointAsync, and passes when
every result arrives in S3 within ``--timeout``; its latency is the time from submission to the result seen.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import botocore.exceptions

from . import output
from .aws import translate
from .base import EXIT_ACCESS, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, OpsError, Output, bounded, checked
from .capture import split_s3_uri
from ..smoke import content_type_of

#: Seconds between two looks at the pending async results (one HeadObject per pending result and look).
ASYNC_POLL_SECONDS = 5.0

def load_payloads(directory: str | Path) -> list[Path]:
    """The payload files of ``directory`` (not hidden, sorted by name); refuses a missing or empty folder."""
    folder = Path(directory)
    if not folder.is_dir():
        raise OpsError(f"--payloads: {folder} is not a directory", EXIT_USAGE)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise OpsError(f"--payloads: {folder} holds no payload files", EXIT_USAGE)
    return files


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile (the smallest value with at least ``percent``% of values at or below it)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def _read_stream(runtime_client: Any, endpoint_name: str, body: bytes, mime: str, target: dict[str, str]) -> float:
    """One ``InvokeEndpointWithResponseStream`` call read to its end; returns the time to its first part (s).
    A stream that ends in a model or internal stream error raises it (botocore's ``EventStreamError``, a
    ``ClientError``); one that carries no payload is a failure too."""
    started = time.perf_counter()
    response = runtime_client.invoke_endpoint_with_response_stream(EndpointName=endpoint_name, Body=body,
                                                                   ContentType=mime, **target)
    first = None
    for event in response["Body"]:
        if "PayloadPart" in event and first is None:
            first = time.perf_counter() - started
    if first is None:
        raise OpsError("the response stream carried no payload part", EXIT_FAILED)
    return first


def smoke_test(runtime_client: Any, endpoint_name: str, payloads: list[Path], invocations: int,
               content_type: str | None, stream: bool = False, component: str | None = None,
               target_model: str | None = None) -> dict[str, Any]:
    """Invoke ``endpoint_name`` ``invocations`` times, cycling through ``payloads``; latency stats in ms.
    With ``component``, every call names that inference component (``InferenceComponentName``); with
    ``target_model``, that model of a multi-model endpoint (``TargetModel``).

    With ``stream``, each call is ``InvokeEndpointWithResponseStream`` read to its end (the latency is the whole
    stream's; the time to the first part is reported too), and a stream that ends in an error event fails.
    A failed invocation (model error, 5XX) is counted, not raised; not-found and access-denied errors stop the
    test at once, since every further call would fail the same way.
    """
    bodies = [(p, p.read_bytes(), content_type or content_type_of(p))
              for p in payloads]
    latencies: list[float] = []
    first_parts: list[float] = []
    failures: list[dict[str, str]] = []
    target = ({"InferenceComponentName": component} if component else {}) | (
        {"TargetModel": target_model} if target_model else {})
    for call in range(invocations):
        path, body, mime = bodies[call % len(bodies)]
        started = time.perf_counter()
        try:
            if stream:
                first_parts.append(_read_stream(runtime_client, endpoint_name, body, mime, target) * 1000)
            else:
                response = runtime_client.invoke_endpoint(EndpointName=endpoint_name, Body=body, ContentType=mime,
                                                          **target)
                response["Body"].read()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            _count_failure(failures, path.name, error)
            continue
        except OpsError as error:  # a stream without payload
            failures.append({"payload": path.name, "error": str(error)})
            continue
        latencies.append((time.perf_counter() - started) * 1000)
    stats = {"calls": invocations, "failures": len(failures), **_latency_stats(latencies)}
    if stream:
        stats["first_part_p95_ms"] = round(percentile(first_parts, 95), 1) if first_parts else None
    return {"endpoint": endpoint_name, "payloads": [p.name for p in payloads], **stats,
            "errors": failures[:5]}


def async_input_location(sagemaker: Any, endpoint: dict[str, Any], given: str | None) -> str:
    """Where the async smoke check puts its requests: ``given``, else the ``input`` folder next to the
    endpoint's ``output`` folder (``ModelEndpoint``'s layout: ``<prefix>/input``, ``<prefix>/output``)."""
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    output = (config.get("AsyncInferenceConfig") or {}).get("OutputConfig", {}).get("S3OutputPath")
    if not output and "AsyncInferenceConfig" not in config:
        raise OpsError(f"endpoint {endpoint['EndpointName']} is not asynchronous (its config "
                       f"{endpoint['EndpointConfigName']} has no AsyncInferenceConfig): leave out --async", EXIT_USAGE)
    if given:
        return given.rstrip("/")
    bucket, prefix = split_s3_uri(output or "")
    head, _, last = prefix.rpartition("/")
    if last != "output":
        raise OpsError(f"--input-location is needed: the endpoint writes results to {output}, not to an output/ "
                       "folder with an input/ folder beside it", EXIT_USAGE)
    return f"s3://{bucket}/{head + '/' if head else ''}input"


def async_smoke_test(runtime_client: Any, s3_client: Any, endpoint_name: str, input_location: str,
                     payloads: list[Path], invocations: int, content_type: str | None, timeout: float,
                     run_id: str) -> dict[str, Any]:
    """Submit ``invocations`` requests (the payloads round-robin, each an object under ``input_location``/
    ``smoke-<run_id>/``), then look every ``ASYNC_POLL_SECONDS`` for the results and error reports until all are
    in or ``timeout`` seconds have passed since the last submission. A request whose error report appears, or
    whose result does not appear in time, is a failure; latency is submission to the result seen.

    Each look lists the result and error folders (ListObjectsV2 under the pending keys' common prefix: a
    couple of calls per look, however many requests wait). HeadObject would answer 403, not 404, for a result
    not written yet unless the caller may list the whole bucket."""
    bucket, prefix = split_s3_uri(input_location)
    pending: dict[int, tuple[str, str, str, float]] = {}
    latencies: list[float] = []
    failures: list[dict[str, str]] = []
    for call in range(invocations):
        path = payloads[call % len(payloads)]
        key = f"{prefix + '/' if prefix else ''}smoke-{run_id}/{call:04d}-{path.name}"
        mime = content_type or content_type_of(path)
        try:
            s3_client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=mime)
            answer = runtime_client.invoke_endpoint_async(EndpointName=endpoint_name, ContentType=mime,
                                                          InputLocation=f"s3://{bucket}/{key}")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            _count_failure(failures, path.name, error)
            continue
        pending[call] = (path.name, answer["OutputLocation"], answer.get("FailureLocation", ""), time.perf_counter())
    deadline = time.perf_counter() + timeout
    while pending:
        present = _present(s3_client, [uri for _, result, failure, _ in pending.values() for uri in (result, failure)
                                       if uri])
        for call, (name, result, failure, started) in list(pending.items()):
            if result in present:
                latencies.append((time.perf_counter() - started) * 1000)
                del pending[call]
            elif failure in present:
                failures.append({"payload": name, "error": "error report " + _head_of(s3_client, failure)})
                del pending[call]
        if not pending or time.perf_counter() >= deadline:
            break
        time.sleep(min(ASYNC_POLL_SECONDS, max(0.0, deadline - time.perf_counter())))
    failures += [{"payload": name, "error": f"no result within {timeout:g} s"} for name, *_ in pending.values()]
    return {"endpoint": endpoint_name, "payloads": [p.name for p in payloads], "calls": invocations,
            "failures": len(failures), **_latency_stats(latencies), "input_location": input_location,
            "errors": failures[:5]}


def _count_failure(failures: list[dict[str, str]], payload: str, error: Exception) -> None:
    """A failed call is counted; not-found and access-denied errors stop the test at once, since every further
    call would fail the same way."""
    translated = translate(error)
    if translated.exit_code in (EXIT_NOT_FOUND, EXIT_ACCESS):
        raise translated from None
    failures.append({"payload": payload, "error": str(translated)})


def _latency_stats(latencies: list[float]) -> dict[str, float | None]:
    """p50, p95 and max of the calls' latencies in ms (None without a successful call)."""
    return {"p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
            "max_ms": round(max(latencies), 1) if latencies else None}


def _present(s3_client: Any, uris: list[str]) -> set[str]:
    """Which of ``uris`` exist: one listing per bucket and folder, under the common prefix of their keys."""
    groups: dict[tuple[str, str], list[str]] = {}
    for uri in uris:
        bucket, key = split_s3_uri(uri)
        groups.setdefault((bucket, key.rpartition("/")[0]), []).append(key)
    present = set()
    for (bucket, _), keys in groups.items():
        wanted = set(keys)
        paginator = s3_client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=os.path.commonprefix(keys)):
            present.update(f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", []) if o["Key"] in wanted)
    return present


def _head_of(s3_client: Any, uri: str, limit: int = 300) -> str:
    """``uri`` and the start of its text (an error report)."""
    bucket, key = split_s3_uri(uri)
    body = s3_client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{limit - 1}")["Body"].read()
    return f"{uri}: {body.decode('utf-8', 'replace').strip()}"


def run(args, ctx) -> Output:
    """Handler of ``mlops smoke``."""
    if args.asynchronous and args.stream:
        raise OpsError("--async and --stream exclude each other: an asynchronous endpoint writes its results to S3",
                       EXIT_USAGE)
    if args.input_location and not args.asynchronous:
        raise OpsError("--input-location goes with --async", EXIT_USAGE)
    if args.component and args.asynchronous:
        raise OpsError("--component and --async exclude each other: inference components serve real-time requests",
                       EXIT_USAGE)
    if args.target_model and args.component:
        raise OpsError("--component and --target-model exclude each other: an endpoint hosts inference components "
                       "or many models, not both", EXIT_USAGE)
    if args.target_model and (args.asynchronous or args.stream):
        raise OpsError("--target-model excludes --async and --stream: only InvokeEndpoint names a target model",
                       EXIT_USAGE)
    payloads = load_payloads(args.payloads)
    sagemaker = ctx.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=args.endpoint)
    if endpoint["EndpointStatus"] != "InService":
        raise OpsError(f"endpoint {args.endpoint} is {endpoint['EndpointStatus']}, not InService", EXIT_FAILED)
    if args.asynchronous:
        location = async_input_location(sagemaker, endpoint, args.input_location)
        data = async_smoke_test(ctx.client("sagemaker-runtime"), ctx.client("s3"), args.endpoint, location,
                                payloads, args.invocations, args.content_type, args.timeout,
                                run_id=time.strftime("%Y%m%dT%H%M%S", time.gmtime()))
    else:
        data = smoke_test(ctx.client("sagemaker-runtime"), args.endpoint, payloads, args.invocations,
                          args.content_type, stream=args.stream, component=args.component,
                          target_model=args.target_model)
    data["p95_budget_ms"] = args.p95_ms
    problems = []
    if data["failures"]:
        problems.append(f"{data['failures']} of {data['calls']} invocations failed "
                        f"(first: {data['errors'][0]['payload']}: {data['errors'][0]['error']})")
    if args.p95_ms is not None and data["p95_ms"] is not None and data["p95_ms"] > args.p95_ms:
        problems.append(f"p95 latency {data['p95_ms']:g} ms is above the budget of {args.p95_ms:g} ms")
    data["passed"] = not problems
    text = output.table(["calls", "failures", "p50 ms", "p95 ms", "max ms", "p95 budget ms", "result"],
                        [[data["calls"], data["failures"], data["p50_ms"], data["p95_ms"], data["max_ms"],
                          args.p95_ms, "pass" if data["passed"] else "FAIL"]])
    if args.stream:
        text += f"\n(streamed: p95 time to the first part {data['first_part_p95_ms']} ms)"
    if args.asynchronous:
        text += (f"\n(asynchronous: requests under {data['input_location']}/; latency is submission to the result "
                 f"seen in S3, looked at every {ASYNC_POLL_SECONDS:g} s)")
    return checked(data, text, problems)


def register(subparsers) -> None:
    """Add ``smoke`` to the ``mlops`` command."""
    parser = subparsers.add_parser(
        "smoke", help="invoke an endpoint with sample payloads; check success and p95 latency",
        description="Invoke the endpoint N times with the payload files of DIR (round-robin, content type from "
                    "the file extension unless --content-type), fail (exit 1) if any call fails or the p95 "
                    "latency, measured client-side, is above --p95-ms.",
        epilog="example:\n  mlops smoke churn-predictor-test --payloads config/models/churn-predictor/sample_payloads --invocations 50 --p95-ms 300\n  mlops smoke churn-predictor-test --payloads config/models/churn-predictor/sample_payloads --stream\n  mlops smoke churn-scorer-test --payloads config/models/churn-predictor/sample_payloads --async --timeout 1200\n  mlops smoke shared-test --payloads config/models/churn-predictor/sample_payloads --component churn-lite-test\n  mlops smoke many-test --payloads config/models/churn-predictor/sample_payloads --target-model churn-regional/v1.tar.gz")
    parser.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    parser.add_argument("--payloads", required=True, metavar="DIR", help="folder of sample request bodies")
    parser.add_argument("--invocations", type=bounded(1, 1000, integer=True), default=20, metavar="N", help="number of calls (default: 20)")
    parser.add_argument("--p95-ms", type=bounded(0, 3_600_000, above=True), metavar="X", help="latency budget for the p95, in milliseconds")
    parser.add_argument("--content-type", metavar="T", help="ContentType for every call (default: by extension)")
    parser.add_argument("--component", metavar="NAME",
                        help="the inference component every call names (an endpoint hosting components)")
    parser.add_argument("--target-model", metavar="PATH",
                        help="the model of a multi-model endpoint every call names (TargetModel)")
    parser.add_argument("--stream", action="store_true",
                        help="call InvokeEndpointWithResponseStream and read each stream to its end (a stream "
                             "that ends in an error event fails; the latency is the whole stream's)")
    parser.add_argument("--async", dest="asynchronous", action="store_true",
                        help="an asynchronous endpoint: put each payload under its input prefix, call "
                             "InvokeEndpointAsync, wait for every result in S3 (an error report fails the call)")
    parser.add_argument("--input-location", metavar="S3_URI",
                        help="with --async: where to put the requests (default: the input/ folder beside the "
                             "endpoint's output/ folder, as ModelEndpoint lays them out)")
    parser.add_argument("--timeout", type=bounded(1, 3600), default=1200, metavar="SECONDS",
                        help="with --async: how long to wait for the results after the last submission (default "
                             "1200: an endpoint scaled to zero starts an instance first)")
    parser.set_defaults(handler=run)
