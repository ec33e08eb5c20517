"""Crash-safe outputs: every file is written under a temporary name and renamed into place.

``os.replace`` within one folder is atomic on POSIX, so a process killed at any moment (SIGKILL, the
out-of-memory killer, a pre-empted machine, a cluster's time limit) leaves either the old file or
the new one, never a half-written file that a later command would read as finished. Temporary
names end in ``.partial`` and are overwritten by the next write of the same file.

A model folder is published by :func:`save_folder`: its files are written into a staging folder,
moved into place one by one, the weights file last, after the old weights file is removed. So the
weights file is the folder's completion marker: a folder that has it is complete and consistent,
and one killed mid-save has none and is refused by the loaders and by "already holds a model"
checks. A folder written by a plain ``save_pretrained`` (other tools) has its weights and loads as
before.

Limits: this protects against the process dying, not against the machine losing power or the
operating system crashing before its page cache reaches the disk (nothing is fsync'ed).

Fault injection (tests and ``bench/fault_injection.py``): :func:`fault_point` marks the moments
inside writes and checkpoint saves where a kill is most harmful. With ``ROBUSTUNE_FAULT_LOG=FILE``
set, each fault point appends its name to FILE (shared by all processes of a run, the bench's cell
workers included, and by the runs that resume it); with ``ROBUSTUNE_FAULT_KILL_AT=NAME#N`` also
set, the process SIGKILLs itself the N-th time (counted in FILE) it passes the fault point NAME.
Without the variables a fault point does nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

FAULT_LOG, FAULT_KILL_AT = "ROBUSTUNE_FAULT_LOG", "ROBUSTUNE_FAULT_KILL_AT"
STAGING = ".saving"


def fault_point(name: str) -> None:
    """A moment where a test may kill the process (see the module docstring); a no-op otherwise."""
    log = os.environ.get(FAULT_LOG)
    if not log:
        return
    with open(log, "a", encoding="utf-8") as f:  # O_APPEND: lines of several processes do not mix
        f.write(f"{name}\n")
    target, _, nth = os.environ.get(FAULT_KILL_AT, "").rpartition("#")
    if target == name:
        with open(log, encoding="utf-8") as f:
            passed = sum(line.rstrip("\n") == name for line in f)
        if passed == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial(path)
    try:
        yield tmp
        fault_point(f"write {path.name}")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, payload) -> None:
    write_text(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def save_folder(directory: str | Path, save: Callable[[Path], None], last: str) -> None:
    """Publish the files ``save(staging)`` writes into ``directory``, the file named ``last`` last.

    The old ``last`` is removed before any file is replaced, so the folder never pairs new files
    with old weights. Files of ``directory`` that ``save`` does not write are left alone.
    """
    directory = Path(directory)
    staging = directory / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed save
    staging.mkdir(parents=True)
    save(staging)
    if not (staging / last).is_file():
        raise RuntimeError(f"{staging}: the save wrote no {last}")
    fault_point(f"save {last}: staged")
    (directory / last).unlink(missing_ok=True)
    for item in sorted(staging.iterdir()):
        if item.name != last:
            if (directory / item.name).is_dir():
                shutil.rmtree(directory / item.name)
            os.replace(item, directory / item.name)
    fault_point(f"save {last}: the other files in place")
    os.replace(staging / last, directory / last)
    staging.rmdir()


def remove_folder(folder: str | Path, what: str | None = None) -> None:
    """Delete a folder so that a kill midway leaves it whole or gone: renamed aside first, then deleted.
    ``what`` names it in the fault point when its own name varies from run to run."""
    folder = Path(folder)
    trash = folder.with_name(folder.name + ".deleting")
    shutil.rmtree(trash, ignore_errors=True)
    if folder.exists():
        os.replace(folder, trash)
        fault_point(f"remove {what or folder.name}")
        shutil.rmtree(trash, ignore_errors=True)
