"""Evaluate the trained model on the test split (runs in a SageMaker processing job, XGBoost image).

Input:  /opt/ml/processing/model/model.tar.gz, /opt/ml/processing/test/test.csv (label first, no header)
Output: /opt/ml/processing/evaluation/evaluation.json:
        {"metrics": {"accuracy": {"value": ...}, "precision": ..., "recall": ..., "f1": ..., "auc": ...}}

The pipeline's condition step reads ``metrics.<metric>.value`` (``build.metric`` in the config, default
accuracy), so every metric the config may name must be written here.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import tarfile

import numpy as np

BASE = "/opt/ml/processing"
CUTOFF = 0.5


def compute_metrics(labels, scores, cutoff: float = CUTOFF) -> dict:
    """Binary classification metrics of probability ``scores`` against 0/1 ``labels``."""
    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    predicted = (scores >= cutoff).astype(float)
    tp = float(np.sum((predicted == 1) & (labels == 1)))
    fp = float(np.sum((predicted == 1) & (labels == 0)))
    fn = float(np.sum((predicted == 0) & (labels == 1)))
    accuracy = float(np.mean(predicted == labels)) if len(labels) else 0.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {name: {"value": round(value, 6)} for name, value in (
        ("accuracy", accuracy), ("precision", precision), ("recall", recall), ("f1", f1),
        ("auc", _auc(labels, scores)))}


def _auc(labels, scores) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties averaged."""
    positives, negatives = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    if not positives or not negatives:
        return 0.0
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((np.sum(ranks[labels == 1]) - positives * (positives + 1) / 2) / (positives * negatives))


def load_booster(model_dir: str):
    import xgboost

    with tarfile.open(os.path.join(model_dir, "model.tar.gz")) as archive:
        archive.extractall(model_dir)
    path = os.path.join(model_dir, "xgboost-model")
    booster = xgboost.Booster()
    try:
        booster.load_model(path)
    except xgboost.core.XGBoostError:  # models saved by older containers are pickled
        with open(path, "rb") as handle:
            booster = pickle.load(handle)
    return booster


def main() -> None:
    import pandas as pd
    import xgboost

    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default=BASE)
    args = parser.parse_args()
    booster = load_booster(os.path.join(args.base, "model"))
    test = pd.read_csv(os.path.join(args.base, "test", "test.csv"), header=None)
    scores = booster.predict(xgboost.DMatrix(test.iloc[:, 1:].values))
    report = {"metrics": compute_metrics(test.iloc[:, 0].values, scores)}
    os.makedirs(os.path.join(args.base, "evaluation"), exist_ok=True)
    with open(os.path.join(args.base, "evaluation", "evaluation.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
