"""Running a method's earlier phases (:meth:`Method.stages`) on RobustTrainer, with resume.

Each stage trains the classifier (in practice its encoder: a stage's objective leaves the head
without gradients, so the head is untouched) with its own objective, data and schedule, through
the same :class:`RobustTrainer` as the final phase. Its Trainer checkpoints go to
``checkpoints/stage-<name>/checkpoint-N``; when it ends, the encoder is written to
``checkpoints/stage-<name>/encoder.safetensors`` (atomically: a temporary file renamed into place),
after the stage's metrics (``metrics.json``). On ``--resume`` a stage with that file is skipped (the
encoder and the metrics are loaded from it) and an unfinished
one continues from its last complete checkpoint, so a kill inside a phase loses at most the steps
since that phase's last checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from safetensors.torch import load_file, save_file

from ..atomic import atomic_path, write_json
from ..methods import Method
from ..modeling import RobustClassifier
from .checkpoints import last_complete_checkpoint
from .trainer import RobustTrainer, TrainingModule

ENCODER_NAME, METRICS_NAME = "encoder.safetensors", "metrics.json"


def stage_folders(checkpoints: Path) -> list[Path]:
    return sorted(checkpoints.glob("stage-*")) if checkpoints.is_dir() else []


def run_stages(method: Method, classifier: RobustClassifier, train_set, *, seed: int, checkpoints: Path,
               training_args: Callable, resume: bool, progress: bool) -> dict:
    """Run every stage of ``method`` in order; returns their metrics, each key prefixed with the stage name.

    ``training_args(output_dir, epochs=, lr=, batch_size=)`` builds the TrainingArguments of a stage
    (``None`` keeps the run's value).
    """
    stages = method.stages(classifier, train_set, seed)
    metrics: dict = {}
    for number, stage in enumerate(stages, 1):
        folder = checkpoints / f"stage-{stage.name}"
        done = folder / ENCODER_NAME
        title = f"phase {number}/{len(stages) + 1}: {stage.name} ({len(stage.dataset)} examples)"
        if resume and done.is_file():
            classifier.encoder.load_state_dict(load_file(str(done)))
            if (folder / METRICS_NAME).is_file():  # checkpoints written before stage metrics were saved lack it
                metrics.update(json.loads((folder / METRICS_NAME).read_text()))
            _say(progress, f"{title}: finished earlier, encoder loaded from {done}")
            continue
        _say(progress, title)
        args = training_args(folder, epochs=stage.epochs, lr=stage.lr, batch_size=stage.batch_size)
        trainer = RobustTrainer(model=TrainingModule(classifier, stage.method), args=args,
                                train_dataset=stage.dataset, data_collator=stage.collator)
        last = last_complete_checkpoint(folder) if resume else None
        output = trainer.train(resume_from_checkpoint=last)
        stage_metrics = {f"{stage.name}_{k}": v for k, v in output.metrics.items()}
        metrics.update(stage_metrics)
        if trainer.is_world_process_zero():
            write_json(folder / METRICS_NAME, stage_metrics)
            state = {k: v.detach().cpu().contiguous().clone() for k, v in classifier.encoder.state_dict().items()}
            with atomic_path(done) as tmp:
                save_file(state, str(tmp), metadata={"format": "pt"})
    if stages:
        _say(progress, f"phase {len(stages) + 1}/{len(stages) + 1}: {method.name} fine-tuning")
    return metrics


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr)
