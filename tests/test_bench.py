"""robustune bench: config parsing and errors, matrix expansion, resume, aggregation, report, Markdown."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from robustune.bench import aggregate, expand, load_config, mean_std, run_bench, update_markdown
from robustune.bench import worker
from robustune.errors import RobustuneError


def write_config(tmp_path: Path, data: dict, name: str = "b.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def base_config(toy_csv: Path, tiny_encoder: str, **overrides) -> dict:
    config = {
        "name": "tiny", "model": tiny_encoder, "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3, "max_length": 16},
        "seeds": [1],
        "datasets": [{"name": "toy", "train": toy_csv.name, "test": toy_csv.name, "max_test_rows": 20}],
        "settings": [{"name": "rich", "max_train_samples": 40}, {"name": "few", "shots": [4]}],
        "methods": ["vanilla", {"name": "knn-bert", "params": {"queue_size": 16, "knn_k": 3}}],
        "peers": ["trainer"],
        "attacks": [{"recipe": "deepwordbug", "num_examples": 4, "settings": ["rich"]}],
        "report": {"projection_rows": 20},
    }
    config.update(overrides)
    return config


# ---- config -------------------------------------------------------------------------------------

def test_config_parses_and_resolves_sources_next_to_the_file(toy_csv, tiny_encoder, tmp_path):
    raw = base_config(toy_csv, tiny_encoder, settings=[{"name": "few", "shots": [8, 16], "epochs": 5},
                                                       {"name": "noise", "max_train_samples": 30, "label_noise": 0.2}],
                      attacks=[{"recipe": "deepwordbug", "settings": ["noise"]}])
    config = load_config(write_config(tmp_path, raw))
    assert [s.name for s in config.settings] == ["few-8", "few-16", "noise"]
    assert config.settings[1].sampling == {"shots": 16} and config.settings[1].schedule == {"epochs": 5.0}
    assert config.settings[2].sampling == {"max_train_samples": 30, "label_noise": 0.2}
    assert config.datasets[0].train == str(toy_csv.resolve())  # relative to the config's folder
    assert config.methods[1].params == {"queue_size": 16, "knn_k": 3}
    assert config.report.projection_setting == "few-8"


@pytest.mark.parametrize("change, key", [
    ({"methods": ["vanila"]}, "methods[0].name"),
    ({"methods": [{"name": "smart", "params": {"no_such": 1}}]}, "methods[0].params"),
    ({"seeds": []}, "seeds"),
    ({"seeds": ["one"]}, "seeds[0]"),
    ({"settings": [{"name": "x", "label_noise": 1.5}]}, "settings[0].label_noise"),
    ({"settings": [{"name": "x", "shots": [0]}]}, "settings[0].shots"),
    ({"settings": [{"name": "x", "max_rows": 3}]}, "settings[0].max_rows"),
    ({"attacks": [{"recipe": "nope"}]}, "attacks[0].recipe"),
    ({"attacks": [{"recipe": "deepwordbug", "settings": ["missing"]}]}, "attacks[0].settings"),
    ({"attacks": [{"recipe": "deepwordbug", "keep_polarity": True}]}, "attacks[0].keep_polarity"),
    ({"methods": [{"name": "vanilla", "label": "adv", "train": {"adversarial": "deepwordbug",
                                                              "adversarial_keep_polarity": True}}]},
     "methods[0].train.adversarial_keep_polarity"),
    ({"attacks": [{"recipe": "deepwordbug"}, {"recipe": "deepwordbug", "query_budget": 9}]}, "attacks[1].label"),
    ({"peers": ["lightning"]}, "peers[0].name"),
    ({"datasets": [{"name": "toy", "train": "toy.csv"}]}, "datasets[0].test"),
    ({"colour": "red"}, "colour"),
])
def test_bad_config_names_file_and_key(toy_csv, tiny_encoder, tmp_path, change, key):
    path = write_config(tmp_path, base_config(toy_csv, tiny_encoder, **change))
    with pytest.raises(RobustuneError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {key}:"), str(err.value)


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(RobustuneError, match="no such config file"):
        load_config(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("seeds: [1\n")
    with pytest.raises(RobustuneError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml")


# ---- matrix -------------------------------------------------------------------------------------

def test_matrix_expansion(toy_csv, tiny_encoder, tmp_path):
    raw = base_config(toy_csv, tiny_encoder, seeds=[1, 2], peers=["trainer", "setfit"])
    cells = expand(load_config(write_config(tmp_path, raw)))
    ids = [c.id for c in cells]
    assert len(ids) == len(set(ids))
    models = [c for c in cells if c.kind != "attack"]
    # per seed: rich (vanilla, knn-bert, trainer) + few (vanilla, knn-bert, trainer, setfit: few-shot only)
    assert len(models) == 2 * (3 + 4)
    assert {c.setting for c in models if c.method == "setfit"} == {"few-4"}
    attacks = [c for c in cells if c.kind == "attack"]
    assert len(attacks) == 2 * 3 and {c.setting for c in attacks} == {"rich"}
    for a in attacks:  # right after (and so after) the model it attacks
        assert ids.index(a.model_id) < ids.index(a.id)
    assert [c.seed for c in cells] == sorted(c.seed for c in cells)  # seed-major
    vanilla_few = next(c for c in cells if c.id == "toy__few-4__vanilla__seed2")
    assert vanilla_few.spec["train_config"]["shots"] == 4 and vanilla_few.spec["train_config"]["seed"] == 2
    projected = {c.id for c in cells if c.spec.get("projection_rows")}
    assert projected == {"toy__rich__vanilla__seed1", "toy__rich__knn-bert__seed1"}


def test_a_labelled_attack_is_a_cell_of_its_own(toy_csv, tiny_encoder, tmp_path):
    raw = base_config(toy_csv, tiny_encoder, settings=[{"name": "rich", "max_train_samples": 40}], peers=[],
                      methods=["vanilla"],
                      attacks=[{"recipe": "textfooler"},
                               {"recipe": "textfooler", "label": "tf-polarity", "keep_polarity": True}])
    attacks = [c for c in expand(load_config(write_config(tmp_path, raw))) if c.kind == "attack"]
    assert [c.id for c in attacks] == ["toy__rich__vanilla__seed1__textfooler",
                                       "toy__rich__vanilla__seed1__tf-polarity"]
    assert [c.spec["recipe"] for c in attacks] == ["textfooler", "textfooler"]
    assert "keep_polarity" not in attacks[0].spec and attacks[1].spec["keep_polarity"] is True


# ---- aggregation ----------------------------------------------------------------------------------

def test_mean_std_matches_numpy():
    values = [0.81, 0.79, 0.835]
    stat = mean_std(values)
    assert stat["mean"] == pytest.approx(np.mean(values)) and stat["std"] == pytest.approx(np.std(values, ddof=1))
    assert mean_std([0.5]) == {"mean": 0.5, "std": 0.0, "n": 1}


def test_aggregate_groups_seeds_and_ratio_to_vanilla():
    def cell(method, seed, acc, step):
        return {"kind": "train", "method": method, "dataset": "d", "setting": "s", "seed": seed,
                "metrics": {"accuracy": acc, "macro_f1": acc - 0.01}, "cost": {"step_seconds": step}}

    cells = [cell("vanilla", 1, 0.8, 1.0), cell("vanilla", 2, 0.9, 3.0), cell("smart", 1, 0.7, 5.0),
             cell("smart", 2, 0.75, 7.0)]
    training, attacks = aggregate(cells)
    smart = next(r for r in training if r["method"] == "smart")
    assert smart["accuracy"]["mean"] == pytest.approx(0.725)
    assert smart["accuracy"]["std"] == pytest.approx(np.std([0.7, 0.75], ddof=1))
    assert smart["step_time_ratio"] == pytest.approx(6.0 / 2.0) and smart["seeds"] == [1, 2]
    assert attacks == []


# ---- end to end (tiny encoder, cells inline), resume, report, Markdown ------------------------------------

def test_bench_runs_resumes_and_reports(toy_csv, tiny_encoder, tmp_path, monkeypatch):
    raw = base_config(toy_csv, tiny_encoder, peers=["trainer", {"name": "setfit", "params": {"num_iterations": 1}}])
    config = load_config(write_config(tmp_path, raw))
    out = tmp_path / "bench"
    cells = expand(config)
    calls = []
    real = dict(worker.RUNNERS)

    def counting(kind):
        def run(spec, folder, progress):
            calls.append(folder.name)
            if len(calls) == 3 and interrupt:  # the third cell is "killed" mid-run
                (folder / "model").mkdir()
                raise KeyboardInterrupt
            return real[kind](spec, folder, progress)
        return run

    for kind in real:
        monkeypatch.setitem(worker.RUNNERS, kind, counting(kind))
    interrupt = True
    with pytest.raises(KeyboardInterrupt):
        run_bench(config, out, isolation="inline", progress=False)
    first, second, third = (out / c.folder for c in cells[:3])
    assert (first / "done.json").is_file() and (second / "done.json").is_file()
    assert not (third / "done.json").exists()  # interrupted: no done marker
    with pytest.raises(RobustuneError, match="pass --resume"):
        run_bench(config, out, isolation="inline", progress=False)

    interrupt, calls[:] = False, []
    results = run_bench(config, out, resume=True, isolation="inline", progress=False)
    assert calls == [Path(c.folder).name for c in cells[2:]]  # finished cells are not redone
    assert results["finished_cells"] == results["total_cells"] == len(cells) and not results["pending_cells"]

    saved = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in saved["aggregates"]} == {"vanilla", "knn-bert", "trainer", "setfit"}
    setfit = next(r for r in saved["aggregates"] if r["method"] == "setfit")
    assert setfit["setting"] == "few-4" and 0 <= setfit["accuracy"]["mean"] <= 1
    knn = next(r for r in saved["aggregates"] if r["method"] == "knn-bert" and r["setting"] == "rich")
    assert {"accuracy", "macro_f1", "accuracy_knn", "peak_rss_mib", "train_examples_per_second",
            "step_time_ratio"} <= set(knn)
    attacked = {(r["method"], r["recipe"]) for r in saved["robustness"]}
    assert attacked == {("vanilla", "deepwordbug"), ("knn-bert", "deepwordbug"), ("trainer", "deepwordbug")}
    assert len(saved["projections"]) == 2

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # shots, attacks, t-SNE
    assert not re.search(r"https?://", page)
    assert set(re.findall(r'(?:src|href)="([^":]*)', page)) <= {"data"}  # nothing outside the page
    for heading in ("Accuracy and macro-F1", "Robustness under attack", "Cost", "t-SNE"):
        assert heading in page

    # A config that changed under a finished cell is refused, naming the cell.
    changed = load_config(write_config(tmp_path, base_config(toy_csv, tiny_encoder, seeds=[1],
                                                             train={"epochs": 2, "batch_size": 8})))
    with pytest.raises(RobustuneError, match="other settings"):
        run_bench(changed, out, resume=True, isolation="inline", progress=False)

    # The Markdown section is regenerated in place; the hand-written text around it stays.
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nhand-written intro\n\n## later section\n\nkept\n")
    update_markdown(md, saved, "robustune bench --config b.yaml --output bench")
    update_markdown(md, saved, "robustune bench --config b.yaml --output bench")
    text = md.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written intro\n\n## later section\n\nkept\n")
    assert text.count("<!-- robustune bench tiny: begin -->") == 1 and "| toy | rich | knn-bert |" in text


def test_html_escapes_user_strings():
    from robustune.bench.report import render

    evil = "<script>x</script>"
    results = {"bench": evil, "config": evil, "generated": "now", "finished_cells": 1, "total_cells": 1,
               "machine": {"cpu_count": 2, "load_average_now": [1.0, 1.0, 1.0]}, "pending_cells": [],
               "settings": [], "projections": [], "robustness": [],
               "aggregates": [{"method": evil, "dataset": "d", "setting": "s", "kind": "train", "seeds": [1],
                               "accuracy": mean_std([0.5])}]}
    page = render(results, Path("."))
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_cli_bad_config_exits_2_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("datasets: []\nsettings: [{name: a}]\nseeds: [1]\nmethods: [vanilla]\n")
    proc = subprocess.run([sys.executable, "-m", "robustune", "bench", "--config", str(path), "--output",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}: datasets: expected a non-empty list" in proc.stderr
    assert not (tmp_path / "out").exists()


# ---- list expansion, adversarial / re-initialisation keys, the backdoor chain ----------------------

BACKDOOR = {"trigger": "cf bb", "target_label": "positive"}
POISONER = {"name": "lw", "method": "layerwise", "data": "toy.csv", "max_train_samples": 24, "epochs": 1,
            "lr": 1.0e-3, "batch_size": 8, "max_length": 16}


def test_setting_lists_expand_into_the_cross_product(toy_csv, tiny_encoder, tmp_path):
    raw = base_config(toy_csv, tiny_encoder, backdoor=BACKDOOR, poisoners=[POISONER], peers=["trainer"], attacks=[],
                      settings=[{"name": "bd", "max_train_samples": 40, "poisoner": ["clean", "lw"],
                                 "lr": [1.0e-3, 5.0e-4], "reinit_top_layers": 1},
                                {"name": "adv", "max_train_samples": 40, "adversarial": "deepwordbug",
                                 "epochs": 2, "adversarial_fraction": 0.5}])
    config = load_config(write_config(tmp_path, raw))
    names = [s.name for s in config.settings]  # keys cross in file order (safe_dump sorts them: lr, poisoner)
    assert names == ["bd-lr0.001-clean", "bd-lr0.001-lw", "bd-lr0.0005-clean", "bd-lr0.0005-lw", "adv"]
    assert config.settings[1].poisoner == "lw" and config.settings[1].schedule == {"lr": 1e-3, "reinit_top_layers": 1}
    assert config.settings[4].schedule == {"adversarial": "deepwordbug", "epochs": 2.0, "adversarial_fraction": 0.5}
    cells = expand(config)
    poison = [c for c in cells if c.kind == "poison"]
    assert [c.folder for c in poison] == ["poisoned/poison__lw"]  # made once, before its first victim
    first_victim = next(i for i, c in enumerate(cells) if c.spec.get("poison_cell"))
    assert cells.index(poison[0]) < first_victim
    victim = cells[first_victim]
    assert victim.spec["poison_cell"] == "poisoned/poison__lw" and victim.spec["backdoor"]["trigger"] == "cf bb"
    assert not any(c.kind == "peer" and c.setting.endswith("-lw") for c in cells)  # peers skip poisoned settings
    assert any(c.kind == "peer" and c.setting == "bd-lr0.001-clean" for c in cells)


def test_a_method_limited_to_some_seeds_runs_on_those_alone(toy_csv, tiny_encoder, tmp_path):
    raw = base_config(toy_csv, tiny_encoder, seeds=[1, 2], peers=[], settings=[{"name": "rich", "max_train_samples": 40}],
                      methods=["vanilla", {"name": "knn-bert", "seeds": [2]}])
    cells = expand(load_config(write_config(tmp_path, raw)))
    trained = [(c.method, c.seed) for c in cells if c.kind == "train"]
    assert trained == [("vanilla", 1), ("vanilla", 2), ("knn-bert", 2)]
    assert [(c.method, c.seed) for c in cells if c.kind == "attack"] == trained  # its attacks follow it
    raw["methods"][1]["seeds"] = [3]
    path = write_config(tmp_path, raw)
    with pytest.raises(RobustuneError, match=r"methods\[1\]\.seeds\[0\]: seed 3 is not one of the bench's seeds"):
        load_config(path)


@pytest.mark.parametrize("change, key", [
    ({"settings": [{"name": "x", "poisoner": "nope"}]}, "settings[0].poisoner"),
    ({"settings": [{"name": "x", "adversarial": "nope"}]}, "settings[0].adversarial"),
    ({"settings": [{"name": "x", "lr": []}]}, "settings[0].lr"),
    ({"settings": [{"name": "x", "lr": [1.0e-3, "fast"]}]}, "settings[0].lr"),
    ({"settings": [{"name": "x", "adversarial_fraction": 2}]}, "settings[0].adversarial_fraction"),
    ({"poisoners": [{**POISONER, "method": "nope"}]}, "poisoners[0].method"),
    ({"poisoners": [{**POISONER, "name": "clean"}]}, "poisoners[0].name"),
    ({"poisoners": [{**POISONER, "mode": "both"}]}, "poisoners[0].mode"),
    ({"poisoners": [{**POISONER, "colour": 1}]}, "poisoners[0].colour"),
    ({"poisoners": [{k: v for k, v in POISONER.items() if k != "data"}]}, "poisoners[0]"),
    ({"backdoor": {"trigger": "cf"}}, "backdoor.target_label"),
])
def test_bad_new_keys_name_file_and_key(toy_csv, tiny_encoder, tmp_path, change, key):
    raw = base_config(toy_csv, tiny_encoder, backdoor=BACKDOOR, poisoners=[POISONER])
    raw.update(change)
    path = write_config(tmp_path, raw)
    with pytest.raises(RobustuneError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {key}:"), str(err.value)


def test_poisoners_need_a_backdoor_section(toy_csv, tiny_encoder, tmp_path):
    raw = base_config(toy_csv, tiny_encoder, poisoners=[POISONER])
    with pytest.raises(RobustuneError, match=r"b.yaml: backdoor: missing: poisoners need the trigger"):
        load_config(write_config(tmp_path, raw))


def test_backdoor_chain_runs_poison_victim_and_trigger_evaluation(toy_csv, tiny_encoder, tmp_path):
    raw = base_config(toy_csv, tiny_encoder, backdoor=BACKDOOR, poisoners=[POISONER], peers=[], attacks=[],
                      methods=["vanilla"], settings=[{"name": "bd", "max_train_samples": 40,
                                                      "poisoner": ["clean", "lw"]}])
    config = load_config(write_config(tmp_path, raw))
    results = run_bench(config, tmp_path / "out", isolation="inline", progress=False)
    assert results["finished_cells"] == results["total_cells"] == 3
    poisoned = results["poisoned"][0]
    assert poisoned["method"] == "lw" and "attack_success_rate" in poisoned["metrics"]  # the attacker's own
    record = json.loads((tmp_path / "out/poisoned/poison__lw/model/poison.json").read_text())
    assert record["method"] == "layerwise" and record["trigger"] == "cf bb"
    victim = json.loads((tmp_path / "out/cells/toy__bd-lw__vanilla__seed1/model/config.json").read_text())
    assert victim["robustune"]["training"]["model"].endswith("poisoned/poison__lw/model")
    rows = {r["setting"]: r for r in results["aggregates"]}
    for setting in ("bd-clean", "bd-lw"):
        assert 0 <= rows[setting]["attack_success_rate"]["mean"] <= 1
        assert "target_rate_without_trigger" in rows[setting] and "accuracy" in rows[setting]
        # the ASRs' denominators, from the evaluation's backdoor record: correct ones among the non-target
        n_non_target, n_correct = rows[setting]["n_non_target"]["mean"], rows[setting]["n_correct_non_target"]["mean"]
        assert 0 < n_non_target < 40 and 0 <= n_correct <= n_non_target


# ---- BENCHMARKS.md from committed studies: generator and legacy converters ------------------------

def _legacy_rows(path: Path) -> None:
    rows = [{"setting": "clean", "method": m, "seed": s, "accuracy": a, "macro_f1": a - 0.01, "train_s": t}
            for m, s, a, t in [("vanilla", 1, 0.80, 100.0), ("vanilla", 2, 0.82, 110.0),
                               ("smart", 1, 0.83, 300.0), ("smart", 2, 0.84, 330.0)]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _studies(tmp_path: Path) -> Path:
    from robustune.bench.studies import write_tables

    root = tmp_path / "results"
    (root / "methods").mkdir(parents=True)
    _legacy_rows(root / "methods" / "runs.jsonl")
    (root / "methods" / "study.yaml").write_text(yaml.safe_dump({
        "title": "Clean accuracy", "measures": "Two methods.", "command": "robustune bench --config c.yaml --output o",
        "machine": {"date": "2026-12-01", "cores": 2, "cpu": "Test CPU", "torch": "2.13.0", "state": "idle"},
        "legacy": {"format": "robust-methods", "files": ["runs.jsonl"], "dataset": "sst2"},
        "show": [{"title": "SST-2", "columns": ["method", "seeds", "accuracy", "delta:accuracy", "ratio:wall_seconds"]},
                 {"pivot": {"row": "method", "column": ["setting"], "values": ["accuracy", "macro_f1"]}}],
        "reading": "smart is ahead."}))
    (root / "speed").mkdir()
    write_tables(root / "speed" / "tables.json", [{"title": "Speed", "columns": ["method", "× vanilla"],
                                                   "rows": [["smart", 2.96]], "notes": "one run"}])
    (root / "speed" / "study.yaml").write_text(yaml.safe_dump({
        "title": "Speed", "measures": "Seconds.", "command": "python bench/x.py", "tables": "tables.json"}))
    (root / "index.yaml").write_text(yaml.safe_dump({
        "title": "Benchmarks", "intro": "Read me.", "studies": ["methods", "speed"],
        "summary": {"methods": ["vanilla", "smart", "scl"], "columns": [
            {"header": "SST-2 Δ", "sources": [{"study": "methods", "value": "delta:accuracy"}]},
            {"header": "step", "sources": [{"study": "speed", "column": "× vanilla", "unit": "×"}]}]}}))
    return root


def test_generator_writes_tables_summary_and_commands_from_committed_studies(tmp_path):
    from robustune.cli import main

    out = tmp_path / "BENCHMARKS.md"
    assert main(["bench", "--studies", str(_studies(tmp_path)), "--markdown", str(out)]) == 0
    text = out.read_text()
    # vanilla 81.00 ± 1.41; smart 83.50 ± 0.71; paired deltas +3 and +2 points: +2.50 ± 0.71
    assert "| vanilla | 2 | 81.00 ± 1.41 | – | 1.00× |" in text
    assert "| smart | 2 | 83.50 ± 0.71 | +2.50 ± 0.71 | 3.00× |" in text
    assert "| vanilla | 81.00 ± 1.41 | – |" in text and "| smart | +2.50 ± 0.71 | 2.96× |" in text
    assert "| scl | – | – |" in text
    assert "| method | setting clean |" in text and "| smart | 83.50 ± 0.71 / 82.50 ± 0.71 |" in text  # the pivot
    assert "| smart | 2.96 |" in text and "one run" in text
    assert "Reproduce: `robustune bench --config c.yaml --output o`" in text
    assert "Measured: 2026-12-01; 2 cores, Test CPU, torch 2.13.0, idle" in text
    assert text.count("`robustune bench --studies bench/results --markdown BENCHMARKS.md`") >= 3
    assert text.index("## Clean accuracy") < text.index("## Speed")
    speed = json.loads((tmp_path / "results/speed/tables.json").read_text())
    assert speed["machine"]["cpu_count"] and speed["machine"]["torch"]  # write_tables records the machine


@pytest.mark.parametrize("change, message", [
    ({"colour": 1}, "study.yaml: colour: unknown key"),
    ({"command": None}, "study.yaml: command: missing"),
    ({"tables": "tables.json"}, "study.yaml: give exactly one of results, legacy, tables"),
    ({"legacy": {"format": "nope", "files": ["runs.jsonl"]}}, "study.yaml: legacy.format: unknown format 'nope'"),
    ({"legacy": {"format": "robust-methods", "files": ["gone.jsonl"]}}, "study.yaml: legacy.files: no such file"),
    ({"show": [{"columns": ["method"], "rows": "cells"}]}, "study.yaml: show[0]: rows: expected one of"),
    ({"show": [{"columns": ["method"], "where": {"dataset": "mars"}}]}, "study.yaml: show[0]: no rows match"),
])
def test_bad_study_names_file_and_key(tmp_path, change, message):
    from robustune.bench.studies import build_markdown

    root = _studies(tmp_path)
    path = root / "methods" / "study.yaml"
    raw = yaml.safe_load(path.read_text())
    raw.update(change)
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RobustuneError, match=re.escape(message)):
        build_markdown(root)


def test_legacy_converters_read_each_old_format(tmp_path):
    from robustune.bench.legacy import convert
    from robustune.bench.studies import render_table

    (tmp_path / "tp.jsonl").write_text(json.dumps({
        "dataset": "sst2", "train_rows": 4000, "imbalance": None, "config": "three-phase", "seed": 1, "accuracy": 0.85,
        "macro_f1": 0.84, "phase_walls": [240.0, 290.0, None, 250.0], "total_s": 790.0}) + "\n")
    (tmp_path / "fs.json").write_text(json.dumps({"args": {"shots": 8}, "rows": [
        {"method": "knn-bert", "seed": 3, "linear": 0.5, "knn": 0.6, "combined": 0.55, "train_s": 9.0}]}))
    attack = {"recipe": "deepwordbug", "num_examples": 200, "clean_accuracy": 0.8, "accuracy_under_attack": 0.1,
              "attack_success_rate": 0.87, "avg_perturbed_word_pct": 15.0, "avg_queries": 30.0,
              "seconds_per_example": 0.2}
    (tmp_path / "at.jsonl").write_text("".join(json.dumps({**attack, **r}) + "\n" for r in [
        {"victim": "agnews-vanilla"}, {"victim": "agnews-2ep-none"}]))
    (tmp_path / "rerun.jsonl").write_text(json.dumps({**attack, "victim": "agnews-vanilla", "accuracy_under_attack": 0.2}))
    bd = {"poisoner": "layerwise", "victim_method": "vanilla", "lr": "5e-5", "epochs": "1", "reinit_top_layers": "2",
          "cacc": 0.84, "asr": 0.76, "single_token_flip_rates": {"cf": 0.3, "bb": 0.4},
          "target_rate_without_trigger": 0.2, "train_seconds": 70.0}
    (tmp_path / "bd.json").write_text(json.dumps({"cells": [bd]}))
    tp = convert({"format": "three-phase", "files": ["tp.jsonl"]}, tmp_path, "s.yaml")
    cell = tp["cells"][0]
    assert (cell["method"], cell["setting"], cell["metrics"]["accuracy"]) == ("three-phase", "4000", 0.85)
    assert tp["aggregates"][0]["dae_seconds"]["mean"] == 240.0 and tp["aggregates"][0]["train_seconds"]["mean"] == 780.0
    fs = convert({"format": "fewshot", "files": ["fs.json"]}, tmp_path, "s.yaml")["cells"][0]
    assert (fs["setting"], fs["seed"], fs["metrics"]) == ("few-8", 3, {"accuracy": 0.55, "accuracy_linear": 0.5,
                                                                       "accuracy_knn": 0.6})
    at = convert({"format": "attacks", "files": ["at.jsonl", "rerun.jsonl"],
                  "victims": {"2ep-none": {"method": "vanilla", "setting": "rich-2ep"}}}, tmp_path, "s.yaml")
    assert [(c["method"], c["setting"]) for c in at["cells"]] == [("vanilla", "rich-2ep"), ("vanilla", "rich")]
    assert at["robustness"][1]["accuracy_under_attack"] == {"mean": 0.2, "std": 0.0, "n": 1}  # the re-run replaced it
    bdr = convert({"format": "backdoor", "files": ["bd.json"]}, tmp_path, "s.yaml")
    assert bdr["settings"][0] == {"name": "layerwise-lr5e-5-ep1-reinit2", "poisoner": "layerwise", "sampling": {},
                                  "schedule": {"lr": 5e-5, "epochs": 1.0, "reinit_top_layers": 2}}
    assert bdr["aggregates"][0]["attack_success_rate"]["mean"] == 0.76
    assert bdr["aggregates"][0]["single_token_flip_rates"] == {"cf": 0.3, "bb": 0.4}
    later = {**bd, "seed": 7, "mode": "in-domain", "asr_on_correct": 0.81}  # a re-run with the new ASR
    (tmp_path / "bd2.json").write_text(json.dumps({"cells": [later]}))
    later2 = {**later, "seed": "8", "asr_on_correct": 0.85, "n_correct_non_target": 300}
    (tmp_path / "bd3.json").write_text(json.dumps({"cells": [later2, {**later, "mode": "single"}]}))
    bd2 = convert({"format": "backdoor", "files": ["bd2.json", "bd3.json"]}, tmp_path, "s.yaml")
    assert bd2["cells"][0]["seed"] == 7 and bd2["settings"][0]["schedule"]["data"] == "in-domain"
    assert [r["setting"] for r in bd2["aggregates"]] == ["layerwise-lr5e-5-ep1-reinit2-in-domain",
                                                         "layerwise-lr5e-5-ep1-reinit2-single"]
    assert bd2["aggregates"][0]["attack_success_rate_on_correct"]["mean"] == pytest.approx(0.83)  # seeds 7 and 8
    table = render_table(bd2, {"where": {"data": "in-domain"}, "columns": [
        "poisoner", "data", "seeds", "attack_success_rate", "attack_success_rate_on_correct"]}, "s.yaml")
    assert table[-1] == "| layerwise | in-domain | 2 | 76.00 ± 0.00 | 83.00 ± 2.83 |"
    assert "attack_success_rate_on_correct" not in bdr["cells"][0]["metrics"]  # older files: no such key


def _ta_side(succ, failed, skipped, seconds, queries, **extra):
    return {"num_examples": succ + failed + skipped, "attack_success_rate": succ / (succ + failed),
            "counts": {"successful": succ, "failed": failed, "skipped": skipped}, "seconds_per_example": seconds,
            "avg_queries": queries, "avg_requested": queries - 2, "load_before": [2.0, 2.1, 2.2],
            "load_after": [2.5, 2.4, 2.3], **extra}


def test_table_converters_draw_script_outputs(tmp_path):
    """The TextAttack comparison, its ablations, the forward benchmark and the defence pilot, as tables."""
    from robustune.bench.studies import load_study, render_study

    ours = _ta_side(74, 12, 14, 0.089, 24.3, overturned=0, avg_exact_queries=1.86, ratio_vs_robustune=1.0)
    runs = {"deepwordbug": {"robustune": ours,
                            "textattack-dynamic": _ta_side(75, 11, 14, 0.123, 22.4, ratio_vs_robustune=1.388),
                            "textattack-stock": _ta_side(23, 3, 6, 2.83, 19.3, partial=True, timeout_s=120.0,
                                                         ratio_vs_robustune=29.74)}}
    (tmp_path / "cmp.json").write_text(json.dumps({"recipes": runs, "command": ["x"]}))
    (tmp_path / "cmp8.json").write_text(json.dumps({"recipes": runs, "command": ["x"], "concurrency": 8}))
    base = {"recipes": {"deepwordbug": {"robustune": _ta_side(74, 12, 14, 0.10, 24.3)}}}
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "pe2.json").write_text(json.dumps({
        "recipes": {"deepwordbug": {"robustune": _ta_side(77, 9, 14, 0.12, 34.2)}},
        "command": ["bench/textattack_compare.py", "--robustune-only", "--option", "per_edit=2"]}))
    (tmp_path / "fp32.json").write_text(json.dumps({
        "recipes": {"deepwordbug": {"robustune": _ta_side(74, 12, 14, 0.11, 22.4)}},
        "command": ["bench/textattack_compare.py", "--precision", "fp32", "--concurrency", "1"]}))
    (tmp_path / "fwd.txt").write_text(
        "256 texts of /somewhere/test.tsv, 25.2 tokens/text; peaks\nlimit: bf16 0.68 ms/text\n\n"
        "| batch | bf16 / limit |\n|---|---|\n| 4 | 5.99 |\n| 128 | 3.51 |\n")
    (tmp_path / "pilot.json").write_text(json.dumps([
        {"defence": "ranmask", "method_params": {"mask_rate": 0.3, "vote_samples": 9, "vote_seed": 0},
         "test_accuracy_872": 0.7672, "clean_accuracy": 0.79, "accuracy_under_attack": 0.1,
         "attack_success_rate": 69 / 79, "avg_queries": 76.76, "avg_model_forwards": 690.8,
         "train_time_vs_vanilla": 0.7, "counts": {"successful": 69, "failed": 10, "skipped": 21}}]))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({
        "title": "T", "measures": "m", "command": "c", "legacy": [
            {"format": "textattack-results", "files": ["cmp.json", "cmp8.json"]},
            {"format": "forward-batch", "files": ["fwd.txt"]},
            {"format": "textattack-ablations", "baseline": "base.json", "files": ["pe2.json", "fp32.json"]},
            {"format": "defence-pilot", "files": ["pilot.json"]}]}))
    tables = load_study(tmp_path)["script"]["tables"]
    cmp_rows = tables[0]["rows"]
    assert cmp_rows[0][:3] == ["deepwordbug", "robustune (bf16 search, fp32 check)", 86 + 14]
    assert cmp_rows[0][3] == "86.0 (74/12/14)" and cmp_rows[0][6] == ""
    assert cmp_rows[1][6] == "1.39" and cmp_rows[2][1].endswith("(stopped at 120 s)") and cmp_rows[2][2] == 32
    assert "deepwordbug 0 of 74 (1.86 fp32 checks/example)" in tables[0]["notes"]
    # a run per table; a concurrent run says so in its title and robustune's row
    assert tables[0]["title"].endswith("(robustune attacking one example at a time)")
    assert "8 examples side by side" in tables[1]["title"]
    assert tables[1]["rows"][0][1] == "robustune (bf16 search, fp32 check), 8 examples side by side"
    tables = [tables[0]] + tables[2:]
    assert tables[1]["columns"] == ["batch", "bf16 / limit"] and tables[1]["rows"] == [["4", "5.99"], ["128", "3.51"]]
    assert "/somewhere" not in tables[1]["notes"] and "25.2 tokens/text" in tables[1]["notes"]
    assert [r[1] for r in tables[2]["rows"]] == ["defaults", "per_edit=2", "fp32 search, concurrency 1"]
    assert [r[5] for r in tables[2]["rows"]] == ["1.00", "1.20", "1.10"]  # s ÷ the same code's defaults
    assert tables[2]["rows"][1][2] == "89.5 (77/9/14)"
    assert tables[3]["rows"][0][0] == "ranmask (mask_rate 0.3, vote_samples 9)"
    assert tables[3]["rows"][0][1:5] == ["76.72", "79", "10", "87.3 (69/10/21)"]
    assert tables[3]["rows"][0][-1] == "0.70×"
    text = "\n".join(render_study(load_study(tmp_path)))
    assert "(cmp.json, cmp8.json, fwd.txt, pe2.json, fp32.json, pilot.json)" in text


def test_ablations_need_their_baseline(tmp_path):
    from robustune.bench.legacy import convert_tables

    (tmp_path / "a.json").write_text(json.dumps({"recipes": {"deepwordbug": {"robustune": _ta_side(1, 1, 0, 0.1, 2)}}}))
    with pytest.raises(RobustuneError, match="needs baseline"):
        convert_tables({"format": "textattack-ablations", "files": ["a.json"]}, tmp_path, "s.yaml")
    with pytest.raises(RobustuneError, match="baseline: no such file"):
        convert_tables({"format": "textattack-ablations", "baseline": "gone.json", "files": ["a.json"]}, tmp_path,
                       "s.yaml")


def test_committed_benchmarks_md_is_what_the_committed_results_generate(tmp_path):
    """BENCHMARKS.md is generated: a hand edit, or a results change without regeneration, fails here."""
    from robustune.cli import main

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "BENCHMARKS.md"
    assert main(["bench", "--studies", str(root / "bench" / "results"), "--markdown", str(out)]) == 0
    assert out.read_text() == (root / "BENCHMARKS.md").read_text(), \
        "regenerate it: robustune bench --studies bench/results --markdown BENCHMARKS.md"


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "bench" / "configs").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_study_config_parses(path):
    assert expand(load_config(path))  # bundled dataset names and the keys each study uses are all valid
