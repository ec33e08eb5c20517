"""BENCHMARKS.md from ``results.json``: the bench's tables as a Markdown section between two markers.

Only the text between ``<!-- robustune bench NAME: begin -->`` and ``<!-- ... end -->`` is replaced
(the section is appended at the end of the file the first time), so the hand-written sections stay
as they are and the figures in the marked one are always the ones ``results.json`` holds.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..atomic import write_text
from ..errors import RobustuneError
from .report import COST_HEADERS, ROBUSTNESS_HEADERS, cost_rows, fmt, robustness_rows


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- robustune bench {name}: begin -->", f"<!-- robustune bench {name}: end -->"


def _table(headers: list[str], rows: list[list]) -> list[str]:
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731 - a cell must not end the Markdown column
    return (["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def section(results: dict, command: str) -> str:
    """The Markdown section (without markers) for ``results``; ``command`` is printed as the one that ran."""
    load = ", ".join(f"{x:.2f}" for x in results["machine"]["load_average_now"])
    lines = [f"Generated from `results.json` by `robustune bench ... --markdown` at {results['generated']}; "
             f"{results['finished_cells']} of {results['total_cells']} cells finished. The bench:", "",
             f"    {command}", "",
             f"Machine: {results['machine']['cpu_count']} CPUs; load average when the section was generated "
             f"{load}; each cell's own load average at its end is in `results.json`. Accuracies are % on the test "
             "data, mean ± sample std over seeds.", ""]
    if results["pending_cells"]:
        lines += [f"Not finished: {', '.join(results['pending_cells'])}.", ""]
    lines += ["**Accuracy and macro-F1**", ""]
    lines += _table(["dataset", "setting", "method", "seeds", "accuracy", "macro-F1", "linear head", "KNN"],
                    [[r["dataset"], r["setting"], r["method"] + (" (peer)" if r["kind"] == "peer" else ""),
                      len(r["seeds"]), fmt(r.get("accuracy")), fmt(r.get("macro_f1")),
                      fmt(r.get("accuracy_linear")), fmt(r.get("accuracy_knn"))] for r in results["aggregates"]])
    if results["robustness"]:
        lines += ["", "**Robustness**", ""] + _table(ROBUSTNESS_HEADERS, robustness_rows(results))
    lines += ["", "**Cost** (timings on a shared machine: see the load above)", ""]
    lines += _table(COST_HEADERS, cost_rows(results))
    lines += ["", f"Sum of the cells' wall times: {results['cells_wall_seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def update_markdown(path: str | Path, results: dict, command: str) -> None:
    """Replace (or append) this bench's marked section of the Markdown file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise RobustuneError(f"{path}: no such Markdown file")
    begin, end = _markers(results["bench"])
    text = path.read_text(encoding="utf-8")
    block = f"{begin}\n{section(results, command)}{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    elif begin in text or end in text:
        raise RobustuneError(f"{path}: has only one of the markers {begin!r} / {end!r}; fix the file by hand")
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    write_text(path, text)
