"""Preprocess the churn data set for the built-in XGBoost algorithm (runs in a SageMaker processing job).

Input:  /opt/ml/processing/input/*.csv|*.txt   (CSV with a header row; the label column is "Churn?")
Output: /opt/ml/processing/{train,validation,test}/<split>.csv   (label first, no header: XGBoost's CSV format)

The feature order below is the model's input contract: the endpoint expects exactly these columns, in this
order, as ``text/csv`` (see sample_payloads/). Change it and the sample payloads together.
"""

from __future__ import annotations

import argparse
import glob
import os

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


def transform(frame: pd.DataFrame) -> pd.DataFrame:
    """The label (1 = churned) followed by FEATURES, all numeric."""
    out = pd.DataFrame({"label": frame[LABEL].astype(str).str.strip(".").str.lower().eq("true").astype(int)})
    for column in NUMERIC:
        out[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0.0)
    for column in FLAGS:
        out[column] = frame[column].astype(str).str.strip().str.lower().eq("yes").astype(int)
    return out


def split(frame: pd.DataFrame, seed: int = 42, train: float = 0.7, validation: float = 0.15):
    """Shuffle with a fixed seed (reruns on the same data give the same splits) and cut train/validation/test."""
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    first, second = int(train * len(shuffled)), int((train + validation) * len(shuffled))
    return shuffled.iloc[:first], shuffled.iloc[first:second], shuffled.iloc[second:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default=BASE)
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.base, "input", "**", "*.*"), recursive=True))
    if not files:
        raise SystemExit(f"no input files under {args.base}/input")
    frame = transform(pd.concat([pd.read_csv(path) for path in files], ignore_index=True))
    for name, part in zip(("train", "validation", "test"), split(frame)):
        os.makedirs(os.path.join(args.base, name), exist_ok=True)
        part.to_csv(os.path.join(args.base, name, f"{name}.csv"), header=False, index=False)
        print(f"{name}: {len(part)} rows, churn rate {np.mean(part['label']):.3f}")


if __name__ == "__main__":
    main()
