"""Which Trainer checkpoint a resumed run continues from: the newest *complete* one.

``Trainer._save_checkpoint`` (transformers 5.x) writes a checkpoint's files in order — weights,
optimizer and scheduler, RNG states — and ``trainer_state.json`` last, then deletes the older
checkpoints. A run killed while a checkpoint is being written leaves a ``checkpoint-N`` without a
readable ``trainer_state.json`` (or cut short); one killed while the rotation deletes an old one
leaves a half-deleted older folder. Trainer's own ``get_last_checkpoint`` picks the highest N and
resume then fails on the missing file; here such a folder is skipped with a one-line warning and
deleted, and the newest complete checkpoint (if any) is resumed.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

TRAINER_STATE = "trainer_state.json"  # what Trainer writes last
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_folders(folder: Path) -> list[Path]:
    """Trainer's ``checkpoint-N`` folders in ``folder``, newest (highest N) first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def is_complete(checkpoint: Path) -> bool:
    try:
        state = json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and "global_step" in state and any((checkpoint / w).is_file() for w in WEIGHTS)


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest complete checkpoint in ``folder``; every incomplete one is removed with a warning."""
    last = None
    for checkpoint in checkpoint_folders(folder):
        if last is None and is_complete(checkpoint):
            last = checkpoint
        elif not is_complete(checkpoint):
            print(f"warning: {checkpoint}: incomplete checkpoint (interrupted while being written or deleted), "
                  "removed", file=sys.stderr)
            shutil.rmtree(checkpoint, ignore_errors=True)
    return str(last) if last else None
