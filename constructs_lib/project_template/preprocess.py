"""Preprocess the churn data set for the built-in XGBoost algorithm (runs in a SageMaker processing job), and
serve the same transformation in front of the model when the build's ``inference_preprocessing`` is on.

Processing job:
  Input:  /opt/ml/processing/raw/**/*.csv|*.txt  (CSV with a header row; the label column is "Churn?")
  Output: /opt/ml/processing/{train,validation,test}/<split>.csv   (label first, no header: XGBoost's CSV format)
  With --serving, also /opt/ml/processing/serving/model.tar.gz: this script under code/ and columns.json (the
  raw columns it saw, label left out), the model of the scikit-learn container that serves before XGBoost.

Serving (the first container of the registered inference pipeline; model_fn, input_fn, predict_fn, output_fn):
  a request holds raw records: text/csv rows of the raw columns in columns.json's order (or in the order of a
  first row naming them all), or application/json, one record {column: value} or a list of them. The answer is
  text/csv rows of FEATURES, the input XGBoost expects: training and serving run the same ``features``. Serving
  is strict where training is lenient: a record missing a feature, a number that does not parse or a flag other
  than yes/no fails the request with a message (the container answers 500: it counts as a model error and a
  5XX in the endpoint's metrics), instead of being read as 0. An empty value is 0, as in training.

Without inference preprocessing, the feature order below is the model's input contract: the endpoint expects
exactly these columns, in this order, as ``text/csv`` (see sample_payloads/). Change it and the sample payloads
together.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import os
import tarfile
import time

import numpy as np
import pandas as pd

LABEL = "Churn?"
#: Numeric columns, used as they are.
NUMERIC = [
    "Account Length", "VMail Message", "Day Mins", "Day Calls", "Day Charge", "Eve Mins", "Eve Calls",
    "Eve Charge", "Night Mins", "Night Calls", "Night Charge", "Intl Mins", "Intl Calls", "Intl Charge",
    "CustServ Calls",
]
#: yes/no columns, encoded 1/0.
FLAGS = ["Int'l Plan", "VMail Plan"]
FEATURES = NUMERIC + FLAGS
BASE = "/opt/ml/processing"


def features(frame: pd.DataFrame, strict: bool = False) -> pd.DataFrame:
    """FEATURES of each raw record, all numeric: a missing or unreadable number is 0, a flag other than "yes" is
    0. ``strict`` (serving): an unreadable number or a flag other than yes/no raises ``ValueError`` instead."""
    out = pd.DataFrame(index=frame.index)
    for column in NUMERIC:
        values = pd.to_numeric(frame[column], errors="coerce")
        if strict:
            given = frame[column].astype(str).str.strip()
            bad = values.isna() & given.ne("") & frame[column].notna()
            if bad.any():
                row = int(bad.to_numpy().argmax())
                raise ValueError(f"record {row + 1}: {column} must be a number, got {given.iloc[row][:40]!r}")
        out[column] = values.fillna(0.0)
    for column in FLAGS:
        flags = frame[column].astype(str).str.strip().str.lower()
        if strict and not flags.isin(["yes", "no"]).all():
            row = int((~flags.isin(["yes", "no"])).to_numpy().argmax())
            raise ValueError(f"record {row + 1}: {column} must be yes or no, got {flags.iloc[row][:40]!r}")
        out[column] = flags.eq("yes").astype(int)
    return out


def transform(frame: pd.DataFrame) -> pd.DataFrame:
    """The label (1 = churned) followed by FEATURES, all numeric."""
    label = frame[LABEL].astype(str).str.strip(".").str.lower().eq("true").astype(int)
    return pd.concat([label.rename("label"), features(frame)], axis=1)


def split(frame: pd.DataFrame, seed: int = 42, train: float = 0.7, validation: float = 0.15):
    """Shuffle with a fixed seed (reruns on the same data give the same splits) and cut train/validation/test."""
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    first, second = int(train * len(shuffled)), int((train + validation) * len(shuffled))
    return shuffled.iloc[:first], shuffled.iloc[first:second], shuffled.iloc[second:]


def package_serving(folder: str, columns: list[str]) -> str:
    """``folder``/model.tar.gz: columns.json and this script as code/preprocess.py (the layout the scikit-learn
    container serves with SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.tar.gz")
    with open(__file__, "rb") as script:
        members = {"columns.json": json.dumps({"columns": columns}, indent=1).encode(),
                   "code/preprocess.py": script.read()}
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default=BASE, help="the processing folder: reads raw/, writes the splits")
    parser.add_argument("--serving", action="store_true", help="also write serving/model.tar.gz")
    args = parser.parse_args()
    files = sorted(path for path in glob.glob(os.path.join(args.base, "raw", "**", "*"), recursive=True)
                   if path.lower().endswith((".csv", ".txt")) and os.path.isfile(path))  # not a README or manifest
    if not files:
        raise SystemExit(f"no .csv or .txt input files under {args.base}/raw")
    raw = pd.concat([pd.read_csv(path) for path in files], ignore_index=True)
    frame = transform(raw)
    for name, part in zip(("train", "validation", "test"), split(frame)):
        os.makedirs(os.path.join(args.base, name), exist_ok=True)
        part.to_csv(os.path.join(args.base, name, f"{name}.csv"), header=False, index=False)
        print(f"{name}: {len(part)} rows, churn rate {np.mean(part['label']):.3f}")
    if args.serving:
        columns = [str(column) for column in raw.columns if column != LABEL]
        print("serving package:", package_serving(os.path.join(args.base, "serving"), columns))


# ------------------------------------------------------------------------ serving (scikit-learn container)
def model_fn(model_dir: str) -> list[str]:
    """The raw columns training saw, in order (what a CSV request's rows hold)."""
    with open(os.path.join(model_dir, "columns.json"), encoding="utf-8") as file:
        return json.load(file)["columns"]


def input_fn(body, content_type: str):
    """(kind, rows): CSV rows as lists of strings, or JSON records as dicts."""
    try:
        text = body.decode("utf-8-sig") if isinstance(body, (bytes, bytearray)) else str(body).lstrip("\ufeff")
    except UnicodeDecodeError as error:
        raise ValueError(f"the request must be UTF-8 text ({error.reason} at byte {error.start})") from None
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "text/csv":
        rows = [row for row in csv.reader(io.StringIO(text)) if any(value.strip() for value in row)]
    elif media == "application/json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"the application/json request is not JSON: {error}") from None
        rows = [rows] if isinstance(rows, dict) else rows
        if not isinstance(rows, list) or not all(isinstance(record, dict) for record in rows):
            raise ValueError("an application/json request must be a record {column: value} or a list of them")
    else:
        raise ValueError(f"unsupported content type {content_type!r}: send text/csv or application/json")
    if not rows:
        raise ValueError("the request holds no record")
    return ("csv" if media == "text/csv" else "json"), rows


def predict_fn(data, columns: list[str]) -> pd.DataFrame:
    """FEATURES of the request's records (``features``, as in training)."""
    kind, rows = data
    if kind == "csv":
        by_name = {column.lower(): column for column in columns}
        header = [value.strip().lower() for value in rows[0]]
        if sorted(header) == sorted(by_name):  # a first row naming the columns, in any order and case
            columns, rows = [by_name[name] for name in header], rows[1:]
            if not rows:
                raise ValueError("the request holds a header row and no record")
        for number, row in enumerate(rows, start=1):
            if len(row) != len(columns):
                raise ValueError(f"CSV row {number} has {len(row)} values; a record has {len(columns)}: "
                                 + ", ".join(columns))
        frame = pd.DataFrame(rows, columns=columns)
    else:
        for number, record in enumerate(rows, start=1):
            missing = [column for column in FEATURES if column not in record]
            if missing:
                raise ValueError(f"record {number} lacks {', '.join(missing)}")
        frame = pd.DataFrame.from_records(rows)
    return features(frame, strict=True)


def output_fn(prediction: pd.DataFrame, accept: str):
    """CSV rows without a header, what the XGBoost container takes next, whatever the caller accepts (the
    caller's answer is the last container's)."""
    return prediction.to_csv(header=False, index=False), "text/csv"


if __name__ == "__main__":
    main()
