"""Concurrent attacking (attacks/concurrent.py): same results as one at a time, fewer and fuller forwards,
errors raised in the caller's thread, no thread left behind."""

import threading

import numpy as np
import pytest

from robustune.attacks import Attack, load_victim, run_attack
from robustune.attacks.concurrent import attack_many
from robustune.attacks.constraints import MaxModificationRate, RepeatModification, StopWords
from robustune.attacks.search import GreedyWordImportance
from robustune.attacks.victim import Victim, torch_victim
from robustune.data import TextDataset
from robustune.testing import lexicon_proba

from test_attacks import NAMES, BagOfWords, table_generator

TEXTS = ["a good film", "great fun", "bad and awful", "a dull film", "good , great and fun", "awful film",
         "good good film", "fun and great film", "a bad film", "great"]
LABELS = [1, 1, 0, 0, 1, 1, 1, 1, 0, 1]
STABLE = ("status", "adversarial", "modified", "substitutions", "queries", "requested", "original_probabilities",
          "adversarial_probabilities", "exact_queries", "overturned")


def attack():
    return Attack(table_generator, [StopWords(), RepeatModification(), MaxModificationRate(0.5)])


class Recording(Victim):
    """A lexicon victim that records the size of every call it gets."""

    def __init__(self, fail_on: str | None = None):
        super().__init__(self.proba, NAMES, batch_size=1000)
        self.calls: list[int] = []
        self.fail_on = fail_on

    def proba(self, texts):
        self.calls.append(len(texts))
        if self.fail_on in texts:
            raise RuntimeError(f"victim failed on {self.fail_on!r}")
        return lexicon_proba(texts)


def _stable(results):
    return [{k: r.to_dict()[k] for k in STABLE} for r in results]


@pytest.mark.parametrize("concurrency", [2, 4, 16])
def test_concurrent_results_equal_one_at_a_time_with_fewer_forwards(concurrency):
    one, many = Recording(), Recording()
    alone = list(attack_many(attack(), one, zip(TEXTS, LABELS), concurrency=1))
    together = list(attack_many(attack(), many, zip(TEXTS, LABELS), concurrency=concurrency))
    assert _stable(together) == _stable(alone)  # same texts, verdicts and query counts, in the same order
    assert sum(many.calls) == sum(one.calls)  # every text still scored once
    assert len(many.calls) < len(one.calls) and max(many.calls) > max(one.calls)  # in fewer, fuller calls
    # each example's share of the forwards adds up to the forwards run
    assert sum(r.forwards for r in together) == pytest.approx(many.forwards, abs=1e-3)
    assert all(r.seconds >= r.victim_seconds >= 0 for r in together)
    assert not [t for t in threading.enumerate() if t.name.startswith("robustune-attack")]  # none left


def test_a_round_scores_the_requests_of_every_running_search_in_one_call():
    victim = Recording()
    texts, labels = ["great"] * 4, [1] * 4  # one word each: the original, then the leave-one-out, ...
    list(attack_many(attack(), victim, zip(texts, labels), concurrency=4))
    assert victim.calls[0] == 4  # the four originals in one call


def test_fp32_checks_of_a_bf16_search_are_shared_and_still_overturn():
    model = BagOfWords()
    generator = {"good": ["fine"], "film": ["dull"]}
    make = lambda: Attack(lambda text, i: generator.get(text.words[i], []), [RepeatModification()],  # noqa: E731
                          GreedyWordImportance("unk"))
    items = [("good film", 1)] * 3 + [("dull film", 0)]
    fast = lambda: torch_victim(lambda net, texts: net.predict_proba(texts), model, NAMES, precision="bf16")  # noqa: E731
    alone = list(attack_many(make(), fast(), items, concurrency=1))
    together = list(attack_many(make(), fast(), items, concurrency=4))
    assert _stable(together) == _stable(alone)
    assert [r.overturned for r in together] == [1, 1, 1, 0]
    assert [r.adversarial for r in together[:3]] == ["fine dull"] * 3


def test_run_attack_with_concurrency_writes_the_same_records(tmp_path):
    data = TextDataset(TEXTS, [NAMES[y] for y in LABELS], "toy")
    one = run_attack(attack(), load_victim(lexicon_proba, NAMES), data, tmp_path / "one", progress=False)
    many = run_attack(attack(), load_victim(lexicon_proba, NAMES), data, tmp_path / "many", progress=False,
                      concurrency=4)
    timing = ("seconds_per_example", "victim_seconds_per_example", "forwards_per_second")
    assert {k: v for k, v in many.items() if k not in timing} == {k: v for k, v in one.items() if k not in timing}
    read = lambda p: [{k: v for k, v in r.items() if k in STABLE + ("index",)}  # noqa: E731
                      for r in map(__import__("json").loads, (p / "examples.jsonl").read_text().splitlines())]
    assert read(tmp_path / "many") == read(tmp_path / "one")


def test_a_failing_victim_raises_in_the_callers_thread_and_ends_every_search():
    victim = Recording(fail_on="great fun")
    with pytest.raises(RuntimeError, match="victim failed"):
        list(attack_many(attack(), victim, zip(TEXTS, LABELS), concurrency=4))
    assert not [t for t in threading.enumerate() if t.name.startswith("robustune-attack")]


def test_an_error_in_one_search_is_raised_and_ends_the_others():
    def generator(text, position):
        if text.words[position] == "awful":
            raise ValueError("generator broke")
        return table_generator(text, position)

    with pytest.raises(ValueError, match="generator broke"):
        list(attack_many(Attack(generator, [RepeatModification()]), Recording(), zip(TEXTS, LABELS), concurrency=3))
    assert not [t for t in threading.enumerate() if t.name.startswith("robustune-attack")]


def test_stopping_early_ends_the_threads():
    results = attack_many(attack(), Recording(), zip(TEXTS, LABELS), concurrency=4)
    first = next(results)
    assert first.status in ("successful", "failed", "skipped")
    results.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("robustune-attack")]


def test_a_torch_victim_gives_the_same_results_in_shared_batches(tiny_encoder):
    import robustune
    from robustune.attacks import build_recipe
    from robustune.modeling import RobustClassifier

    classifier = RobustClassifier.from_encoder(tiny_encoder, robustune.modeling.ModelSettings(label_names=NAMES))
    items = [("a good and fun film", 1), ("the plot was dull", 0), ("great acting", 1), ("it was bad", 0)]
    alone = list(attack_many(build_recipe("deepwordbug", seed=0), load_victim(classifier, precision="fp32"), items, 1))
    together = list(attack_many(build_recipe("deepwordbug", seed=0), load_victim(classifier, precision="fp32"),
                                items, 4))
    assert [(r.status, r.adversarial, r.queries) for r in together] == [(r.status, r.adversarial, r.queries)
                                                                        for r in alone]
    np.testing.assert_allclose([r.adversarial_probabilities for r in together],
                               [r.adversarial_probabilities for r in alone], atol=1e-5)
