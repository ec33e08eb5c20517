"""Training on the tiny encoder: the loop, save/load, determinism, resume, per-term logging."""

import json

import numpy as np
import pytest

import robustune
from robustune import RobustClassifier, RobustuneError


def _train(tiny_encoder, toy_csv, out, **kw):
    args = dict(data=str(toy_csv), output_dir=str(out), model=tiny_encoder, epochs=2, batch_size=8, lr=1e-3,
                seed=3, progress=False)
    args.update(kw)
    return robustune.train(**args)


def test_train_save_load_identical_probabilities(tiny_encoder, toy_csv, tmp_path):
    result = _train(tiny_encoder, toy_csv, tmp_path / "m")
    texts = ["a good film", "boring and dull", "the worst film this year"]
    before = result.model.predict_proba(texts)
    loaded = RobustClassifier.from_pretrained(tmp_path / "m")
    np.testing.assert_array_equal(before, loaded.predict_proba(texts))
    assert loaded.label_names == ["negative", "positive"]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["robustune"]["method"] == "vanilla"
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert not list((tmp_path / "m").glob("*.bin")) and not list((tmp_path / "m").glob("*.pt"))


def _logged(out):
    state = json.loads(sorted((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))[-1].read_text())
    return [entry for entry in state["log_history"] if "loss" in entry]


def test_learns_toy_task(tiny_encoder, toy_csv, tmp_path):
    # 48 rows, batch 8: a logging window of 6 steps is one epoch.
    result = _train(tiny_encoder, toy_csv, tmp_path / "m", epochs=10, lr=3e-3, eval_data=str(toy_csv),
                    keep_checkpoints=True, logging_steps=6)
    assert result.eval_metrics["accuracy"] >= 0.9
    epoch_losses = [entry["loss"] for entry in _logged(tmp_path / "m")]
    assert len(epoch_losses) == 10 and epoch_losses[-1] < 0.5 * epoch_losses[0]  # the loss falls


def test_same_seed_same_model(tiny_encoder, toy_csv, tmp_path):
    a = _train(tiny_encoder, toy_csv, tmp_path / "a").model.predict_proba(["a good film", "boring"])
    b = _train(tiny_encoder, toy_csv, tmp_path / "b").model.predict_proba(["a good film", "boring"])
    c = _train(tiny_encoder, toy_csv, tmp_path / "c", seed=4).model.predict_proba(["a good film", "boring"])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("method, terms", [("vanilla", ["ce"]), ("scl", ["contrastive", "ce"])])
def test_terms_are_logged(method, terms, tiny_encoder, toy_csv, tmp_path):
    result = _train(tiny_encoder, toy_csv, tmp_path / "m", method=method, keep_checkpoints=True, save_steps=2,
                    logging_steps=2)
    logged = _logged(tmp_path / "m")
    assert len(logged) == 6  # 12 steps, a window of 2
    # Each term is its window's mean (4 significant digits) and the terms add up to the logged loss.
    for entry in logged:
        assert sum(entry[t] for t in terms) == pytest.approx(entry["loss"], rel=2e-3)
    # The windows are equal, so the run's train_loss is the mean of the windows' losses.
    assert result.train_metrics["train_loss"] == pytest.approx(np.mean([e["loss"] for e in logged]), rel=1e-4)


def test_refuses_to_overwrite_a_model(tiny_encoder, toy_csv, tmp_path):
    _train(tiny_encoder, toy_csv, tmp_path / "m")
    with pytest.raises(RobustuneError, match="already holds a model"):
        _train(tiny_encoder, toy_csv, tmp_path / "m")
    _train(tiny_encoder, toy_csv, tmp_path / "m", eval_data=str(toy_csv), overwrite=True)
    assert (tmp_path / "m" / "eval_metrics.json").is_file()
    _train(tiny_encoder, toy_csv, tmp_path / "m", overwrite=True)
    assert not (tmp_path / "m" / "eval_metrics.json").exists()  # no stale figures of the replaced model


def test_resume_from_checkpoint(tiny_encoder, toy_csv, tmp_path):
    full = _train(tiny_encoder, toy_csv, tmp_path / "full", epochs=2).model.predict_proba(["a good film"])
    # An interrupted run: only the first epoch's checkpoint exists, and no final model.
    _train(tiny_encoder, toy_csv, tmp_path / "part", epochs=2, save_steps=6, keep_checkpoints=True)
    part = tmp_path / "part"
    (part / "model.safetensors").unlink()
    for ckpt in sorted((part / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[1:]:
        import shutil
        shutil.rmtree(ckpt)
    with pytest.raises(RobustuneError, match="--resume"):
        _train(tiny_encoder, toy_csv, part, epochs=2)
    with pytest.raises(RobustuneError, match=r"other settings than the interrupted run \(lr: 0.001 -> 0.002"):
        _train(tiny_encoder, toy_csv, part, epochs=2, resume=True, lr=2e-3)
    with pytest.raises(RobustuneError, match="method: 'vanilla' -> 'knn-bert'"):
        _train(tiny_encoder, toy_csv, part, epochs=2, resume=True, method="knn-bert")
    resumed = _train(tiny_encoder, toy_csv, part, epochs=2, resume=True, save_steps=3).model.predict_proba(["a good film"])
    np.testing.assert_allclose(full, resumed, atol=1e-5)


def test_bf16_autocast_trains(tiny_encoder, toy_csv, tmp_path):
    result = _train(tiny_encoder, toy_csv, tmp_path / "m", epochs=1, bf16=True)
    probs = result.model.predict_proba(["a good film"])
    assert probs.dtype == np.float32 and abs(probs.sum() - 1) < 1e-5


def test_sampling_options_are_recorded(tiny_encoder, toy_csv, tmp_path):
    _train(tiny_encoder, toy_csv, tmp_path / "m", epochs=1, imbalance=0.5, minority=["positive"], label_noise=0.1,
           max_train_samples=40)
    training = json.loads((tmp_path / "m" / "config.json").read_text())["robustune"]["training"]
    assert training["imbalance"] == 0.5 and training["minority"] == ["positive"]
    assert training["label_noise"] == 0.1 and training["seed"] == 3
    assert training["train_examples"] < 40  # 40 sampled, then the positive class halved


def test_predictions_do_not_depend_on_batching(tiny_encoder, toy_csv, tmp_path):
    model = _train(tiny_encoder, toy_csv, tmp_path / "m", epochs=1).model
    texts = ["a good film", "i hated this movie", "the best film this year and great fun", "dull"]
    alone = np.concatenate([model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(model.predict_proba(texts, batch_size=4), alone, atol=1e-5)
    np.testing.assert_allclose(model.predict_proba(texts[::-1], batch_size=3)[::-1], alone, atol=1e-5)
