"""Chinese piece-level attack: piece texts, the unigram MLM, piece substitutes, spans, recipes, cleaning."""

import json
import math

import numpy as np
import pytest
import torch

from robustune.attacks import build_recipe, load_victim, run_attack
from robustune.attacks.attack import apply_substitutions
from robustune.attacks.constraints import (ContentUnits, MaxModificationRate, RepeatModification, SearchState,
                                           is_content)
from robustune.attacks.goal import Goal
from robustune.attacks.mlm_build import build_mlm
from robustune.attacks.pieces import PieceSegmenter, PieceText, characters, piece_spans
from robustune.attacks.search import GreedyWordImportance
from robustune.attacks.substitutes.mlm import load_mlm
from robustune.attacks.substitutes.pieces import MaskedPieceSubstitutes, masked_piece_accuracy, surface
from robustune.attacks.text import Span
from robustune.cli import main
from robustune.data import TextDataset
from robustune.data.bundled import deduplicate

_POS = ["这家酒店很好，服务很周到。", "房间干净，早餐不错", "位置很好，交通方便！", "非常满意，下次还来",
        "前台热情，环境安静", "性价比很高，推荐入住"]
_NEG = ["这家酒店很差，服务太慢。", "房间很脏，早餐难吃", "位置偏僻，交通不便！", "非常失望，不会再来",
        "前台冷漠，环境吵闹", "价格太贵，不推荐"]
TEXTS = (_POS + _NEG) * 6
NAMES = ["neg", "pos"]


@pytest.fixture(scope="module")
def zh_mlm(tmp_path_factory):
    out = tmp_path_factory.mktemp("zh-mlm")
    stats = build_mlm(out, TEXTS, base="scratch", tokenizer="unigram", steps=30, batch_size=16, vocab_size=150,
                      hidden=32, layers=1, lr=3e-3, max_length=32, progress=False)
    assert stats["tokenizer"] == "unigram" and stats["last_loss"] < stats["first_loss"]
    return str(out)


@pytest.fixture(scope="module")
def xlmr_mlm(tmp_path_factory):
    """A tiny XLMRobertaForMaskedLM with an XLM-R style unigram tokenizer ("▁" before every word)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaTokenizerFast

    out = tmp_path_factory.mktemp("xlmr")
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.train_from_iterator(TEXTS, trainers.UnigramTrainer(vocab_size=120, unk_token="<unk>",
                                                           special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[
        ("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    tokenizer = XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", cls_token="<s>",
                                        sep_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=80, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        XLMRobertaForMaskedLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def good_proba(texts):
    """A victim we control: positive iff the text still holds 好 or 不错 (graded, so importance is meaningful)."""
    out = []
    for text in texts:
        score = 2.0 * text.count("好") + 2.0 * text.count("不错") - 1.0
        p = 1 / (1 + math.exp(-score))
        out.append([1 - p, p])
    return np.array(out)


@pytest.mark.parametrize("text", ["这家酒店很好，服务很周到。", "  房间 干净，hotel OK！ ", "ＡＢＣ１２３很好", "", "。。。"])
def test_piece_text_round_trip(zh_mlm, xlmr_mlm, text):
    for mlm in (zh_mlm, xlmr_mlm):
        pieces = PieceSegmenter(load_mlm(mlm)[0])(text)
        assert str(pieces) == text
        assert all(p and p == p.strip() for p in pieces.words)  # whitespace lives in the gaps
        if len(pieces) >= 2:
            edited = pieces.replace_span(0, Span("差劲", 2))
            assert str(edited) == pieces.gaps[0] + "差劲" + pieces.gaps[1] + pieces.gaps[2] + \
                "".join(w + g for w, g in zip(pieces.words[2:], pieces.gaps[3:]))
            assert isinstance(edited, PieceText) and len(edited) == len(pieces)
    chars = characters(text)
    assert str(chars) == text and all(len(c) == 1 for c in chars.words)


def test_piece_spans_merge_markers_and_drop_specials():
    text = "好 评"
    # [CLS], "▁" sharing the first character, "好", "▁" over the space + "评", [SEP]
    assert piece_spans(text, [(0, 0), (0, 1), (0, 1), (1, 3), (0, 0)]) == [(0, 1), (2, 3)]


def test_content_units_and_surface():
    assert is_content("酒店") and is_content("OK1") and not is_content("，") and not is_content("好 ")
    assert not is_content("")
    assert surface("\u2581很好") == "很好" and surface("##ing") == "ing" and surface("\u2581") == ""
    text = characters("很好，")
    state = SearchState(text, text)
    assert [ContentUnits().allows(state, i) for i in range(3)] == [True, True, False]


def test_piece_substitutes_match_a_naive_masked_forward(zh_mlm):
    gen = MaskedPieceSubstitutes(zh_mlm, top_k=5, span=2)
    pieces = PieceSegmenter(gen.tokenizer)("这家酒店很好，服务很周到。")
    position = next(i for i, w in enumerate(pieces.words) if is_content(w) and is_content(pieces.words[i + 1]))
    out = gen(pieces, position)
    singles = [c for c in out if isinstance(c, str)]
    spans = [c for c in out if isinstance(c, Span)]
    assert singles and spans and len(singles) <= 5 and len(spans) <= 5
    assert all(is_content(c) and c != pieces.words[position] for c in singles)
    assert all(c.length == 2 and is_content(c.text) for c in spans)
    # Naive reference: mask the piece, one forward, best allowed vocabulary entry.
    masked = str(pieces.replace(position, gen.tokenizer.mask_token))
    enc = gen.tokenizer(masked, return_tensors="pt")
    row = int((enc["input_ids"][0] == gen.tokenizer.mask_token_id).nonzero()[0])
    with torch.inference_mode():
        logits = gen.model(**enc).logits[0, row]
    allowed = [(float(logits[i]), s) for i, s in enumerate(gen.surfaces)
               if i not in gen.tokenizer.all_special_ids and is_content(s) and s != pieces.words[position]]
    assert singles[0] == max(allowed)[1]
    # Characters only for the baseline, never a span.
    char_gen = MaskedPieceSubstitutes(zh_mlm, top_k=8, span=1, single_char=True)
    out = char_gen(characters("这家酒店很好"), 4)
    assert out and all(isinstance(c, str) and len(c) == 1 and c != "很" for c in out)


def test_search_applies_spans_within_the_budget():
    victim = load_victim(good_proba, NAMES)
    text = characters("房间很好")
    generator = lambda t, i: [Span("一般", 2)] if t.words[i] == "很" else []  # noqa: E731
    outcome = GreedyWordImportance("unk").run(Goal(victim, 1), text, generator,
                                              [ContentUnits(), RepeatModification(), MaxModificationRate(0.5)])
    assert outcome.status == "successful" and str(outcome.adversarial) == "房间一般" and outcome.modified == [2, 3]
    # A budget of one unit does not allow a two-unit span.
    outcome = GreedyWordImportance("unk").run(Goal(victim, 1), text, generator,
                                              [RepeatModification(), MaxModificationRate(0.25)])
    assert outcome.status == "failed" and outcome.modified == []


@pytest.mark.parametrize("recipe", ["pieces-zh", "chars-zh"])
def test_recipe_flips_and_respects_every_constraint(zh_mlm, recipe, tmp_path):
    attack = build_recipe(recipe, mlm=zh_mlm, similarity=0.5)
    victim = load_victim(good_proba, NAMES)
    data = TextDataset(["这家酒店很好，服务很周到。", "房间干净，早餐不错", "位置偏僻，交通不便！"], ["pos", "pos", "pos"], "toy")
    summary = run_attack(attack, victim, data, tmp_path / recipe, progress=False)
    records = [json.loads(line) for line in (tmp_path / recipe / "examples.jsonl").read_text().splitlines()]
    assert summary["counts"]["skipped"] == 1 and summary["counts"]["successful"] >= 1
    for r in records:
        if r["status"] == "successful":
            assert "好" not in r["adversarial"] and "不错" not in r["adversarial"]
            original = attack.segment(r["original"])
            # The adversarial text is the original's units with the recorded substitutions, exactly.
            assert str(apply_substitutions(original, r["substitutions"])) == r["adversarial"]
            assert [s[0] for s in r["substitutions"]] == r["modified"]
            from robustune.attacks.attack import AttackResult
            result = AttackResult(**{k: v for k, v in r.items() if k in AttackResult.__dataclass_fields__})
            assert attack.satisfies_constraints(result)
    assert "**" in (tmp_path / recipe / "report.md").read_text()


def test_pieces_zh_on_an_xlmr_style_masked_lm(xlmr_mlm):
    attack = build_recipe("pieces-zh", mlm=xlmr_mlm, similarity=0.0)
    gen = attack.generator
    pieces = attack.segment("这家酒店很好，服务很周到。")
    assert str(pieces) == "这家酒店很好，服务很周到。"
    proposals = gen(pieces, 0)
    assert proposals and all("\u2581" not in (p.text if isinstance(p, Span) else p) for p in proposals)
    result = attack.attack(load_victim(good_proba, NAMES), "这家酒店很好，服务很周到。", 1)
    assert result.status == "successful" and attack.satisfies_constraints(result)


def test_masked_piece_accuracy_and_cli(zh_mlm, tmp_path, capsys):
    scores = masked_piece_accuracy(*load_mlm(zh_mlm), TEXTS, ks=(1, 10), max_pieces=20)
    assert scores["pieces"] == 20 and 0.0 <= scores["top1"] <= scores["top10"] <= 1.0
    data = tmp_path / "zh.csv"
    data.write_text("text,label\n" + "".join(f"{t},x\n" for t in _POS))
    assert main(["mlm", "score", "--mlm", zh_mlm, "--data", str(data), "--unit", "piece", "--max-words", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pieces"] == 5 and out["top1"] <= out["top10"]


def test_cli_mlm_build_unigram_rejects_encoder(tmp_path, capsys):
    assert main(["mlm", "build", "--base", "encoder", "--tokenizer", "unigram", "--data", "x.csv",
                 "--output", str(tmp_path / "m")]) == 2
    assert "--base scratch" in capsys.readouterr().err


def test_missing_default_zh_mlm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUSTUNE_CACHE", str(tmp_path))
    from robustune import RobustuneError

    with pytest.raises(RobustuneError, match="robustune mlm build --data chnsenti"):
        build_recipe("pieces-zh")


def test_deduplicate_drops_repeats_and_conflicts():
    rows = [("好", "pos"), ("差", "neg"), ("好", "pos"), ("一般", "pos"), ("一般", "neg"), ("一般", "pos"), ("", "pos")]
    kept, stats = deduplicate(rows)
    assert kept == [("好", "pos"), ("差", "neg")]
    assert stats == {"rows_read": 6, "duplicates_dropped": 1, "conflicting_rows_dropped": 3,
                     "conflicting_texts": 1, "rows_kept": 2}


def test_cli_build_train_attack_chinese(tmp_path):
    """The acceptance path on tiny models: unigram MLM -> classifier on it -> pieces-zh and chars-zh."""
    data = tmp_path / "zh.csv"
    data.write_text("text,label\n" + "".join(f"{t},{'pos' if t in _POS else 'neg'}\n" for t in TEXTS))
    mlm, model = tmp_path / "mlm", tmp_path / "model"
    assert main(["mlm", "build", "--data", str(data), "--base", "scratch", "--tokenizer", "unigram", "--vocab-size",
                 "150", "--hidden", "32", "--layers", "1", "--steps", "10", "--batch-size", "8", "--max-length", "32",
                 "--output", str(mlm)]) == 0
    assert main(["train", "--data", str(data), "--model", str(mlm), "--output", str(model), "--epochs", "2",
                 "--batch-size", "16", "--lr", "3e-3", "--max-length", "32"]) == 0
    for recipe in ("pieces-zh", "chars-zh"):
        out = tmp_path / recipe
        assert main(["attack", "--model", str(model), "--data", str(data), "--recipe", recipe, "--mlm", str(mlm),
                     "--num-examples", "4", "--output", str(out)]) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["recipe"] == recipe and sum(summary["counts"].values()) == 4
        assert len((out / "examples.jsonl").read_text().splitlines()) == 4


def test_long_text_stays_within_the_position_embeddings(zh_mlm):
    attack = build_recipe("pieces-zh", mlm=zh_mlm, similarity=0.5, query_budget=60)
    long_text = "这家酒店很好，服务很周到。" * 30  # far more pieces than the 128 position embeddings
    pieces = attack.segment(long_text)
    assert str(pieces) == long_text and len(pieces) <= attack.generator.tokenizer.model_max_length - 2
    assert attack.generator(pieces, len(pieces) - 1) is not None
    # A long text the victim is known to flip on: one 好 (positive) among ~120 neutral pieces. The
    # importance pass alone costs a query per piece, so the budget must exceed the piece count.
    flippable = "这家酒店很好，" + "服务很周到。" * 30
    attack = build_recipe("pieces-zh", mlm=zh_mlm, similarity=0.5, query_budget=400)
    result = attack.attack(load_victim(good_proba, NAMES), flippable, 1)
    assert result.status == "successful" and result.adversarial_probabilities[1] < 0.5
    assert attack.satisfies_constraints(result)  # content pieces only, none twice, <= 40%, similarity
    assert "好" not in result.adversarial and 1 <= len(result.modified) <= 0.4 * result.num_words
    assert result.adversarial.endswith("服务很周到。" * 30)  # nothing but the changed pieces moved
