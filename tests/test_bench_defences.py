"""robustune bench with the defences of issue 23: freelb, ranmask and safer cells (their parameters reach
training), attacks on the ranmask and safer cells that attack the smoothed models, a word-level adversarial-training row, the
robustness config of the study, and the bad-config errors of a method's ``train``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from robustune import RobustClassifier
from robustune.bench import expand, load_config, run_bench
from robustune.errors import RobustuneError

REPO = Path(__file__).resolve().parents[1]


def _config(toy_csv: Path, tiny_encoder: str, **overrides) -> dict:
    config = {
        "name": "defences", "model": tiny_encoder,
        "train": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "max_length": 16},
        "seeds": [1],
        "datasets": [{"name": "toy", "train": str(toy_csv), "test": str(toy_csv), "max_test_rows": 20}],
        "settings": [{"name": "rich", "max_train_samples": 32}],
        "methods": ["vanilla", {"name": "freelb", "params": {"adv_steps": 2, "adv_lr": 0.1}},
                    {"name": "ranmask", "params": {"mask_rate": 0.2, "vote_samples": 3}},
                    {"name": "safer", "params": {"synonyms": 4, "vote_samples": 5}},
                    {"name": "dne", "params": {"adv_steps": 1, "vote_samples": 3}},
                    {"name": "vanilla", "label": "vanilla-adv",
                     "train": {"adversarial": "deepwordbug", "adversarial_fraction": 0.25,
                               "adversarial_query_budget": 20, "epochs": 3}}],
        "attacks": [{"recipe": "deepwordbug", "num_examples": 3}],
        "report": {"projection_methods": ["vanilla"], "projection_rows": 10},
    }
    config.update(overrides)
    return config


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_bench_trains_and_attacks_the_defences(toy_csv, tiny_encoder, tmp_path):
    config = load_config(_write(tmp_path, _config(toy_csv, tiny_encoder)))
    out = tmp_path / "bench"
    results = run_bench(config, out, isolation="inline", progress=False)
    assert results["finished_cells"] == results["total_cells"] == 12

    cells = {c.id: c for c in expand(config)}
    freelb = json.loads((out / cells["toy__rich__freelb__seed1"].folder / "model" / "config.json").read_text())
    assert freelb["robustune"]["method_params"]["adv_steps"] == 2
    ranmask = RobustClassifier.from_pretrained(out / cells["toy__rich__ranmask__seed1"].folder / "model")
    assert ranmask.smoothing.samples == 3 and ranmask.smoothing.mask_rate == 0.2
    safer = RobustClassifier.from_pretrained(out / cells["toy__rich__safer__seed1"].folder / "model")
    assert safer.smoothing.kind == "substitution-vote" and safer.smoothing.samples == 5
    dne = RobustClassifier.from_pretrained(out / cells["toy__rich__dne__seed1"].folder / "model")
    assert dne.smoothing.kind == "hull-ensemble" and dne.smoothing.samples == 3
    adv = json.loads((out / cells["toy__rich__vanilla-adv__seed1"].folder / "model" / "config.json").read_text())
    assert adv["robustune"]["training"]["adversarial"] == "deepwordbug"
    assert adv["robustune"]["training"]["adversarial_query_budget"] == 20
    assert adv["robustune"]["training"]["epochs"] == 3 and freelb["robustune"]["training"]["epochs"] == 2

    # The attack on the ranmask cell attacked the smoothed model: 3 forwards per query.
    attack = out / cells["toy__rich__ranmask__seed1__deepwordbug"].folder / "attack"
    records = [json.loads(line) for line in (attack / "examples.jsonl").read_text().splitlines()]
    assert records and all(r["forwards_per_query"] == 3 for r in records)
    summary = json.loads((attack / "summary.json").read_text())
    assert summary["avg_model_forwards"] == pytest.approx(3 * summary["avg_queries"])

    saved = json.loads((out / "results.json").read_text())
    rows = {(r["method"], r["recipe"]): r for r in saved["robustness"]}
    assert rows[("ranmask", "deepwordbug")]["avg_model_forwards"]["mean"] == pytest.approx(
        3 * rows[("ranmask", "deepwordbug")]["avg_queries"]["mean"])
    assert rows[("safer", "deepwordbug")]["avg_model_forwards"]["mean"] == pytest.approx(
        5 * rows[("safer", "deepwordbug")]["avg_queries"]["mean"])
    assert rows[("dne", "deepwordbug")]["avg_model_forwards"]["mean"] == pytest.approx(
        3 * rows[("dne", "deepwordbug")]["avg_queries"]["mean"])
    assert rows[("vanilla", "deepwordbug")]["avg_model_forwards"]["mean"] == pytest.approx(
        rows[("vanilla", "deepwordbug")]["avg_queries"]["mean"])
    training = {r["method"]: r for r in saved["aggregates"]}
    assert training["vanilla"]["train_time_ratio"] == pytest.approx(1.0)
    assert training["freelb"]["train_time_ratio"] > 0 and "accuracy_linear" in training["ranmask"]
    page = (out / "report.html").read_text()
    assert "model forwards/example" in page and "× vanilla train s" in page


@pytest.mark.parametrize("train,key", [({"adversarial": "nope"}, "methods[1].train.adversarial"),
                                       ({"epochs": 0}, "methods[1].train.epochs"),
                                       ({"adversarial_query_budget": 0}, "methods[1].train.adversarial_query_budget"),
                                       ({"adversarial_mlm": 3}, "methods[1].train.adversarial_mlm")])
def test_bad_method_train_names_file_and_key(toy_csv, tiny_encoder, tmp_path, train, key):
    raw = _config(toy_csv, tiny_encoder, methods=["vanilla", {"name": "vanilla", "label": "adv", "train": train}])
    with pytest.raises(RobustuneError, match="b.yaml: " + re.escape(key)):
        load_config(_write(tmp_path, raw))


def test_peers_take_no_train(toy_csv, tiny_encoder, tmp_path):
    raw = _config(toy_csv, tiny_encoder, peers=[{"name": "trainer", "train": {"adversarial": "deepwordbug"}}])
    with pytest.raises(RobustuneError, match="peers"):
        load_config(_write(tmp_path, raw))


def test_robustness_study_config_parses(tmp_path):
    raw = yaml.safe_load((REPO / "bench" / "configs" / "robustness.yaml").read_text())
    for dataset in raw["datasets"]:  # the bundled names, as files: the config must parse either way
        (tmp_path / f"{dataset['name']}.csv").write_text("text,label\na good film,pos\na bad film,neg\n")
        dataset.update(train=str(tmp_path / f"{dataset['name']}.csv"), test=str(tmp_path / f"{dataset['name']}.csv"))
    config = load_config(_write(tmp_path, raw))
    assert [m.display for m in config.methods] == ["vanilla", "smart", "knn-bert", "freelb", "ranmask", "safer",
                                                   "vanilla-adv-textfooler"]
    assert {a.recipe for a in config.attacks} == {"textfooler", "bert-attack", "deepwordbug"}
    assert all(a.num_examples == 200 for a in config.attacks) and config.seeds == [1, 2]
    cells = expand(config)
    adv = next(c for c in cells if c.method == "vanilla-adv-textfooler" and c.recipe is None)
    assert adv.spec["train_config"]["adversarial"] == "textfooler" and adv.spec["train_config"]["method"] == "vanilla"
    assert len(cells) == 2 * 2 * 7 * 4  # seeds × datasets × methods × (training + 3 attacks)
