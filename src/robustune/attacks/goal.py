"""Untargeted misclassification: the attack succeeds when the victim's top label is not the gold one.

A :class:`Goal` is made per attacked example. It scores texts through the victim with a cache
(a text already scored in this example costs nothing: greedy search revisits the same texts) and
counts two things:

* ``queries``: texts actually sent to the victim (cache hits not counted) -- robustune's query
  count, the one its ``--query-budget`` bounds and ``summary.json`` reports as ``avg_queries``;
* ``requested``: every text the search asked to have scored, cache hits included -- TextAttack's
  ``num_queries`` (its goal function counts a text before looking it up in its cache), reported
  as ``avg_requested`` so that a comparison with TextAttack sets like beside like.

A batch that does not fit in what is left of the budget is cut to the texts that fit
(:meth:`affordable`); the search scores those and uses them (a label flip among them counts) and
then stops. A text the search would score whole (the leave-one-out batch that ranks the
positions) raises :class:`QueryBudgetExhausted` before anything is sent, so no query is spent on
a batch the search could not use.

On a victim with a fast (bf16) path, a label flip the search found is believed only once the
exact fp32 model agrees (:meth:`confirm`); ``overturned`` counts the flips it rejected. The
original text is scored by the fp32 model too (:meth:`original`), so whether an example is
skipped (misclassified before the attack) is the fp32 model's verdict. ``exact_queries`` counts
these fp32 checks; they are in ``queries`` and outside the budget. ``cache=False`` scores every text it is given,
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
        self.queries = 0  # texts sent to the victim by the search and by the fp32 checks
        self.requested = 0  # texts the search asked for, cache hits included (TextAttack's count)
        self.exact_queries = 0  # of ``queries``, the fp32 checks of a fast path's verdicts
        self.overturned = 0  # label flips of the fast path that the fp32 model did not confirm
        self._cache: dict[str, np.ndarray] = {}
        self._exact: dict[str, np.ndarray] = {}  # fp32 probabilities, on a fast path
        self._original: str | None = None

    def _new(self, texts: list[str]) -> list[str]:
        return list(dict.fromkeys(t for t in texts if t not in self._cache)) if self.cache else list(texts)

    def affordable(self, texts: list[str]) -> int:
        """How many of ``texts``, from the first, can be scored within the query budget."""
        if self.query_budget is None:
            return len(texts)
        left, seen = self.query_budget - (self.queries - self.exact_queries), set()
        for n, text in enumerate(texts):
            if not (self.cache and (text in self._cache or text in seen)):
                if left == 0:
                    return n
                left -= 1
                seen.add(text)
        return len(texts)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(N, K) probabilities; new texts are scored in one batched call, repeats come from the cache.

        Raises :class:`QueryBudgetExhausted`, sending nothing, when not all of them fit in the budget."""
        if self.affordable(texts) < len(texts):
            raise QueryBudgetExhausted
        new = self._new(texts)
        scored = self.victim(new) if new else np.zeros((0, len(self.victim.label_names)), np.float32)
        self._cache.update(zip(new, scored))
        self.queries += len(new)
        self.requested += len(texts)
        if not self.cache:
            return np.asarray(scored)
        return np.stack([self._cache[t] for t in texts]) if texts else scored

    def original(self, text: str) -> np.ndarray:
        """(K,) probabilities of the original text (the search's first query).

        On a fast path, the fp32 model's verdict on it is taken where it costs no extra forward: in
        the first fp32 check of a flip (:meth:`confirm`), or by :meth:`exact_original` at the end;
        at once only when the fast path says the original is misclassified already (then the
        search starts from the fp32 probabilities, and skips the example only if fp32 agrees)."""
        probs = self.probabilities([text])[0]
        self._original = text
        if self.victim.has_fast_path and self.is_success(probs):
            probs = self.exact_original()
        return probs

    @property
    def has_original(self) -> bool:
        return self._original is not None

    def exact_original(self) -> np.ndarray:
        """(K,) the exact model's probabilities of the original text (an fp32 query unless taken already)."""
        return self._exact_scores([self._original])[0]

    def confirm(self, texts: list[str]) -> np.ndarray:
        """(N, K) exact (fp32) probabilities of texts the search found to flip the label; on a victim
        without a fast path the search's own probabilities (no query). Counts what it overturns."""
        probs = self._exact_scores(texts)  # (N, K)
        self.overturned += int((~self.is_success(probs)).sum())
        return probs

    def _exact_scores(self, texts: list[str]) -> np.ndarray:
        """(N, K) fp32 probabilities; the original's fp32 verdict, if still pending, rides in the same forward."""
        if not self.victim.has_fast_path:
            return np.stack([self._cache[t] for t in texts])
        pending = [self._original] if self._original not in self._exact else []
        new = [t for t in dict.fromkeys(pending + list(texts)) if t not in self._exact]
        if new:
            self._exact.update(zip(new, self.victim.exact(new)))
            self.queries += len(new)
            self.exact_queries += len(new)
        return np.stack([self._exact[t] for t in texts])

    def known(self, text: str) -> np.ndarray:
        """The probabilities of a text already scored (no query); the exact model's where it has them."""
        return self._exact[text] if text in self._exact else self._cache[text]

    def is_success(self, probs: np.ndarray) -> np.ndarray:
        """Boolean per row: the top label is not the gold label."""
        return np.asarray(probs).argmax(-1) != self.gold

    def score(self, probs: np.ndarray) -> np.ndarray:
        """How far each text is from the gold label (higher is better for the attacker): 1 - p(gold)."""
        return 1.0 - np.asarray(probs)[..., self.gold]
