"""Random sampling from the attack space (Ivgi & Berant 2021): the search on a lexicon victim, its query
cost and constraints, and adversarial training with it from the API and the CLI."""

import json

import numpy as np
import pytest

import robustune
from robustune.attacks import Attack, WordText, load_victim
from robustune.attacks.constraints import MaxModificationRate, RepeatModification, SamePolarity, StopWords
from robustune.attacks.sentiment import opposite_polarity
from robustune.attacks.random_sampling import RandomSampling
from robustune.cli import main
from robustune.testing import lexicon_proba

SUBSTITUTES = {"good": ["fine", "decent", "okay", "awful"], "great": ["fine", "okay", "awful"], "fun": ["okay", "dull"],
               "film": ["movie"], "movie": ["film"]}


def table(text, position):
    return SUBSTITUTES.get(text.words[position].lower(), [])


def _attack(samples=16, seed=0, rate=0.5):
    return Attack(table, [StopWords(), RepeatModification(), MaxModificationRate(rate)], RandomSampling(samples, seed))


def test_finds_the_hardest_sample_in_one_batched_query():
    victim = load_victim(lexicon_proba, ["negative", "positive"])
    attack = _attack(samples=32)
    result = attack.attack(victim, "a good and fun film , great", label=1)
    assert result.status == "successful"
    assert result.queries <= 33 and result.forwards == 2  # the original, then every sample in one batch
    assert attack.satisfies_constraints(result)
    # the result is the sample with the lowest gold probability among those drawn
    assert result.adversarial_probabilities[1] < 0.5


def test_respects_the_modification_budget_and_is_seeded():
    victim = load_victim(lexicon_proba, ["negative", "positive"])
    text = "good fun film great good fun film great good fun"
    a = _attack(samples=8, seed=3, rate=0.2).attack(victim, text, label=1)
    assert len(a.modified) <= 2 and 1 <= len(a.modified)  # 20% of 10 words
    b = _attack(samples=8, seed=3, rate=0.2).attack(victim, text, label=1)
    assert a.adversarial == b.adversarial
    c = _attack(samples=8, seed=4, rate=0.2).attack(victim, text, label=1)
    assert c.queries <= 9


def test_draws_do_not_depend_on_the_order_or_concurrency_of_examples():
    from robustune.attacks.concurrent import attack_many

    items = [("a good and fun film", 1), ("great fun , good film", 1), ("good movie , great fun", 1),
             ("fun and good", 1)]

    def run(order, concurrency):
        victim = load_victim(lexicon_proba, ["negative", "positive"])
        results = list(attack_many(_attack(samples=4, seed=5), victim, [items[i] for i in order], concurrency))
        return {items[i][0]: r.adversarial for i, r in zip(order, results)}

    alone = run([0, 1, 2, 3], 1)
    assert run([3, 2, 1, 0], 1) == alone and run([0, 1, 2, 3], 4) == alone
    search, text = RandomSampling(samples=4, seed=5), WordText.from_text(items[0][0])
    first, again = search._generator(text).random(4), search._generator(text).random(4)
    assert not np.allclose(first, again)  # attacked again (the next epoch): fresh draws


def test_skips_misclassified_and_fails_without_substitutes():
    victim = load_victim(lexicon_proba, ["negative", "positive"])
    assert _attack().attack(victim, "a bad film", label=1).status == "skipped"
    result = _attack().attack(victim, "a good thing", label=0)  # misclassified? p(pos) high, gold 0: skipped
    assert result.status == "skipped"
    nothing = _attack().attack(victim, "the decent plot", label=1)  # no substitutes for these words
    assert nothing.status == "failed" and nothing.reason == "no substitutes" and nothing.queries == 1


def test_samples_keep_polarity_under_same_polarity():
    victim = load_victim(lexicon_proba, ["negative", "positive"])
    free, kept = _attack(samples=32, rate=1.0), Attack(table, [RepeatModification(), SamePolarity()], RandomSampling(32, 0))
    text = "good fun , great film"
    assert free.attack(victim, text, label=1).status == "successful"  # "awful" and "dull" flip it
    result = kept.attack(victim, text, label=1)
    assert result.status == "failed" and result.modified  # the hardest sample it may draw, none opposite
    swaps = zip(WordText.from_text(text).words, WordText.from_text(result.adversarial).words)
    assert not any(opposite_polarity(old, new) for old, new in swaps)


def test_adversarial_training_with_random_sampling(tiny_encoder, toy_csv, tmp_path):
    result = robustune.train(data=str(toy_csv), output_dir=str(tmp_path / "m"), model=tiny_encoder, epochs=2,
                             batch_size=8, lr=1e-3, seed=2, progress=False, adversarial="deepwordbug",
                             adversarial_fraction=0.25, adversarial_search="random", adversarial_samples=4)
    epochs = result.train_metrics["adversarial_epochs"]
    assert [e["epoch"] for e in epochs] == [1] and epochs[0]["attacked"] == 12
    config = json.loads((tmp_path / "m" / "config.json").read_text())["robustune"]["training"]
    assert config["adversarial_search"] == "random" and config["adversarial_samples"] == 4


def test_cli_flags_and_errors(tiny_encoder, toy_csv, tmp_path, capsys):
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--output", str(tmp_path / "m"),
                 "--epochs", "2", "--adversarial", "deepwordbug", "--adversarial-search", "random",
                 "--adversarial-samples", "3", "--adversarial-fraction", "0.1"]) == 0
    training = json.loads((tmp_path / "m" / "config.json").read_text())["robustune"]["training"]
    assert training["adversarial_samples"] == 3
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--output", str(tmp_path / "bad"),
                 "--adversarial", "deepwordbug", "--adversarial-samples", "0"]) == 2
    assert "--adversarial-samples must be positive" in capsys.readouterr().err
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--output", str(tmp_path / "bad"),
                 "--adversarial", "deepwordbug", "--adversarial-keep-polarity"]) == 2
    assert "--adversarial-keep-polarity applies to textfooler, bert-attack" in capsys.readouterr().err
    with pytest.raises(robustune.RobustuneError, match="samples"):
        RandomSampling(0)


def test_samples_perturb_a_random_number_of_words():
    rng = np.random.default_rng(0)
    text = WordText.from_text("good fun film great good fun")
    rules = [RepeatModification(), MaxModificationRate(1.0)]
    proposals = {i: table(text, i) for i in range(len(text))}
    counts = {len(RandomSampling._sample(rng, text, list(range(len(text))), proposals, rules)[1]) for _ in range(60)}
    assert len(counts) >= 4 and max(counts) <= len(text)  # k drawn from 1..n, not always the budget


def test_random_search_slots_keep_the_hardest_sample_even_without_a_flip(tiny_encoder):
    from types import SimpleNamespace

    from robustune import RobustClassifier
    from robustune.attacks import build_recipe
    from robustune.modeling import ModelSettings
    from robustune.training.adversarial import AdversarialAugmentation, AugmentedDataset
    from robustune.training.features import EncodedDataset

    texts = ["a good film", "great fun and charming", "a bad film", "boring and dull", "wonderful acting", "awful mess"]
    labels = [1, 1, 0, 0, 1, 0]
    classifier = RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["negative", "positive"]))
    base = EncodedDataset(texts, labels, classifier.tokenizer, 32)
    results = {}
    for keep in (False, True):
        data = AugmentedDataset(base, slots=6, tokenizer=classifier.tokenizer, max_length=32, seed=0)
        attack = build_recipe("deepwordbug", seed=0)
        attack.search = RandomSampling(samples=2, seed=0)
        callback = AdversarialAugmentation(data, classifier, attack, seed=0, keep_unflipped=keep)
        callback.on_epoch_begin(None, SimpleNamespace(epoch=1.0, log_history=[]), None)
        changed = sum(t != texts[i] for t, i in zip(data.slot_texts, data.sources))
        results[keep] = (changed, callback.history[0]["adversarial"])
    assert results[False][0] == results[False][1]  # A2T's rule: successful attacks only
    assert results[True][0] > results[True][1]  # random sampling: the hardest sample, flip or not
