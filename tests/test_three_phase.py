"""three-phase and joint: the pure math against naive loops, the augmentation against hand-computed
values, and the whole method (stages, save/load, determinism, resume at the phase) on the tiny encoder."""

import json
import math
import random
import shutil

import numpy as np
import pytest
import torch

import robustune
from robustune import RobustClassifier, RobustuneError
from robustune.methods.denoising import delete_words, reconstruction_nll, tied_decoder
from robustune.methods.siamese import (augment_minority, balanced_pairs, cosine_pair_loss, remove_stop_words,
                                       replication_counts, replication_factor)
from robustune.methods.three_phase import ThreePhase

# Small stages so that the whole file stays within a few seconds of CPU per run.
FAST = {"dae_epochs": 1, "dae_batch_size": 16, "cl_epochs": 1, "cl_batch_size": 16}


def _train(tiny_encoder, toy_csv, out, method="three-phase", params=None, **kw):
    fast = {k: v for k, v in FAST.items() if method == "three-phase" or k.startswith("cl_")}
    args = dict(data=str(toy_csv), output_dir=str(out), model=tiny_encoder, method=method, epochs=1, batch_size=16,
                lr=1e-3, seed=3, progress=False, method_params={**fast, **(params or {})})
    args.update(kw)
    return robustune.train(**args)


# ---- imbalance augmentation: hand-computed values ------------------------------------------------
def test_replication_factor_hand_computed():
    # f(x) = log(x_max / x) * r_max / log(x_max)
    assert replication_factor(1000, 1000) == 0.0
    assert replication_factor(100, 1000) == pytest.approx(4 / 3)  # log 10 / log 1000 = 1/3
    assert replication_factor(10, 1000) == pytest.approx(8 / 3)  # log 100 / log 1000 = 2/3
    assert replication_factor(1, 1000) == pytest.approx(4.0)
    assert replication_factor(10, 100, r_max=6) == pytest.approx(3.0)
    assert replication_factor(5, 1) == 0.0


def test_replication_counts_hand_computed():
    # f: 0 | 1.333 (< 1.5: kept once) | 1.993 -> 2 | 2.667 -> 3 | 4 -> 4
    sizes = {"a": 1000, "b": 100, "c": 32, "d": 10, "e": 1}
    assert replication_counts(sizes) == {"a": 1, "b": 1, "c": 2, "d": 3, "e": 4}
    assert replication_counts(sizes, r_min=3) == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 4}
    assert replication_counts({"a": 50, "b": 50}) == {"a": 1, "b": 1}
    assert replication_counts({"a": 100, "b": 10}, r_max=5) == {"a": 1, "b": 3}  # f = 2.5 rounds up


def test_augment_minority_adds_stop_word_removed_copies():
    texts = [f"a good film number {i}" for i in range(100)] + ["it is the worst of all films"] * 10
    labels = [1] * 100 + [0] * 10  # f(10; 100) = log 10 * 4 / log 100 = 2 -> the minority appears twice
    out_texts, out_labels = augment_minority(texts, labels)
    assert out_texts[:110] == texts and out_labels.count(0) == 20 and out_labels.count(1) == 100
    assert out_texts[110:] == ["worst films"] * 10
    assert remove_stop_words("the and of") == "the and of"  # an empty copy keeps the text


def test_balanced_pairs():
    labels = [0, 0, 0, 1, 1, 2]
    pairs = balanced_pairs(labels, rounds=3, seed=0)
    assert len(pairs) == 2 * 3 * len(labels)
    assert sum(l for _, _, l in pairs) == len(pairs) / 2
    for a, b, l in pairs:
        assert (labels[a] == labels[b]) == (l == 1.0)
        assert a != b or labels.count(labels[a]) == 1
    assert pairs == balanced_pairs(labels, rounds=3, seed=0)
    with pytest.raises(RobustuneError, match="two classes"):
        balanced_pairs([1, 1, 1], rounds=1, seed=0)


# ---- the pure tensor math against naive loops ----------------------------------------------------
def test_cosine_pair_loss_matches_loop():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0])
    naive = sum((float(u[i] @ v[i]) / (u[i].norm() * v[i].norm()).item() - labels[i].item()) ** 2
                for i in range(5)) / 5
    assert cosine_pair_loss(u, v, labels).item() == pytest.approx(naive, rel=1e-5)


def test_reconstruction_nll_matches_loop():
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor([[2, 7, 8, 9, 3], [2, 5, 3, 0, 0]])
    mask = (ids != 0).long()
    logits = torch.randn(2, 4, 11, generator=g)
    total, count = 0.0, 0
    for b in range(2):
        for t in range(4):
            if mask[b, t + 1]:
                total -= torch.log_softmax(logits[b, t], -1)[ids[b, t + 1]].item()
                count += 1
    assert reconstruction_nll(logits, ids, mask).item() == pytest.approx(total / count, rel=1e-5)


def test_delete_words_is_seeded_and_keeps_a_word():
    text = "one two three four five six seven eight"
    assert delete_words(text, 0.6, random.Random(1)) == delete_words(text, 0.6, random.Random(1))
    assert delete_words(text, 0.0, random.Random(1)) == text
    kept = [delete_words(text, 0.99, random.Random(s)) for s in range(20)]
    assert all(k and set(k.split()) <= set(text.split()) for k in kept)


def test_decoder_is_tied_to_the_encoder(tiny_encoder):
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(tiny_encoder, add_pooling_layer=False)
    decoder = tied_decoder(encoder, seed=0)
    word = encoder.get_input_embeddings().weight
    assert decoder.get_output_embeddings().weight is word
    assert decoder.base_model.get_input_embeddings().weight is word
    assert decoder.base_model.encoder.layer[0].attention.self.query.weight is encoder.encoder.layer[0].attention.self.query.weight
    assert hasattr(decoder.base_model.encoder.layer[0], "crossattention")


def test_dae_refuses_an_encoder_without_a_decoder():
    from transformers import DistilBertConfig, DistilBertModel

    encoder = DistilBertModel(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32))
    with pytest.raises(RobustuneError, match="decoder"):
        tied_decoder(encoder, seed=0)


def test_head_and_bad_params():
    assert ThreePhase.head_spec.hidden == 100 and ThreePhase.head_spec.activation == "none"
    with pytest.raises(RobustuneError, match="phases"):
        ThreePhase.parse_params({"phases": "dae,mlm"})
    with pytest.raises(RobustuneError, match="dae_deletion"):
        ThreePhase.parse_params({"dae_deletion": 1.5})
    with pytest.raises(RobustuneError, match="cl_lr"):
        ThreePhase.parse_params({"cl_lr": 0})


# ---- the method end to end on the tiny encoder ---------------------------------------------------
# One full run, shared: 48 rows, so the DAE phase takes 3 steps, the contrastive phase 6 (96 pairs)
# and fine-tuning 3.
TEXTS = ["a good film", "boring and dull"]


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    from conftest import toy_rows

    path = tmp_path_factory.mktemp("toy") / "toy.csv"
    path.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in toy_rows()))
    return path


@pytest.fixture(scope="module")
def full_run(tiny_encoder, toy_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "m"
    return _train(tiny_encoder, toy_data, out)


def test_three_phase_saves_reloads_and_is_deterministic(tiny_encoder, toy_data, full_run, tmp_path):
    metrics = json.loads((full_run.output_dir / "train_metrics.json").read_text())
    assert {"dae_train_runtime", "cl_train_runtime", "train_runtime"} <= set(metrics)
    loaded = RobustClassifier.from_pretrained(full_run.output_dir)
    before = full_run.model.predict_proba(TEXTS)
    np.testing.assert_array_equal(before, loaded.predict_proba(TEXTS))
    assert loaded.settings.method == "three-phase" and loaded.settings.head.hidden == 100
    assert not (full_run.output_dir / "checkpoints").exists()
    again = _train(tiny_encoder, toy_data, tmp_path / "again").model.predict_proba(TEXTS)
    np.testing.assert_array_equal(before, again)


def test_joint_logs_both_terms(tiny_encoder, toy_data, tmp_path):
    _train(tiny_encoder, toy_data, tmp_path / "j", method="joint", keep_checkpoints=True, logging_steps=1)
    state = json.loads(next((tmp_path / "j" / "checkpoints" / "stage-joint").glob("checkpoint-*/trainer_state.json"))
                       .read_text())
    logged = [e for e in state["log_history"] if "loss" in e]
    assert logged and all("dae" in e and "cl" in e for e in logged)


def test_resume_at_the_phase(tiny_encoder, toy_data, full_run, tmp_path, monkeypatch):
    from robustune.methods import siamese

    # Interrupt the contrastive phase at its 5th step; save_steps=4 left a checkpoint at step 4.
    calls = {"n": 0}
    real = siamese.siamese_loss

    def crash_at_step_5(classifier, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(classifier, batch)

    monkeypatch.setattr(siamese, "siamese_loss", crash_at_step_5)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_encoder, toy_data, part, save_steps=4)
    monkeypatch.setattr(siamese, "siamese_loss", real)
    assert (part / "checkpoints" / "stage-dae" / "encoder.safetensors").is_file()
    assert [p.name for p in (part / "checkpoints" / "stage-cl").iterdir()] == ["checkpoint-4"]
    with pytest.raises(RobustuneError, match="--resume"):
        _train(tiny_encoder, toy_data, part)
    full = full_run.model.predict_proba(TEXTS)
    resumed = _train(tiny_encoder, toy_data, part, resume=True, keep_checkpoints=True)
    np.testing.assert_allclose(full, resumed.model.predict_proba(TEXTS), atol=1e-5)
    # Interrupted right after the DAE phase: the contrastive phase starts from the saved encoder.
    (part / "model.safetensors").unlink()
    shutil.rmtree(part / "checkpoints" / "stage-cl")
    for ckpt in (part / "checkpoints").glob("checkpoint-*"):
        shutil.rmtree(ckpt)
    resumed = _train(tiny_encoder, toy_data, part, resume=True)
    np.testing.assert_allclose(full, resumed.model.predict_proba(TEXTS), atol=1e-5)


@pytest.mark.parametrize("method, params", [("three-phase", {"dae_batch_size": 4}), ("joint", {"cl_batch_size": 4})])
def test_resume_inside_the_decoder_phase(tiny_encoder, toy_data, tmp_path, monkeypatch, method, params):
    """A checkpoint of the DAE / joint phase leaves out the decoder weights tied to the encoder;
    resuming from it must restore them with the encoder and end where an uninterrupted run ends."""
    from robustune.methods import denoising

    full = _train(tiny_encoder, toy_data, tmp_path / "full", method, params).model.predict_proba(TEXTS)
    calls = {"n": 0}
    real = denoising.reconstruction_nll

    def crash_at_step_6(*args):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(denoising, "reconstruction_nll", crash_at_step_6)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_encoder, toy_data, part, method, params, save_steps=4)
    monkeypatch.setattr(denoising, "reconstruction_nll", real)
    stage = "stage-dae" if method == "three-phase" else "stage-joint"
    assert [p.name for p in (part / "checkpoints" / stage).iterdir()] == ["checkpoint-4"]
    resumed = _train(tiny_encoder, toy_data, part, method, params, resume=True)
    np.testing.assert_allclose(full, resumed.model.predict_proba(TEXTS), atol=1e-5)


@pytest.mark.slow
def test_three_phases_through_the_cli_on_minilm(tmp_path):
    """The three phases end to end on the real MiniLM: 200 SST-2 rows, one short epoch per phase."""
    from robustune.cli import main
    from robustune.data import load_source
    from robustune.evaluation import evaluate

    out = tmp_path / "m"
    rc = main(["train", "--data", "sst2:train", "--max-train-samples", "200", "--method", "three-phase",
               "--dae-epochs", "1", "--dae-batch-size", "16", "--cl-epochs", "1", "--epochs", "1",
               "--eval-data", "sst2:test", "--output", str(out), "--seed", "1"])
    assert rc == 0
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["dae_train_loss"] > 0 and metrics["cl_train_loss"] > 0
    # The metrics of the model in memory (written by train) and of the reloaded model are identical.
    trained = json.loads((out / "eval_metrics.json").read_text())
    reloaded = evaluate(RobustClassifier.from_pretrained(out), load_source("sst2:test"))
    assert json.loads(json.dumps(reloaded)) == trained


def test_stages_draw_pairs_from_the_augmented_set(tiny_encoder):
    from robustune.modeling import ModelSettings
    from robustune.training.features import EncodedDataset

    classifier = RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["neg", "pos"]))
    train_set = EncodedDataset(["a bad film"] * 2 + ["a good film"] * 24, [0] * 2 + [1] * 24, classifier.tokenizer, 32)
    # f(2; 24) = log 12 * 4 / log 24 = 3.13 -> the negatives appear 3 times: 30 examples, 60 pairs.
    for augment, pairs in ((True, 60), (False, 52)):
        method = ThreePhase(ThreePhase.parse_params({"phases": "cl", "imbalance_augment": augment}))
        [stage] = method.stages(classifier, train_set, seed=0)
        assert stage.name == "cl" and len(stage.dataset) == pairs
    method = ThreePhase(ThreePhase.parse_params({}))
    assert [s.name for s in method.stages(classifier, train_set, seed=0)] == ["dae", "cl"]
