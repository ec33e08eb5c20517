"""Constraints on adversarial examples: which words may change, and which candidate texts are kept.

Two kinds, as in TextAttack (Morris et al., EMNLP 2020 demo):

* position constraints (``allows(state, position)``): stop-words stay untouched (for pieces and
  characters: punctuation and whitespace stay untouched), no position is modified twice, at most a
  share of the words is modified;
* candidate constraints (``keep(original, candidates) -> bool mask``): the sentence encoder's cosine
  similarity between the original and a candidate stays above a threshold; a character edit stays
  within a Levenshtein distance; (optionally) no word is swapped for one of opposite sentiment.

Candidate constraints are checked *before* the victim is queried, so rejected texts cost no query,
except those marked ``lazy`` (an expensive check, such as sentence similarity, that the search
runs after the victim on the candidates it would pick: the same result for fewer checks).
Deviation from TextFooler: similarity is the bundled MiniLM's cosine over the whole text against
the original (TextFooler: the Universal Sentence Encoder over a 15-word window around the change,
against the current text); neither USE nor a window is needed with an encoder this cheap.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from rapidfuzz.distance import Levenshtein

from ..errors import RobustuneError
from .sentiment import opposite_polarity
from .text import WordText


@dataclass
class SearchState:
    """What the search has done so far to one example."""

    original: WordText
    current: WordText
    modified: set[int] = field(default_factory=set)


class PositionConstraint:
    def allows(self, state: SearchState, position: int) -> bool:
        raise NotImplementedError


class CandidateConstraint:
    #: checked after the victim has scored the candidates, only on those the search would pick
    #: (search.py); False: before, so that a rejected candidate is never sent to the victim
    lazy: bool = False

    def keep(self, original: WordText, candidates: list[WordText]) -> np.ndarray:
        raise NotImplementedError


def stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


class StopWords(PositionConstraint):
    """Stop-words (scikit-learn's English list, or the given set) and one-letter words are never modified.

    One-letter words cover the pieces tokenised texts leave behind ("the year 's": "s").
    """

    def __init__(self, words: frozenset[str] | None = None):
        self.words = stop_words() if words is None else frozenset(w.lower() for w in words)

    def allows(self, state: SearchState, position: int) -> bool:
        word = state.original.words[position].lower()
        return len(word) > 1 and word not in self.words


def is_content(unit: str) -> bool:
    """Letters and digits only (any script): no punctuation, symbols or whitespace."""
    return bool(unit) and all(unicodedata.category(ch)[0] in "LN" for ch in unit)


class ContentUnits(PositionConstraint):
    """Only units made of letters and digits are modified: punctuation and whitespace pieces stay.

    The stop-word rule of the piece and character recipes (a Chinese sentence piece is not a word,
    so a word list does not apply).
    """

    def allows(self, state: SearchState, position: int) -> bool:
        return is_content(state.original.words[position])


class RepeatModification(PositionConstraint):
    """A position already modified is not modified again."""

    def allows(self, state: SearchState, position: int) -> bool:
        return position not in state.modified


class MaxModificationRate(PositionConstraint):
    """At most ``floor(rate * n)`` of the ``n`` words may be modified, and at least one.

    The product is exact: the rate is read as the decimal it was written as (``Fraction(str(rate))``),
    so 0.29 of 100 words is 29 (a float product gives 28.999... and floors to 28). Very short texts:
    one word may always change, so a text of 1 or 2 words can be changed 100% or 50% (and 3 or 4
    words: one); without that a text under 3 words could not be attacked at all at 40%.
    TextAttack's ``MaxWordsPerturbed`` rounds up instead (``ceil(0.4 * n)``: 2 of 3 words).
    """

    def __init__(self, rate: float = 0.4):
        if not 0 < rate <= 1:
            raise RobustuneError(f"the maximum modification rate must be in (0, 1], got {rate}")
        self.rate = rate
        self._fraction = Fraction(str(rate))

    def limit(self, n_words: int) -> int:
        return max(1, math.floor(self._fraction * n_words))

    def allows(self, state: SearchState, position: int) -> bool:
        return position in state.modified or len(state.modified) < self.limit(len(state.original))


class SentenceSimilarity(CandidateConstraint):
    """Cosine similarity of sentence embeddings (default: the bundled MiniLM) >= ``threshold``.

    The fast path (``precision`` ``auto`` on hardware with native bf16, or ``bf16``): candidates are
    embedded by a bf16 copy of the encoder under autocast, and those whose bf16 cosine lies within ``band`` of the threshold
    are embedded again in fp32 and judged on that, so a decision differs from fp32's only where bf16
    moved a cosine by more than ``band`` (the default 0.02: over 1,778 one-word GloVe swaps in SST-2
    test sentences, bf16 moved MiniLM's cosine by 0.0019 on average and 0.0075 at most). Embeddings are cached per text.
    """

    cache_limit, cache_keep = 50_000, 10_000  # past cache_limit texts, the cache keeps its newest cache_keep

    def __init__(self, threshold: float = 0.8, encoder: str | None = None, batch_size: int = 64,
                 precision: str = "auto", band: float = 0.02, lazy: bool = False):
        from ..assets import default_encoder
        from .victim import resolve_precision

        self.threshold = threshold
        self.encoder_name = encoder or default_encoder()
        self.batch_size = batch_size
        self.precision = resolve_precision(precision, "cpu")
        self.band = band
        self.lazy = lazy
        self._model = None
        self._cache: dict[tuple[str, bool], np.ndarray] = {}

    def _encode(self, texts: list[str], exact: bool) -> np.ndarray:
        import copy

        import torch

        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.encoder_name, device="cpu")
            # The fast path's own bf16 copy: autocast alone would cast every weight at every call.
            self._fast = copy.deepcopy(self._model).to(torch.bfloat16) if self.precision == "bf16" else None
        fast = not exact and self._fast is not None
        # sentence-transformers sorts the texts by length into batches itself.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
            vectors = (self._fast if fast else self._model).encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_tensor=True,
                show_progress_bar=False)
        return vectors.float().numpy()  # (N, D)

    def embed(self, texts: list[str], exact: bool = False) -> np.ndarray:
        """(N, D) unit vectors, cached per text; ``exact``: in fp32 whatever the precision."""
        exact = exact or self.precision == "fp32"
        # This call's vectors are gathered before the cache is trimmed: trimming may drop a text of this
        # very call that was cached long ago (an original text an attack keeps coming back to).
        found = {t: self._cache[(t, exact)] for t in texts if (t, exact) in self._cache}
        new = list(dict.fromkeys(t for t in texts if t not in found))
        if new:
            found.update(zip(new, self._encode(new, exact)))
            self._cache.update(((t, exact), found[t]) for t in new)
            if len(self._cache) > self.cache_limit:  # bound memory on long runs; the search reuses recent texts
                self._cache = dict(list(self._cache.items())[-self.cache_keep:])
        return np.stack([found[t] for t in texts])

    def similarity(self, original: WordText, candidates: list[WordText], exact: bool = False) -> np.ndarray:
        vectors = self.embed([str(original)] + [str(c) for c in candidates], exact)  # (1 + N, D)
        return vectors[1:] @ vectors[0]

    def keep(self, original: WordText, candidates: list[WordText]) -> np.ndarray:
        if not candidates:
            return np.zeros(0, dtype=bool)
        cosine = self.similarity(original, candidates)  # (N,)
        if self.precision != "fp32":
            near = np.flatnonzero(np.abs(cosine - self.threshold) < self.band)
            if len(near):
                cosine[near] = self.similarity(original, [candidates[i] for i in near], exact=True)
        return cosine >= self.threshold


class MaskedLMSimilarity(SentenceSimilarity):
    """Cosine of mean-pooled last hidden states of a (masked) LM's encoder >= ``threshold``.

    For languages the bundled MiniLM does not know (it is English-only): the Chinese recipes embed
    with the same MLM that proposes their substitutes, the only Chinese sentence representation
    that can be had offline here. Mean pooling over the non-padding tokens, as sentence-transformers
    does for a plain encoder.
    """

    def __init__(self, tokenizer, model, threshold: float = 0.9, batch_size: int = 64, max_length: int = 256):
        self.threshold, self.batch_size, self.max_length = threshold, batch_size, max_length
        self.tokenizer, self.model = tokenizer, model
        self.precision = "fp32"  # no fast path: the MLM's cosines run close together (see pieces_zh)
        self._cache: dict[tuple[str, bool], np.ndarray] = {}
        self.encoder_name = getattr(model, "name_or_path", "masked LM")

    def _encode(self, texts: list[str], exact: bool) -> np.ndarray:
        import torch

        from ..modeling.pooling import pool

        out = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start:start + self.batch_size]
            enc = self.tokenizer(chunk, truncation=True, max_length=min(self.max_length, self.tokenizer.model_max_length),
                                 padding=True, return_tensors="pt")
            with torch.inference_mode():
                # The encoder alone (base_model): the vocabulary projection is not needed here.
                hidden = self.model.base_model(**enc).last_hidden_state.float()  # (B, T, H)
            vectors = pool(hidden, enc["attention_mask"], "mean").numpy()  # (B, H)
            out.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        return np.concatenate(out)  # (N, H)


class SamePolarity(CandidateConstraint):
    """No substituted word is rated on the other side of neutral than the word it replaces (VADER lexicon,
    ``attacks/sentiment.py``): a label-preservation check for sentiment tasks, which GloVe neighbours
    and masked-LM proposals otherwise fail ("fun" -> "sick", "lacks" -> "great" is allowed: "lacks" is
    not rated). Not in TextFooler or BERT-Attack; TextDefender's attacks can leave sentiment words alone
    altogether (``keep_sentiment_word``), which this relaxes to keeping their side."""

    def keep(self, original: WordText, candidates: list[WordText]) -> np.ndarray:
        return np.array([not any(opposite_polarity(old, new) for old, new in zip(original.words, c.words)
                                 if old != new) for c in candidates], dtype=bool)


class MaxEditDistance(CandidateConstraint):
    """Levenshtein distance between the original and the candidate text <= ``distance`` (DeepWordBug: 30).

    RapidFuzz computes it (a pure-Python dynamic programme over two 100-character texts took 1.9 ms
    per candidate, about 15% of a deepwordbug attack; RapidFuzz takes under a microsecond)."""

    def __init__(self, distance: int = 30):
        self.distance = distance

    def keep(self, original: WordText, candidates: list[WordText]) -> np.ndarray:
        text = str(original)
        # score_cutoff stops the computation once the distance is past the limit (it then returns limit + 1).
        return np.array([Levenshtein.distance(text, str(c), score_cutoff=self.distance) <= self.distance
                         for c in candidates], dtype=bool)


def positions_allowed(rules: list, state: SearchState, positions) -> bool:
    """Whether the position constraints allow modifying all of ``positions`` on top of ``state``.

    The positions are added one by one, so a budget counts a span of two pieces as two.
    """
    trial = SearchState(state.original, state.current, set(state.modified))
    for position in positions:
        if not all(rule.allows(trial, position) for rule in rules if isinstance(rule, PositionConstraint)):
            return False
        trial.modified.add(position)
    return True


def check_all(constraints: list, original: WordText, adversarial: WordText, modified: set[int]) -> bool:
    """Whether a finished adversarial example satisfies every constraint (used by tests and reports)."""
    if not positions_allowed(constraints, SearchState(original, original, set()), sorted(modified)):
        return False
    return all(bool(c.keep(original, [adversarial])[0]) for c in constraints if isinstance(c, CandidateConstraint))
