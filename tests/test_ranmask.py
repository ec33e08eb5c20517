"""ranmask: the masking, the vote (deterministic, batch-independent, shares summing to 1), save/load,
overrides from the API and the CLI, and attacks on the smoothed model counting N forwards per query."""

import json

import numpy as np
import pytest
import torch

import robustune
from conftest import attack_counting_forwards
from robustune import RobustClassifier, RobustuneError
from robustune.cli import main
from robustune.methods import get_method
from robustune.modeling.smoothing import MaskVote, mask_positions, maskable_tokens, vote_shares

TEXTS = ["a good film", "boring and dull", "the worst film this year", "i loved this movie and the music",
         "great fun", "an awful mess of a story"]


@pytest.fixture(scope="module")
def ranmask_model(tiny_encoder, tmp_path_factory):
    """A tiny ranmask model trained on the toy task, saved; (its folder, the training csv)."""
    from conftest import train_toy_model

    return train_toy_model(tiny_encoder, tmp_path_factory.mktemp("ranmask"), "ranmask",
                           {"mask_rate": 0.3, "vote_samples": 8, "vote_seed": 5})


def test_mask_positions_masks_the_share_of_maskable_tokens_only():
    maskable = torch.tensor([[0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0], [0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]]).bool()
    for seed in range(5):
        chosen = mask_positions(maskable, 0.3, torch.Generator().manual_seed(seed))
        assert not (chosen & ~maskable).any()
        assert chosen.sum(1).tolist() == [3, 1]  # round(0.3·10), round(0.3·3)
    a = mask_positions(maskable[:1].expand(50, -1), 0.5, torch.Generator().manual_seed(1))
    assert len({tuple(r) for r in a.tolist()}) > 10  # uniformly random subsets, not a fixed one
    torch.testing.assert_close(a, mask_positions(maskable[:1].expand(50, -1), 0.5, torch.Generator().manual_seed(1)))
    ids = torch.tensor([[2, 7, 8, 3, 0]])
    assert maskable_tokens(ids, torch.tensor([[1, 1, 1, 1, 0]]), [0, 2, 3]).tolist() == [[False, True, True, False, False]]


def test_vote_shares_match_counting():
    preds = torch.tensor([[0, 1, 1, 2], [2, 2, 2, 2]])
    shares = vote_shares(preds, 3)
    torch.testing.assert_close(shares, torch.tensor([[0.25, 0.5, 0.25], [0.0, 0.0, 1.0]]))
    torch.testing.assert_close(shares.sum(1), torch.ones(2))


def test_training_masks_inputs(tiny_encoder):
    classifier = RobustClassifier.from_encoder(tiny_encoder, robustune.modeling.ModelSettings(label_names=["a", "b"]))
    method = get_method("ranmask")(get_method("ranmask").parse_params({"mask_rate": 0.5}))
    method.setup(classifier, None)
    batch = classifier.tokenize(["a good film and great fun", "bad"])
    masked = method.altered(batch["input_ids"], batch["attention_mask"])
    mask_id = classifier.tokenizer.mask_token_id
    n_maskable = maskable_tokens(batch["input_ids"], batch["attention_mask"], classifier.tokenizer.all_special_ids).sum(1)
    assert (masked == mask_id).sum(1).tolist() == torch.round(n_maskable * 0.5).long().tolist()
    assert torch.equal(masked[:, 0], batch["input_ids"][:, 0])  # [CLS] stays


def test_vote_is_deterministic_batch_independent_and_sums_to_one(ranmask_model):
    model = RobustClassifier.from_pretrained(ranmask_model[0])
    assert isinstance(model.smoothing, MaskVote) and model.smoothing.samples == 8 and model.forwards_per_text == 8
    probs = model.predict_proba(TEXTS)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert set(np.round(probs.flatten() * 8, 6)) <= set(range(9))  # shares of 8 votes
    np.testing.assert_array_equal(probs, model.predict_proba(TEXTS))  # same seed, same votes
    one_by_one = np.concatenate([model.predict_proba([t]) for t in TEXTS])
    np.testing.assert_array_equal(probs, one_by_one)  # batch (and padding) does not matter
    np.testing.assert_array_equal(probs[::-1], model.predict_proba(TEXTS[::-1], batch_size=2))
    # the masked copies of a row are the same whatever else is in the batch
    alone = model.smoothing.masked_copies(model.tokenize([TEXTS[0]]), 4, model.tokenizer.all_special_ids)
    mixed = model.smoothing.masked_copies(model.tokenize(TEXTS[:3]), 4, model.tokenizer.all_special_ids)
    assert torch.equal(alone, mixed[:8, : alone.shape[1]])


def test_seed_and_samples_change_the_vote(ranmask_model):
    model = RobustClassifier.from_pretrained(ranmask_model[0])
    batch = model.tokenize(TEXTS)
    special = model.tokenizer.all_special_ids
    base = model.smoothing.masked_copies(batch, 4, special)
    model.configure_smoothing(seed=6)
    assert not torch.equal(base, model.smoothing.masked_copies(batch, 4, special))
    model.configure_smoothing(samples=32, seed=5)
    assert model.forwards_per_text == 32 and model.smoothing.mask_rate == 0.3
    probs = model.predict_proba(TEXTS)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    with pytest.raises(RobustuneError, match="samples"):
        model.configure_smoothing(samples=0)


def test_saved_model_reloads_with_the_same_predictions(ranmask_model, tiny_encoder, tmp_path):
    folder, csv = ranmask_model
    model = RobustClassifier.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())["robustune"]
    assert config["smoothing"] == {"kind": "mask-vote", "samples": 8, "mask_rate": 0.3, "seed": 5}
    model.save_pretrained(tmp_path / "again")
    np.testing.assert_array_equal(model.predict_proba(TEXTS), RobustClassifier.from_pretrained(tmp_path / "again")
                                  .predict_proba(TEXTS))
    metrics = robustune.evaluate(model, robustune.load_source(str(csv), "test"))
    assert {"accuracy", "accuracy_linear"} <= set(metrics)  # the vote, and the base classifier unmasked
    assert metrics["accuracy"] > 0.8


def test_unknown_smoothing_in_config_is_a_clear_error(ranmask_model, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(ranmask_model[0], bad)
    config = json.loads((bad / "config.json").read_text())
    config["robustune"]["smoothing"]["kind"] = "nope"
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(RobustuneError, match="config.json: unknown smoothing 'nope'"):
        RobustClassifier.from_pretrained(bad)


def test_attack_on_ranmask_counts_n_forwards_per_query(ranmask_model, tmp_path):
    per_query, sequences, records, summary = attack_counting_forwards(ranmask_model[0], tmp_path / "a")
    assert per_query == 8
    queries = sum(r["queries"] for r in records)
    assert sequences == 8 * queries  # the smoothed model itself was attacked: N forwards per query
    assert all(r["forwards_per_query"] == 8 for r in records)
    attacked = [r for r in records if r["status"] != "skipped"]
    assert summary["avg_model_forwards"] == pytest.approx(8 * np.mean([r["queries"] for r in attacked]))


def test_cli_train_predict_evaluate_attack(tiny_encoder, toy_csv, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--method", "ranmask", "--output", str(out),
                 "--epochs", "1", "--batch-size", "16", "--mask-rate", "0.2", "--vote-samples", "4"]) == 0
    smoothing = json.loads((out / "config.json").read_text())["robustune"]["smoothing"]
    assert smoothing == {"kind": "mask-vote", "samples": 4, "mask_rate": 0.2, "seed": 0}
    assert main(["predict", "--model", str(out), "--data", str(toy_csv), "--output", str(tmp_path / "p.jsonl"),
                 "--vote-samples", "5"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    for row in rows:  # shares of 5 votes
        assert sum(row["probabilities"].values()) == pytest.approx(1.0)
        assert all(abs(v * 5 - round(v * 5)) < 1e-5 for v in row["probabilities"].values())
    assert main(["evaluate", "--model", str(out), "--data", str(toy_csv), "--vote-seed", "3", "--mask-rate", "0.1"]) == 0
    assert '"accuracy_linear"' in capsys.readouterr().out
    assert main(["attack", "--model", str(out), "--data", str(toy_csv), "--recipe", "deepwordbug", "--num-examples", "2",
                 "--output", str(tmp_path / "att"), "--vote-samples", "3", "--no-progress"]) == 0
    summary = json.loads((tmp_path / "att" / "summary.json").read_text())
    assert summary["avg_model_forwards"] == pytest.approx(3 * summary["avg_queries"])
    assert json.loads((tmp_path / "att" / "run.json").read_text())["vote"] == {"samples": 3}
    # overriding the vote of a model that does not vote is a user error
    plain = tmp_path / "plain"
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--output", str(plain), "--epochs", "1"]) == 0
    assert main(["evaluate", "--model", str(plain), "--data", str(toy_csv), "--vote-samples", "3"]) == 2
    assert "does not predict by a vote" in capsys.readouterr().err


def test_bad_params_are_user_errors():
    with pytest.raises(RobustuneError, match="mask_rate"):
        get_method("ranmask").parse_params({"mask_rate": 1.0})
    with pytest.raises(RobustuneError, match="vote_samples"):
        get_method("ranmask").parse_params({"vote_samples": 0})
