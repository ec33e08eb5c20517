"""Clean, label-noise and imbalance accuracy of several methods (same data, seeds, budget).

Every run trains through ``robustune.train`` (the same path as the CLI) and evaluates on the test
file; one JSON line per run goes to ``--results`` (runs already there are skipped, so an interrupted
sweep continues), and a mean ± std table is printed at the end.

    flock /tmp/robustune-heavy.lock env PYTHONPATH=src python bench/robust_methods.py \
        --data sst2:train --test sst2:test \
        --train-samples 4000 --seeds 1 2 3 --settings clean noise20 imbalance10 --results sst2.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import robustune

SETTINGS = {"clean": {}, "noise20": {"label_noise": 0.2}, "imbalance10": {"imbalance": 0.1}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--train-samples", type=int, default=4000)
    ap.add_argument("--test-samples", type=int, help="evaluate on a seeded subset of the test file")
    ap.add_argument("--methods", nargs="+", default=["vanilla", "smart", "match-tuning"])
    ap.add_argument("--settings", nargs="+", default=["clean"], choices=sorted(SETTINGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--results", required=True, help="JSON-lines file the runs are appended to")
    ap.add_argument("--keep", metavar="DIR", help="save each trained model as DIR/SETTING-METHOD-sSEED "
                    "(e.g. to tune knn-bert's K and λ' on dev afterwards, or to attack it)")
    args = ap.parse_args()

    results = Path(args.results)
    done = {(r["setting"], r["method"], r["seed"]) for r in map(json.loads, results.read_text().splitlines())} \
        if results.exists() else set()
    eval_data = args.test
    if args.test_samples:
        from robustune import data as D

        test = D.random_subset(D.load_source(args.test, "test"), args.test_samples, 0)
        eval_data = str(Path(tempfile.mkdtemp()) / "test.tsv")
        Path(eval_data).write_text("text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in zip(test.texts, test.labels)))
    # Seed-major order: an interrupted sweep has every setting at the first seed before the second.
    for seed in args.seeds:
        for setting in args.settings:
            for method in args.methods:
                if (setting, method, seed) in done:
                    continue
                start = time.time()
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(args.keep) / f"{setting}-{method}-s{seed}" if args.keep else tmp
                    result = robustune.train(data=args.data, eval_data=eval_data, output_dir=out, method=method,
                                             max_train_samples=args.train_samples, epochs=args.epochs, seed=seed,
                                             max_length=args.max_length, progress=False, overwrite=True,
                                             **SETTINGS[setting])
                m = result.eval_metrics
                row = {"setting": setting, "method": method, "seed": seed, "accuracy": m["accuracy"],
                       "macro_f1": m["macro_f1"], "n_test": m["n"], "train_examples": args.train_samples,
                       "epochs": args.epochs, "train_s": round(time.time() - start, 1),
                       # knn-bert / scl: the linear head's and the KNN vote's own accuracies
                       **{k: v for k, v in m.items() if k.startswith("accuracy_")}}
                with results.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    summarize(results)


def summarize(results: Path) -> None:
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r["setting"], r["method"]), []).append(r)
    print(f"{'setting':<12}{'method':<14}{'seeds':>6}{'accuracy':>18}{'macro-F1':>18}")
    for (setting, method), rs in groups.items():
        cells = []
        for key in ("accuracy", "macro_f1"):
            vals = [100 * r[key] for r in rs]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.2f} ± {sd:.2f}")
        print(f"{setting:<12}{method:<14}{len(rs):>6}{cells[0]:>18}{cells[1]:>18}")


if __name__ == "__main__":
    main()
