"""Choose a saved model's KNN K and λ' on a dev split (never the test split); print the test accuracy there.

    PYTHONPATH=src python bench/knn_tune.py MODEL_DIR [MODEL_DIR ...] --dev sst2:dev \\
        --test sst2:test

``--dev heldout``: the rows of the model's own training file that it did not train on (its recorded
``data``, ``max_train_samples`` and ``seed`` give them), for datasets without a dev split (AG News).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from robustune import RobustClassifier, load_source
from robustune.data import LabelMap
from robustune.data.sampling import random_subset, subset_indices

GRID_K = (5, 10, 20, 50)
GRID_WEIGHT = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def _tune_on_dev(model, dev, test) -> tuple[dict, float]:
    """Best (K, λ') on dev by combined accuracy; the test accuracy there. Each split is encoded once."""
    import torch

    names = tuple(model.label_names)
    splits = []
    for d in (dev, test):
        h = model.encode_texts(d.texts)  # (N, D)
        with torch.no_grad():
            linear = torch.softmax(model.head.eval()(h), -1).numpy()
        splits.append((h, linear, np.array(LabelMap(names).encode(d))))
    best = None
    for k in GRID_K:
        model.knn.configure(k=k)
        knn = [model.knn.vote(h).numpy() for h, _, _ in splits]
        for w in GRID_WEIGHT:
            (dev_acc, test_acc) = (float(((w * kp + (1 - w) * lin).argmax(-1) == y).mean())
                                   for kp, (_, lin, y) in zip(knn, splits))
            if best is None or dev_acc > best[0]:
                best = (dev_acc, {"k": k, "weight": w}, test_acc)
    return best[1], best[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--dev", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--max-dev-samples", type=int, default=1000)
    p.add_argument("--json", help="append one JSON line per model to this file")
    args = p.parse_args()
    test = load_source(args.test, "test")
    dev_file = None if args.dev == "heldout" else load_source(args.dev, "test")
    for path in args.models:
        model = RobustClassifier.from_pretrained(path)
        if model.knn is None:
            sys.exit(f"{path}: no KNN datastore")
        dev = random_subset(heldout(model) if dev_file is None else dev_file, args.max_dev_samples, 0)
        chosen, test_accuracy = _tune_on_dev(model, dev, test)
        row = {"model": path, "dev": args.dev, "dev_rows": len(dev), **chosen, "test_accuracy": test_accuracy}
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")


def heldout(model):
    """The training file's rows that the model's seeded ``max_train_samples`` draw left out."""
    training = model.settings.training
    data = load_source(training["data"], "train", text_column=training.get("text_column"),
                       label_column=training.get("label_column"), split_seed=training.get("split_seed", 42))
    n = training.get("max_train_samples")
    if not n or n >= len(data):
        sys.exit(f"{training['data']}: the model trained on every row; pass a --dev file")
    used = set(subset_indices(len(data), n, training["seed"]))
    return data.subset([i for i in range(len(data)) if i not in used])


if __name__ == "__main__":
    main()
