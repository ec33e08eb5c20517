"""BENCHMARKS.md, generated whole from the studies committed under ``bench/results/``.

``robustune bench --studies bench/results --markdown BENCHMARKS.md`` reads ``bench/results/index.yaml``
(the title, the introduction, the one-minute summary and the order of the studies) and, for each
study, ``bench/results/<study>/study.yaml``::

    title: Clean accuracy, single-phase methods
    measures: what the study measures, in a sentence or two
    command: robustune bench --config bench/configs/single-phase.yaml --output runs/single-phase
    machine: {date: 2026-12-01, cores: 2, cpu: "...", torch: 2.13.0, state: idle}  # default: the results'
    results: results.json        # where the figures are: ONE of
    # results: results.json      #   a `robustune bench` results.json (copy it from the run's --output)
    # legacy: {format: robust-methods, files: [run.jsonl], dataset: sst2}   # an old script's raw file (legacy.py)
    # tables: tables.json        #   a script's own tables (below)
    show:                        # which tables to draw from bench-format results (default: accuracy,
      - title: SST-2             #   robustness and cost, as `robustune bench --markdown` writes them)
        rows: aggregates         # aggregates | robustness | poisoned
        where: {dataset: sst2}   # keep rows whose field (or the setting's: lr, epochs, poisoner...) matches
        columns: [method, seeds, accuracy, "delta:accuracy", macro_f1, wall_seconds]
    reading: |
      at most a few lines

**Columns.** A row's fields (``method``, ``dataset``, ``setting``, ``recipe``, ``seeds``,
``num_examples``) and its setting's (``shots``, ``lr``, ``epochs``, ``poisoner``,
``reinit_top_layers``, ...); any metric (accuracies and rates as %, mean ± sample std over seeds);
any cost (``wall_seconds``, ``train_seconds``, ``step_time_ratio``, ``dae_seconds``, ...);
``pivot: {row: poisoner, column: [lr, epochs], values: [accuracy, attack_success_rate]}`` in place of
``columns`` draws a row per poisoner and a column per (lr, epochs), each cell "CACC / ASR".
``delta:METRIC``: the metric minus vanilla's on the same dataset, setting (and recipe) and seed, in
points, mean ± std over the paired seeds (``{key: "delta:M", baseline: {setting: S}}`` pairs with
vanilla in setting S instead, e.g. adversarial training with its control); ``ratio:COST``: the mean cost over vanilla's (same dataset
and setting). ``{key: K, header: H}`` renames a column.

**A script-based study** (a measurement a matrix cannot express: speed against another library,
micro-benchmarks) writes ``bench/results/<study>/tables.json`` — with :func:`write_tables` or by
hand — and names it with ``tables: tables.json``::

    {"generated": "2026-12-05T10:00:00Z", "machine": {"cpu_count": 2, "cpu_model": "...", "torch": "2.13.0",
     "load_average": [0.3, 0.4, 0.5]},
     "tables": [{"title": "...", "columns": ["recipe", "s/example"], "rows": [["deepwordbug", 0.19]],
                 "notes": "optional line under the table"}]}

Numbers in ``rows`` are printed as they are (round them when writing). The study's ``command`` is
the script's command line.

**The summary** (``index.yaml``): ``summary: {methods: [...], columns: [{header, sources, join}], notes}``;
a source is ``{study, rows, where, value, mark}`` for bench results (``value``: a column key as
above; vanilla's row shows the metric itself where the others show ``delta:``), or ``{study, table,
column, unit, mark}`` for a script's table (the row whose first cell is the method). A cell takes
the first source that has the method, or with ``join: true`` every source, joined by " / ".
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..atomic import write_json
from ..errors import RobustuneError
from .config import read_yaml
from .markdown import _table
from .matrix import ATTACK
from .report import COST_HEADERS, ROBUSTNESS_HEADERS, cost_rows, fmt, robustness_rows
from .results import BASELINE, machine_info, mean_std

INDEX, STUDY = "index.yaml", "study.yaml"
_ROWS = ("aggregates", "robustness", "poisoned")
_STUDY_KEYS = ("title", "measures", "command", "machine", "results", "legacy", "tables", "show", "reading")


def _yaml(path: Path) -> dict:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise RobustuneError(f"{path}: expected a mapping")
    return raw


def _json(path: Path, where: str):
    if not path.is_file():
        raise RobustuneError(f"{where}: no such file {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RobustuneError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None


def write_tables(path: str | Path, tables: list[dict]) -> None:
    """Write a script-based study's ``tables.json`` (each table: title, columns, rows[, notes]) with the machine."""
    for i, t in enumerate(tables):
        if not {"title", "columns", "rows"} <= set(t) or any(len(r) != len(t["columns"]) for r in t["rows"]):
            raise RobustuneError(f"tables[{i}]: needs title, columns and rows of len(columns) values each")
    write_json(path, {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "machine": {**machine_info(), "load_average": list(os.getloadavg())}, "tables": tables})


# ---- reading a study -----------------------------------------------------------------------------

def load_study(folder: Path) -> dict:
    """The study's description and its results (bench format) or script tables, checked."""
    where = str(folder / STUDY)
    raw = _yaml(folder / STUDY)
    unknown = [k for k in raw if k not in _STUDY_KEYS]
    if unknown:
        raise RobustuneError(f"{where}: {unknown[0]}: unknown key (allowed: {', '.join(_STUDY_KEYS)})")
    for need in ("title", "measures", "command"):
        if not raw.get(need):
            raise RobustuneError(f"{where}: {need}: missing")
    sources = [k for k in ("results", "legacy", "tables") if raw.get(k)]
    if len(sources) != 1:
        raise RobustuneError(f"{where}: give exactly one of results, legacy, tables (got {sources or 'none'})")
    study = {**raw, "name": folder.name, "where": where}
    if raw.get("results"):
        study["data"] = _json(folder / raw["results"], f"{where}: results")
    elif raw.get("legacy"):
        from .legacy import convert, convert_tables, is_tables

        entry = raw["legacy"]
        if is_tables(entry):
            study["script"] = convert_tables(entry, folder, where)
        else:
            study["data"] = convert(entry, folder, where)
    else:
        study["script"] = _json(folder / raw["tables"], f"{where}: tables")
    return study


# ---- rows and columns ----------------------------------------------------------------------------

def _settings(data: dict) -> dict[str, dict]:
    out = {}
    for s in data.get("settings", []):
        out[s["name"]] = {**s.get("sampling", {}), **s.get("schedule", {}),
                          **({"poisoner": s["poisoner"]} if s.get("poisoner") else {})}
    return out


def _rows(data: dict, kind: str, where: dict | None, context: str) -> list[dict]:
    if kind not in _ROWS:
        raise RobustuneError(f"{context}: rows: expected one of {', '.join(_ROWS)}, got {kind!r}")
    settings = _settings(data)
    rows = []
    for row in data.get(kind, []):
        flat = {**settings.get(row.get("setting"), {}), **row}
        if kind == "poisoned":  # single cells: metrics and cost at the top, as aggregates have them
            flat = {**flat, **{k: mean_std([v]) if isinstance(v, (int, float)) else v
                               for k, v in {**row["cost"], **row["metrics"]}.items()
                               if (isinstance(v, (int, float)) and not isinstance(v, bool)) or isinstance(v, dict)}}
        if all(flat.get(k) == v or (isinstance(v, list) and flat.get(k) in v) for k, v in (where or {}).items()):
            rows.append(flat)
    return rows


def _is_rate(key: str) -> bool:
    return any(part in key for part in ("accuracy", "macro_f1", "rate"))


def _delta(data: dict, row: dict, metric: str, baseline: dict | None = None) -> dict | None:
    """``metric`` minus the baseline's, paired by seed, as mean_std in points. The baseline is vanilla on
    the same dataset, setting (and recipe), with the fields of ``baseline`` changed (``{setting: S}``)."""
    attack = "recipe" in row and row.get("recipe") is not None
    cells = [c for c in data.get("cells", []) if (c["kind"] == ATTACK) == attack]
    me = {k: row.get(k) for k in ("method", "dataset", "setting", "recipe")}
    base = {**me, "method": BASELINE, **(baseline or {})}
    if base == me:
        return None

    def values(match):
        return {c["seed"]: c["metrics"].get(metric) for c in cells if all(c.get(k) == v for k, v in match.items())}

    mine, theirs = values(me), values(base)
    pairs = [mine[s] - theirs[s] for s in mine if s in theirs and mine[s] is not None and theirs[s] is not None]
    return mean_std([100 * d for d in pairs]) if pairs else None


def _ratio(data: dict, row: dict, key: str) -> str:
    """The row's mean ``key`` over vanilla's on the same dataset and setting (e.g. wall seconds)."""
    base = next((r for r in data.get("aggregates", []) if r["method"] == BASELINE
                 and r["dataset"] == row["dataset"] and r["setting"] == row["setting"]), None)
    mine, theirs = (row.get(key) or {}).get("mean"), ((base or {}).get(key) or {}).get("mean")
    return f"{mine / theirs:.2f}×" if mine and theirs else "–"


def _signed(stat: dict | None, digits: int = 2) -> str:
    if not stat or stat.get("mean") is None:
        return "–"
    text = f"{stat['mean']:+.{digits}f}".replace("-", "−")
    return text + (f" ± {stat['std']:.{digits}f}" if stat["n"] > 1 else "")


def _value(data: dict, row: dict, key: str, baseline: dict | None = None) -> str:
    if key.startswith("delta:"):
        return _signed(_delta(data, row, key[len("delta:"):], baseline))
    if key.startswith("ratio:"):
        return _ratio(data, row, key[len("ratio:"):])
    value = row.get(key)
    if key == "seeds":
        return str(len(value)) if isinstance(value, list) else "–"
    if key == "method" and row.get("kind") == "peer":
        return f"{value} (peer)"
    if isinstance(value, dict) and "mean" in value:
        if _is_rate(key):
            return fmt(value, 100.0, 2)
        size = abs(value["mean"] or 0)
        return fmt(value, 1.0, 0 if size >= 100 else 1 if size >= 10 else 2)
    if isinstance(value, dict):  # e.g. single_token_flip_rates: each token's rate, %
        return " / ".join(f"{100 * v:.0f}" for v in value.values())
    if isinstance(value, float):
        return f"{value:.2f}" if key.endswith("ratio") else f"{value:g}"
    return "–" if value is None else str(value)


HEADERS = {"macro_f1": "macro-F1", "accuracy_linear": "linear head", "accuracy_knn": "KNN vote"}


def _column(spec, context: str) -> tuple[str, str, dict | None]:
    if isinstance(spec, str):
        return spec, HEADERS.get(spec, spec.replace("_", " ")), None
    if isinstance(spec, dict) and isinstance(spec.get("key"), str):
        return spec["key"], str(spec.get("header", HEADERS.get(spec["key"], spec["key"]))), spec.get("baseline")
    raise RobustuneError(f"{context}: columns: expected a key or {{key: ..., header: ...}}, got {spec!r}")


def _pivot(data: dict, rows: list[dict], spec, context: str) -> tuple[list[str], list[list[str]]]:
    """A row per value of ``spec["row"]``, a column per combination of the ``spec["column"]`` fields;
    each cell holds the ``spec["values"]`` of the matching row, joined by " / "."""
    if not isinstance(spec, dict) or not {"row", "column", "values"} <= set(spec):
        raise RobustuneError(f"{context}: pivot: expected {{row: KEY, column: [KEYS], values: [KEYS]}}")
    keys = spec["column"] if isinstance(spec["column"], list) else [spec["column"]]
    heads = list(dict.fromkeys(tuple(r.get(k) for k in keys) for r in rows))
    names = list(dict.fromkeys(r.get(spec["row"]) for r in rows))
    table = []
    for name in names:
        line = [str(name)]
        for head in heads:
            match = [r for r in rows if r.get(spec["row"]) == name and tuple(r.get(k) for k in keys) == head]
            line.append(" / ".join(_value(data, match[0], v) for v in spec["values"]) if match else "–")
        table.append(line)
    header = [spec["row"]] + [", ".join(f"{k} {_value(data, {k: v}, k)}" for k, v in zip(keys, h)) for h in heads]
    return header, table


def render_table(data: dict, show: dict, context: str) -> list[str]:
    """One ``show`` entry as Markdown lines (title, table)."""
    if "pivot" in show:
        rows = _rows(data, show.get("rows", "aggregates"), show.get("where"), context)
        if not rows:
            raise RobustuneError(f"{context}: no rows match {show.get('where')}")
        header, table = _pivot(data, rows, show["pivot"], context)
        return ([f"**{show['title']}**", ""] if show.get("title") else []) + _table(header, table)
    columns = [_column(c, context) for c in show.get("columns") or []]
    if not columns:
        raise RobustuneError(f"{context}: columns: missing")
    rows = _rows(data, show.get("rows", "aggregates"), show.get("where"), context)
    if not rows:
        raise RobustuneError(f"{context}: no rows match {show.get('where')}")
    lines = [f"**{show['title']}**", ""] if show.get("title") else []
    return lines + _table([h for _, h, _ in columns], [[_value(data, r, k, b) for k, _, b in columns] for r in rows])


def _default_tables(data: dict) -> list[str]:
    lines = _table(["dataset", "setting", "method", "seeds", "accuracy", "macro-F1", "linear head", "KNN"],
                   [[r["dataset"], r["setting"], r["method"] + (" (peer)" if r["kind"] == "peer" else ""),
                     len(r["seeds"]), fmt(r.get("accuracy")), fmt(r.get("macro_f1")), fmt(r.get("accuracy_linear")),
                     fmt(r.get("accuracy_knn"))] for r in data["aggregates"]])
    if data.get("robustness"):
        lines += [""] + _table(ROBUSTNESS_HEADERS, robustness_rows(data))
    return lines + [""] + _table(COST_HEADERS, cost_rows(data))


def _machine(study: dict) -> str:
    m = study.get("machine") or {}
    source = study.get("data") or study.get("script") or {}
    auto = source.get("machine", {})
    date = m.get("date") or str(source.get("generated", ""))[:10]
    cores = m.get("cores") or auto.get("cpu_count")
    cpu = m.get("cpu") or auto.get("cpu_model")
    torch = m.get("torch") or auto.get("torch")
    parts = [f"{cores} cores" if cores else None, cpu, f"torch {torch}" if torch else None, m.get("state")]
    return f"{date}; " + ", ".join(str(p) for p in parts if p)


def _legacy_files(legacy) -> list[str]:
    entries = legacy if isinstance(legacy, list) else [legacy]
    return [f["file"] if isinstance(f, dict) else f for e in entries for f in e.get("files", [])]


def render_study(study: dict) -> list[str]:
    lines = [f"## {study['title']}", "", study["measures"].strip(), "",
             f"Reproduce: `{study['command'].strip()}`  ", f"Measured: {_machine(study)}", ""]
    if "script" in study:
        for t in study["script"]["tables"]:
            lines += [f"**{t['title']}**", ""] + _table(t["columns"], t["rows"])
            lines += ([f"", t["notes"]] if t.get("notes") else []) + [""]
    else:
        shows = study.get("show")
        if not shows:
            lines += _default_tables(study["data"]) + [""]
        for i, show in enumerate(shows or []):
            lines += render_table(study["data"], show, f"{study['where']}: show[{i}]") + [""]
    if study.get("data", {}).get("cells_wall_seconds"):  # a bench run: how long its cells took together
        data = study["data"]
        lines += [f"{data['finished_cells']} of {data['total_cells']} cells finished; the cells' wall times sum to "
                  f"{data['cells_wall_seconds']:.0f} s.", ""]
    source = study.get("results") or study.get("tables") or ", ".join(_legacy_files(study["legacy"]))
    lines.append(f"Tables generated from `bench/results/{study['name']}/` ({source}) by "
                 "`robustune bench --studies bench/results --markdown BENCHMARKS.md`.")
    if study.get("reading"):
        lines += ["", study["reading"].strip()]
    return lines + [""]


# ---- the summary and the whole file --------------------------------------------------------------

def _summary_cell(column: dict, method: str, studies: dict[str, dict], context: str) -> str:
    """The first source that has ``method`` (or, with ``join``, every source) rendered; "–" if none."""
    found = []
    for source in column.get("sources") or []:
        if source.get("study") not in studies:
            raise RobustuneError(f"{context}: no study {source.get('study')!r} in the index")
        study = studies[source["study"]]
        if "script" in study:  # a script's table: the row whose first column is the method
            table = study["script"]["tables"][source.get("table", 0)]
            if source.get("column") not in table["columns"]:
                raise RobustuneError(f"{context}: column: {source.get('column')!r} is not one of {table['columns']}")
            at = table["columns"].index(source["column"])
            match = [row[at] for row in table["rows"] if row[0] == method]
            found.append(f"{match[0]}{source.get('unit', '')}{source.get('mark', '')}" if match else "–")
        else:
            data = study["data"]
            match = _rows(data, source.get("rows", "aggregates"), {**source.get("where", {}), "method": method},
                          context)
            value = source.get("value", "accuracy")
            if method == BASELINE and value.startswith("delta:"):
                value = value[len("delta:"):]  # vanilla's row: its own figure, which the others differ from
            found.append(_value(data, match[0], value) + source.get("mark", "") if match else "–")
        if match and not column.get("join"):
            return found[-1]
    return " / ".join(found) if column.get("join") and any(f != "–" for f in found) else "–"


def _summary(index: dict, studies: dict[str, dict], where: str) -> list[str]:
    """The one-minute table: a row per method, a column per figure, each from a study's results."""
    spec = index.get("summary") or {}
    methods, columns = spec.get("methods") or [], spec.get("columns") or []
    if not methods or not columns:
        return []
    rows = [[m] + [_summary_cell(c, m, studies, f"{where}: summary.columns[{i}]") for i, c in enumerate(columns)]
            for m in methods]
    lines = _table(["method"] + [c["header"] for c in columns], rows)
    return lines + ([""] + [spec["notes"].strip()] if spec.get("notes") else [])


def build_markdown(results_dir: str | Path) -> str:
    """The whole BENCHMARKS.md from ``results_dir/index.yaml`` and the studies it lists."""
    folder = Path(results_dir)
    index = _yaml(folder / INDEX)
    where = str(folder / INDEX)
    names = index.get("studies") or []
    if not names:
        raise RobustuneError(f"{where}: studies: expected a non-empty list of study folders")
    studies = {}
    for name in names:
        if not (folder / name).is_dir():
            raise RobustuneError(f"{where}: studies: no folder {folder / name}")
        studies[name] = load_study(folder / name)
    lines = [f"# {index.get('title', 'Benchmarks')}", "", "<!-- Generated by `robustune bench --studies bench/results "
             "--markdown BENCHMARKS.md` from bench/results/: edit those files, not this one. -->", ""]
    if index.get("intro"):
        lines += [index["intro"].strip(), ""]
    lines += _summary(index, studies, where) + [""]
    for name in names:
        lines += render_study(studies[name])
    return "\n".join(lines).rstrip("\n") + "\n"


def write_markdown(results_dir: str | Path, path: str | Path) -> None:
    text = build_markdown(results_dir)
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
