"""Sentence-piece substitutes from a masked LM (Li et al., arXiv 2012.14769).

For the unit at position i of a :class:`~robustune.attacks.pieces.PieceText` (a sentence piece of
the MLM's own vocabulary, or a single character), the unit is replaced by the mask token and the
MLM's distribution at the masked position proposes the top-K pieces (K = 48). Spans: the unit and
the ``span - 1`` units after it are masked together (one mask per unit) and every combination of
per-mask candidates is scored by the summed log-probability (the exact top-K by a beam,
:func:`~.mlm.top_k_combinations`); its text is the concatenation. Both kinds of candidate are
ranked together by the mean log-probability per masked piece (BERT-Attack's perplexity ranking),
so a 2-piece span competes fairly with a 1-piece substitute. All masked variants of a position go
through the MLM in one batched forward.

Candidates are pieces of letters and digits only (no punctuation, whitespace or special tokens);
the word-start marker "\u2581" (sentencepiece) or "##" (WordPiece) is dropped from the surface
form. ``single_char=True`` keeps only one-character pieces: the character-substitution baseline.

Unlike BERT-Attack's generator (:mod:`.mlm`, one unmasked forward), the position is masked: with
the piece visible, the MLM's prediction there is pulled towards the piece itself (its training
leaves 10% of the predicted tokens unchanged), while a mask asks for what fits the context.

Usage::

    gen = MaskedPieceSubstitutes("path/to/zh-mlm")
    gen(PieceSegmenter(gen.tokenizer)("这家酒店很好"), 2)   # pieces (str) and Span(text, 2), best first
"""

from __future__ import annotations

import numpy as np
import torch

from ..constraints import is_content
from ..text import Span, WordText
from .mlm import load_mlm, top_k_combinations


def surface(token: str) -> str:
    """A vocabulary token as it appears in text: without "\u2581" / "##" markers and spaces."""
    return token.removeprefix("##").replace("\u2581", " ").strip()


class MaskedPieceSubstitutes:
    def __init__(self, model_name_or_path: str, top_k: int = 48, span: int = 2, single_char: bool = False,
                 device: str = "cpu", max_length: int = 256):
        self.tokenizer, self.model = load_mlm(model_name_or_path, device)
        self.top_k, self.span, self.device, self.max_length = top_k, span, device, max_length
        vocab = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        self.surfaces = [surface(t) for t in vocab]
        usable = [is_content(s) and (not single_char or len(s) == 1) for s in self.surfaces]
        usable = torch.tensor(usable)
        usable[self.tokenizer.all_special_ids] = False
        self._blocked = ~usable  # (V,) tokens never proposed
        self._cache: dict[tuple[str, int], list] = {}

    def _masked(self, text: WordText, position: int, length: int) -> str:
        mask = self.tokenizer.mask_token
        return str(text.replace_span(position, Span(mask * length, length)))

    @torch.inference_mode()
    def masked_log_probs(self, texts: list[str], lengths: list[int]) -> list[list[torch.Tensor] | None]:
        """Per text, the (V,) log-probabilities at each of its ``length`` masks (None if truncated away)."""
        enc = self.tokenizer(texts, truncation=True, max_length=min(self.max_length, self.tokenizer.model_max_length),
                             padding=True, return_tensors="pt")
        logits = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits  # (B, T, V)
        log_probs = torch.log_softmax(logits.float(), -1).cpu()
        out = []
        for b, length in enumerate(lengths):
            rows = (enc["input_ids"][b] == self.tokenizer.mask_token_id).nonzero().flatten()
            out.append([log_probs[b, r] for r in rows] if len(rows) == length else None)
        return out

    def _span_lengths(self, text: WordText, position: int) -> list[int]:
        """1, and the longer spans that fit: content units with no gap between them."""
        lengths = [1]
        for length in range(2, self.span + 1):
            end = position + length - 1
            if end >= len(text) or text.gaps[end] or not is_content(text.words[end]):
                break
            lengths.append(length)
        return lengths

    def __call__(self, text: WordText, position: int) -> list:
        key = (str(text), position)
        if key in self._cache:
            return self._cache[key]
        lengths = self._span_lengths(text, position)
        per_text = self.masked_log_probs([self._masked(text, position, n) for n in lengths], lengths)
        scored: dict = {}
        for length, masks in zip(lengths, per_text):
            if masks is None:
                continue
            masks = [m.masked_fill(self._blocked, -float("inf")) for m in masks]
            original = "".join(text.words[position:position + length])
            for ids, total in top_k_combinations(masks, self.top_k):
                piece = "".join(self.surfaces[i] for i in ids)
                if piece == original or total == -float("inf"):
                    continue
                candidate = piece if length == 1 else Span(piece, length)
                scored[candidate] = max(scored.get(candidate, -float("inf")), total / length)
        ranked = sorted(scored, key=lambda c: -scored[c])
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = ranked
        return ranked


@torch.inference_mode()
def masked_piece_accuracy(tokenizer, model, texts: list[str], ks: tuple[int, ...] = (1, 10), max_pieces: int = 2000,
                          seed: int = 0, batch_size: int = 32, max_length: int = 128) -> dict:
    """Top-k accuracy of the MLM at one masked piece per text (held-out texts: a measure of the MLM).

    In each text one piece of letters/digits (not a special token, not punctuation) is drawn with
    the seed and replaced by the mask token id; a hit is the original id among the ``k`` best.
    Returns ``{"top1": ..., "top10": ..., "pieces": n}``.
    """
    rng = np.random.default_rng(seed)
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    content = torch.tensor([is_content(surface(t)) for t in vocab])  # (V,) pieces worth masking
    content[tokenizer.all_special_ids] = False
    order = [texts[i] for i in rng.permutation(len(texts))]
    hits, total = {k: 0 for k in ks}, 0
    for start in range(0, len(order), batch_size):
        enc = tokenizer(order[start:start + batch_size], truncation=True,
                        max_length=min(max_length, tokenizer.model_max_length), padding=True, return_tensors="pt")
        ids = enc["input_ids"]  # (B, T)
        rows, cols = [], []
        for b in range(ids.shape[0]):
            candidates = content[ids[b]].nonzero().flatten().tolist()
            if candidates:
                rows.append(b)
                cols.append(int(rng.choice(candidates)))
        if not rows:
            continue
        rows = rows[:max_pieces - total]
        cols = cols[:len(rows)]
        targets = ids[rows, cols].clone()  # (M,)
        ids[rows, cols] = tokenizer.mask_token_id
        logits = model(**enc).logits[rows, cols]  # (M, V)
        ranked = torch.topk(logits, max(ks), dim=-1).indices  # (M, max k)
        for k in ks:
            hits[k] += int((ranked[:, :k] == targets[:, None]).any(-1).sum())
        total += len(rows)
        if total >= max_pieces:
            break
    return {**{f"top{k}": hits[k] / max(total, 1) for k in ks}, "pieces": total}
