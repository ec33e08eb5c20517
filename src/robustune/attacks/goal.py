"""Untargeted misclassification: the attack succeeds when the victim's top label is not the gold one.

A :class:`Goal` is made per attacked example. It scores texts through the victim with a cache
(a text already scored costs nothing: greedy search revisits the same texts) and counts queries
against an optional budget; texts past the budget are not scored and :class:`QueryBudgetExhausted`
is raised, so the search stops with what it has. ``cache=False`` scores every text it is given,
repeats included (how TextAttack counts queries when its cache is off); benchmarks use it to
measure what the cache saves.
"""

from __future__ import annotations

import numpy as np

from .victim import Victim


class QueryBudgetExhausted(Exception):
    """The example's query budget is spent; the search stops and reports a failure."""


class Goal:
    def __init__(self, victim: Victim, gold: int, query_budget: int | None = None, cache: bool = True):
        self.victim = victim
        self.cache = cache
        self.gold = gold
        self.query_budget = query_budget
        self.queries = 0
        self._cache: dict[str, np.ndarray] = {}

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(N, K) probabilities; new texts are scored in one batched call, repeats come from the cache."""
        if self.cache:
            new = list(dict.fromkeys(t for t in texts if t not in self._cache))
        else:
            new = list(texts)
        if self.query_budget is not None and self.queries + len(new) > self.query_budget:
            new = new[:max(0, self.query_budget - self.queries)]
            exhausted = True
        else:
            exhausted = False
        scored = self.victim(new) if new else []
        for text, probs in zip(new, scored):
            self._cache[text] = probs
        self.queries += len(new)
        if exhausted:
            raise QueryBudgetExhausted
        if not self.cache:
            return np.asarray(scored)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, len(self.victim.label_names)))

    def known(self, text: str) -> np.ndarray:
        """The probabilities of a text already scored (no query)."""
        return self._cache[text]

    def is_success(self, probs: np.ndarray) -> np.ndarray:
        """Boolean per row: the top label is not the gold label."""
        return np.asarray(probs).argmax(-1) != self.gold

    def score(self, probs: np.ndarray) -> np.ndarray:
        """How far each text is from the gold label (higher is better for the attacker): 1 - p(gold)."""
        return 1.0 - np.asarray(probs)[..., self.gold]
