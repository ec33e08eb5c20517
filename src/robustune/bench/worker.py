"""Run one cell: train a method or a peer, or attack a trained model; write ``result.json`` in its folder.

The runner starts ``python -m robustune.bench CELL_FOLDER`` once per cell, so that each cell's
peak memory is its own process's (``ru_maxrss``: the resident set's high-water mark, which includes
the interpreter, torch and the data — the memory the cell really needed, not the model alone; on a
GPU, ``torch.cuda.max_memory_allocated`` is added) and a crash or kill loses that cell only.

Cost figures: ``train_seconds`` sums the Trainer's ``train_runtime`` over the method's phases (one for
most methods, three for three-phase); ``train_examples_per_second`` and ``step_seconds`` are the last
(fine-tuning) phase's — the phase every method shares, so the step-time ratio to vanilla compares
like with like. The runner adds ``wall_seconds``: the whole cell, loading and evaluation included.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from ..atomic import write_json
from ..data import LabelMap, load_source, random_subset
from .matrix import ATTACK, PEER, POISON, TRAIN

SPEC, RESULT, MODEL, REPRESENTATIONS = "spec.json", "result.json", "model", "representations.safetensors"
TEST_SAMPLE_SEED = 0  # the same test rows for every cell of a dataset


def load_test(test: dict):
    data = load_source(test["source"], "test", text_column=test.get("text_column"),
                       label_column=test.get("label_column"))
    data.require_labels()
    if test.get("max_rows") and test["max_rows"] < len(data):
        data = random_subset(data, test["max_rows"], TEST_SAMPLE_SEED)
    return data


def peak_memory() -> dict:
    """This process's peak resident memory (MiB), and the GPU's peak allocation when there is one."""
    import torch

    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # Linux: KiB
    if torch.cuda.is_available():
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _train_cost(train_metrics: dict, train_examples: int) -> dict:
    steps_per_s = train_metrics.get("train_steps_per_second")
    # Staged methods log each earlier phase's Trainer runtime as PHASE_train_runtime; "" is fine-tuning.
    phases = {k[: -len("train_runtime")].rstrip("_") or "fine-tune": v for k, v in train_metrics.items()
              if k.endswith("train_runtime")}
    return {"train_examples": train_examples, "phase_seconds": phases,
            "train_seconds": sum(phases.values()),
            "train_examples_per_second": train_metrics.get("train_samples_per_second"),
            "step_seconds": 1 / steps_per_s if steps_per_s else None}


def _save_representations(model, test, rows: int, path: Path) -> None:
    """The pooled test vectors (what the KNN and the head see) of the first ``rows`` test rows, for t-SNE."""
    import torch
    from safetensors.torch import save_file

    part = test.subset(list(range(min(rows, len(test)))))
    features = model.encode_texts(part.texts)  # (N, D)
    labels = torch.tensor(LabelMap(tuple(model.label_names)).encode(part))  # (N,)
    save_file({"features": features.contiguous(), "labels": labels},
              str(path), metadata={"label_names": json.dumps(model.label_names)})


def run_train(spec: dict, folder: Path, progress: bool) -> dict:
    from ..evaluation import evaluate
    from ..training import TrainConfig, train

    fields = dict(spec["train_config"])
    if spec.get("poison_cell"):  # the victim fine-tunes the encoder its bench's poison cell released
        fields["model"] = str(folder.parents[1] / spec["poison_cell"] / MODEL)
    config = TrainConfig(**fields, output_dir=str(folder / MODEL), progress=progress,
                         save_steps=10**9)  # a cell is redone whole, so no mid-run checkpoints
    test = load_test(spec["test"])
    result = train(config)
    if spec.get("backdoor"):
        from ..backdoor.report import backdoor_report
        from ..backdoor.triggers import parse_trigger

        b = spec["backdoor"]
        metrics = backdoor_report(result.model, test, parse_trigger(b["trigger"]), b["target_label"], seed=b["seed"])
    else:
        metrics = evaluate(result.model, test, progress=progress)
    if spec.get("projection_rows"):
        _save_representations(result.model, test, spec["projection_rows"], folder / REPRESENTATIONS)
    return {"metrics": metrics,
            "cost": _train_cost(result.train_metrics, result.model.settings.training["train_examples"])}


def run_peer(spec: dict, folder: Path, progress: bool) -> dict:
    from ..training import TrainConfig, load_training_data
    from .peers import PEERS

    peer = PEERS[spec["peer"]]
    config = TrainConfig(**spec["train_config"], output_dir=str(folder / MODEL))
    config.validate()
    train_data = load_training_data(config)
    label_map = LabelMap.from_labels(train_data.labels)
    test = load_test(spec["test"])
    label_map.encode(test)  # a test label the training set lacks: fail before training
    metrics, train_metrics = peer.run(config, train_data, test, label_map, peer.parse_params(spec["params"]),
                                      folder / MODEL, progress)
    return {"metrics": metrics, "cost": _train_cost(train_metrics, len(train_data))}


def run_attack_cell(spec: dict, folder: Path, progress: bool) -> dict:
    from ..attacks import build_recipe, load_victim, run_attack

    bench_dir = folder.parents[1]
    victim = load_victim(str(bench_dir / spec["model_cell"] / MODEL), compile=spec.get("compile", False))
    attack = build_recipe(spec["recipe"], query_budget=spec["query_budget"], seed=spec["seed"], mlm=spec["mlm"],
                          keep_polarity=spec.get("keep_polarity", False))
    # run_attack's own resume: an interrupted attack cell continues after its last finished example.
    summary = run_attack(attack, victim, load_test(spec["test"]), folder / "attack",
                         num_examples=spec["num_examples"], seed=spec["seed"], resume=True, progress=progress,
                         concurrency=spec.get("concurrency", 1))
    return {"metrics": summary, "cost": {"attack_seconds_per_example": summary["seconds_per_example"]}}


def run_poison(spec: dict, folder: Path, progress: bool) -> dict:
    """Release a poisoned encoder (``robustune poison``); metrics: the attacker's own classifier's."""
    import time

    from ..backdoor import PoisonConfig, poison

    fields = spec["poison_config"]
    start = time.perf_counter()
    record = poison(PoisonConfig(**fields, output_dir=str(folder / MODEL), eval_data=spec.get("eval_data"),
                                 progress=progress))
    return {"metrics": record.get("attacker_eval", {}),
            "cost": {"train_seconds": record["train_metrics"].get("train_runtime", time.perf_counter() - start)}}


RUNNERS = {TRAIN: run_train, PEER: run_peer, ATTACK: run_attack_cell, POISON: run_poison}


def execute(folder: str | Path, progress: bool = True) -> dict:
    """Run the cell described by ``folder/spec.json``; writes and returns ``folder/result.json``."""
    folder = Path(folder)
    spec = json.loads((folder / SPEC).read_text())
    result = RUNNERS[spec["kind"]](spec, folder, progress)
    result["cost"].update(peak_memory())
    write_json(folder / RESULT, result)
    return result


def main(argv: list[str] | None = None) -> int:
    from ..errors import RobustuneError

    args = sys.argv[1:] if argv is None else argv
    progress = "--no-progress" not in args
    try:
        execute(next(a for a in args if not a.startswith("--")), progress=progress)
    except RobustuneError as err:
        print(f"robustune bench: error: {err}", file=sys.stderr)
        return 2
    return 0
