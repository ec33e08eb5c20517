"""Adversarial augmentation (A2T-style): fixed-size slots refilled by attacks between epochs."""

import json
from types import SimpleNamespace

import pytest

import robustune
from robustune import RobustClassifier, RobustuneError
from robustune.attacks import build_recipe
from robustune.cli import main
from robustune.modeling import ModelSettings
from robustune.training.adversarial import AdversarialAugmentation, AugmentedDataset
from robustune.training.features import EncodedDataset

TEXTS = ["a good film", "great fun and charming", "a bad film", "boring and dull", "wonderful acting", "awful mess"]
LABELS = [1, 1, 0, 0, 1, 0]


def test_slots_are_refilled_with_adversarial_examples(tiny_encoder):
    classifier = RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["negative", "positive"]))
    base = EncodedDataset(TEXTS, LABELS, classifier.tokenizer, 32)
    data = AugmentedDataset(base, slots=3, tokenizer=classifier.tokenizer, max_length=32, seed=0)
    assert len(data) == 9 and data[6]["labels"] == LABELS[data.sources[0]]
    assert data.slot_texts == [TEXTS[i] for i in data.sources]
    callback = AdversarialAugmentation(data, classifier, build_recipe("deepwordbug", seed=0), seed=0)
    callback.on_epoch_begin(None, SimpleNamespace(epoch=0.0, log_history=[]), None)
    assert callback.history == []  # the first epoch is clean
    state = SimpleNamespace(epoch=1.0, log_history=[])
    callback.on_epoch_begin(None, state, None)
    assert len(data) == 9 and callback.history[0]["attacked"] == 3
    changed = sum(t != TEXTS[i] for t, i in zip(data.slot_texts, data.sources))
    assert changed == callback.history[0]["adversarial"]
    probs = classifier.predict_proba([t for t, i in zip(data.slot_texts, data.sources) if t != TEXTS[i]])
    sources = [i for t, i in zip(data.slot_texts, data.sources) if t != TEXTS[i]]
    assert all(p.argmax() != LABELS[i] for p, i in zip(probs, sources))  # each one fools the current model
    assert state.log_history[0]["adversarial_examples"] == changed


def test_train_with_adversarial_augmentation(tiny_encoder, toy_csv, tmp_path, monkeypatch):
    # Spy on the refill: what the slots hold right after it, and whether it fooled the model of that moment.
    refills = []
    refill = AdversarialAugmentation.on_epoch_begin

    def spy(self, args, state, control, **kwargs):
        refill(self, args, state, control, **kwargs)
        data = self.dataset
        attacked = [(j, t, i) for j, (t, i) in enumerate(zip(data.slot_texts, data.sources)) if t != data.base.texts[i]]
        probs = self.classifier.predict_proba([t for _, t, _ in attacked]) if attacked else []
        served = [data[len(data.base) + j] for j, _, _ in attacked]  # what the Trainer's batches read
        refills.append({"epoch": state.epoch, "attacked": attacked, "fooled": [
            int(p.argmax()) != data.base.labels[i] for p, (_, _, i) in zip(probs, attacked)], "served": [
            (item["input_ids"] == data.tokenizer(t, truncation=True, max_length=data.max_length)["input_ids"]
             and item["labels"] == data.base.labels[i] and item["index"] == i)
            for item, (_, t, i) in zip(served, attacked)]})

    monkeypatch.setattr(AdversarialAugmentation, "on_epoch_begin", spy)
    result = robustune.train(data=str(toy_csv), output_dir=str(tmp_path / "m"), model=tiny_encoder, epochs=2,
                             batch_size=8, lr=1e-3, seed=3, progress=False, adversarial="deepwordbug",
                             adversarial_fraction=0.25, keep_checkpoints=True)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["robustune"]["training"]["adversarial"] == "deepwordbug"
    state = json.loads(sorted((tmp_path / "m" / "checkpoints").glob("checkpoint-*/trainer_state.json"))[-1]
                       .read_text())
    # 48 clean + 12 slots, batch 8, 2 epochs
    assert state["global_step"] == 2 * 8
    assert [r["attacked"] for r in refills[:1]] == [[]]  # the first epoch trains on clean copies only
    second = refills[1]
    # Epoch 2's slots hold attacked texts: each differs from its source, fooled the model that was
    # attacked, and is what the dataset serves for that slot, labelled like its source.
    assert len(second["attacked"]) >= 1 and all(second["fooled"]) and all(second["served"])
    saved = json.loads((tmp_path / "m" / "train_metrics.json").read_text())["adversarial_epochs"]
    assert saved == result.train_metrics["adversarial_epochs"] and [e["epoch"] for e in saved] == [1]
    assert saved[0]["attacked"] == 12 and saved[0]["adversarial_examples"] == len(second["attacked"])
    with pytest.raises(RobustuneError, match="--adversarial must be one of"):
        robustune.train(data=str(toy_csv), output_dir=str(tmp_path / "x"), model=tiny_encoder, adversarial="nope")


def test_a_missing_attack_asset_fails_before_any_training(tiny_encoder, toy_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROBUSTUNE_CACHE", str(tmp_path / "empty-cache"))  # no masked LM built there
    out = tmp_path / "m"
    with pytest.raises(RobustuneError, match="needs a masked LM"):
        robustune.train(data=str(toy_csv), output_dir=str(out), model=tiny_encoder, method="three-phase",
                        adversarial="bert-attack", progress=False)
    assert not (out / "checkpoints").exists()  # not even the first phase ran
    # --adversarial-mlm reaches the recipe: the masked LM it names is the one loaded (and missing here)
    assert main(["train", "--data", str(toy_csv), "--output", str(out), "--model", tiny_encoder, "--epochs", "1",
                 "--adversarial", "bert-attack", "--adversarial-mlm", str(tmp_path / "no-mlm")]) == 2
    assert f"cannot load masked LM '{tmp_path / 'no-mlm'}'" in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


def test_a_resumed_epoch_refills_the_slots_of_that_epoch(tiny_encoder):
    classifier = RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["negative", "positive"]))
    base = EncodedDataset(TEXTS, LABELS, classifier.tokenizer, 32)
    sources = []
    for epoch in (1.0, 1.6):  # Trainer resumes inside epoch 1 with a fractional state.epoch
        data = AugmentedDataset(base, slots=3, tokenizer=classifier.tokenizer, max_length=32, seed=0)
        callback = AdversarialAugmentation(data, classifier, build_recipe("deepwordbug", seed=0), seed=0)
        callback.on_epoch_begin(None, SimpleNamespace(epoch=epoch, log_history=[]), None)
        sources.append((callback.history[0]["epoch"], data.sources))
    assert sources[0] == sources[1] and sources[0][0] == 1


def test_keep_polarity_reaches_the_training_attack(monkeypatch):
    import robustune.attacks
    from robustune.training import TrainConfig
    from robustune.training.adversarial import adversarial_augmentation

    asked = {}

    def fake_build(name, **options):
        asked.update(options, name=name)
        raise RuntimeError("built")

    monkeypatch.setattr(robustune.attacks, "build_recipe", fake_build)
    for keep in (False, True):
        config = TrainConfig(data="x", output_dir="y", adversarial="textfooler", adversarial_keep_polarity=keep)
        with pytest.raises(RuntimeError, match="built"):
            adversarial_augmentation(config, None, None)
        assert asked["name"] == "textfooler" and asked["keep_polarity"] is keep
