"""Run a bench: every cell of the matrix in order, each a saved folder with a done marker written last.

``OUTPUT/bench.json`` records the config and the cell list; ``OUTPUT/cells/<id>/`` (training) and
``OUTPUT/attacks/<id>/`` (attacks) hold each cell's ``spec.json``, its outputs (``model/``,
``result.json``, ...) and, once everything else is written, ``done.json`` (written atomically). With
``resume=True`` a cell with ``done.json`` is skipped; an unfinished training cell is removed and
redone whole, an unfinished attack continues with ``run_attack``'s own resume. So a killed bench
loses only the cell in progress (and of an attack, only the example in progress).

Each cell runs in its own process (``isolation="process"``; see ``worker.py`` for what that buys
the memory figure); ``"inline"`` runs it in this process (tests, debugging), where the peak-memory
figure is this process's high-water mark so far and is marked as such.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import write_json
from ..errors import RobustuneError
from . import worker
from .config import BenchConfig
from .matrix import ATTACK, Cell, expand

MANIFEST, DONE = "bench.json", "done.json"
ISOLATIONS = ("process", "inline")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the cell's process is killed when the bench's dies, so no orphan writes into a cell."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _cell_record(cell: Cell) -> dict:
    return {"id": cell.id, "kind": cell.kind, "method": cell.method, "dataset": cell.dataset,
            "setting": cell.setting, "seed": cell.seed, "recipe": cell.recipe, "folder": cell.folder}


def _check_finished(folder: Path, cell: Cell, config: BenchConfig) -> None:
    saved = json.loads((folder / worker.SPEC).read_text())
    if saved != cell.spec:
        keys = sorted(k for k in set(saved) | set(cell.spec) if saved.get(k) != cell.spec.get(k))
        raise RobustuneError(f"{folder}: this finished cell was run with other settings ({', '.join(keys)}) than "
                             f"{config.path} now asks for; write the changed bench to a new --output")


def _run_cell(folder: Path, isolation: str, progress: bool) -> None:
    if isolation == "inline":
        worker.execute(folder, progress=progress)
        return
    command = [sys.executable, "-m", "robustune.bench", str(folder)] + ([] if progress else ["--no-progress"])
    # On an exception (Ctrl-C included) subprocess.run kills the child before re-raising.
    rc = subprocess.run(command, preexec_fn=_die_with_parent).returncode
    if rc != 0:
        raise RobustuneError(f"cell {folder.name} failed (exit status {rc}; its messages are above). Fix the cause "
                             "and run the bench again with --resume: finished cells are kept")


def run_bench(config: BenchConfig, output: str | Path, resume: bool = False, isolation: str = "process",
              progress: bool = True) -> dict:
    """Run (or, with ``resume``, finish) the bench; writes and returns ``results.json``, writes ``report.html``."""
    from .report import write_report
    from .results import collect

    if isolation not in ISOLATIONS:
        raise RobustuneError(f"isolation must be one of {', '.join(ISOLATIONS)}, got {isolation!r}")
    out = Path(output)
    if (out / MANIFEST).exists() and not resume:
        raise RobustuneError(f"{out}: already holds a bench; pass --resume to finish it, or choose another --output")
    if out.exists() and not out.is_dir():
        raise RobustuneError(f"{out}: exists and is not a folder")
    cells = expand(config)
    write_json(out / MANIFEST, {"config": config.to_dict(), "cells": [_cell_record(c) for c in cells],
                                "isolation": isolation})
    skipped = 0
    bar = tqdm(cells, desc=f"bench {config.name}", unit="cell", disable=not progress)
    for cell in bar:
        folder = out / cell.folder
        if (folder / DONE).is_file():
            _check_finished(folder, cell, config)
            skipped += 1
            continue
        bar.set_postfix_str(cell.id)
        spec_path = folder / worker.SPEC
        same_attack = (cell.kind == ATTACK and spec_path.is_file()
                       and json.loads(spec_path.read_text()) == cell.spec)
        if not same_attack:  # an unfinished training cell is redone from scratch
            shutil.rmtree(folder, ignore_errors=True)
        write_json(spec_path, cell.spec)
        start = time.perf_counter()
        _run_cell(folder, isolation, progress)
        write_json(folder / DONE, {"cell": cell.id, "wall_seconds": time.perf_counter() - start,
                                   "load_average": os.getloadavg(), "isolation": isolation,
                                   "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    if progress and skipped:
        print(f"bench {config.name}: {skipped} finished cells skipped (--resume), {len(cells) - skipped} run",
              file=sys.stderr)
    results = collect(out)
    write_report(out / "report.html", results, out)
    return results
