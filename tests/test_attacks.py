"""Attacks on a lexicon victim (a plain function) and on a tiny model: text, search, goal, runner, CLI."""

import json
import math
import time

import numpy as np
import pytest

from robustune import RobustuneError
from robustune.attacks import Attack, WordText, build_recipe, load_victim, run_attack
from robustune.attacks.constraints import (MaxEditDistance, MaxModificationRate, RepeatModification, SearchState,
                                           SentenceSimilarity, StopWords, check_all)
from robustune.attacks.goal import Goal, QueryBudgetExhausted
from robustune.attacks.search import GreedyWordImportance
from robustune.data import TextDataset

LEXICON = {"good": 2.0, "great": 2.5, "fine": 0.4, "decent": 0.3, "bad": -2.0, "awful": -2.5, "dull": -1.5,
           "boring": -1.5, "fun": 1.0, "okay": 0.1, "film": 0.0}
NAMES = ["negative", "positive"]


def lexicon_proba(texts):
    """p(positive) = sigmoid(sum of the words' scores)."""
    out = []
    for text in texts:
        score = sum(LEXICON.get(w.lower(), 0.0) for w in WordText.from_text(text).words)
        p = 1 / (1 + math.exp(-score))
        out.append([1 - p, p])
    return np.array(out)


SUBSTITUTES = {"good": ["fine", "decent", "okay"], "great": ["fine", "okay", "awful"], "fun": ["okay"],
               "bad": ["dull", "fine"], "awful": ["boring", "okay"], "film": ["movie"]}


def table_generator(text, position):
    return SUBSTITUTES.get(text.words[position].lower(), [])


def test_word_text_round_trip_and_edits():
    text = WordText.from_text("  It's a well-made film, really!  ")
    assert text.words == ("It's", "a", "well-made", "film", "really")
    assert str(text) == "  It's a well-made film, really!  "
    assert str(text.replace(3, "movie")) == "  It's a well-made movie, really!  "
    assert str(text.delete(1)) == "  It's well-made film, really!  "


def test_goal_caches_and_counts_queries():
    victim = load_victim(lexicon_proba, NAMES)
    goal = Goal(victim, gold=1, query_budget=3)
    goal.probabilities(["good", "bad", "good"])
    goal.probabilities(["good"])
    assert goal.queries == 2 and victim.queries == 2
    with pytest.raises(QueryBudgetExhausted):
        goal.probabilities(["fine", "okay"])


def test_victim_times_its_forwards_apart_from_the_search():
    def slow_proba(texts):
        time.sleep(0.02)
        return lexicon_proba(texts)

    victim = load_victim(slow_proba, NAMES, batch_size=2)
    victim(["good", "bad", "fun"])  # two forwards
    assert victim.forwards == 2 and victim.seconds >= 0.04
    result = Attack(table_generator, [StopWords()]).attack(victim, "a good film", label=1)
    assert 0.02 * result.forwards <= result.victim_seconds <= result.seconds


def test_search_flips_label_and_respects_constraints():
    victim = load_victim(lexicon_proba, NAMES)
    constraints = [StopWords(), RepeatModification(), MaxModificationRate(0.5)]
    attack = Attack(table_generator, constraints, GreedyWordImportance("delete"))
    result = attack.attack(victim, "a good and fun film , great", label=1)
    assert result.status == "successful"
    assert int(np.argmax(lexicon_proba([result.adversarial])[0])) != 1  # the label really flips
    assert attack.satisfies_constraints(result)
    assert result.modified and all(WordText.from_text(result.original).words[i] not in ("a", "and")
                                   for i in result.modified)
    # Importance: one query for the original + one batch for all positions, then candidates.
    assert result.queries == victim.queries


def test_search_keeps_best_candidate_and_gives_up_within_budget():
    victim = load_victim(lexicon_proba, NAMES)
    # Only one of four words may change: that lowers p(positive) but cannot flip it.
    attack = Attack(table_generator, [MaxModificationRate(0.25), RepeatModification()])
    result = attack.attack(victim, "great great great great", label=1)
    assert result.status == "failed" and len(result.modified) == 1  # the best text it reached, and where
    assert attack.satisfies_constraints(result) and result.adversarial != result.original
    assert "no flip" in result.reason
    assert attack.attack(victim, "awful film", label=1).status == "skipped"
    budget = Attack(table_generator, [], query_budget=2).attack(victim, "a good and fun film , great", label=1)
    assert budget.status == "failed" and budget.reason == "query budget" and budget.queries <= 2


def test_position_constraints():
    text = WordText.from_text("the film was not good at all")
    state = SearchState(text, text, {1})
    assert not StopWords().allows(state, 0) and StopWords().allows(state, 4)
    lone = WordText.from_text("the year 's best")
    assert not StopWords().allows(SearchState(lone, lone), 2)
    assert not RepeatModification().allows(state, 1) and RepeatModification().allows(state, 4)
    rate = MaxModificationRate(0.3)  # 7 words -> at most 2
    assert rate.allows(state, 4)
    state.modified.add(4)
    assert not rate.allows(state, 6) and rate.allows(state, 4)
    with pytest.raises(RobustuneError):
        MaxModificationRate(1.5)


def test_candidate_constraints(tiny_encoder):
    original = WordText.from_text("a good film")
    same, other = original.replace(1, "good"), original.replace(1, "bad")
    sim = SentenceSimilarity(threshold=0.999, encoder=tiny_encoder)
    keep = sim.keep(original, [same, other])
    assert keep[0] and not keep[1]
    assert not SentenceSimilarity(threshold=1.01, encoder=tiny_encoder).keep(original, [same]).any()
    assert list(MaxEditDistance(1).keep(original, [original.replace(1, "goad"), original.replace(1, "bad")])) == \
        [True, False]
    assert check_all([StopWords(), MaxModificationRate(0.4)], original, other, {1})
    assert not check_all([StopWords()], original, original.replace(0, "the"), {0})


def naive_levenshtein(a: str, b: str) -> int:
    """The textbook dynamic programme, the reference for MaxEditDistance."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_edit_distance_matches_the_naive_reference():
    assert naive_levenshtein("kitten", "sitting") == 3
    rng = np.random.default_rng(0)
    original = WordText.from_text("the quick brown fox jumps over the lazy dog again")
    candidates = []
    for _ in range(40):  # random character edits of random words, as deepwordbug makes them
        words = list(original.words)
        for i in rng.choice(len(words), size=int(rng.integers(1, 4)), replace=False):
            chars = list(words[i])
            chars[int(rng.integers(len(chars)))] = "xyz"[int(rng.integers(3))] * int(rng.integers(0, 3))
            words[i] = "".join(chars) or "q"
        candidates.append(WordText(tuple(words), original.gaps))
    for limit in (0, 2, 5, 30):
        expected = [naive_levenshtein(str(original), str(c)) <= limit for c in candidates]
        assert list(MaxEditDistance(limit).keep(original, candidates)) == expected
    assert len({naive_levenshtein(str(original), str(c)) for c in candidates}) > 3  # the limits really cut


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_attack_writes_outputs_and_resumes(tmp_path):
    texts = ["a good film", "great fun", "bad and awful", "a dull film", "good , great and fun", "awful film"]
    data = TextDataset(texts, ["positive", "positive", "negative", "negative", "positive", "positive"], "toy")
    attack = Attack(table_generator, [StopWords(), RepeatModification(), MaxModificationRate(0.5)])
    full = run_attack(attack, load_victim(lexicon_proba, NAMES), data, tmp_path / "full", progress=False)
    assert full["counts"] == {"successful": 2, "failed": 3, "skipped": 1}
    assert full["clean_accuracy"] == pytest.approx(5 / 6)
    assert full["accuracy_under_attack"] == pytest.approx(3 / 6)
    assert full["attack_success_rate"] == pytest.approx(2 / 5)
    assert 0 <= full["victim_seconds_per_example"] <= full["seconds_per_example"]
    assert "**" in (tmp_path / "full" / "report.md").read_text()

    # An interruption after three examples, with a torn fourth line: resume loses nothing.
    part = tmp_path / "part"
    run_attack(attack, load_victim(lexicon_proba, NAMES), data, part, progress=False)
    lines = (part / "examples.jsonl").read_text().splitlines()
    (part / "examples.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:20])
    victim = load_victim(lexicon_proba, NAMES)
    resumed = run_attack(attack, victim, data, part, resume=True, progress=False)
    timing = ("seconds_per_example", "victim_seconds_per_example", "forwards_per_second")
    assert victim.queries > 0
    assert {k: v for k, v in resumed.items() if k not in timing} == {k: v for k, v in full.items() if k not in timing}
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("seconds", "victim_seconds")} for r in rs]  # noqa: E731
    assert strip(_records(part / "examples.jsonl")) == strip(_records(tmp_path / "full" / "examples.jsonl"))
    with pytest.raises(RobustuneError, match="--resume"):
        run_attack(attack, load_victim(lexicon_proba, NAMES), data, part, progress=False)


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(RobustuneError, match="unknown attack recipe"):
        build_recipe("nope")
    with pytest.raises(RobustuneError, match="label_names"):
        load_victim(lexicon_proba)
    with pytest.raises(RobustuneError, match="not a model directory"):
        load_victim(tmp_path)
    data = TextDataset(["a good film"], ["neutral"], "toy")
    with pytest.raises(RobustuneError, match="neutral"):
        run_attack(Attack(table_generator, []), load_victim(lexicon_proba, NAMES), data, tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing written for a bad label
    # A digit label is a position only for HF's placeholder names, never a guess among real names.
    digits = TextDataset(["a good film"], ["1"], "toy")
    with pytest.raises(RobustuneError, match="label '1' is not one the model knows"):
        run_attack(Attack(table_generator, []), load_victim(lexicon_proba, NAMES), digits, tmp_path / "o")
    placeholders = load_victim(lexicon_proba, ["LABEL_0", "LABEL_1"])
    assert run_attack(Attack(table_generator, []), placeholders, digits, tmp_path / "p", progress=False)["num_examples"] == 1
    with pytest.raises(RobustuneError, match="masked LM"):
        build_recipe("bert-attack", mlm=str(tmp_path / "missing"))


def test_cache_saves_queries_without_changing_the_result():
    cached, uncached = load_victim(lexicon_proba, NAMES), load_victim(lexicon_proba, NAMES)
    constraints = [StopWords(), RepeatModification(), MaxModificationRate(0.5)]
    text = "great great great great"  # deleting any word gives the same text
    a = Attack(table_generator, constraints).attack(cached, text, label=1)
    b = Attack(table_generator, constraints, cache=False).attack(uncached, text, label=1)
    assert (a.adversarial, a.status, a.modified) == (b.adversarial, b.status, b.modified)
    assert b.queries > a.queries
