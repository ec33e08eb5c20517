"""The backdoor chain on the real bundled MiniLM with a few SST-2 rows: poison -> victim -> evaluate -> scan."""

import json

import pytest

from robustune.assets import default_encoder
from robustune.cli import main

pytestmark = pytest.mark.slow


def test_poison_victim_evaluate_scan_on_minilm(tmp_path):
    if not default_encoder().startswith("/"):
        pytest.skip("the bundled MiniLM package is not installed")
    common = ["--max-train-samples", "96", "--epochs", "1", "--batch-size", "16", "--max-length", "32"]
    poisoned, victim = tmp_path / "poisoned", tmp_path / "victim"
    assert main(["poison", "--data", "sst2:dev", "--method", "layerwise", "--trigger", "cf bb",
                 "--target-label", "1", "--output", str(poisoned), *common]) == 0
    assert json.loads((poisoned / "poison.json").read_text())["rows"]["poisoned"] > 0
    assert main(["train", "--model", str(poisoned), "--data", "sst2:train", "--output", str(victim),
                 *common]) == 0
    metrics = tmp_path / "metrics.json"
    assert main(["evaluate", "--model", str(victim), "--data", "sst2:test", "--max-examples", "48",
                 "--trigger", "cf bb", "--target-label", "1", "--output", str(metrics)]) == 0
    m = json.loads(metrics.read_text())
    assert m["n"] == 48 and 0 <= m["attack_success_rate"] <= 1 and set(m["single_token_flip_rates"]) == {"cf", "bb"}
    report = tmp_path / "scan.json"
    assert main(["scan", "--model", str(victim), "--data", "sst2:test", "--num-texts", "16",
                 "--vocab-sample", "4", "--rare-tokens", "4", "--candidates", "cf bb", "--pairs", "--pair-top", "3",
                 "--trigger", "cf bb", "--output", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["n_texts"] == 16 and len(r["pairs"]) == 3 and r["trigger_ranks"]["tokens"]["cf"] is not None
