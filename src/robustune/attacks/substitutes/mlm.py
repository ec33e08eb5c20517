"""Masked-LM substitutes (BERT-Attack, Li et al., EMNLP 2020, arXiv 2004.09984).

The masked LM reads the *unmasked* text once (one forward per distinct text, cached) and proposes,
for the word at position i, the top-K tokens of its logits at the word's sub-token positions:

* a word of one sub-token: the top-K whole-word tokens (K = 48 in the paper);
* a word of n > 1 sub-tokens: every combination of the per-sub-token top-K candidates, ranked by the
  MLM's perplexity ``exp(-1/n * sum_j log p_j(t_j))`` under the same forward; the best K are kept.
  The exact top-K of that sum over K^n combinations comes from a beam of width K, position by
  position (the terms are independent, so the beam loses nothing).

Candidates are decoded to strings and kept only if they are one alphabetic word different from the
original. Any Hugging Face masked LM (hub id or local folder) works; ``robustune mlm build`` makes a
small one offline.

Usage::

    MaskedLMSubstitutes("path/to/mlm")(WordText.from_text("a good film"), 1)   # ['great', 'bad', ...]
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import RobustuneError
from ..text import WordText
from .wordnet import keep_case


def top_k_combinations(log_probs: list[torch.Tensor], k: int) -> list[tuple[list[int], float]]:
    """The ``k`` best token sequences (one token per position) by summed log-probability.

    ``log_probs[j]`` is (V_j,) candidate log-probabilities of position j; returns [(ids, sum), ...]
    best first. A beam of width k is exact here because the positions' terms are independent.
    """
    beam: list[tuple[list[int], float]] = [([], 0.0)]
    for scores in log_probs:
        top = torch.topk(scores, min(k, scores.numel()))
        extended = [(ids + [int(t)], total + float(s)) for ids, total in beam for s, t in zip(top.values, top.indices)]
        extended.sort(key=lambda pair: -pair[1])
        beam = extended[:k]
    return beam


def load_mlm(model_name_or_path: str, device: str = "cpu"):
    """(fast tokenizer, masked LM in eval mode) of an HF masked LM folder or hub id."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
        model = AutoModelForMaskedLM.from_pretrained(model_name_or_path).to(device).eval()
    except (OSError, ValueError) as err:
        raise RobustuneError(f"cannot load masked LM {model_name_or_path!r}: {str(err).splitlines()[0]}") from None
    if not tokenizer.is_fast:
        raise RobustuneError(f"{model_name_or_path}: a fast tokenizer is needed (word and piece alignment)")
    if tokenizer.mask_token is None:
        raise RobustuneError(f"{model_name_or_path}: the tokenizer has no mask token; is it a masked LM?")
    # Truncate within the position embeddings (less 2: RoBERTa-style models offset positions by 2),
    # whatever a tokenizer saved without a length limit says.
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions:
        tokenizer.model_max_length = min(tokenizer.model_max_length, positions - 2)
    return tokenizer, model


class MaskedLMSubstitutes:
    def __init__(self, model_name_or_path: str, top_k: int = 48, device: str = "cpu", max_length: int = 256):
        self.tokenizer, self.model = load_mlm(model_name_or_path, device)
        self.top_k = top_k
        self.device = device
        self.max_length = max_length
        vocab = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        # Tokens that can start a word vs. continue one (WordPiece "##", SentencePiece "▁", BPE "Ġ").
        if sum(t.startswith("##") for t in vocab) > 0.01 * len(vocab):
            self._continuation = torch.tensor([t.startswith("##") for t in vocab])
        else:
            self._continuation = torch.tensor([not t.startswith(("\u2581", "\u0120")) for t in vocab])
        self._special = torch.zeros(len(vocab), dtype=torch.bool)
        self._special[self.tokenizer.all_special_ids] = True
        self._cache: dict[str, tuple[torch.Tensor, list]] = {}

    @torch.inference_mode()
    def _forward(self, text: WordText) -> tuple[torch.Tensor, list]:
        """Log-probabilities (T, V) of the unmasked text and each token's word index."""
        key = str(text)
        if key not in self._cache:
            enc = self.tokenizer(list(text.words), is_split_into_words=True, truncation=True,
                                 max_length=min(self.max_length, self.tokenizer.model_max_length),
                                 return_tensors="pt")
            logits = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits[0]  # (T, V)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = (torch.log_softmax(logits.float(), -1).cpu(), enc.word_ids(0))
        return self._cache[key]

    def __call__(self, text: WordText, position: int) -> list[str]:
        if not text.words:
            return []
        log_probs, word_ids = self._forward(text)
        rows = [t for t, w in enumerate(word_ids) if w == position]
        if not rows:  # truncated away
            return []
        per_position = []
        for j, row in enumerate(rows):
            scores = log_probs[row].clone()  # (V,)
            scores[self._special] = -float("inf")
            # The first sub-token must start a word, the others must continue it.
            scores[self._continuation if j == 0 else ~self._continuation] = -float("inf")
            per_position.append(scores)
        combos = top_k_combinations(per_position, self.top_k)
        # Rank by perplexity (mean log-probability per sub-token); equal length, so the sum's order holds.
        original = text.words[position]
        out = []
        for ids, _ in combos:
            word = self.tokenizer.decode(ids).strip()
            if word.isalpha() and word.lower() != original.lower():
                out.append(keep_case(original, word))
        return list(dict.fromkeys(out))


def top_k_recall(mlm: MaskedLMSubstitutes, texts: list[str], k: int = 48, max_words: int = 2000,
                 seed: int = 0) -> float:
    """How often the original word is among the MLM's top-``k`` at a *masked* single-sub-token word.

    A measure of substitute quality for a built MLM: words are picked at random (seeded) among
    alphabetic single-token words.
    """
    rng = np.random.default_rng(seed)
    tokenizer, model = mlm.tokenizer, mlm.model
    hits = total = 0
    for index in rng.permutation(len(texts)):
        text = WordText.from_text(texts[index])
        if not text.words:
            continue
        enc = tokenizer(list(text.words), is_split_into_words=True, truncation=True,
                        max_length=min(mlm.max_length, tokenizer.model_max_length),
                        return_tensors="pt")
        word_ids = enc.word_ids(0)
        single = [w for w in set(x for x in word_ids if x is not None)
                  if word_ids.count(w) == 1 and text.words[w].isalpha()]
        if not single:
            continue
        w = int(rng.choice(single))
        row = word_ids.index(w)
        target = int(enc["input_ids"][0, row])
        enc["input_ids"][0, row] = tokenizer.mask_token_id
        with torch.inference_mode():
            logits = model(**{k_: v.to(mlm.device) for k_, v in enc.items()}).logits[0, row]
        hits += int(target in torch.topk(logits, k).indices.tolist())
        total += 1
        if total >= max_words:
            break
    return hits / max(total, 1)
