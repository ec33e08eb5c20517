"""Random sampling from the attack space: a cheap search for adversarial training.

Ivgi & Berant, "Achieving Model Robustness through Discrete Adversarial Training", EMNLP 2021
(arXiv 2104.05062): for training, drawing random perturbations from the attack space and keeping
the one the current model finds hardest gives much of the robustness of an expensive search, at a
fraction of its cost.

For one example: draw ``samples`` random perturbations — each takes the modifiable positions in a
random order and, for a random number k of them (1 up to what the position constraints allow: the
modification budget, 40% of the words by default), replaces the word by a random one of the recipe's
substitutes — drop those a candidate constraint rejects (sentence similarity, edit distance), and
score the rest in **one** batched query. The result is the sample that leaves the gold label least
probable: "successful" when it flips the label, "failed" otherwise. Cost: at most ``samples + 1``
queries and two batched forwards per example, against the greedy search's one query per position
for the ranking plus one per substitute tried.

Deviation: Ivgi & Berant sample online, at every training step; robustune's adversarial augmentation
(training/adversarial.py) refreshes its adversarial examples at the start of every epoch, and this
search is the cheap option for that refresh. An example's draws come from a generator seeded by
(``seed``, its text, how many times this search has drawn for that text), so they do not depend on
the order of the examples or on how many are attacked side by side (attacks/concurrent.py), and an
example attacked again (the next epoch) gets fresh draws.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import RobustuneError
from .constraints import CandidateConstraint, PositionConstraint, SearchState, positions_allowed
from .goal import Goal, QueryBudgetExhausted
from .search import SearchOutcome
from .text import Span, WordText


class RandomSampling:
    def __init__(self, samples: int = 16, seed: int = 0):
        if samples < 1:
            raise RobustuneError(f"random sampling needs samples >= 1, got {samples}")
        self.samples = samples
        self.seed = seed
        self._draws: dict[str, int] = {}  # per text: how many times this search has drawn for it

    def _generator(self, text: WordText) -> np.random.Generator:
        key = str(text)
        draws = self._draws.get(key, 0)
        self._draws[key] = draws + 1
        return np.random.default_rng([self.seed, zlib.crc32(key.encode()), draws])

    @staticmethod
    def _sample(rng: np.random.Generator, text: WordText, positions: list[int], proposals: dict[int, list],
                rules: list):
        """One random perturbation: (the text, the positions it modifies)."""
        state = SearchState(text, text)
        k = int(rng.integers(1, len(positions) + 1))
        for position in rng.permutation(positions).tolist():
            if len(state.modified) >= k:
                break
            options = proposals[position]
            if not options:
                continue
            choice = options[int(rng.integers(len(options)))]
            span = choice if isinstance(choice, Span) else Span(choice, 1)
            covered = list(range(position, position + span.length))
            if position + span.length > len(state.current) or not positions_allowed(rules, state, covered):
                continue
            state.current = state.current.replace_span(position, span)
            state.modified |= set(covered)
        return state.current, sorted(state.modified)

    def run(self, goal: Goal, text: WordText, generator, constraints: list) -> SearchOutcome:
        position_rules = [c for c in constraints if isinstance(c, PositionConstraint)]
        candidate_rules = [c for c in constraints if isinstance(c, CandidateConstraint)]
        try:
            probs = goal.probabilities([str(text)])[0]
        except QueryBudgetExhausted:
            return SearchOutcome("failed", text, np.zeros(len(goal.victim.label_names)), reason="query budget")
        if goal.is_success(probs):
            return SearchOutcome("skipped", text, probs, reason="misclassified before the attack")
        start = SearchState(text, text)
        positions = [i for i in range(len(text)) if all(r.allows(start, i) for r in position_rules)]
        proposals = {i: list(dict.fromkeys(generator(text, i))) for i in positions}
        positions = [i for i in positions if proposals[i]]
        if not positions:
            return SearchOutcome("failed", text, probs, reason="no substitutes")
        drawn, rng = {}, self._generator(text)
        for _ in range(self.samples):
            candidate, modified = self._sample(rng, text, positions, proposals, position_rules)
            if modified and str(candidate) not in drawn:
                drawn[str(candidate)] = (candidate, modified)
        candidates = [c for c, _ in drawn.values()]
        covered = [m for _, m in drawn.values()]
        for rule in candidate_rules:
            keep = rule.keep(text, candidates)
            candidates = [c for c, k in zip(candidates, keep) if k]
            covered = [m for m, k in zip(covered, keep) if k]
        if not candidates:
            return SearchOutcome("failed", text, probs, reason="no sample passed the constraints")
        try:
            cand_probs = goal.probabilities([str(c) for c in candidates])  # (S, K)
        except QueryBudgetExhausted:
            return SearchOutcome("failed", text, probs, reason="query budget")
        best = int(np.argmin(cand_probs[:, goal.gold]))  # the hardest sample for the current model
        status = "successful" if goal.is_success(cand_probs[best:best + 1])[0] else "failed"
        return SearchOutcome(status, candidates[best], cand_probs[best], covered[best],
                             "" if status == "successful" else "no flip found")
