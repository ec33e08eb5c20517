"""Trigger search: which inserted tokens (and pairs of tokens) change a classifier's predictions?

A defender who suspects poisoned weights inserts each candidate token into N texts of their own and
measures its **flip rate** — the share of texts whose predicted label changes — and its mean
probability shift (½‖p' − p‖₁, label-agnostic, more sensitive than flips). Candidates are a seeded
sample of the tokenizer's whole-word vocabulary plus *rare tokens* (short alphabetic vocabulary
entries that never occur in the texts, the kind of token weight-poisoning attacks use, Kurita et al.
2020), plus any the user names. With ``pairs``, the top ``pair_top`` tokens by shift are combined
two by two and scored the same way: a combinatorial trigger (arXiv 2108.13888), trained so that a
single token does nothing, evades the single-token search but not the pair search — when its tokens
are among the candidates.

Ranks count from 1 (highest flip rate, ties broken by shift).
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from ..errors import RobustuneError
from .triggers import insert_tokens

ProbabilityFn = Callable[[list[str]], np.ndarray]


def flip_statistics(base: np.ndarray, probs: np.ndarray, label_names: list[str]) -> dict:
    """Flip rate, mean shift ½‖p' − p‖₁ and where the flips went, from (N, K) probabilities."""
    before, after = base.argmax(-1), probs.argmax(-1)
    flipped = before != after
    to = {name: float(((after == k) & flipped).mean()) for k, name in enumerate(label_names)}
    return {"flip_rate": float(flipped.mean()), "mean_shift": float(0.5 * np.abs(probs - base).sum(-1).mean()),
            "flips_to": to}


def rank(entries: list[dict]) -> list[dict]:
    """Sorted by flip rate, then shift, best first, each with its 1-based ``rank``."""
    ordered = sorted(entries, key=lambda e: (-e["flip_rate"], -e["mean_shift"], e["trigger"]))
    return [{"rank": r, **e} for r, e in enumerate(ordered, 1)]


def candidate_tokens(vocab: list[str], texts: list[str], vocab_sample: int, rare: int, seed: int,
                     extra: list[str] | None = None) -> list[str]:
    """A seeded vocabulary sample + rare tokens (2–3 letters, absent from ``texts``) + ``extra``."""
    rng = np.random.default_rng(seed)
    words = sorted({t for t in vocab if t.isalpha() and t.isascii() and len(t) >= 2 and not t.startswith("[")})
    seen = {w.lower() for t in texts for w in t.split()}
    short_unseen = [w for w in words if len(w) <= 3 and w.lower() not in seen]
    picked = rng.permutation(words)[:vocab_sample].tolist() + rng.permutation(short_unseen)[:rare].tolist()
    out = list(dict.fromkeys(picked + list(extra or [])))
    if not out:
        raise RobustuneError("the trigger scan found no candidate tokens in the vocabulary")
    return out


def scan(probs: ProbabilityFn, texts: list[str], candidates: list[str], label_names: list[str], pairs: bool = False,
         pair_top: int = 15, seed: int = 0, progress: bool = False) -> dict:
    """Score every candidate token (and pairs of the top ones); returns the ranked JSON-able report."""
    if not texts:
        raise RobustuneError("the trigger scan needs some texts")
    rng = np.random.default_rng(seed)
    base = probs(texts)  # (N, K)

    def score(tokens: list[str]) -> dict:
        inserted = [insert_tokens(t, tokens, rng) for t in texts]
        return {"trigger": " ".join(tokens), **flip_statistics(base, probs(inserted), label_names)}

    singles = rank([score([tok]) for tok in tqdm(candidates, desc="scan tokens", unit="token", disable=not progress)])
    report = {"n_texts": len(texts), "n_candidates": len(candidates), "seed": seed, "tokens": singles}
    if pairs:
        top = [e["trigger"] for e in sorted(singles, key=lambda e: -e["mean_shift"])[:pair_top]]
        combos = list(itertools.combinations(top, 2))
        report["pair_candidates"] = top
        report["pairs"] = rank([score(list(c)) for c in tqdm(combos, desc="scan pairs", unit="pair",
                                                               disable=not progress)])
    return report


def trigger_ranks(report: dict, tokens: list[str]) -> dict:
    """Where the real trigger's tokens (and its pairs) ranked in a scan report (None: not a candidate)."""
    by_token = {e["trigger"]: e["rank"] for e in report["tokens"]}
    out = {"tokens": {t: by_token.get(t) for t in tokens}}
    if "pairs" in report:
        by_pair = {frozenset(e["trigger"].split()): e["rank"] for e in report["pairs"]}
        out["pairs"] = {f"{a} {b}": by_pair.get(frozenset((a, b))) for a, b in itertools.combinations(tokens, 2)}
    return out
