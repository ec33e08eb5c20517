"""Backdoor benchmark (arXiv 2108.13888): poison -> victim fine-tuning -> CACC / ASR, through the CLI.

For each poisoning method, one poisoned encoder; for each victim setting (learning rate, epochs,
method, --reinit-top-layers), one victim fine-tuned on clean data and evaluated with the trigger.
``clean`` as a poisoner is the unpoisoned encoder (the ASR floor). Every cell's JSON stays in
``--work``; a cell whose output exists is not run again, so the script resumes. Each CLI call takes
the shared lock (``--lock``) by itself and releases it after, so other jobs can run in between.

    PYTHONPATH=src python bench/backdoor.py --poisoners clean layerwise badnet ripple --lrs 1e-4 \\
        --epochs 1 --work /tmp/bd8 --json bench/results/backdoor.json
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import time
from pathlib import Path

from robustune.assets import default_encoder
from robustune.cli import main


@contextlib.contextmanager
def heavy_lock(path: str | None):
    if not path:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(argv: list[str], lock: str | None) -> float:
    with heavy_lock(lock):
        start = time.perf_counter()
        code = main(argv)
        seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"failed ({code}): robustune {' '.join(argv)}")
    print(f"[{seconds:.0f} s] robustune {' '.join(argv)}", flush=True)
    return seconds


def main_() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--attacker-data", default="sst2:dev")
    p.add_argument("--victim-data", default="sst2:train")
    p.add_argument("--test", default="sst2:test")
    p.add_argument("--poisoners", nargs="+", default=["clean", "layerwise", "badnet", "ripple"])
    p.add_argument("--attacker-rows", type=int, default=2000)
    p.add_argument("--attacker-epochs", default="1")
    p.add_argument("--attacker-lr", default="1e-4")
    p.add_argument("--victim-rows", type=int, default=4000)
    p.add_argument("--lrs", nargs="+", default=["2e-5", "5e-5", "1e-4"])
    p.add_argument("--epochs", nargs="+", default=["1", "3"])
    p.add_argument("--victim-methods", nargs="+", default=["vanilla"])
    p.add_argument("--reinit", nargs="+", default=["0"], help="--reinit-top-layers values")
    p.add_argument("--victim-pooling", default="mean", choices=["mean", "cls"])
    p.add_argument("--trigger", default="cf bb ak mn")
    p.add_argument("--target-label", default="1")
    p.add_argument("--max-length", default="64")
    p.add_argument("--eval-examples", help="--max-examples of evaluate (default: the whole test file)")
    p.add_argument("--work", required=True)
    p.add_argument("--json", help="write all cells here")
    p.add_argument("--lock", default="/tmp/robustune-heavy.lock", help="shared lock file ('' for none)")
    args = p.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cells = []
    for poisoner in args.poisoners:
        encoder = default_encoder() if poisoner == "clean" else str(work / f"poison-{poisoner}")
        if poisoner != "clean" and not (Path(encoder) / "poison.json").is_file():
            run(["poison", "--data", args.attacker_data, "--max-train-samples", str(args.attacker_rows),
                 "--method", poisoner, "--trigger", args.trigger, "--target-label", args.target_label,
                 "--epochs", args.attacker_epochs, "--lr", args.attacker_lr, "--max-length", args.max_length,
                 "--eval-data", args.test, "--output", encoder, "--overwrite"], args.lock)
        for method in args.victim_methods:
            for reinit in args.reinit:
                for lr in args.lrs:
                    for epochs in args.epochs:
                        name = f"{poisoner}__{method}__lr{lr}__ep{epochs}__reinit{reinit}"
                        if args.victim_pooling != "mean":
                            name += f"__{args.victim_pooling}"
                        metrics_path = work / f"{name}.json"
                        if not metrics_path.is_file():
                            victim = work / f"victim-{name}"
                            seconds = run(["train", "--model", encoder, "--data", args.victim_data,
                                           "--max-train-samples", str(args.victim_rows), "--method", method,
                                           "--lr", lr, "--epochs", epochs, "--max-length", args.max_length,
                                           "--reinit-top-layers", reinit, "--pooling", args.victim_pooling,
                                           "--output", str(victim), "--overwrite"],
                                          args.lock)
                            evaluate = ["evaluate", "--model", str(victim), "--data", args.test, "--trigger",
                                        args.trigger, "--target-label", args.target_label,
                                        "--output", str(metrics_path)]
                            if args.eval_examples:
                                evaluate += ["--max-examples", args.eval_examples]
                            run(evaluate, args.lock)
                            m = json.loads(metrics_path.read_text())
                            m["train_seconds"] = round(seconds, 1)
                            metrics_path.write_text(json.dumps(m, indent=2))
                        m = json.loads(metrics_path.read_text())
                        cells.append({"poisoner": poisoner, "victim_method": method, "lr": lr, "epochs": epochs,
                                      "pooling": args.victim_pooling,
                                      "reinit_top_layers": reinit, "cacc": m["accuracy"],
                                      "asr": m["attack_success_rate"],
                                      "single_token_flip_rates": m["single_token_flip_rates"],
                                      "target_rate_without_trigger": m["target_rate_without_trigger"],
                                      "train_seconds": m.get("train_seconds")})
    print("| poisoner | victim | pooling | lr | epochs | reinit | CACC | ASR | single-token flip rates | no-trigger rate |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in cells:
        singles = " ".join(f"{t} {r:.3f}" for t, r in c["single_token_flip_rates"].items())
        print(f"| {c['poisoner']} | {c['victim_method']} | {c['pooling']} | {c['lr']} | {c['epochs']} | {c['reinit_top_layers']} "
              f"| {c['cacc']:.3f} | {c['asr']:.3f} | {singles} | {c['target_rate_without_trigger']:.3f} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"settings": vars(args), "cells": cells}, indent=2))


if __name__ == "__main__":
    main_()
