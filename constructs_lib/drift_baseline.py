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

The script runs in the job alone (no package of this project is installed there): standard library, numpy and
pandas only, and Python 3.8's syntax (the image's interpreter may be older than this project's).
"""

from __future__ import annotations

import argparse
import json
import math
import os

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
    edges = sorted({float(x) for x in np.quantile(present, [i / BINS for i in range(1, BINS)],
                                                  method="inverted_cdf")})
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    return {
        **stats, "mean": _number(present.mean()), "std": _number(present.std()), "min": _number(present.min()),
        "max": _number(present.max()),
        # A value equal to an edge falls in the bin that edge closes: (e[i-1], e[i]].
        "bins": {"edges": [_number(e) for e in edges],
                 "proportions": [_number(c / len(present)) for c in counts]},
    }


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
