"""three-phase benchmark: accuracy / macro-F1 and the wall time of each phase, per method and seed.

Runs every configuration side by side in one process on the same data, sampling and seeds, and
prints one Markdown row per run (also appended as JSON lines to --log, so a cut-off run keeps what
it measured). Heavy: run it under the shared lock, e.g.

    flock /tmp/robustune-heavy.lock env PYTHONPATH=src /tmp/venv/bin/python bench/three_phase.py \\
        --dataset sst2 --train-rows 1000 --seeds 1 --configs vanilla,three-phase,joint

Configurations: vanilla, three-phase, joint, dae-ft (--phases dae), cl-ft (--phases cl),
three-phase-noaug (--no-imbalance-augment).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"

CONFIGS = {
    "vanilla": ("vanilla", {}),
    "three-phase": ("three-phase", {}),
    "joint": ("joint", {}),
    "dae-ft": ("three-phase", {"phases": "dae"}),
    "cl-ft": ("three-phase", {"phases": "cl"}),
    "three-phase-noaug": ("three-phase", {"imbalance_augment": False}),
}


def eval_subset(path: Path, rows: int | None, seed: int, folder: Path) -> Path:
    """The test file itself, or a seeded random subset of its rows written to ``folder``."""
    if not rows:
        return path
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header, body = next(reader), list(reader)
    body = random.Random(seed).sample(body, min(rows, len(body)))
    out = folder / f"{path.parent.name}-test-{rows}.tsv"
    out.write_text("\t".join(header) + "\n" + "".join("\t".join(r) + "\n" for r in body), encoding="utf-8")
    return out


def main() -> int:
    import robustune

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["sst2", "agnews"], default="sst2")
    p.add_argument("--train-rows", type=int, default=1000)
    p.add_argument("--eval-rows", type=int, help="evaluate on a seeded subset of the test set")
    p.add_argument("--seeds", default="1", help="comma-separated seeds")
    p.add_argument("--configs", default="vanilla,three-phase,joint")
    p.add_argument("--imbalance", type=float, help="keep this share of the first class (SST-2: negative)")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--model", help="encoder (default: the bundled MiniLM)")
    p.add_argument("--log", default="bench/three_phase_results.jsonl")
    args = p.parse_args()

    train = DATASETS / args.dataset / "train.tsv"
    work = Path(tempfile.mkdtemp(prefix="three-phase-bench-"))
    test = eval_subset(DATASETS / args.dataset / "test.tsv", args.eval_rows, 0, work)
    print("| data | config | seed | accuracy | macro-F1 | phase wall s (dae / cl / joint / fine-tune) | total s |")
    print("|---|---|---|---|---|---|---|")
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in args.configs.split(","):
            method, params = CONFIGS[name]
            start = time.perf_counter()
            result = robustune.train(data=str(train), eval_data=str(test), output_dir=str(work / f"{name}-{seed}"),
                                     model=args.model, method=method, method_params=params, max_train_samples=args.train_rows,
                                     imbalance=args.imbalance, epochs=args.epochs, seed=seed, progress=False)
            total = time.perf_counter() - start
            m, tm = result.eval_metrics, result.train_metrics
            phases = [tm.get(f"{k}_train_runtime") for k in ("dae", "cl", "joint")] + [tm["train_runtime"]]
            walls = " / ".join("-" if w is None else f"{w:.0f}" for w in phases)
            data = f"{args.dataset} {args.train_rows}" + (f" imb {args.imbalance}" if args.imbalance else "")
            print(f"| {data} | {name} | {seed} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {walls} | {total:.0f} |",
                  flush=True)
            with open(args.log, "a") as f:
                f.write(json.dumps({"dataset": args.dataset, "train_rows": args.train_rows, "imbalance": args.imbalance,
                                    "eval": str(test), "eval_n": m["n"], "config": name, "seed": seed,
                                    "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "phase_walls": phases,
                                    "total_s": total}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
