"""safer: the substitution math against a naive reference, the perturbation table, training on perturbed
inputs, the vote (deterministic, batch-independent, shares summing to 1), save/load with its table, the
CLI, and attacks on the smoothed model counting N forwards per query."""

import json

import numpy as np
import pytest
import torch

import robustune
from conftest import attack_counting_forwards, check_saved_smoothing
from robustune import RobustClassifier, RobustuneError
from robustune.cli import main
from robustune.methods import get_method
from robustune.modeling.smoothing import (SubstitutionVote, substitute_tokens, substitution_table, whole_words,
                                          word_piece_continuations)

TEXTS = ["a good film", "boring and dull", "the worst film this year", "i loved this movie and the music",
         "great fun", "an awful mess of a story"]


@pytest.fixture(scope="module")
def safer_model(tiny_encoder, tmp_path_factory):
    """A tiny safer model trained on the toy task, saved; (its folder, the training csv)."""
    from conftest import train_toy_model

    return train_toy_model(tiny_encoder, tmp_path_factory.mktemp("safer"), "safer",
                           {"synonyms": 8, "vote_samples": 8, "vote_seed": 5})


def naive_substitute(ids, eligible, sets, uniforms, keep=0.0):
    """One position at a time: with c options, swap when u < s = min(c/(c+1), 1 - keep), to option floor(u/s·c);
    with keep = 0 that is j = floor(u·(c+1)) over the set plus the word itself (last)."""
    out = ids.clone()
    for r in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            options = sets.get(int(ids[r, t]), []) if eligible[r, t] else []
            share = min(len(options) / (len(options) + 1), 1 - keep)
            u = float(uniforms[r, t])
            if u < share:
                out[r, t] = options[min(int(u / share * len(options)), len(options) - 1)]
    return out


def test_substitute_tokens_matches_a_naive_reference_and_is_uniform():
    sets = {5: [6, 7, 8], 6: [5], 9: [10, 11]}
    offsets = torch.tensor([0, 0, 0, 0, 0, 0, 3, 4, 4, 4, 6, 6, 6])  # vocabulary of 12
    candidates = torch.tensor([6, 7, 8, 5, 10, 11])
    ids = torch.tensor([[1, 5, 6, 9, 2, 0], [1, 9, 5, 5, 3, 2]])
    eligible = torch.tensor([[0, 1, 1, 1, 0, 0], [0, 1, 0, 1, 1, 0]]).bool()
    for keep in (0.0, 0.6, 1.0):
        for seed in range(5):
            out = substitute_tokens(ids, eligible, offsets, candidates, torch.Generator().manual_seed(seed), keep)
            uniforms = torch.rand(ids.shape, generator=torch.Generator().manual_seed(seed))
            assert torch.equal(out, naive_substitute(ids, eligible, sets, uniforms, keep))
            assert torch.equal(out[~eligible], ids[~eligible])  # only eligible tokens move
    many = substitute_tokens(torch.full((4000, 1), 5), torch.ones(4000, 1, dtype=torch.bool), offsets, candidates,
                             torch.Generator().manual_seed(0))
    counts = torch.bincount(many.flatten(), minlength=12)[[5, 6, 7, 8]].float() / 4000
    torch.testing.assert_close(counts, torch.full((4,), 0.25), atol=0.03, rtol=0)  # the word itself is one option
    kept = substitute_tokens(torch.full((4000, 1), 5), torch.ones(4000, 1, dtype=torch.bool), offsets, candidates,
                             torch.Generator().manual_seed(0), keep=0.7)
    counts = torch.bincount(kept.flatten(), minlength=12)[[5, 6, 7, 8]].float() / 4000
    torch.testing.assert_close(counts, torch.tensor([0.7, 0.1, 0.1, 0.1]), atol=0.03, rtol=0)  # the rest uniform
    empty = substitute_tokens(ids, eligible, torch.zeros(13, dtype=torch.long), torch.zeros(0, dtype=torch.long), None)
    assert torch.equal(empty, ids)


def test_whole_words_skip_pieces_and_padding():
    continuation = torch.tensor([False] * 6 + [True, True])  # ids 6 and 7 are '##' pieces
    ids = torch.tensor([[2, 4, 5, 6, 4, 3, 0], [2, 5, 7, 7, 3, 0, 0]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 0]])
    got = whole_words(ids, attention, continuation)
    assert got.tolist() == [[True, True, False, False, True, True, False], [True, False, False, False, True, False, False]]


class _Vocab:
    """A tokenizer's vocabulary interface, and nothing else."""

    all_special_ids = [0, 1]

    def get_vocab(self):
        return {"[PAD]": 0, "[CLS]": 1, "good": 2, "great": 3, "fine": 4, "##s": 5, "film": 6, "a": 7, "x1": 8}


def test_substitution_table_keeps_single_token_neighbours_only():
    lexicon = {"good": ["great", "goodish", "fine", "good", "great"], "film": ["movie"], "[CLS]": ["good"],
               "a": ["good"], "x1": ["good"]}
    offsets, candidates = substitution_table(_Vocab(), lambda word: lexicon.get(word, []))
    sets = {i: candidates[offsets[i]:offsets[i + 1]].tolist() for i in range(9)}
    assert sets[2] == [3, 4]  # "goodish" is not a token, "good" is the word itself, duplicates dropped
    assert sets[6] == []  # "movie" is not in the vocabulary
    assert sets[7] == [2]  # any alphabetic token asks the neighbour function (which leaves stop-words out)
    assert sets[1] == sets[8] == sets[5] == []  # special, non-alphabetic and '##' tokens get no set
    assert offsets.shape == (10,) and int(offsets[-1]) == len(candidates)
    assert word_piece_continuations(_Vocab()).nonzero().flatten().tolist() == [5]


class _SentimentVocab(_Vocab):
    """"boring", "bad" and "really" with GloVe neighbours of both polarities and none (VADER: boring -1.3,
    funny +1.9, pretty +2.2, silly +0.1, weird -0.7, stupid -2.4; bad -2.5, worse -2.1, unfortunately -1.4;
    really, little, bit, things, maybe unrated; definitely +1.7)."""

    def get_vocab(self):
        words = ["boring", "pretty", "funny", "silly", "weird", "stupid", "bad", "worse", "unfortunately",
                 "really", "little", "bit", "things", "maybe", "definitely"]
        return {"[PAD]": 0, "[CLS]": 1, "##s": 2, **{w: i + 3 for i, w in enumerate(words)}}


@pytest.mark.parametrize("method", ["safer", "dne"])
def test_polarity_filters_of_the_sets(method):
    from robustune.methods.safer import perturbation_sets

    tok = _SentimentVocab()
    vocab = tok.get_vocab()
    words = {i: w for w, i in vocab.items()}
    params = get_method(method).parse_params

    def set_of(word, **filters):
        offsets, candidates, _ = perturbation_sets(tok, params(filters), method)
        i = vocab[word]
        return [words[c] for c in candidates[offsets[i]:offsets[i + 1]].tolist()]

    keep, same = {"synonym_keep_polarity": True}, {"synonym_same_polarity": True}
    assert set_of("boring") == ["pretty", "funny", "silly", "weird", "stupid"]
    assert set_of("bad") == ["worse", "unfortunately", "really", "little", "bit", "things"]
    # keep_polarity drops the neighbours rated on the other side of neutral (silly at +0.1 too), and only them
    assert set_of("boring", **keep) == ["weird", "stupid"]
    assert set_of("bad", **keep) == set_of("bad")
    # same_polarity keeps a rated word's neighbours rated on its side; an unrated word keeps its whole set
    assert set_of("bad", **same) == ["worse", "unfortunately"]
    assert set_of("boring", **same) == ["weird", "stupid"]
    assert set_of("really", **same) == set_of("really") == ["maybe", "definitely"]
    # the method's own table (safer's sets, dne's first-order hull vertices) is the filtered one
    classifier = type("Stub", (), {"tokenizer": tok})()
    m = get_method(method)(params(same))
    m.setup(classifier, None)
    bad = vocab["bad"]
    if method == "safer":
        own = m._candidates[m._offsets[bad]:m._offsets[bad + 1]].tolist()
    else:
        offsets, vertices, first = m._hulls
        own = vertices[offsets[bad]:offsets[bad] + first[bad]].tolist()
    assert [words[i] for i in own] == ["worse", "unfortunately"]


def test_training_substitutes_words_from_their_sets(tiny_encoder):
    classifier = RobustClassifier.from_encoder(tiny_encoder, robustune.modeling.ModelSettings(label_names=["a", "b"]))
    method = get_method("safer")(get_method("safer").parse_params({"synonyms": 8}))
    method.setup(classifier, None)
    tok = classifier.tokenizer
    good = tok.convert_tokens_to_ids("good")
    options = set(method._candidates[method._offsets[good]:method._offsets[good + 1]].tolist())
    assert options and good not in options and all(tok.convert_ids_to_tokens(i).isalpha() for i in options)
    batch = classifier.tokenize(["good"] * 64 + ["the"])
    perturbed = method.altered(batch["input_ids"], batch["attention_mask"])
    assert set(perturbed[:64, 1].tolist()) <= options | {good} and len(set(perturbed[:64, 1].tolist())) > 1
    assert torch.equal(perturbed[:, 0], batch["input_ids"][:, 0])  # [CLS] stays
    assert perturbed[64, 1] == batch["input_ids"][64, 1]  # a stop-word has no set


def test_vote_is_deterministic_batch_independent_and_sums_to_one(safer_model):
    model = RobustClassifier.from_pretrained(safer_model[0])
    assert isinstance(model.smoothing, SubstitutionVote) and model.smoothing.samples == 8 and model.forwards_per_text == 8
    probs = model.predict_proba(TEXTS)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert set(np.round(probs.flatten() * 8, 6)) <= set(range(9))  # shares of 8 votes
    np.testing.assert_array_equal(probs, model.predict_proba(TEXTS))  # same seed, same votes
    np.testing.assert_array_equal(probs, np.concatenate([model.predict_proba([t]) for t in TEXTS]))
    np.testing.assert_array_equal(probs[::-1], model.predict_proba(TEXTS[::-1], batch_size=2))
    alone = model.smoothing.substituted_copies(model.tokenize([TEXTS[0]]))
    mixed = model.smoothing.substituted_copies(model.tokenize(TEXTS[:3]))
    assert torch.equal(alone, mixed[:8, : alone.shape[1]])  # a row's copies ignore the rest of the batch
    assert len({tuple(r) for r in alone.tolist()}) > 1  # the copies differ
    before = model.smoothing.substituted_copies(model.tokenize(TEXTS))
    model.configure_smoothing(seed=6)
    assert not torch.equal(before, model.smoothing.substituted_copies(model.tokenize(TEXTS)))
    with pytest.raises(RobustuneError, match="mask_rate"):
        model.configure_smoothing(mask_rate=0.3)  # a mask vote's setting


def test_saved_model_reloads_with_its_table_and_predictions(safer_model, tmp_path):
    check_saved_smoothing(*safer_model, tmp_path, TEXTS,
                          {"kind": "substitution-vote", "samples": 8, "seed": 5, "keep": 0.0},
                          lambda name: name.startswith("smoothing."), "perturbation table")


def test_attack_on_safer_counts_n_forwards_per_query(safer_model, tmp_path):
    per_query, sequences, records, _ = attack_counting_forwards(safer_model[0], tmp_path / "a")
    assert per_query == 8
    assert sequences == 8 * sum(r["queries"] for r in records)  # the vote itself was attacked


def test_cli_train_predict_attack(tiny_encoder, toy_csv, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--method", "safer", "--output", str(out),
                 "--epochs", "1", "--batch-size", "16", "--synonyms", "4", "--vote-samples", "4",
                 "--keep-rate", "0.5"]) == 0
    smoothing = json.loads((out / "config.json").read_text())["robustune"]["smoothing"]
    assert smoothing == {"kind": "substitution-vote", "samples": 4, "seed": 0, "keep": 0.5}
    assert main(["predict", "--model", str(out), "--data", str(toy_csv), "--output", str(tmp_path / "p.jsonl"),
                 "--vote-samples", "5"]) == 0
    for row in map(json.loads, (tmp_path / "p.jsonl").read_text().splitlines()):  # shares of 5 votes
        assert all(abs(v * 5 - round(v * 5)) < 1e-5 for v in row["probabilities"].values())
    # a keep rate of 1 leaves every copy unchanged: the vote is unanimous, the base model's label
    assert main(["predict", "--model", str(out), "--data", str(toy_csv), "--output", str(tmp_path / "k.jsonl"),
                 "--keep-rate", "1"]) == 0
    kept = [json.loads(line) for line in (tmp_path / "k.jsonl").read_text().splitlines()]
    assert all(max(row["probabilities"].values()) == 1.0 for row in kept)
    base = RobustClassifier.from_pretrained(out)
    base.smoothing = None
    assert [row["label"] for row in kept] == base.predict([row["text"] for row in kept])
    assert main(["evaluate", "--model", str(out), "--data", str(toy_csv), "--mask-rate", "0.2"]) == 2
    assert "--mask-rate does not apply to a substitution-vote model" in capsys.readouterr().err
    assert main(["attack", "--model", str(out), "--data", str(toy_csv), "--recipe", "deepwordbug", "--num-examples", "2",
                 "--output", str(tmp_path / "att"), "--vote-samples", "3", "--no-progress"]) == 0
    summary = json.loads((tmp_path / "att" / "summary.json").read_text())
    assert summary["avg_model_forwards"] == pytest.approx(3 * summary["avg_queries"])


def test_bad_params_and_tokenizers_are_user_errors(tiny_encoder):
    with pytest.raises(RobustuneError, match="synonyms"):
        get_method("safer").parse_params({"synonyms": 0})
    with pytest.raises(RobustuneError, match="vote_samples"):
        get_method("safer").parse_params({"vote_samples": 0})
    with pytest.raises(RobustuneError, match="keep_rate"):
        get_method("safer").parse_params({"keep_rate": 1.5})
    classifier = RobustClassifier.from_encoder(tiny_encoder, robustune.modeling.ModelSettings(label_names=["a", "b"]))
    classifier.tokenizer = type("NoPieces", (), {"get_vocab": lambda self: {"[PAD]": 0, "good": 1}})()
    with pytest.raises(RobustuneError, match="WordPiece"):
        get_method("safer")().setup(classifier, None)
