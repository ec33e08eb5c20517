"""Attacks on a lexicon victim (a plain function) and on a tiny model: text, search, goal, runner, CLI."""

import json
import time

import numpy as np
import pytest
import torch

from robustune import RobustuneError
from robustune.attacks import Attack, WordText, build_recipe, load_victim, run_attack
from robustune.attacks.constraints import (CandidateConstraint, MaxEditDistance, MaxModificationRate,
                                           RepeatModification, SamePolarity, SearchState,
                                           SentenceSimilarity, StopWords, check_all)
from robustune.attacks.sentiment import opposite_polarity, vader_valence
from robustune.attacks.goal import Goal, QueryBudgetExhausted
from robustune.attacks.search import GreedyWordImportance
from robustune.attacks.victim import Victim, native_bf16, resolve_precision, torch_victim
from robustune.data import TextDataset
from robustune.testing import lexicon_proba

NAMES = ["negative", "positive"]


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
    assert goal.requested == 4  # TextAttack's count: every text asked for, cache hits included
    assert goal.affordable(["good", "fine", "okay"]) == 2  # "good" is cached; one new text fits
    with pytest.raises(QueryBudgetExhausted):
        goal.probabilities(["fine", "okay"])
    assert goal.queries == 2 and victim.queries == 2  # nothing is sent for a batch that does not fit


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


def test_polarity_lexicon_and_constraint():
    assert vader_valence()["great"] > 0 > vader_valence()["awful"] and len(vader_valence()) > 7000
    assert opposite_polarity("fun", "sick") and opposite_polarity("Good", "BAD")
    assert not opposite_polarity("good", "fine") and not opposite_polarity("lacks", "great")  # "lacks": unrated
    original = WordText.from_text("a good film , great fun")
    candidates = [original.replace(1, "fine"), original.replace(1, "bad"), original.replace(2, "mess"),
                  original.replace(3, "fine").replace(4, "sick")]
    assert list(SamePolarity().keep(original, candidates)) == [True, False, True, False]


def test_same_polarity_keeps_the_search_off_opposite_words(tiny_mlm):
    victim = load_victim(lexicon_proba, NAMES)
    free = Attack(table_generator, [RepeatModification()]).attack(victim, "great", label=1)
    assert free.status == "successful" and free.adversarial == "awful"  # the only flip: the opposite word
    kept = Attack(table_generator, [RepeatModification(), SamePolarity()]).attack(victim, "great", label=1)
    assert kept.status == "failed" and kept.adversarial in ("fine", "okay")
    for recipe in ("textfooler", "bert-attack"):
        kept = build_recipe(recipe, mlm=tiny_mlm, keep_polarity=True)
        assert sum(isinstance(c, SamePolarity) for c in kept.constraints) == 1
        assert not any(isinstance(c, SamePolarity) for c in build_recipe(recipe, mlm=tiny_mlm).constraints)
    with pytest.raises(RobustuneError, match="keep_polarity applies"):
        build_recipe("deepwordbug", keep_polarity=True)


def test_sentence_similarity_cache_trimming_keeps_the_texts_of_the_call():
    """An original text cached long ago and trimmed out while its new candidates are added is still
    scored (a long adversarial-training run once failed here with a KeyError)."""
    sim = SentenceSimilarity(threshold=0.5, precision="fp32")
    sim.cache_limit, sim.cache_keep = 4, 2
    encoded = []

    def encode(texts, exact):  # a fake encoder: unit vectors that depend on the text's length only
        encoded.extend(texts)
        return np.stack([np.array([np.cos(len(t)), np.sin(len(t))]) for t in texts])

    sim._encode = encode
    original = WordText.from_text("a good film")
    first = sim.similarity(original, [original.replace(1, "fine")])
    later = sim.similarity(original, [original.replace(1, w) for w in ("great", "nice", "neat", "swell")])
    assert first.shape == (1,) and later.shape == (4,)
    np.testing.assert_allclose(later[0], np.cos(len("a great film") - len("a good film")))
    assert encoded.count("a good film") == 1  # the original came from the cache, then was trimmed
    assert len(sim._cache) <= sim.cache_limit
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


# ---- fp32 verification of a bf16 search (issue 26) --------------------------------------------------
class BagOfWords(torch.nn.Module):
    """p(positive) = sigmoid(sum of the words' weights - THRESHOLD), the weights a Linear layer (which
    autocast runs in bf16). "fine" weighs 1 + 2^-9: bf16 rounds it to 1.0, below the threshold
    1 + 2^-10, so "fine film" is positive for the fp32 model and negative under bf16 autocast."""

    VOCAB = {"good": 3.0, "fine": 1.0 + 2 ** -9, "dull": -2.0, "film": 0.0}
    THRESHOLD = 1.0 + 2 ** -10

    def __init__(self):
        super().__init__()
        self.weights = torch.nn.Linear(len(self.VOCAB), 1, bias=False)
        with torch.no_grad():
            self.weights.weight.copy_(torch.tensor([list(self.VOCAB.values())]))

    @torch.inference_mode()
    def predict_proba(self, texts):
        counts = torch.zeros(len(texts), len(self.VOCAB))  # (N, V)
        for row, text in enumerate(texts):
            for word in WordText.from_text(text).words:
                if word in self.VOCAB:
                    counts[row, list(self.VOCAB).index(word)] += 1
        p = torch.sigmoid(self.weights(counts).float()[:, 0] - self.THRESHOLD)  # (N,)
        return torch.stack([1 - p, p], dim=1).numpy()


def test_fp32_check_overturns_a_bf16_flip_and_the_search_goes_on():
    model = BagOfWords()
    generator = {"good": ["fine"], "film": ["dull"]}
    attack = Attack(lambda text, i: generator.get(text.words[i], []), [RepeatModification()],
                    GreedyWordImportance("unk"))
    fast = torch_victim(lambda net, texts: net.predict_proba(texts), model, NAMES, precision="bf16")
    assert fast.has_fast_path and fast.precision == "bf16"
    assert fast(["fine film"])[0].argmax() == 0 and fast.exact(["fine film"])[0].argmax() == 1  # they disagree
    exact = torch_victim(lambda net, texts: net.predict_proba(texts), model, NAMES, precision="fp32")
    assert not exact.has_fast_path
    # Without the check, the bf16 search would stop at "fine film", which the fp32 model calls positive.
    unchecked = Attack(attack.generator, attack.constraints, attack.search).attack(
        Victim(fast.predict_proba, NAMES), "good film", label=1)
    assert unchecked.status == "successful" and unchecked.adversarial == "fine film"
    result = attack.attack(fast, "good film", label=1)
    reference = attack.attack(exact, "good film", label=1)
    assert result.overturned == 1 and reference.overturned == 0
    assert (result.status, result.adversarial, result.modified) == \
        (reference.status, reference.adversarial, reference.modified) == ("successful", "fine dull", [0, 1])
    assert result.adversarial_probabilities == reference.adversarial_probabilities  # the fp32 model's
    # fp32 checks: the original with the first flip ("fine film") in one forward, then "fine dull"
    assert result.exact_queries == 3 and result.forwards == reference.forwards + 2
    assert result.queries == reference.queries + 3 and result.requested == reference.requested


def test_precision_resolves_from_the_hardware():
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("auto", "cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    with pytest.raises(RobustuneError, match="precision"):
        resolve_precision("fp16", "cpu")


def test_the_last_batch_cut_by_the_budget_keeps_its_flip():
    victim = load_victim(lexicon_proba, NAMES)
    generator = {"good": ["bad", "fine", "okay"]}
    attack = Attack(lambda text, i: generator.get(text.words[i].lower(), []), [], GreedyWordImportance("delete"),
                    query_budget=4)  # the original, two deletions, then one of the three candidates
    result = attack.attack(victim, "good film", label=1)
    assert result.status == "successful" and result.adversarial == "bad film" and result.queries == 4
    short = Attack(attack.generator, [], attack.search, query_budget=3).attack(victim, "good film", label=1)
    assert short.status == "failed" and short.reason == "query budget" and short.queries == 3


def test_textfooler_importance_matches_the_paper():
    original = np.array([0.2, 0.5, 0.3])  # gold = 1
    left_out = np.array([[0.1, 0.8, 0.1],   # no flip: 0.5 - 0.8
                         [0.6, 0.3, 0.1],   # flips to 0: (0.5 - 0.3) + (0.6 - 0.2)
                         [0.2, 0.35, 0.45]])  # flips to 2: (0.5 - 0.35) + (0.45 - 0.3)
    np.testing.assert_allclose(GreedyWordImportance("delete").importance_scores(original, left_out, 1),
                               [-0.3, 0.6, 0.3])
    np.testing.assert_allclose(GreedyWordImportance("unk").importance_scores(original, left_out, 1),
                               [-0.3, 0.2, 0.15])


def test_modification_cap_is_exact():
    from fractions import Fraction

    for rate in (0.1, 0.29, 0.3, 0.4, 0.57, 1.0):
        for n in range(1, 301):
            naive = max(1, (round(rate * 100) * n) // 100)  # integer arithmetic: the rate in hundredths
            assert MaxModificationRate(rate).limit(n) == naive, (rate, n)
    assert MaxModificationRate(0.29).limit(100) == 29 and int(0.29 * 100) == 28
    assert [MaxModificationRate(0.4).limit(n) for n in (1, 2, 3, 5)] == [1, 1, 1, 2]  # one word always may change
    assert Fraction(str(0.4)) == Fraction(2, 5)


class RecordingConstraint(CandidateConstraint):
    """Wraps a real candidate constraint and remembers every candidate text it rejected."""

    def __init__(self, inner):
        self.inner, self.rejected = inner, set()

    def keep(self, original, candidates):
        keep = self.inner.keep(original, candidates)
        self.rejected |= {str(c) for c, k in zip(candidates, keep) if not k}
        return keep


def test_candidates_rejected_by_a_constraint_are_never_sent_to_the_victim():
    sent = []

    def recording_proba(texts):
        sent.extend(texts)
        return lexicon_proba(texts)

    # Levenshtein distances from "bad": bat 1, bda 2 (kept by a limit of 2); good 3, fine 4 (rejected; both would flip).
    edit = RecordingConstraint(MaxEditDistance(2))
    generator = {"bad": ["bat", "good", "bda", "fine"]}
    attack = Attack(lambda text, i: generator.get(text.words[i], []), [RepeatModification(), edit],
                    GreedyWordImportance("delete"))
    result = attack.attack(load_victim(recording_proba, NAMES), "a bad film", label=0)
    assert edit.rejected == {"a good film", "a fine film"}  # the constraint did reject, so the test can tell
    assert not edit.rejected & set(sent)
    assert {"a bat film", "a bda film"} <= set(sent)
    assert result.status == "failed" and result.adversarial in ("a bat film", "a bda film")


class CountingConstraint(CandidateConstraint):
    def __init__(self, inner, lazy):
        self.inner, self.lazy, self.checked = inner, lazy, 0

    def keep(self, original, candidates):
        self.checked += len(candidates)
        return self.inner.keep(original, candidates)


def test_a_lazy_constraint_picks_what_the_eager_one_picks_with_fewer_checks():
    generator = {"good": ["fine", "decent", "okay", "bad"], "great": ["fine", "okay", "awful", "dull"],
                 "fun": ["okay", "dull"], "film": ["movie", "flim"], "bad": ["dull", "fine", "good"]}
    texts = ["a good and fun film , great", "great great film", "good fun", "a bad film", "fun film , good"]
    checked = {}
    for lazy in (False, True):
        rule = CountingConstraint(MaxEditDistance(4), lazy)
        attack = Attack(lambda text, i: generator.get(text.words[i], []), [RepeatModification(), rule],
                        GreedyWordImportance("delete"))
        victim = load_victim(lexicon_proba, NAMES)
        checked[lazy] = ([(r.status, r.adversarial, r.modified) for r in
                          (attack.attack(victim, t, label=int(lexicon_proba([t])[0].argmax())) for t in texts)],
                         rule.checked, victim.queries)
    (eager, eager_checks, eager_queries), (lazy, lazy_checks, lazy_queries) = checked[False], checked[True]
    assert lazy == eager and any(status == "successful" for status, _, _ in eager)
    assert lazy_checks < eager_checks and lazy_queries > eager_queries


def test_whether_an_example_is_skipped_is_the_fp32_models_verdict():
    model = BagOfWords()
    generator = {"fine": ["dull"], "film": ["dull"]}
    attack = Attack(lambda text, i: generator.get(text.words[i], []), [RepeatModification()],
                    GreedyWordImportance("unk"))
    for precision in ("bf16", "fp32"):
        victim = torch_victim(lambda net, texts: net.predict_proba(texts), model, NAMES, precision=precision)
        # fp32 calls "fine film" positive, bf16 negative: gold negative is misclassified by fp32 ...
        skipped = attack.attack(victim, "fine film", label=0)
        assert skipped.status == "skipped" and skipped.adversarial == "fine film", precision
        # ... and gold positive is classified correctly by fp32, so it is attacked.
        attacked = attack.attack(victim, "fine film", label=1)
        assert attacked.status == "successful" and attacked.original_probabilities[1] > 0.5, precision


def test_victim_batches_texts_by_length_and_keeps_the_callers_order():
    batches = []

    def recording_proba(texts):
        batches.append([len(t) for t in texts])
        return lexicon_proba(texts)

    texts = ["a great and fun film", "bad", "a good film", "awful", "the dull and boring film , okay"]
    probs = load_victim(recording_proba, NAMES, batch_size=2)(texts)
    np.testing.assert_allclose(probs, lexicon_proba(texts), rtol=1e-6)
    assert batches == [[3, 5], [11, 20], [31]]  # sorted by length, so a batch pads little


def test_similarity_fast_path_rechecks_the_threshold_band_in_fp32(tiny_encoder):
    original = WordText.from_text("a good film and a fine story")
    candidates = [original.replace(i, w) for i in (1, 2, 4) for w in ("bad", "great", "movie", "dull")]
    cosines = SentenceSimilarity(0.0, encoder=tiny_encoder, precision="fp32").similarity(original, candidates)
    raw = SentenceSimilarity(0.0, encoder=tiny_encoder, precision="bf16").similarity(original, candidates)
    below = np.flatnonzero(raw < cosines)  # candidates whose cosine bf16 puts lower than fp32 does
    assert len(below)
    threshold = float(cosines[below[0]])  # fp32 keeps that candidate (>=), raw bf16 would not
    fp32 = SentenceSimilarity(threshold, encoder=tiny_encoder, precision="fp32").keep(original, candidates)
    assert fp32[below[0]] and not raw[below[0]] >= threshold
    fast = SentenceSimilarity(threshold, encoder=tiny_encoder, precision="bf16", band=0.02)
    assert list(fast.keep(original, candidates)) == list(fp32)  # the band is re-judged in fp32
    no_band = SentenceSimilarity(threshold, encoder=tiny_encoder, precision="bf16", band=0.0)
    assert list(no_band.keep(original, candidates)) == list(raw >= threshold)
