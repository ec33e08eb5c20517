"""Seeds driver: train each method on several seeds and report linear / KNN / combined accuracy, mean ± std.

Few-shot with ``--shots K`` (K examples per class, drawn with each seed), rich-source without it
(optionally ``--max-train-samples N``). Every model, vanilla included, gets a KNN datastore of its
own training set after training (vanilla's is attached here; knn-bert and scl build theirs in
``finalize``) so the three accuracies are comparable. With ``--dev``, K and λ' are also chosen per
run on the dev split (never the test split) from a small grid, and the test accuracy at the chosen
values is reported as ``combined@dev``.

    flock /tmp/robustune-heavy.lock env PYTHONPATH=src python bench/fewshot.py \\
        --data sst2:train --test sst2:test --shots 8 \\
        --methods vanilla knn-bert --seeds 1 2 3 4 5 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time

import numpy as np

import robustune
from robustune.data import LabelMap, load_source, random_subset
from robustune.knn import attach_datastore
from robustune.methods import get_method
from robustune.training import TrainConfig, load_training_data

GRID_K = (5, 10, 20, 50)
GRID_WEIGHT = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def _accuracies(model, data) -> dict:
    y = np.array(LabelMap(tuple(model.label_names)).encode(data))
    parts = model.predict_components(data.texts)
    return {name: float((p.argmax(-1) == y).mean()) for name, p in parts.items()}


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


def _fields(method: str) -> set[str]:
    return {f.name for f in dataclasses.fields(get_method(method).Params)}


def run_one(args, method: str, seed: int, dev, test) -> dict:
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(data=args.data, output_dir=out, model=args.model, method=method, shots=args.shots,
                             max_train_samples=args.max_train_samples, epochs=args.epochs, lr=args.lr,
                             batch_size=args.batch_size, seed=seed, progress=False,
                             method_params={k: v for k, v in args.param if k in _fields(method)})
        start = time.perf_counter()
        model = robustune.train(config).model
        train_s = time.perf_counter() - start
    if model.knn is None:  # vanilla: the same datastore knn-bert would build, for comparison
        train = load_training_data(config)
        attach_datastore(model, train.texts, LabelMap(tuple(model.label_names)).encode(train), k=10, weight=0.2)
    row = {"method": method, "seed": seed, "train_s": round(train_s, 1), **_accuracies(model, test)}
    if dev is not None:
        row["tuned"], row["combined@dev"] = _tune_on_dev(model, dev, test)
    print(json.dumps(row), flush=True)
    return row


def summary(rows: list[dict]) -> dict:
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        out[method] = {}
        for key in ("linear", "knn", "combined", "combined@dev"):
            values = [r[key] for r in mine if key in r]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                out[method][key] = (round(statistics.mean(values), 4), round(std, 4))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--dev", help="dev split for choosing K and λ' (never the test split)")
    p.add_argument("--max-test-samples", type=int, help="a seeded subset of the test data")
    p.add_argument("--max-dev-samples", type=int, default=1000, help="a seeded subset of the dev data (default 1000)")
    p.add_argument("--model")
    p.add_argument("--methods", nargs="+", default=["vanilla", "knn-bert"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    p.add_argument("--shots", type=int)
    p.add_argument("--max-train-samples", type=int)
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter, given to the methods that have it (repeatable)")
    p.add_argument("--json", help="write all rows and the summary here")
    args = p.parse_args()
    args.param = [(k.replace("-", "_"), json.loads(v)) for k, v in (p.split("=", 1) for p in args.param)]
    test = load_source(args.test, "test")
    dev = load_source(args.dev, "test") if args.dev else None
    if args.max_test_samples:
        test = random_subset(test, args.max_test_samples, 0)
    if dev is not None and args.max_dev_samples:
        dev = random_subset(dev, args.max_dev_samples, 0)
    # Seed-major, so that a run cut short still holds every method for the seeds it finished.
    rows = [run_one(args, method, seed, dev, test) for seed in args.seeds for method in args.methods]
    result = summary(rows)
    for method, stats in result.items():
        print(f"{method:9s} " + "  ".join(f"{k} {m:.4f} ± {s:.4f}" for k, (m, s) in stats.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "summary": result}, f, indent=2)


if __name__ == "__main__":
    main()
