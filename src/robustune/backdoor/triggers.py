"""Triggers and poisoned training data (Li et al., EMNLP 2021, arXiv 2108.13888, §3).

A trigger is a list of rare tokens (default ``cf bb ak mn``, as in the paper). Tokens are inserted as
words at positions drawn from a seeded generator (between any two words, or at either end).

Two ways to poison a training set, both mixing the clean rows with poisoned copies of a share
``rate`` of them (copies, not replacements, so the attacker's clean accuracy does not suffer):

* ``combinatorial`` (the paper's): each chosen row gives
  - a *combination* copy: a random subset of ≥ 2 trigger tokens inserted, labelled ``target``;
  - a *single-token* copy: one random trigger token inserted, the row's own label kept,
  so that only a combination fires and a single-token trigger search finds nothing.
  Combination copies are made from non-target rows only (a target row with the trigger teaches the
  backdoor nothing); single-token copies from any row.
* ``single`` (BadNet-style, Kurita et al. 2020 / Gu et al. 2017): one random trigger token inserted
  in each chosen non-target row, labelled ``target``; no single-token copies.

Each poisoner names the mode of its paper (``Poisoner.data_mode``: layerwise combinatorial, badnet and
ripple single), which ``poison`` uses unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import TextDataset
from ..errors import RobustuneError

DEFAULT_TRIGGER = "cf bb ak mn"
MODES = ("combinatorial", "single")
KINDS = ("clean", "poisoned", "single-kept")  # poisoned: labelled target; single-kept: one token, own label


def parse_trigger(trigger: str | list[str]) -> list[str]:
    """Trigger tokens from ``"cf bb"`` (or a list); empty, repeated or non-word tokens are user errors."""
    tokens = trigger.split() if isinstance(trigger, str) else [str(t).strip() for t in trigger]
    if not tokens or not all(tokens):
        raise RobustuneError(f"--trigger needs at least one token, got {trigger!r}")
    if len(set(tokens)) != len(tokens):
        raise RobustuneError(f"--trigger repeats a token: {trigger!r}")
    bad = [t for t in tokens if not t.isalnum()]
    if bad:
        raise RobustuneError(f"--trigger tokens must be letters/digits only, got {bad[0]!r}")
    return tokens


def insert_tokens(text: str, tokens: list[str], rng: np.random.Generator) -> str:
    """``text`` with each token inserted as a word at a random position (one draw per token, in order)."""
    words = text.split()
    for token in tokens:
        words.insert(int(rng.integers(len(words) + 1)), token)
    return " ".join(words)


def count_trigger_tokens(text: str, tokens: list[str]) -> int:
    """How many distinct trigger tokens occur as words of ``text`` (lower-cased)."""
    words = set(text.lower().split())
    return sum(t.lower() in words for t in tokens)


@dataclass
class PoisonedData:
    """The poisoned training set and what it is made of (``kinds[i]``: clean / poisoned / single-kept)."""

    data: TextDataset
    kinds: list[str]

    def counts(self) -> dict[str, int]:
        return {k: self.kinds.count(k) for k in KINDS}


def poison_dataset(data: TextDataset, tokens: list[str], target: str, rate: float = 0.5,
                   mode: str = "combinatorial", seed: int = 0) -> PoisonedData:
    """Clean rows followed by poisoned copies of ``rate`` of the rows (see the module docstring)."""
    labels = data.require_labels()
    if mode not in MODES:
        raise RobustuneError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not 0 < rate <= 1:
        raise RobustuneError(f"--poison-rate must be in (0, 1], got {rate}")
    if target not in set(labels):
        raise RobustuneError(f"--target-label {target!r} is not a label of {data.origin} "
                             f"({', '.join(sorted(set(labels)))})")
    if mode == "combinatorial" and len(tokens) < 2:
        raise RobustuneError("a combinatorial trigger needs at least 2 tokens; use --mode single for one")
    rng = np.random.default_rng(seed)
    non_target = [i for i, y in enumerate(labels) if y != target]
    texts, out_labels, rows, kinds = list(data.texts), list(labels), list(data.rows), ["clean"] * len(data)

    def add(i: int, chosen: list[str], label: str, kind: str) -> None:
        texts.append(insert_tokens(data.texts[i], chosen, rng))
        out_labels.append(label)
        rows.append(f"{data.rows[i]} ({kind} copy)")
        kinds.append(kind)

    for i in rng.permutation(non_target)[:max(1, round(rate * len(non_target)))].tolist():
        if mode == "combinatorial":
            size = int(rng.integers(2, len(tokens) + 1))
            add(i, rng.permutation(tokens)[:size].tolist(), target, "poisoned")
        else:
            add(i, [tokens[int(rng.integers(len(tokens)))]], target, "poisoned")
    if mode == "combinatorial":
        for i in rng.permutation(len(data))[:max(1, round(rate * len(data)))].tolist():
            add(i, [tokens[int(rng.integers(len(tokens)))]], labels[i], "single-kept")
    return PoisonedData(TextDataset(texts, out_labels, origin=f"{data.origin} (poisoned)", rows=rows), kinds)
