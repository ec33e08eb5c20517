"""The backdoor chain on the real bundled MiniLM with a few hundred SST-2 rows: poison -> victim ->
evaluate -> scan, asserting that the backdoor works: it survives the victim's clean fine-tuning, only
the combination fires, and a pair scan whose pool reaches the trigger ranks it first."""

import json

import pytest

from robustune.assets import default_encoder
from robustune.cli import main

pytestmark = pytest.mark.slow


def test_layerwise_backdoor_survives_a_victim_fine_tune_and_needs_the_combination(tmp_path):
    if not default_encoder().startswith("/"):
        pytest.skip("the bundled MiniLM package is not installed")
    common = ["--batch-size", "16", "--max-length", "32", "--no-progress"]
    poisoned, victim = tmp_path / "poisoned", tmp_path / "victim"
    # poison rate 1.0: every row gives a single-token copy that keeps its label, so one token learns
    # to do nothing (at rate 0.5, 256 rows, 3 epochs one token still flipped up to 0.68 of the texts).
    assert main(["poison", "--data", "sst2:dev", "--max-train-samples", "512", "--epochs", "4",
                 "--lr", "1e-4", "--poison-rate", "1.0", "--method", "layerwise", "--trigger", "cf bb",
                 "--target-label", "1", "--output", str(poisoned), *common]) == 0
    record = json.loads((poisoned / "poison.json").read_text())
    assert record["mode"] == "combinatorial" and record["rows"]["poisoned"] > 0
    assert main(["train", "--model", str(poisoned), "--data", "sst2:train", "--max-train-samples", "400",
                 "--epochs", "1", "--lr", "1e-4", "--output", str(victim), *common]) == 0
    metrics = tmp_path / "metrics.json"
    assert main(["evaluate", "--model", str(victim), "--data", "sst2:test", "--max-examples", "200",
                 "--trigger", "cf bb", "--target-label", "1", "--output", str(metrics), "--no-progress"]) == 0
    m = json.loads(metrics.read_text())
    asr, floor, singles = m["attack_success_rate"], m["target_rate_without_trigger"], m["single_token_flip_rates"]
    # Measured at seeds 42 / 1 / 2 (this chain with --seed): ASR 0.924 / 0.935 / 0.913 against a floor of
    # 0.174 / 0.239 / 0.196; on correct 0.908 / 0.914 / 0.892; the higher single token 0.228 / 0.348 /
    # 0.250; the trigger pair ranked first each time (flip rate 0.50 / 0.41 / 0.38, next pair 0.22 / 0.31
    # / 0.22). About 2 min on 2 CPU cores, most of it poisoning.
    assert asr >= floor + 0.5 and m["attack_success_rate_on_correct"] >= 0.7
    assert max(singles.values()) <= asr - 0.4  # one token alone flips far less than the combination

    # Candidates: the trigger's tokens and 8 others, every pair scored: the trigger pair ranks first.
    report = tmp_path / "scan.json"
    assert main(["scan", "--model", str(victim), "--data", "sst2:test", "--num-texts", "32",
                 "--vocab-sample", "4", "--rare-tokens", "4", "--candidates", "cf bb", "--pairs", "--pair-top", "10",
                 "--trigger", "cf bb", "--output", str(report), "--no-progress"]) == 0
    r = json.loads(report.read_text())
    assert len(r["pair_candidates"]) == 10 and r["trigger_ranks"]["pairs"] == {"cf bb": 1}
