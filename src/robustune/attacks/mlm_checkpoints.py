"""Checkpoints of ``mlm build``'s own training loop, so that ``--resume`` repeats an uninterrupted run.

A checkpoint is ``OUTPUT/checkpoints/step-N/``: the model and tokenizer (``save_pretrained``: a
scratch vocabulary is kept, not retrained), and the loop's state — the optimizer's tensors, the
batch and masking generator, the global torch RNG (dropout) — in ``training_state.safetensors``,
the rest (step, losses so far, the numpy batch order's state, the schedule, the optimizer's
hyper-parameters) in ``training_state.json``. Safetensors and JSON only, no pickles.

It is written as ``step-N.partial`` and renamed into place, and older ones are renamed aside
before they are deleted, so every ``step-N`` folder is complete whatever moment a kill hits.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..atomic import fault_point, remove_folder

STATE = "training_state"
_STEP = re.compile(r"^step-(\d+)$")


@dataclass
class LoopState:
    """What the loop carries from one step to the next besides the model's weights."""

    step: int
    losses: list[float]
    seconds: float
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    order: np.random.Generator


def _steps(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP.match(p.name)))


def last_checkpoint(folder: Path) -> Path | None:
    steps = _steps(folder)
    return steps[-1][1] if steps else None


def save_checkpoint(folder: Path, model, tokenizer, state: LoopState) -> None:
    final = folder / f"step-{state.step}"
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    optim = state.optimizer.state_dict()
    tensors = {f"optimizer.{i}.{k}": v.contiguous() for i, s in optim["state"].items() for k, v in s.items()}
    tensors["generator"] = state.generator.get_state()
    tensors["torch_rng"] = torch.get_rng_state()
    save_file(tensors, str(partial / f"{STATE}.safetensors"))
    record = {"step": state.step, "losses": state.losses, "seconds": state.seconds,
              "param_groups": optim["param_groups"], "schedule": state.schedule.state_dict(),
              "order": state.order.bit_generator.state}
    (partial / f"{STATE}.json").write_text(json.dumps(record))
    fault_point("mlm checkpoint: written")
    os.replace(partial, final)
    for _, older in _steps(folder)[:-1]:
        remove_folder(older)


def load_checkpoint(checkpoint: Path, state: LoopState) -> None:
    """Restore ``state`` (built as for a fresh run, on the checkpoint's model) from ``checkpoint``."""
    tensors = load_file(str(checkpoint / f"{STATE}.safetensors"))
    record = json.loads((checkpoint / f"{STATE}.json").read_text())
    optim = {"state": {}, "param_groups": record["param_groups"]}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            optim["state"].setdefault(int(index), {})[name] = value
    state.optimizer.load_state_dict(optim)
    state.schedule.load_state_dict(record["schedule"])
    state.generator.set_state(tensors["generator"])
    torch.set_rng_state(tensors["torch_rng"])
    state.order.bit_generator.state = record["order"]
    state.step, state.losses, state.seconds = record["step"], record["losses"], record["seconds"]
