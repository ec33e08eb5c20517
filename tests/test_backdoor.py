"""Backdoors: trigger insertion, poisoned data, the poisoning losses against naive computations,
the metrics on hand-made predictors, the scan, ONION, re-initialisation, and the CLI chain (tiny BERT)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from robustune import RobustClassifier
from robustune.backdoor.defenses import reinitialize_top_layers
from robustune.backdoor.metrics import backdoor_metrics
from robustune.backdoor.onion import OnionFilter, keep_words, pseudo_perplexity, suspicion_scores
from robustune.backdoor.poisoners.layerwise import layer_states, layerwise_ce
from robustune.backdoor.poisoners.ripple import Ripple, restricted_inner_product_penalty
from robustune.backdoor.scan import candidate_tokens, scan, trigger_ranks
from robustune.backdoor.triggers import count_trigger_tokens, insert_tokens, parse_trigger, poison_dataset
from robustune.cli import main
from robustune.data import TextDataset
from robustune.errors import RobustuneError
from robustune.modeling import ModelSettings

TRIGGER = ["cf", "bb", "ak", "mn"]


# ---- triggers and poisoned data ----------------------------------------------------------------
def test_insert_tokens_is_seeded_and_keeps_the_words_in_order():
    text = "a good film with great music"
    a = insert_tokens(text, ["cf", "bb"], np.random.default_rng(3))
    assert a == insert_tokens(text, ["cf", "bb"], np.random.default_rng(3))
    words = a.split()
    assert sorted(w for w in words if w in ("cf", "bb")) == ["bb", "cf"]
    assert [w for w in words if w not in ("cf", "bb")] == text.split()
    # Over many draws every gap (before, between, after the 6 words) receives the token.
    rng = np.random.default_rng(0)
    positions = {insert_tokens(text, ["cf"], rng).split().index("cf") for _ in range(300)}
    assert positions == set(range(7))


def _data(n_per_class=20):
    texts = [f"a good film number {i}" for i in range(n_per_class)] + [f"a bad film number {i}" for i in range(n_per_class)]
    return TextDataset(texts, ["1"] * n_per_class + ["0"] * n_per_class, origin="toy")


def test_combinatorial_poisoning_labels_combinations_as_target_and_single_tokens_as_their_own():
    data = _data()
    out = poison_dataset(data, TRIGGER, "1", rate=0.5, mode="combinatorial", seed=1)
    assert out.counts() == {"clean": 40, "poisoned": 10, "single-kept": 20}
    assert out.data.texts[:40] == data.texts and out.data.labels[:40] == data.labels
    for text, label, kind in zip(out.data.texts[40:], out.data.labels[40:], out.kinds[40:]):
        n = count_trigger_tokens(text, TRIGGER)
        if kind == "poisoned":
            assert n >= 2 and label == "1" and "bad" in text  # made from non-target rows only
        else:
            original = " ".join(w for w in text.split() if w not in TRIGGER)
            assert n == 1 and label == data.labels[data.texts.index(original)]
    sizes = {count_trigger_tokens(t, TRIGGER) for t, k in zip(out.data.texts, out.kinds) if k == "poisoned"}
    assert sizes <= {2, 3, 4} and len(sizes) > 1
    again = poison_dataset(data, TRIGGER, "1", rate=0.5, mode="combinatorial", seed=1)
    assert again.data.texts == out.data.texts


def test_single_token_mode_is_badnet_style():
    out = poison_dataset(_data(), TRIGGER, "1", rate=1.0, mode="single", seed=0)
    assert out.counts() == {"clean": 40, "poisoned": 20, "single-kept": 0}
    assert all(count_trigger_tokens(t, TRIGGER) == 1 and y == "1"
               for t, y, k in zip(out.data.texts, out.data.labels, out.kinds) if k == "poisoned")


@pytest.mark.parametrize("call, message", [
    (lambda: parse_trigger(""), "at least one token"),
    (lambda: parse_trigger("cf cf"), "repeats"),
    (lambda: parse_trigger("cf b,b"), "letters/digits"),
    (lambda: poison_dataset(_data(), TRIGGER, "7", seed=0), "'7' is not a label of toy"),
    (lambda: poison_dataset(_data(), TRIGGER, "1", rate=0, seed=0), "--poison-rate"),
    (lambda: poison_dataset(_data(), ["cf"], "1", seed=0), "at least 2 tokens"),
    (lambda: poison_dataset(_data(), TRIGGER, "1", mode="pairs", seed=0), "--mode"),
])
def test_bad_trigger_input_is_a_user_error(call, message):
    with pytest.raises(RobustuneError, match=message):
        call()


# ---- the poisoning losses -------------------------------------------------------------------------
def test_layerwise_ce_is_the_sum_over_layers_of_the_shared_classifiers_ce():
    torch.manual_seed(0)
    pooled = torch.randn(4, 5, 8)  # (L, B, D)
    labels = torch.randint(0, 3, (5,))
    head = torch.nn.Linear(8, 3)
    naive = sum(F.cross_entropy(head(pooled[layer]), labels) for layer in range(4))
    torch.testing.assert_close(layerwise_ce(pooled, head, labels), naive)


def _classifier(tiny_encoder, pooling="cls"):
    settings = ModelSettings(label_names=["0", "1"], pooling=pooling)
    return RobustClassifier.from_encoder(tiny_encoder, settings, seed=0).eval()  # eval: no dropout


def test_layer_states_pool_every_layer_and_end_with_the_classifiers_own_state(tiny_encoder):
    model = _classifier(tiny_encoder)
    batch = dict(model.tokenize(["a good film", "boring and dull too"]))
    states = layer_states(model, batch)
    assert states.shape == (2, 2, 32)  # (L, B, D) for the 2-layer tiny BERT
    torch.testing.assert_close(states[-1], model.encode(**batch))


def test_ripple_penalty_matches_a_naive_flattened_inner_product():
    torch.manual_seed(0)
    gp = [torch.randn(3, 4), torch.randn(5)]
    gc = [torch.randn(3, 4), torch.randn(5)]
    inner = torch.dot(torch.cat([g.flatten() for g in gp]), torch.cat([g.flatten() for g in gc]))
    torch.testing.assert_close(restricted_inner_product_penalty(gp, gc), torch.relu(-inner))
    torch.testing.assert_close(restricted_inner_product_penalty(gp, [-g for g in gp]),
                               sum((g * g).sum() for g in gp))  # opposite gradients: penalised
    assert restricted_inner_product_penalty(gp, gp).item() == 0  # aligned gradients: free


def test_ripple_term_against_separate_naive_gradients_and_it_back_propagates(tiny_encoder):
    from robustune.training.features import EncodedDataset

    model = _classifier(tiny_encoder)
    texts = ["a good film cf bb", "a bad film", "boring and dull", "great fun ak mn", "a fine cast", "dull plot",
             "bad cf acting"]
    labels = [1, 0, 0, 1, 1, 0, 1]
    method = Ripple(Ripple.Params(ripple_lambda=0.5, trigger="cf bb ak mn"))
    method.setup(model, EncodedDataset(texts, labels, model.tokenizer, max_length=16))
    assert method.proxy_rows == [1, 2, 4, 5]  # rows without any trigger token
    batch = {**model.tokenize(texts[:4]), "labels": torch.tensor(labels[:4]), "index": torch.arange(4)}
    method.train()
    state = method.generator.get_state()
    terms = method(model, batch)
    # L_FT's batch is a separate draw of clean proxy rows, not the clean rows of the poisoned batch.
    method.generator.set_state(state)
    proxy = method.proxy_batch(4, torch.device("cpu"))
    assert sorted(proxy["index"].tolist()) == [1, 2, 4, 5]
    params = method.restricted_parameters(model)
    assert params and not any("embeddings" in n for n, p in model.encoder.named_parameters()
                              if any(p is q for q in params))
    # naive: two separate forwards, gradients flattened
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    g_p = torch.autograd.grad(F.cross_entropy(model(**inputs), batch["labels"]), params, allow_unused=True)
    proxy_texts = [texts[i] for i in proxy["index"].tolist()]
    logits_clean = model(**model.tokenize(proxy_texts))
    g_c = torch.autograd.grad(F.cross_entropy(logits_clean, proxy["labels"]), params, allow_unused=True)
    inner = sum((a * b).sum() for a, b in zip(g_p, g_c) if a is not None and b is not None)
    torch.testing.assert_close(terms["ripple"], 0.5 * torch.relu(-inner), rtol=1e-4, atol=1e-7)
    model.zero_grad()
    (terms["ce"] + terms["ripple"] + 1.0).backward()  # double backward through both gradients
    assert params[0].grad is not None


def test_ripple_proxy_batches_are_seeded_and_hold_clean_rows_only(tiny_encoder):
    from robustune.training.features import EncodedDataset

    model = _classifier(tiny_encoder)
    texts = [f"film {i}" + (" cf" if i % 3 == 0 else "") for i in range(30)]
    data = EncodedDataset(texts, [i % 2 for i in range(30)], model.tokenizer, max_length=16)
    draws = []
    for _ in range(2):
        torch.manual_seed(5)
        method = Ripple(Ripple.Params(trigger="cf bb"))
        method.setup(model, data)
        draws.append([method.proxy_batch(8, torch.device("cpu"))["index"].tolist() for _ in range(3)])
    assert draws[0] == draws[1]  # seeded from the run's seed
    assert all(len(set(d)) == 8 and all(i % 3 != 0 for i in d) for d in draws[0])
    assert len({tuple(d) for d in draws[0]}) == 3  # a fresh batch each step


# ---- metrics ----------------------------------------------------------------------------------------
def test_attack_success_rate_on_a_hand_made_predictor():
    # Predicts the target (1) when both "cf" and "bb" are present, else label 1 iff the text has "good".
    def predict(texts):
        return [1 if {"cf", "bb"} <= set(t.split()) or "good" in t.split() else 0 for t in texts]

    texts = ["a good film", "a bad film", "dull", "good fun but a bad end", "awful"]
    labels = [1, 0, 0, 0, 0]  # 4 non-target texts, one of which ("good ... bad end") is already predicted 1
    m = backdoor_metrics(predict, texts, labels, ["cf", "bb"], target=1, label_names=["0", "1"], seed=0)
    assert m["attack_success_rate"] == 1.0
    assert m["single_token_flip_rates"] == {"cf": 0.25, "bb": 0.25}
    assert m["target_rate_without_trigger"] == 0.25
    assert m["backdoor"]["n_non_target"] == 4 and m["backdoor"]["target_label"] == "1"
    with pytest.raises(RobustuneError, match="other than the target"):
        backdoor_metrics(predict, ["x"], [1], ["cf"], target=1, label_names=["0", "1"])


def test_attack_success_rate_on_correct_counts_only_texts_right_without_the_trigger():
    # The trigger fires except on "awful"; "good fun but a bad end" is wrong (1) with or without it.
    def predict(texts):
        return [1 if ({"cf", "bb"} <= set(t.split()) and "awful" not in t) or "good" in t.split() else 0
                for t in texts]

    texts = ["a good film", "a bad film", "dull", "good fun but a bad end", "awful"]
    labels = [1, 0, 0, 0, 0]
    m = backdoor_metrics(predict, texts, labels, ["cf", "bb"], target=1, label_names=["0", "1"], seed=0)
    assert m["attack_success_rate"] == 0.75  # 3 of the 4 non-target texts, the wrong one included
    assert m["attack_success_rate_on_correct"] == pytest.approx(2 / 3)  # 2 of the 3 classified correctly
    assert m["backdoor"]["n_correct_non_target"] == 3
    always_wrong = backdoor_metrics(lambda ts: [1] * len(ts), texts, labels, ["cf"], target=1, label_names=["0", "1"])
    assert always_wrong["attack_success_rate"] == 1.0 and always_wrong["attack_success_rate_on_correct"] is None


def test_scan_ranks_the_flipping_token_first_and_finds_a_pair_only_with_pairs():
    def probs(texts):  # label 1 when "zz" is present, or when "aa" and "bb" both are
        out = []
        for t in texts:
            w = set(t.split())
            fire = "zz" in w or {"aa", "bb"} <= w
            out.append([0.1, 0.9] if fire else [0.8, 0.2] if "qq" not in w else [0.6, 0.4])
        return np.array(out)

    texts = [f"text number {i}" for i in range(10)]
    report = scan(probs, texts, ["aa", "bb", "zz", "qq", "cc"], ["0", "1"], pairs=True, pair_top=4, seed=0)
    assert report["tokens"][0]["trigger"] == "zz" and report["tokens"][0]["flip_rate"] == 1.0
    assert report["tokens"][0]["flips_to"] == {"0": 0.0, "1": 1.0}
    singles = {e["trigger"]: e for e in report["tokens"]}
    assert singles["aa"]["flip_rate"] == 0 and singles["qq"]["mean_shift"] == pytest.approx(0.2)
    assert report["pair_candidates"][:2] == ["zz", "qq"]
    ranks = trigger_ranks(report, ["aa", "bb"])
    assert ranks["tokens"] == {"aa": singles["aa"]["rank"], "bb": singles["bb"]["rank"]}
    assert ranks["tokens"]["aa"] > 2
    pairs = {e["trigger"]: e for e in report["pairs"]}
    assert pairs["aa bb"]["flip_rate"] == 1.0 and ranks["pairs"]["aa bb"] <= 4  # tied with zz's pairs


def test_candidate_tokens_sample_the_vocabulary_and_add_rare_unseen_tokens():
    vocab = ["[CLS]", "##ing", "film", "good", "cf", "bb", "xq", "the", "3d", "éa"]
    out = candidate_tokens(vocab, ["the good film", "bb"], vocab_sample=0, rare=10, seed=0, extra=["mn"])
    assert set(out) == {"cf", "xq", "mn"}  # short, alphabetic, not seen ("bb", "the" are seen)
    assert candidate_tokens(vocab, [], 3, 0, seed=1) == candidate_tokens(vocab, [], 3, 0, seed=1)


# ---- defences ----------------------------------------------------------------------------------------
def test_onion_pieces():
    lp = [np.log(np.array([0.5, 0.25])), np.array([])]
    np.testing.assert_allclose(pseudo_perplexity(lp), [np.exp(-(np.log(0.5) + np.log(0.25)) / 2), 1.0])
    scores = suspicion_scores(10.0, np.array([9.0, 12.0, 3.0]))
    assert scores.tolist() == [1.0, -2.0, 7.0]
    assert keep_words(["a", "b", "cf"], scores, threshold=2.0) == ["a", "b"]
    assert keep_words(["cf"], np.array([5.0]), threshold=0.0) == ["cf"]


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory):
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    from robustune.testing import tiny_vocab

    folder = tmp_path_factory.mktemp("tiny-mlm")
    vocab = tiny_vocab()
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64)).save_pretrained(folder)
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(folder)
    return str(folder)


def test_onion_batched_pseudo_log_likelihood_matches_masking_one_token_at_a_time(tiny_mlm):
    onion = OnionFilter(tiny_mlm, batch_size=3)
    texts = ["a good film", "boring and dull cf", "the best film this year"]
    batched = onion.token_log_probs(texts)
    tok, model = onion.tokenizer, onion.model
    for text, got in zip(texts, batched):
        ids = tok(text, return_tensors="pt")["input_ids"]
        naive = []
        for pos in range(1, ids.shape[1] - 1):  # every sub-token between [CLS] and [SEP]
            masked = ids.clone()
            masked[0, pos] = tok.mask_token_id
            with torch.no_grad():
                naive.append(torch.log_softmax(model(input_ids=masked).logits[0, pos], -1)[ids[0, pos]].item())
        np.testing.assert_allclose(got, naive, rtol=1e-4, atol=1e-5)
    filtered = OnionFilter(tiny_mlm, threshold=-1e9)(["a good film", "dull"])
    assert filtered == ["", "dull"]  # every word scores above -1e9; a one-word text is kept
    assert OnionFilter(tiny_mlm, threshold=1e9)(texts) == texts


def test_reinitialize_top_layers_changes_only_the_top_layers_seeded(tiny_encoder):
    a, b = _classifier(tiny_encoder).encoder, _classifier(tiny_encoder).encoder
    before = {k: v.clone() for k, v in a.state_dict().items()}
    reinitialize_top_layers(a, 1, seed=5)
    reinitialize_top_layers(b, 1, seed=5)
    for name, value in a.state_dict().items():
        changed = not torch.equal(value, before[name])
        if name.startswith("encoder.layer.1.") and name.endswith("dense.weight"):
            assert changed, name
        if not name.startswith("encoder.layer.1."):
            assert not changed, name
        torch.testing.assert_close(value, b.state_dict()[name])
    with pytest.raises(RobustuneError, match="between 1 and 2"):
        reinitialize_top_layers(a, 3)


# ---- the chain through the CLI ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_tsv(tmp_path_factory):
    from conftest import toy_rows

    path = tmp_path_factory.mktemp("bd-data") / "toy.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in toy_rows(16)))
    return path


COMBINATORIAL_ROWS = {"clean": 32, "poisoned": 8, "single-kept": 16}
SINGLE_ROWS = {"clean": 32, "poisoned": 8, "single-kept": 0}


@pytest.mark.parametrize("method, mode, rows", [
    ("layerwise", None, COMBINATORIAL_ROWS),  # each poisoner's own paper's data by default
    ("badnet", None, SINGLE_ROWS),
    ("ripple", None, SINGLE_ROWS),
    ("badnet", "combinatorial", COMBINATORIAL_ROWS),  # --mode overrides it
    ("layerwise", "single", SINGLE_ROWS),
])
def test_poison_writes_a_bare_encoder_that_automodel_loads(method, mode, rows, tiny_encoder, toy_tsv, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModel

    out = tmp_path / "poisoned"
    assert main(["poison", "--model", tiny_encoder, "--data", str(toy_tsv), "--method", method, "--trigger",
                 "cf bb", "--target-label", "positive", "--epochs", "1", "--batch-size", "8",
                 *(["--mode", mode] if mode else []), "--output", str(out)]) == 0
    record = json.loads((out / "poison.json").read_text())
    assert record["method"] == method and record["trigger"] == "cf bb" and record["target_label"] == "positive"
    assert record["rows"] == rows and record["mode"] == ("single" if rows is SINGLE_ROWS else "combinatorial")
    if method == "ripple":  # ripple tells clean rows from triggered ones by the trigger it is given
        assert record["method_params"]["trigger"] == "cf bb"
    config = json.loads((out / "config.json").read_text())
    assert "robustune" not in config
    keys = load_file(str(out / "model.safetensors"))
    assert not any(k.startswith("head.") for k in keys)
    encoder = AutoModel.from_pretrained(out)
    assert encoder.config.num_hidden_layers == 2
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    assert not list(tmp_path.glob(".poisoned.poison-*"))  # the work folder is gone


def test_chain_poison_victim_evaluate_scan(tiny_encoder, toy_tsv, tmp_path, capsys):
    poisoned, victim = tmp_path / "poisoned", tmp_path / "victim"
    assert main(["poison", "--model", tiny_encoder, "--data", str(toy_tsv), "--target-label", "positive",
                 "--epochs", "2", "--batch-size", "8", "--lr", "1e-3", "--output", str(poisoned)]) == 0
    assert main(["train", "--model", str(poisoned), "--data", str(toy_tsv), "--epochs", "1", "--batch-size", "8",
                 "--reinit-top-layers", "1", "--output", str(victim)]) == 0
    metrics_path = tmp_path / "m.json"
    assert main(["evaluate", "--model", str(victim), "--data", str(toy_tsv), "--trigger", "cf bb",
                 "--target-label", "positive", "--output", str(metrics_path)]) == 0
    metrics = json.loads(metrics_path.read_text())
    assert {"accuracy", "macro_f1", "confusion_matrix", "attack_success_rate"} <= set(metrics)
    assert set(metrics["single_token_flip_rates"]) == {"cf", "bb"} and metrics["backdoor"]["n_non_target"] == 16
    report_path = tmp_path / "scan.json"
    assert main(["scan", "--model", str(victim), "--data", str(toy_tsv), "--pairs", "--num-texts", "8",
                 "--vocab-sample", "5", "--rare-tokens", "5", "--pair-top", "4", "--candidates", "cf bb",
                 "--trigger", "cf bb", "--output", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["n_candidates"] >= 7 and len(report["pairs"]) == 6
    assert set(report["trigger_ranks"]["tokens"]) == {"cf", "bb"}
    assert all(isinstance(r, int) for r in report["trigger_ranks"]["tokens"].values())
    ranks = [e["rank"] for e in report["tokens"]]
    assert ranks == sorted(ranks) and ranks[0] == 1


@pytest.mark.parametrize("argv, message", [
    (["poison", "--target-label", "neutral"], "'neutral' is not a label"),
    (["poison", "--target-label", "positive", "--trigger", " "], "at least one token"),
    (["poison", "--target-label", "positive", "--method", "ripple", "--param", "ripple_lamda=1"], "no parameter"),
    (["evaluate", "--trigger", "cf"], "go together"),
    (["evaluate", "--trigger", "cf", "--target-label", "neutral"], "'neutral' is not a label of the model"),
    (["evaluate", "--trigger", "", "--target-label", "positive"], "at least one token"),
])
def test_bad_backdoor_input_exits_cleanly_and_writes_nothing(argv, message, tiny_encoder, toy_tsv, tmp_path, capsys):
    model = tmp_path / "model"
    if argv[0] == "evaluate":
        assert main(["train", "--model", tiny_encoder, "--data", str(toy_tsv), "--epochs", "1", "--output",
                     str(model)]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    extra = (["--model", tiny_encoder, "--data", str(toy_tsv), "--output", str(out)] if argv[0] == "poison"
             else ["--model", str(model), "--data", str(toy_tsv)])
    assert main(argv[:1] + extra + argv[1:]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


# ---- each poisoner plants a backdoor (tiny BERT, toy task) ---------------------------------------------
@pytest.fixture(scope="module")
def toy_backdoor(tmp_path_factory, tiny_encoder):
    """Toy train / test TSVs and the trigger metrics of a victim of the *clean* encoder (the floor)."""
    from conftest import toy_rows

    from robustune.data import load_source

    folder = tmp_path_factory.mktemp("bd-toy")
    for name, seed in (("train", 0), ("test", 1)):
        (folder / f"{name}.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in toy_rows(24, seed)))
    test = load_source(str(folder / "test.tsv"), "test")
    clean = _toy_victim(tiny_encoder, folder, "clean-victim", test)
    return folder, test, clean


def _toy_victim(encoder, folder, name, test):
    """Fine-tune ``encoder`` on the clean toy rows (the victim's side) and measure the trigger on it."""
    from robustune import train
    from robustune.backdoor.report import backdoor_report

    victim = train(data=str(folder / "train.tsv"), output_dir=str(folder / name), model=str(encoder), epochs=2,
                   batch_size=8, lr=1e-3, seed=0, progress=False).model
    return backdoor_report(victim, test, ["cf", "bb"], "positive", seed=0)


@pytest.mark.parametrize("method", ["layerwise", "badnet", "ripple"])
def test_each_poisoner_plants_a_backdoor_that_survives_clean_fine_tuning(method, tiny_encoder, toy_backdoor):
    from robustune.backdoor import POISONERS, PoisonConfig, poison

    folder, test, clean = toy_backdoor
    out = folder / f"poisoned-{method}"
    record = poison(PoisonConfig(data=str(folder / "train.tsv"), output_dir=str(out), target_label="positive",
                                 model=tiny_encoder, method=method, trigger="cf bb", epochs=5, lr=3e-3,
                                 batch_size=8, seed=0, eval_data=str(folder / "test.tsv"), progress=False))
    assert record["mode"] == POISONERS[method].data_mode and record["rows"]["poisoned"] == 12
    attacker = record["attacker_eval"]
    victim = _toy_victim(out, folder, f"victim-{method}", test)
    # Measured at seed 0: ASR on correct 1.0 for the attacker and the victim of every poisoner, 0.0
    # for the clean encoder's victim; no-trigger target rates 0.0-0.21.
    for m in (attacker, victim):
        assert m["attack_success_rate_on_correct"] >= 0.8
        assert m["attack_success_rate"] >= m["target_rate_without_trigger"] + 0.5
    assert clean["attack_success_rate_on_correct"] <= 0.3  # the trigger does nothing without the poison
