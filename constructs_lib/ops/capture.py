"""Prediction agreement between a production and a shadow variant, from SageMaker data-capture files.

SageMaker writes captured requests and responses as JSON Lines under
``<DestinationS3Uri>/<EndpointName>/<VariantName>/yyyy/mm/dd/hh/*.jsonl``, one object per request::

    {"captureData": {"endpointInput": {"data": "...", "encoding": "CSV|JSON|BASE64", ...},
                     "endpointOutput": {"data": "...", "encoding": "...", ...}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "..."},
     "eventVersion": "0"}

With a shadow variant, capture records the requests and responses of the production and the shadow variants
(SageMaker shadow-test docs), each under its own variant folder. SageMaker does not document an id shared by a
request and its shadow copy, so records are paired by ``inferenceId`` (set by callers through InvokeEndpoint's
``InferenceId``), then by ``eventId``, then by an identical request body (first unpaired record first). Both
sides are sampled (capture sampling and shadow sampling), so only a subset of requests can be paired; the
report says how many were.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

# The capture files' reading is the drift check's too (drift.py, deployed as one self-contained file).
from .drift import _payload, hour_prefixes, read_records, split_s3_uri  # noqa: F401 - read through this module

#: Upper bound of records read per variant: agreement is a sample statistic and S3 reads cost time.
DEFAULT_MAX_RECORDS = 5000


def _numbers(text: str) -> list[float] | None:
    """The numbers in a JSON or CSV prediction, flattened; None when it is not all numbers."""
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError:
        value = [cell for row in text.strip().splitlines() for cell in row.split(",")]
    flat: list[Any] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for key in sorted(item):
                walk(item[key])
        elif isinstance(item, list):
            for element in item:
                walk(element)
        else:
            flat.append(item)

    walk(value)
    numbers = []
    for item in flat:
        if isinstance(item, bool):
            return None
        try:
            numbers.append(float(item))
        except (TypeError, ValueError):
            return None
    return numbers or None


def compare_outputs(production: str, shadow: str, tolerance: float) -> tuple[bool, float | None]:
    """(agree, mean absolute difference or None): numbers agree within ``tolerance``, anything else if equal."""
    a, b = _numbers(production), _numbers(shadow)
    if a is not None and b is not None and len(a) == len(b):
        diffs = [abs(x - y) for x, y in zip(a, b)]
        return all(d <= tolerance for d in diffs), sum(diffs) / len(diffs)
    return production.strip() == shadow.strip(), None


def agreement(production: list[dict], shadow: list[dict], tolerance: float = 1e-6) -> dict:
    """Pair production and shadow records and measure how often their predictions agree."""
    by_inference: dict[str, list[dict]] = defaultdict(list)
    by_event: dict[str, list[dict]] = defaultdict(list)
    by_input: dict[str, list[dict]] = defaultdict(list)
    for record in shadow:
        meta = record.get("eventMetadata") or {}
        if meta.get("inferenceId"):
            by_inference[str(meta["inferenceId"])].append(record)
        if meta.get("eventId"):
            by_event[str(meta["eventId"])].append(record)
        body = _payload(record, "endpointInput")
        if body is not None:
            by_input[body].append(record)
    used: set[int] = set()
    joins = {"inferenceId": 0, "eventId": 0, "request body": 0}
    pairs: list[tuple[dict, dict]] = []
    for record in production:
        meta = record.get("eventMetadata") or {}
        candidates = (("inferenceId", by_inference.get(str(meta.get("inferenceId")))),
                      ("eventId", by_event.get(str(meta.get("eventId")))),
                      ("request body", by_input.get(_payload(record, "endpointInput") or "\0")))
        for join, options in candidates:
            match = next((r for r in options or [] if id(r) not in used), None)
            if match is not None:
                used.add(id(match))
                joins[join] += 1
                pairs.append((record, match))
                break
    compared = agreeing = 0
    diffs: list[float] = []
    for prod_record, shadow_record in pairs:
        a, b = _payload(prod_record, "endpointOutput"), _payload(shadow_record, "endpointOutput")
        if a is None or b is None:
            continue
        compared += 1
        agree, diff = compare_outputs(a, b, tolerance)
        agreeing += agree
        if diff is not None:
            diffs.append(diff)
    return {
        "production_records": len(production),
        "shadow_records": len(shadow),
        "pairs": len(pairs),
        "compared": compared,
        "agreeing": agreeing,
        "agreement_percent": round(100 * agreeing / compared, 2) if compared else None,
        "mean_abs_difference": sum(diffs) / len(diffs) if diffs else None,
        "max_abs_difference": max(diffs) if diffs else None,
        "tolerance": tolerance,
        "joined_by": {k: v for k, v in joins.items() if v},
    }


def describe_agreement(result: dict) -> str:
    """One or two lines for the human report."""
    if not result["pairs"]:
        return (f"no production/shadow pairs among {result['production_records']} production and "
                f"{result['shadow_records']} shadow capture records (nothing to compare)")
    if not result["compared"]:
        return f"{result['pairs']} pairs, but the capture records hold no outputs (capture mode Input?)"
    line = (f"{result['agreement_percent']:g}% of {result['compared']} paired predictions agree "
            f"(tolerance {result['tolerance']:g}; paired by "
            + ", ".join(f"{k} {v}" for k, v in result["joined_by"].items()) + ")")
    if result["mean_abs_difference"] is not None and not math.isnan(result["mean_abs_difference"]):
        line += (f"; mean |difference| {result['mean_abs_difference']:.4g}, "
                 f"max {result['max_abs_difference']:.4g}")
    return line
