"""The build pipeline's ``Baseline`` step: what the model's input looked like in training, registered with the
version as its data-quality drift baseline (``DriftCheckBaselines.ModelDataQuality``).

SageMaker Model Monitor, whose analyzer writes such baselines, is "no longer open to new customers" (its
documentation's availability notice), so the library computes its own, in a processing job on the
scikit-learn image (pandas and numpy), from the training split the model was trained on (``train.csv``: no
header, the label first, then the features in the order callers send them):

* ``statistics.json``: per feature (``f1``, ``f2``... in that order): the count, missing values, mean, standard
  deviation, minimum and maximum, and its distribution over at most ten bins (the training data's deciles,
  values seen in training, as edges; a value equal to an edge in the bin it closes; the outer bins
  open-ended) as proportions;
* ``constraints.json``: how drift from it is judged: the population stability index (PSI) of each feature's
  binned distribution against this one, above ``max_psi`` (default 0.2, the usual "significant shift").

The files carry ``"format": "sagemaker-safe-release/drift-baseline"`` and a version, so a monitoring job reads
only what it understands. Deterministic: the same training data gives the same files, byte for byte.

The drift check (``handler``, an AWS Lambda function run on a schedule in the stage's account, deployed as
this file's inline source) compares what an endpoint's callers sent in a window (its captured requests) with
the released version's baseline: each feature's PSI over the baseline's bins, published to CloudWatch
(``NAMESPACE``: ``FeatureDrift`` per feature, ``MaxFeatureDrift`` and ``DriftViolations``, the features
above their constraint, once ``MIN_RECORDS`` requests were seen; ``DriftRecords`` always), and a report next to
the captured data (``monitoring/<endpoint>/yyyy/mm/dd/HHMM.json``).

With a quality metric, the same run also judges the model against ground truth: the predictions captured in an
earlier window (``label_delay_hours`` before the drift window, so that the application had time to label its
requests) against the labels the application wrote under ``ground-truth/<endpoint>/`` in the capture bucket
(``GROUND_TRUTH_PREFIX``: Model Monitor's ground-truth format and layout), joined on each request's
``InferenceId``. It publishes ``ModelQuality`` (per ``EndpointName`` and ``Metric``) once ``min_labels``
labelled rows were found, and ``LabeledRecords`` always.

The file runs alone in both places (no package of this project is installed there): standard library, boto3
in the function, numpy and pandas in the job (imported there only), and Python 3.8's syntax (the image's
interpreter may be older than this project's).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import math
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any

FORMAT = "sagemaker-safe-release/drift-baseline"
VERSION = 1
BINS = 10
DEFAULT_MAX_PSI = 0.2


def feature_statistics(values) -> dict:
    """One feature's statistics (``values``: a pandas Series of numbers, missing ones as NaN)."""
    import numpy as np

    present = values.dropna().astype(float).to_numpy()
    stats = {"count": int(len(values)), "missing": int(len(values) - len(present))}
    if not len(present):
        return {**stats, "bins": {"edges": [], "proportions": []}}
    # Decile edges, each once and each a value seen in training (no interpolation: a flag's edges are 0 and 1,
    # not a fraction between), so a feature with few distinct values gets fewer bins.
    # Counted with the edges as stored (rounded): the check bins with those, so a training value on an edge lands
    # in the same bin in both (searchsorted left is bin_index's rule).
    edges = sorted({_number(x) for x in np.quantile(present, [i / BINS for i in range(1, BINS)],
                                                   method="inverted_cdf")})
    counts = np.bincount(np.searchsorted(np.array(edges, dtype=float), present, side="left"),
                         minlength=len(edges) + 1)
    return {
        **stats, "mean": _number(present.mean()), "std": _number(present.std()), "min": _number(present.min()),
        "max": _number(present.max()),
        # A value equal to an edge falls in the bin that edge closes: (e[i-1], e[i]].
        "bins": {"edges": edges,
                 "proportions": [_number(c / len(present)) for c in counts]},
    }


def bin_index(edges: list[float], value: float) -> int:
    """The bin of ``value``: a value equal to an edge falls in the bin that edge closes, ``(e[i-1], e[i]]``
    (the baseline and the drift check count with this one rule)."""
    return bisect.bisect_left(edges, value)


def baseline(frame, max_psi: float = DEFAULT_MAX_PSI) -> tuple[dict, dict]:
    """``(statistics, constraints)`` of the features of a training split (``frame``: no header, the label in
    the first column)."""
    features = frame.iloc[:, 1:]
    statistics = {"format": FORMAT, "version": VERSION, "records": int(len(frame)),
                  "features": [dict(name=f"f{i}", **feature_statistics(features.iloc[:, i - 1]))
                               for i in range(1, features.shape[1] + 1)]}
    constraints = {"format": FORMAT, "version": VERSION, "metric": "psi", "max_psi": max_psi,
                   "features": [f"f{i}" for i in range(1, features.shape[1] + 1)]}
    return statistics, constraints


def _number(value) -> float:
    """A finite float rounded to 12 significant digits (the same on every machine's float formatting)."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {number}")
    return float(f"{number:.12g}")


# --------------------------------------------------------------------------------------------- the drift check
NAMESPACE = "SageMakerSafeRelease/Drift"
#: Rows a window needs before it is judged. With ten bins per feature, the PSI of a sample from unchanged data
#: is noise of about (bins - 1) / rows: at 100 rows a 0.2 limit is crossed by chance in a large share of
#: windows (several features, every hour), at 500 hardly ever.
DEFAULT_MIN_RECORDS = 500
#: How long after a request SageMaker may still be writing its capture file: a window ends this long before the
#: run, so that its late records are read by it and not skipped by the next one.
CAPTURE_LAG_MINUTES = 10
#: Captured requests read per check at most (the function has 15 minutes; a drift statistic needs a sample, not
#: all), shared out between the variants and each variant's hourly folders so that no hour is left out.
MAX_RECORDS = 50_000
#: A bin's share is at least this in the PSI (an empty bin would make it infinite).
PSI_FLOOR = 1e-4
#: CloudWatch takes at most 1000 metric values per PutMetricData call.
_METRICS_PER_CALL = 500


def psi(expected: list[float], observed: list[float]) -> float:
    """The population stability index of ``observed`` shares against ``expected`` ones (the same bins)."""
    total = 0.0
    for e, o in zip(expected, observed):
        e, o = max(e, PSI_FLOOR), max(o, PSI_FLOOR)
        total += (o - e) * math.log(o / e)
    return total


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> (``bucket``, ``some/prefix``)."""
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


def hour_prefixes(root: str, endpoint: str, variant: str, start: datetime, end: datetime) -> list[str]:
    """The hourly capture folders of one variant between ``start`` and ``end`` (UTC)."""
    return hourly_folders("/".join(part for part in (root, endpoint, variant) if part) + "/", start, end)


def hourly_folders(base: str, start: datetime, end: datetime) -> list[str]:
    """``base`` + ``yyyy/mm/dd/HH/`` for each hour from ``start``'s to ``end``'s (UTC): the layout of captured
    data, and of the ground-truth labels written like it."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour <= end:
        prefixes.append(f"{base}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def read_records(s3: Any, uri: str, endpoint: str, variant: str, start: datetime, end: datetime,
                 limit: int = 5000, per_hour: int | None = None) -> list[dict]:
    """Captured records of ``variant`` in the window (at most ``limit``, and ``per_hour`` from each hourly
    folder, counted within the window: the hourly folders' records at or before ``start`` or after ``end`` are
    left out); unreadable lines are skipped."""
    bucket, root = split_s3_uri(uri)
    records: list[dict] = []
    for prefix in hour_prefixes(root, endpoint, variant, start, end):
        records += read_records_in(s3, bucket, prefix, start, end, min(per_hour or limit, limit - len(records)))
        if len(records) >= limit:
            break
    return records


def read_records_in(s3: Any, bucket: str, prefix: str, start: datetime, end: datetime, limit: int) -> list[dict]:
    """At most ``limit`` records of one folder in the window."""
    records: list[dict] = []
    for record in json_lines(s3, bucket, prefix):
        if _within(record, start, end):
            records.append(record)
            if len(records) >= limit:
                break
    return records


def json_lines(s3: Any, bucket: str, prefix: str):
    """The JSON objects of the files under ``prefix``, one per line, in the keys' order (lines that are not
    one are skipped)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8", "replace")
            for line in body.splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield record


def _within(record: dict, start: datetime, end: datetime) -> bool:
    """Whether the record's ``inferenceTime`` falls in the window (the hourly folders also hold the minutes before
    and after it); a record without a readable time is kept."""
    text = (record.get("eventMetadata") or {}).get("inferenceTime")
    try:
        at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return True
    if at.tzinfo is None or start.tzinfo is None:
        return True
    return start < at <= end  # windows that follow each other share no record


def _payload(record: dict, side: str) -> str | None:
    return _decoded((record.get("captureData") or {}).get(side))


def _decoded(part: Any) -> str | None:
    """The text of a captured payload or a ground-truth record's ``groundTruthData`` (``data``, ``encoding``)."""
    if not isinstance(part, dict) or part.get("data") is None:
        return None
    data = str(part["data"])
    if str(part.get("encoding", "")).upper() == "BASE64":
        try:
            return base64.b64decode(data).decode("utf-8", "replace")
        except ValueError:
            return data
    return data


def input_rows(record: dict) -> list[list[str]] | None:
    """The CSV rows of a captured request (a request may hold several), None when it is not CSV."""
    part = (record.get("captureData") or {}).get("endpointInput") or {}
    if "csv" not in str(part.get("observedContentType", "text/csv")).lower():
        return None
    text = _payload(record, "endpointInput")
    if text is None:
        return None
    return [line.split(",") for line in text.strip().splitlines() if line.strip()]


def drift_report(statistics: dict, constraints: dict, records: list[dict], min_records: int) -> dict:
    """Each feature's PSI over the window's requests against the baseline, the features above the
    constraint, and the verdict (``drift``, ``ok``, or ``too few requests``)."""
    features = statistics["features"]
    values: list[list[float]] = [[] for _ in features]
    missing, rows, unreadable = [0] * len(features), 0, 0
    for record in records:
        parsed = input_rows(record)
        if parsed is None:
            unreadable += 1
            continue
        for row in parsed:
            if len(row) != len(features):
                unreadable += 1
                continue
            rows += 1
            for i, cell in enumerate(row):
                try:
                    number = float(cell) if cell.strip() else None
                except ValueError:
                    number = None
                if number is None or not math.isfinite(number):
                    missing[i] += 1
                else:
                    values[i].append(number)
    limit = float(constraints.get("max_psi", DEFAULT_MAX_PSI))
    report: dict[str, Any] = {"format": FORMAT, "version": VERSION, "rows": rows, "unreadable": unreadable,
                              "min_records": min_records, "max_psi": limit, "features": [], "violations": []}
    for feature, seen, absent in zip(features, values, missing):
        entry: dict[str, Any] = {"name": feature["name"], "count": len(seen), "missing": absent}
        if rows:
            # Missing values are a bin of their own: a feature that goes blank (a broken join upstream) drifts.
            expected, observed = _with_missing(feature, seen, absent)
            entry.update(psi=_number(psi(expected, observed)), observed=[_number(share) for share in observed])
            if entry["psi"] > limit:
                report["violations"].append(feature["name"])
        report["features"].append(entry)
    scored = [f["psi"] for f in report["features"] if "psi" in f]
    report["max_feature_psi"] = max(scored) if scored else None
    report["verdict"] = ("too few requests" if rows < min_records else "drift" if report["violations"] else "ok")
    return report


def _with_missing(feature: dict, seen: list[float], absent: int) -> tuple[list[float], list[float]]:
    """``(expected, observed)`` shares over the feature's bins and a last bin of missing values."""
    edges, proportions = feature["bins"]["edges"], feature["bins"]["proportions"]
    expected_missing = feature["missing"] / feature["count"] if feature.get("count") else 0.0
    expected = [p * (1 - expected_missing) for p in proportions] + [expected_missing]
    counts = [0] * (len(edges) + 1)
    for number in seen:
        counts[bin_index(edges, number)] += 1
    total = len(seen) + absent
    observed = ([c / total for c in counts] if proportions else []) + [absent / total]
    return expected, observed


# ------------------------------------------------------------------------------ model quality, against labels
#: Where the application writes ground-truth labels, in the capture bucket: ``ground-truth/<endpoint>/`` then
#: ``yyyy/mm/dd/HH/`` (the hour, UTC, the labels were written), as JSON lines in Model Monitor's documented
#: ground-truth record format: ``{"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata":
#: {"eventId": "<the request's InferenceId>"}, "eventVersion": "0"}``. A request is matched by the
#: ``InferenceId`` its caller gave ``InvokeEndpoint`` (captured as ``inferenceId``), else by SageMaker's own
#: ``eventId``; a request of several rows takes as many labels (comma- or line-separated).
GROUND_TRUTH_PREFIX = "ground-truth"
#: The quality metrics of a binary classifier scoring probabilities: the build's evaluation report's (the
#: project template's evaluate.py), with its cutoff. Higher is better for all.
QUALITY_METRICS = ("accuracy", "precision", "recall", "f1", "auc")
CUTOFF = 0.5
#: Labelled rows a window needs before it is judged (an AUC over 200 rows varies by about 0.03).
DEFAULT_MIN_LABELS = 200


def classification_metrics(labels: list[float], scores: list[float], cutoff: float = CUTOFF) -> dict:
    """The quality metrics of probability ``scores`` against 0/1 ``labels``, as the build's evaluate.py computes
    them. A metric the data leaves undefined is None (no verdict, rather than a 0 that would raise the alarm):
    recall and AUC with one class only, precision and f1 with no positive label and no positive prediction.
    A model that stopped predicting the positive class has precision and f1 0 when positives exist."""
    predicted = [1.0 if score >= cutoff else 0.0 for score in scores]
    pairs = list(zip(predicted, labels))
    tp = sum(1 for p, y in pairs if p == 1 and y == 1)
    fp = sum(1 for p, y in pairs if p == 1 and y == 0)
    fn = sum(1 for p, y in pairs if p == 0 and y == 1)
    return {"accuracy": sum(1 for p, y in pairs if p == y) / len(pairs) if pairs else None,
            "precision": tp / (tp + fp) if tp + fp else (0.0 if fn else None),
            "recall": tp / (tp + fn) if tp + fn else None,
            # 2PR / (P + R), written so that it exists whenever a positive does (evaluate.py's value).
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "auc": _auc(labels, scores)}


def _auc(labels: list[float], scores: list[float]) -> float | None:
    """The area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties averaged."""
    positives = sum(1 for y in labels if y == 1)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        rank = (i + j) / 2 + 1
        rank_sum += rank * sum(1 for k in order[i:j + 1] if labels[k] == 1)
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _numbers(text: str | None) -> list[float] | None:
    """The comma- or line-separated finite numbers of ``text``, None when any is not one."""
    if text is None:
        return None
    try:
        values = [float(cell) for line in text.strip().splitlines() for cell in line.split(",") if cell.strip()]
    except ValueError:
        return None
    return values if values and all(math.isfinite(v) for v in values) else None


def inference_id(record: dict) -> str | None:
    """What a captured request's label is written under: its caller's ``InferenceId``, else its ``eventId``."""
    meta = record.get("eventMetadata") or {}
    return meta.get("inferenceId") or meta.get("eventId")


#: Label files read at once (S3 GETs in parallel; boto3's clients are thread-safe).
_LABEL_READERS = 16


def read_labels(s3: Any, bucket: str, folders: list[str], wanted: set[str],
                deadline: float | None = None) -> tuple[dict, int, bool]:
    """``({id: labels}, unreadable, complete)``: the ground-truth records of ``folders`` for the ``wanted``
    requests (a record in a file written later replaces an earlier one of the same request: a correction), how
    many lines were not a ground-truth record of 0/1 labels, and whether every file was read before
    ``deadline`` (``time.monotonic()``)."""
    from concurrent.futures import ThreadPoolExecutor

    # In the order they were written (then by name): a later file's record is a correction.
    keys = [item["Key"] for item in sorted(
        (item for folder in folders
         for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
         for item in page.get("Contents", [])), key=lambda item: (item["LastModified"], item["Key"]))]

    def read(key: str) -> tuple[list[tuple[str, list[float]]], int] | None:
        if deadline is not None and time.monotonic() > deadline:
            return None
        found, unreadable = [], 0
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_lines():  # streamed: any file size
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key_of = str(record["eventMetadata"]["eventId"])
            except (ValueError, TypeError, KeyError):
                unreadable += 1
                continue
            if key_of not in wanted:
                continue  # another window's request
            values = _numbers(_decoded(record.get("groundTruthData")))
            if values is None or any(v not in (0.0, 1.0) for v in values):
                unreadable += 1
            else:
                found.append((key_of, values))
        return found, unreadable

    labels: dict[str, list[float]] = {}
    unreadable, complete = 0, True
    with ThreadPoolExecutor(max_workers=_LABEL_READERS) as pool:
        for result in pool.map(read, keys):  # in the order written: later files win
            if result is None:
                complete = False
                continue
            found, bad = result
            labels.update(found)
            unreadable += bad
    return labels, unreadable, complete


def quality_report(records: list[dict], labels: dict, metric: str, threshold: float, min_labels: int,
                   unreadable_labels: int = 0) -> dict:
    """``metric`` over the window's labelled requests (their captured predictions against their labels), against
    ``threshold``, and the verdict: ``too few requests`` (the window's rows are fewer than ``min_labels``: thin
    traffic), ``unreadable`` (predictions or label lines that cannot be read are at least as many as the
    labelled rows), ``too few labels``, ``undefined`` (the labels leave the metric undefined), ``below
    threshold`` or ``ok``."""
    truth: list[float] = []
    scores: list[float] = []
    rows = unlabeled = unreadable = 0
    for record in records:
        predicted = _numbers(_payload(record, "endpointOutput"))
        rows += len(predicted) if predicted else 1
        expected = labels.get(str(inference_id(record)))
        if expected is None:
            unlabeled += 1
            continue
        if predicted is None or len(predicted) != len(expected):
            unreadable += 1  # not a probability per row, or not as many labels as predictions
            continue
        truth += expected
        scores += predicted
    value = classification_metrics(truth, scores)[metric] if truth else None
    if rows < min_labels:
        verdict = "too few requests"
    elif (unreadable or unreadable_labels) and unreadable + unreadable_labels >= len(truth):
        verdict = "unreadable"
    else:
        verdict = ("too few labels" if len(truth) < min_labels else "undefined" if value is None
                   else "below threshold" if value < threshold else "ok")
    judged = verdict in ("ok", "below threshold")
    return {"metric": metric, "threshold": threshold, "value": _number(value) if judged else None,
            "requests": len(records), "rows": rows, "labeled": len(truth), "unlabeled": unlabeled,
            "unreadable": unreadable, "unreadable_labels": unreadable_labels, "min_labels": min_labels,
            "verdict": verdict}


def _baseline_of(package: dict, s3: Any, package_arn: str) -> tuple[dict, dict]:
    """The version's registered drift baseline (statistics and constraints; ``package``: its description), read
    from where the build wrote it."""
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    documents = []
    for kind in ("Statistics", "Constraints"):
        uri = (quality.get(kind) or {}).get("S3Uri")
        if not uri:
            raise RuntimeError(f"{package_arn} has no drift baseline ({kind}): it was registered before the build "
                               "computed them; release a version its Baseline step made")
        bucket, key = split_s3_uri(uri)
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise RuntimeError(f"{uri} is not a baseline this check reads ({FORMAT} version {VERSION})")
        documents.append(document)
    return documents[0], documents[1]


def _registered_value(package: dict, s3: Any, metric: str) -> float | None:
    """``metric`` in the version's registered evaluation report (``ModelMetrics.ModelQuality``: the build's test
    split), shown next to the window's value; None when the report is missing or unreadable (context, not a
    verdict)."""
    uri = (((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}).get("S3Uri")
    if not uri:
        return None
    try:
        bucket, key = split_s3_uri(uri)
        value = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["metrics"][metric]["value"]
        return _number(value)
    except Exception:  # noqa: BLE001 - any failure leaves the context out, never the check
        return None


def _metrics(endpoint: str, report: dict, at: datetime) -> list[dict]:
    dims = [{"Name": "EndpointName", "Value": endpoint}]
    data = [{"MetricName": "DriftRecords", "Dimensions": dims, "Value": report["rows"], "Timestamp": at,
             "Unit": "Count"}]
    if report["verdict"] != "too few requests":
        data.append({"MetricName": "DriftViolations", "Dimensions": dims, "Value": len(report["violations"]),
                     "Timestamp": at, "Unit": "Count"})
        if report["max_feature_psi"] is not None:
            data.append({"MetricName": "MaxFeatureDrift", "Dimensions": dims, "Value": report["max_feature_psi"],
                         "Timestamp": at, "Unit": "None"})
        data += [{"MetricName": "FeatureDrift", "Dimensions": dims + [{"Name": "Feature", "Value": f["name"]}],
                  "Value": f["psi"], "Timestamp": at, "Unit": "None"} for f in report["features"] if "psi" in f]
    quality = report.get("quality") or {}
    if quality.get("verdict") in JUDGED:
        data.append({"MetricName": "LabeledRecords", "Dimensions": dims, "Value": quality["labeled"],
                     "Timestamp": at, "Unit": "Count"})
    if quality:
        if quality.get("verdict") in ("ok", "below threshold"):
            data.append({"MetricName": "ModelQuality", "Timestamp": at, "Unit": "None", "Value": quality["value"],
                         "Dimensions": dims + [{"Name": "Metric", "Value": quality["metric"]}]})
    return data


def _window_records(s3: Any, capture_uri: str, endpoint: str, variants: list[str], start: datetime,
                    end: datetime) -> list[dict]:
    """The captured records of ``variants`` in the window, at most ``MAX_RECORDS`` shared between the variants
    and each variant's hours."""
    records: list[dict] = []
    hours = len(hourly_folders("", start, end))
    share = MAX_RECORDS // len(variants)
    for variant in variants:
        records += read_records(s3, capture_uri, endpoint, variant, start, end, share, per_hour=max(1, share // hours))
    return records


#: The quality verdicts of a window with rows enough whose labels were all read and readable: ``LabeledRecords``
#: is published with them, so a count below ``min_labels`` means labels are missing.
JUDGED = ("ok", "below threshold", "too few labels", "undefined")


def serving_since(sagemaker: Any, endpoint: str) -> datetime:
    """When the endpoint's current config was made: requests before it were served by an earlier one (an earlier
    version, after a release)."""
    config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    created = sagemaker.describe_endpoint_config(EndpointConfigName=config)["CreationTime"]
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


def _quality(clients: dict[str, Any], capture_uri: str, endpoint: str, variants: list[str], end: datetime,
             window_minutes: int, *, metric: str, threshold: float, label_delay_hours: int, min_labels: int,
             deadline: float | None = None) -> dict:
    """The model quality of the window ``label_delay_hours`` before the drift check's: its requests have had
    that long to be labelled; labels are read from the window's first hour to the run's. A window that began
    before the endpoint's current config was made (within ``label_delay_hours`` of a release) held an earlier
    version's predictions: it is not judged."""
    s3 = clients["s3"]
    window_end = end - timedelta(hours=label_delay_hours)
    start = window_end - timedelta(minutes=window_minutes)
    bucket, _ = split_s3_uri(capture_uri)
    base = f"{GROUND_TRUTH_PREFIX}/{endpoint}/"
    report: dict[str, Any] = {"metric": metric, "threshold": threshold, "value": None, "min_labels": min_labels,
                              "window": {"start": start.isoformat(), "end": window_end.isoformat()},
                              "labels": f"s3://{bucket}/{base}"}
    since = serving_since(clients["endpoint"], endpoint)
    if since > start:
        return {**report, "verdict": "previous version", "serving_since": since.isoformat()}
    records = _window_records(s3, capture_uri, endpoint, variants, start, window_end)
    wanted = {str(key) for key in map(inference_id, records) if key}
    folders = hourly_folders(base, start, end + timedelta(minutes=CAPTURE_LAG_MINUTES))  # to the run's hour
    labels, unreadable_labels, complete = read_labels(s3, bucket, folders, wanted, deadline)
    judged = quality_report(records, labels, metric, threshold, min_labels, unreadable_labels)
    if not complete:
        judged.update(verdict="labels not all read", value=None)
    return {**report, **judged}


def check(clients: dict[str, Any], *, endpoint: str, capture_uri: str, variants: list[str], package_arn: str,
          end: datetime, window_minutes: int, min_records: int, quality: dict | None = None,
          deadline: float | None = None) -> dict:
    """One check: read the window's captured requests of ``variants``, compare with the baseline, and, with
    ``quality`` (``metric``, ``threshold``, ``label_delay_hours``, ``min_labels``), judge the predictions of an
    earlier window against their labels (reading them until ``deadline``, ``time.monotonic()``); publish,
    report. A quality check that fails leaves the drift verdict published, then fails the run."""
    s3 = clients["s3"]
    package = clients["sagemaker"].describe_model_package(ModelPackageName=package_arn)
    statistics, constraints = _baseline_of(package, s3, package_arn)
    start = end - timedelta(minutes=window_minutes)
    report = drift_report(statistics, constraints, _window_records(s3, capture_uri, endpoint, variants, start, end),
                          min_records)
    report.update(endpoint=endpoint, model_package=package_arn, variants=variants,
                  window={"start": start.isoformat(), "end": end.isoformat()})
    problems = []
    if quality is not None:
        try:
            report["quality"] = _quality(clients, capture_uri, endpoint, variants, end, window_minutes, **quality,
                                         deadline=deadline)
            report["quality"]["registered_value"] = _registered_value(package, s3, quality["metric"])
        except Exception as error:  # noqa: BLE001 - the drift verdict is published all the same
            report["quality"] = {"metric": quality["metric"], "verdict": "failed",
                                 "error": f"{type(error).__name__}: {str(error)[:1000]}"}
            problems.append(f"the quality check failed: {type(error).__name__}: {str(error)[:300]}")
    # Stamped at the window's middle: the alarm's periods then hold one check each, whatever the schedule's jitter
    # (the quality of an earlier window too: an alarm looks at its latest periods only).
    metrics = _metrics(endpoint, report, end - timedelta(minutes=window_minutes / 2))
    for first in range(0, len(metrics), _METRICS_PER_CALL):
        clients["cloudwatch"].put_metric_data(Namespace=NAMESPACE, MetricData=metrics[first:first + _METRICS_PER_CALL])
    bucket, _ = split_s3_uri(capture_uri)
    key = report_key(endpoint, end)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(report, indent=1, sort_keys=True).encode(),
                  ContentType="application/json")
    report["report"] = f"s3://{bucket}/{key}"
    # What the check cannot read must not look like a quiet hour: the function fails, and its alarm says so.
    if report["unreadable"] and report["unreadable"] >= report["rows"]:
        # Not CSV, another column count: the model's input changed.
        problems.insert(0, f"{report['unreadable']} captured request(s) or row(s) of {endpoint} could not be read "
                        f"as CSV rows of the baseline's {len(statistics['features'])} features, against "
                        f"{report['rows']} read")
    judged = report.get("quality") or {}
    if judged.get("verdict") == "unreadable":
        problems.append(f"{judged['unreadable']} labelled request(s)' predictions and {judged['unreadable_labels']} "
                        f"ground-truth line(s) of {endpoint} could not be read (a probability per row; a JSON "
                        "ground-truth record of as many 0/1 labels as rows), against "
                        f"{judged['labeled']} labelled row(s) read")
    if judged.get("verdict") == "labels not all read":
        problems.append(f"the label files under {judged['labels']} could not all be read in the function's time: "
                        "write labels in fewer, larger files (one per hour and writer)")
    if problems:
        raise RuntimeError("; ".join(problems) + f": see {report['report']}")
    return report


def report_key(endpoint: str, end: datetime) -> str:
    """Where a check's report goes in the capture bucket: ``monitoring/<endpoint>/yyyy/mm/dd/HHMM.json``."""
    return f"{REPORTS_PREFIX}/{endpoint}/{end:%Y/%m/%d/%H%M}.json"


#: The reports' prefix in the capture bucket (next to the captured data's).
REPORTS_PREFIX = "monitoring"


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[3] else None


def handler(event: dict, context: Any, clients: dict[str, Any] | None = None) -> dict:
    """The Lambda entry point (``index.handler``), run by a schedule: the check for the window ending at the
    scheduled time (the event's ``time``), settings from the environment."""
    env = os.environ
    package = env["MODEL_PACKAGE_ARN"]
    if clients is None:
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
        clients = {"s3": boto3.client("s3", config=config), "cloudwatch": boto3.client("cloudwatch", config=config),
                   # The registry's own region: SageMaker answers for its own region's ARNs only.
                   "sagemaker": boto3.client("sagemaker", region_name=_region_of(package), config=config),
                   "endpoint": boto3.client("sagemaker", config=config)}
    try:
        run = datetime.fromisoformat(str(event.get("time", "")).replace("Z", "+00:00"))
    except ValueError:
        run = datetime.now(timezone.utc)
    end = run - timedelta(minutes=CAPTURE_LAG_MINUTES)
    quality = None
    if env.get("QUALITY_METRIC"):
        quality = {"metric": env["QUALITY_METRIC"], "threshold": float(env["QUALITY_THRESHOLD"]),
                   "label_delay_hours": int(env.get("LABEL_DELAY_HOURS", "24")),
                   "min_labels": int(env.get("MIN_LABELS", str(DEFAULT_MIN_LABELS)))}
    report = check(clients, endpoint=env["ENDPOINT_NAME"], capture_uri=env["CAPTURE_URI"],
                   variants=env["VARIANTS"].split(","), package_arn=package, end=end,
                   window_minutes=int(env.get("WINDOW_MINUTES", "60")),
                   min_records=int(env.get("MIN_RECORDS", str(DEFAULT_MIN_RECORDS))), quality=quality,
                   # Labels are read until a minute before the function's own timeout.
                   deadline=(time.monotonic() + context.get_remaining_time_in_millis() / 1000 - 60)
                   if hasattr(context, "get_remaining_time_in_millis") else None)
    summary = {key: report[key] for key in ("endpoint", "verdict", "rows", "violations", "max_feature_psi", "report")}
    if quality is not None:
        summary["quality"] = {key: report["quality"].get(key) for key in ("metric", "value", "labeled", "verdict")}
    print(json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A training split's drift baseline (statistics, constraints).")
    parser.add_argument("--base", default="/opt/ml/processing", help="reads train/*.csv, writes baseline/")
    parser.add_argument("--max-psi", type=float, default=DEFAULT_MAX_PSI,
                        help="the PSI above which a feature has drifted (default 0.2)")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.max_psi) and args.max_psi > 0):
        parser.error(f"--max-psi must be a positive number, got {args.max_psi}")
    import pandas as pd

    folder = os.path.join(args.base, "train")
    files = sorted(name for name in os.listdir(folder) if name.endswith(".csv"))
    if not files:
        raise SystemExit(f"no .csv file in {folder}: the Preprocess step writes train/train.csv")
    frame = pd.concat([pd.read_csv(os.path.join(folder, name), header=None) for name in files], ignore_index=True)
    if frame.shape[1] < 2:
        raise SystemExit(f"{folder}: expected the label and at least one feature per row, got {frame.shape[1]} "
                         "column(s)")
    statistics, constraints = baseline(frame, args.max_psi)
    out = os.path.join(args.base, "baseline")
    os.makedirs(out, exist_ok=True)
    for name, document in (("statistics.json", statistics), ("constraints.json", constraints)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as file:
            json.dump(document, file, indent=1, sort_keys=True)
            file.write("\n")
    print(json.dumps({"records": statistics["records"], "features": len(statistics["features"])}))


if __name__ == "__main__":
    main()
