"""``results.json``: every finished cell's metrics and cost, and their aggregates over seeds.

Aggregates are mean ± sample standard deviation (n − 1 in the denominator; 0 for a single seed) per
method × dataset × setting (and × recipe for attacks) of every number a cell's metrics hold at their
top level (so a metric that evaluation adds later, e.g. a new backdoor ASR, is aggregated without a
change here). Poison cells (the backdoor chain) are listed under ``poisoned``, not aggregated. The step-time ratio divides a method's mean
seconds per training step (its fine-tuning phase) by vanilla's on the same dataset and setting in
the same bench run, so both were measured under the same machine conditions.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from ..atomic import write_json
from ..errors import RobustuneError
from .matrix import ATTACK, POISON

RESULTS = "results.json"
BASELINE = "vanilla"
CELL_METRICS = ("accuracy", "macro_f1", "accuracy_linear", "accuracy_knn")
ATTACK_METRICS = ("clean_accuracy", "accuracy_under_attack", "attack_success_rate", "avg_perturbed_word_pct",
                  "avg_queries", "avg_model_forwards", "seconds_per_example")
COST = ("train_examples_per_second", "train_seconds", "step_seconds", "wall_seconds", "peak_rss_mib",
        "peak_gpu_mib")


def machine_info() -> dict:
    """What a figure was measured on: cores, CPU model (Linux /proc/cpuinfo), torch, GPU if any."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    info = {"cpu_count": os.cpu_count(), "cpu_model": cpu, "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def mean_std(values: list[float]) -> dict:
    """{"mean", "std", "n"}: the sample standard deviation (ddof = 1), 0 for a single value."""
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n}


def _read_cell(out: Path, record: dict) -> dict | None:
    folder = out / record["folder"]
    if not (folder / "done.json").is_file():
        return None
    done = json.loads((folder / "done.json").read_text())
    result = json.loads((folder / "result.json").read_text())
    if record["kind"] == ATTACK:
        metrics = {k: result["metrics"][k] for k in ATTACK_METRICS + ("num_examples",) if k in result["metrics"]}
    else:
        metrics = {k: v for k, v in result["metrics"].items() if _number(v) or k == "single_token_flip_rates"}
        # A backdoor evaluation's counts (how many non-target texts, how many of them correct: the
        # denominators of its two ASRs) sit in its "backdoor" record beside the trigger it used.
        backdoor = result["metrics"].get("backdoor", {})
        metrics.update({k: v for k, v in backdoor.items() if k.startswith("n_") and _number(v)})
    cost = {**result["cost"], "wall_seconds": done["wall_seconds"], "load_average_at_end": done["load_average"],
            "isolation": done["isolation"]}
    return {**{k: v for k, v in record.items() if k != "folder"}, "folder": record["folder"],
            "metrics": metrics, "cost": cost}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _group(cells: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        groups.setdefault(tuple(c[k] for k in keys), []).append(c)
    return groups


def aggregate(cells: list[dict]) -> tuple[list[dict], list[dict]]:
    """(training aggregates, attack aggregates) of finished cell records, in first-seen order."""
    train_cells = [c for c in cells if c["kind"] not in (ATTACK, POISON)]
    training = []
    for (method, dataset, setting), group in _group(train_cells, ("method", "dataset", "setting")).items():
        row = {"method": method, "dataset": dataset, "setting": setting, "kind": group[0]["kind"],
               "seeds": [c["seed"] for c in group]}
        names = list(CELL_METRICS) + [k for c in group for k in c["metrics"] if k not in CELL_METRICS]
        for k in dict.fromkeys(names):  # first-seen order, each once
            values = [c["metrics"][k] for c in group if _number(c["metrics"].get(k))]
            if values:
                row[k] = mean_std(values)
            parts = [c["metrics"][k] for c in group if isinstance(c["metrics"].get(k), dict)]
            if parts:  # per-part figures (a backdoor's single-token flip rates): the mean of each part
                row[k] = {part: sum(p[part] for p in parts) / len(parts) for part in parts[0]}
        costs = [{**c["cost"], **{f"{phase}_seconds": v for phase, v in c["cost"].get("phase_seconds", {}).items()}}
                 for c in group]  # a staged method's phases: dae_seconds, cl_seconds, fine-tune_seconds
        names = list(COST) + [k for c in costs for k in c if k not in COST]
        for k in dict.fromkeys(names):
            values = [c[k] for c in costs if _number(c.get(k))]
            if values:
                row[k] = mean_std(values)
        training.append(row)
    baseline = {(r["dataset"], r["setting"]): r for r in training if r["method"] == BASELINE}
    for row in training:
        base = baseline.get((row["dataset"], row["setting"]))
        if base and "step_seconds" in row and "step_seconds" in base and base["step_seconds"]["mean"]:
            row["step_time_ratio"] = row["step_seconds"]["mean"] / base["step_seconds"]["mean"]
        # The whole training's time: what a defence that works between steps (adversarial examples
        # attacked at each epoch's start) costs, which the step time does not show.
        if base and "train_seconds" in row and "train_seconds" in base and base["train_seconds"]["mean"]:
            row["train_time_ratio"] = row["train_seconds"]["mean"] / base["train_seconds"]["mean"]
    attacks = []
    attack_cells = [c for c in cells if c["kind"] == ATTACK]
    for (method, dataset, setting, recipe), group in _group(
            attack_cells, ("method", "dataset", "setting", "recipe")).items():
        row = {"method": method, "dataset": dataset, "setting": setting, "recipe": recipe,
               "seeds": [c["seed"] for c in group], "num_examples": group[0]["metrics"]["num_examples"]}
        for k in ATTACK_METRICS:
            values = [c["metrics"][k] for c in group if k in c["metrics"]]  # older runs lack avg_model_forwards
            if values:
                row[k] = mean_std(values)
        attacks.append(row)
    return training, attacks


def collect(out: str | Path) -> dict:
    """Read every finished cell of the bench in ``out`` and write ``out/results.json``."""
    out = Path(out)
    manifest_path = out / "bench.json"
    if not manifest_path.is_file():
        raise RobustuneError(f"{out}: not a bench output folder (no bench.json)")
    manifest = json.loads(manifest_path.read_text())
    cells, pending = [], []
    for record in manifest["cells"]:
        cell = _read_cell(out, record)
        (cells.append(cell) if cell else pending.append(record["id"]))
    training, attacks = aggregate(cells)
    projections = [{"method": c["method"], "dataset": c["dataset"], "setting": c["setting"], "seed": c["seed"],
                    "file": f"{c['folder']}/representations.safetensors"}
                   for c in cells if (out / c["folder"] / "representations.safetensors").is_file()]
    config = manifest["config"]
    results = {
        "bench": config["name"], "config": config["path"],
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**machine_info(), "load_average_now": os.getloadavg()},
        "isolation": manifest.get("isolation", "process"),
        "cells_wall_seconds": sum(c["cost"]["wall_seconds"] for c in cells),
        "total_cells": len(manifest["cells"]), "finished_cells": len(cells), "pending_cells": pending,
        "cells": cells, "aggregates": training, "robustness": attacks, "projections": projections,
        "poisoned": [c for c in cells if c["kind"] == POISON],
        "settings": config["settings"], "seeds": config["seeds"],
    }
    write_json(out / RESULTS, results)
    return results
