"""Greedy search by word importance (TextFooler, Jin et al. AAAI 2020; BERT-Attack, Li et al. EMNLP 2020).

1. Importance of every modifiable position i, all positions scored in one batched query:
   ``"delete"`` (TextFooler, eq. 2): ``I_i = p_gold(x) - p_gold(x\\i)`` with word i deleted, plus,
   where the deletion flips the label to y', TextFooler's second term ``p_y'(x\\i) - p_y'(x)`` (the
   probability the new label gains); ``"unk"`` (BERT-Attack, DeepWordBug's replace-1 score):
   ``I_i = p_gold(x) - p_gold(x with word i replaced by [UNK])``, no second term.
2. Positions in decreasing importance: generate substitutes for the word (a word, or a
   :class:`~.text.Span` covering it and the next units: multi-piece substitutes of the Chinese
   piece attack), drop candidates whose positions the position constraints do not all allow and
   candidates that a candidate constraint rejects (they are never sent to the victim), score the
   rest in one batched query. If some candidate flips the label, stop and return the one that
   leaves the gold label least probable; on a victim searching in bf16, the first in that order
   that the exact fp32 model confirms (:meth:`Goal.confirm`; flips are checked best first, 1, then
   2, 4, ... at a time, so a flip usually costs one fp32 forward). Otherwise keep the candidate
   that lowers p_gold most (if it lowers it at all) and go on.
   A constraint marked ``lazy`` (an expensive one, such as sentence similarity) is checked after
   the victim has scored the candidates instead, and only on those that can matter: the flipping
   ones and then the others, in increasing p_gold, until one passes (1, 2, 4, ... at a time). It
   selects the same candidate as checking it first would (the best-scored among those it keeps),
   for far fewer checks and more victim queries (the texts it would have rejected are scored).
3. Give up when positions run out, the modification budget (a :class:`MaxModificationRate`
   constraint, 40% of the words by default) is spent, or the query budget is spent. A candidate
   batch that the budget cuts short is scored as far as the budget goes and a flip in it is kept
   (as TextAttack does); the search stops after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import RobustuneError
from .constraints import CandidateConstraint, PositionConstraint, SearchState, positions_allowed
from .goal import Goal, QueryBudgetExhausted
from .text import Span, WordText

IMPORTANCE = ("delete", "unk")


@dataclass
class SearchOutcome:
    status: str  # "successful" | "failed" | "skipped"
    adversarial: WordText
    probabilities: np.ndarray  # (K,) the victim's probabilities of the adversarial (or last) text
    modified: list[int] = field(default_factory=list)
    reason: str = ""


class GreedyWordImportance:
    def __init__(self, importance: str = "delete", unk_token: str = "[UNK]"):
        if importance not in IMPORTANCE:
            raise RobustuneError(f"importance must be one of {IMPORTANCE}, got {importance!r}")
        self.importance = importance
        self.unk_token = unk_token

    def _leave_one_out(self, text: WordText, position: int) -> str:
        if self.importance == "delete":
            return str(text.delete(position))
        return str(text.replace(position, self.unk_token))

    def rank(self, goal: Goal, state: SearchState, positions: list[int], original: np.ndarray) -> list[int]:
        """Positions by decreasing importance (one batched query); ``original``: (K,) p(x)."""
        if not positions:
            return []
        probs = goal.probabilities([self._leave_one_out(state.original, i) for i in positions])  # (P, K)
        importance = self.importance_scores(original, probs, goal.gold)
        order = np.argsort(-importance, kind="stable")
        return [positions[i] for i in order]

    def importance_scores(self, original: np.ndarray, left_out: np.ndarray, gold: int) -> np.ndarray:
        """(P,) importance of each position from p(x) ``original`` (K,) and p(x\\i) ``left_out`` (P, K)."""
        importance = original[gold] - left_out[:, gold]
        if self.importance == "delete":
            # TextFooler eq. 2: where deleting word i flips the label to y', add p_y'(x\i) - p_y'(x).
            new = left_out.argmax(-1)  # (P,)
            gained = left_out[np.arange(len(new)), new] - original[new]
            importance = importance + np.where(new != gold, gained, 0.0)
        return importance

    @staticmethod
    def _passing(rules: list, original: WordText, candidates: list, indices) -> list[int]:
        """The ``indices`` (in their order) of the candidates every one of ``rules`` keeps."""
        indices = [int(i) for i in indices]
        for rule in rules:
            if not indices:
                break
            keep = rule.keep(original, [candidates[i] for i in indices])
            indices = [i for i, k in zip(indices, keep) if k]
        return indices

    @staticmethod
    def _chunks(order):
        """``order`` cut into chunks of 1, 2, 4, ...: the best candidates are checked first and alone."""
        start, size = 0, 1
        while start < len(order):
            yield order[start:start + size]
            start, size = start + size, size * 2

    @staticmethod
    def _first_passing(rules: list, original: WordText, candidates: list, order) -> int | None:
        """The first index of ``order`` (best first) whose candidate every lazy rule keeps."""
        for chunk in GreedyWordImportance._chunks(order):
            passing = GreedyWordImportance._passing(rules, original, candidates, chunk)
            if passing:
                return passing[0]
        return None

    @staticmethod
    def _confirmed_flip(goal: Goal, candidates: list, probs: np.ndarray, lazy_rules: list, original: WordText):
        """(index, exact probabilities) of the first flipping candidate, in increasing p_gold, that the
        lazy constraints keep and the exact model confirms; None if there is none."""
        flips = np.flatnonzero(goal.is_success(probs))
        order = flips[np.argsort(probs[flips, goal.gold], kind="stable")]  # (F,) best first
        for chunk in GreedyWordImportance._chunks(order):
            passing = GreedyWordImportance._passing(lazy_rules, original, candidates, chunk)
            if not passing:
                continue
            exact = goal.confirm([str(candidates[i]) for i in passing])  # (P, K)
            confirmed = np.flatnonzero(goal.is_success(exact))
            if len(confirmed):
                return passing[confirmed[0]], exact[confirmed[0]]
        return None

    @staticmethod
    def _candidates(state: SearchState, position: int, proposals: list, position_rules: list):
        """Candidate texts for the proposals at ``position`` and the positions each one modifies."""
        current, texts, covered, seen = state.current, [], [], {str(state.current)}
        for proposal in dict.fromkeys(proposals):
            span = proposal if isinstance(proposal, Span) else Span(proposal, 1)
            positions = set(range(position, position + span.length))
            if position + span.length > len(current) or \
                    not positions_allowed(position_rules, state, sorted(positions)):
                continue
            text = current.replace_span(position, span)
            if str(text) not in seen:  # a proposal equal to the current units changes nothing
                seen.add(str(text))
                texts.append(text)
                covered.append(positions)
        return texts, covered

    def run(self, goal: Goal, text: WordText, generator, constraints: list) -> SearchOutcome:
        outcome = self._search(goal, text, generator, constraints)
        if outcome.status == "skipped" or not goal.has_original:
            return outcome
        original = goal.exact_original()  # the fp32 verdict on the original (a fast path defers it)
        if goal.is_success(original):
            return SearchOutcome("skipped", text, original, reason="misclassified before the attack")
        return outcome

    def _search(self, goal: Goal, text: WordText, generator, constraints: list) -> SearchOutcome:
        position_rules = [c for c in constraints if isinstance(c, PositionConstraint)]
        candidate_rules = [c for c in constraints if isinstance(c, CandidateConstraint) and not c.lazy]
        lazy_rules = [c for c in constraints if isinstance(c, CandidateConstraint) and c.lazy]
        state = SearchState(text, text)
        try:
            probs = goal.original(str(text))
        except QueryBudgetExhausted:
            return SearchOutcome("failed", text, np.zeros(len(goal.victim.label_names)), reason="query budget")
        if goal.is_success(probs):
            return SearchOutcome("skipped", text, probs, reason="misclassified before the attack")
        allowed = lambda i: all(rule.allows(state, i) for rule in position_rules)  # noqa: E731
        best_probs = probs
        try:
            order = self.rank(goal, state, [i for i in range(len(text)) if allowed(i)], probs)
            for position in order:
                if not allowed(position):
                    continue
                candidates, covered = self._candidates(state, position, generator(state.current, position),
                                                       position_rules)
                for rule in candidate_rules:
                    keep = rule.keep(state.original, candidates)
                    candidates = [c for c, k in zip(candidates, keep) if k]
                    covered = [p for p, k in zip(covered, keep) if k]
                fit = goal.affordable([str(c) for c in candidates])
                last = fit < len(candidates)  # the budget ends inside this batch: score what fits, then stop
                candidates, covered = candidates[:fit], covered[:fit]
                if candidates:
                    cand_probs = goal.probabilities([str(c) for c in candidates])  # (C, K)
                    flip = self._confirmed_flip(goal, candidates, cand_probs, lazy_rules, state.original)
                    if flip is not None:
                        best, exact = flip
                        modified = sorted(state.modified | covered[best])
                        return SearchOutcome("successful", candidates[best], exact, modified)
                    gold = cand_probs[:, goal.gold]
                    # The candidate that lowers p_gold most (if any lowers it) among those the lazy
                    # constraints keep: only the ones that lower it need checking.
                    better = [i for i in np.argsort(gold, kind="stable") if gold[i] < best_probs[goal.gold]]
                    best = self._first_passing(lazy_rules, state.original, candidates, better)
                    if best is not None:
                        state.current, best_probs = candidates[best], cand_probs[best]
                        state.modified |= covered[best]
                if last:
                    raise QueryBudgetExhausted
        except QueryBudgetExhausted:
            return SearchOutcome("failed", state.current, best_probs, sorted(state.modified), "query budget")
        return SearchOutcome("failed", state.current, best_probs, sorted(state.modified), "no flip found")
