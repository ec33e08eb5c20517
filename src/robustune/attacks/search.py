"""Greedy search by word importance (TextFooler, Jin et al. AAAI 2020; BERT-Attack, Li et al. EMNLP 2020).

1. Importance of every modifiable position i: ``I_i = p_gold(x) - p_gold(x without word i)``
   (``importance="delete"``) or with word i replaced by ``[UNK]`` (``"unk"``); all positions are
   scored in one batched query.
2. Positions in decreasing importance: generate substitutes for the word (a word, or a
   :class:`~.text.Span` covering it and the next units: multi-piece substitutes of the Chinese
   piece attack), drop candidates whose positions the position constraints do not all allow and
   candidates that a candidate constraint rejects, score the rest in one batched query. If some
   candidate flips the label, stop and return the one that leaves the gold label least probable.
   Otherwise keep the candidate that lowers p_gold most (if it lowers it at all) and go on.
3. Give up when positions run out, the modification budget (a :class:`MaxModificationRate`
   constraint, 40% of the words by default) is spent, or the query budget is spent.
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

    def rank(self, goal: Goal, state: SearchState, positions: list[int], p_gold: float) -> list[int]:
        """Positions by decreasing importance (one batched query)."""
        if not positions:
            return []
        probs = goal.probabilities([self._leave_one_out(state.original, i) for i in positions])  # (P, K)
        importance = p_gold - probs[:, goal.gold]
        # A deletion that already flips the label matters most (TextFooler's second term).
        importance = importance + goal.is_success(probs) * 1.0
        order = np.argsort(-importance, kind="stable")
        return [positions[i] for i in order]

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
        position_rules = [c for c in constraints if isinstance(c, PositionConstraint)]
        candidate_rules = [c for c in constraints if isinstance(c, CandidateConstraint)]
        state = SearchState(text, text)
        try:
            probs = goal.probabilities([str(text)])[0]
        except QueryBudgetExhausted:
            return SearchOutcome("failed", text, np.zeros(len(goal.victim.label_names)), reason="query budget")
        if goal.is_success(probs):
            return SearchOutcome("skipped", text, probs, reason="misclassified before the attack")
        allowed = lambda i: all(rule.allows(state, i) for rule in position_rules)  # noqa: E731
        best_probs = probs
        try:
            order = self.rank(goal, state, [i for i in range(len(text)) if allowed(i)], float(probs[goal.gold]))
            for position in order:
                if not allowed(position):
                    continue
                candidates, covered = self._candidates(state, position, generator(state.current, position),
                                                       position_rules)
                for rule in candidate_rules:
                    keep = rule.keep(state.original, candidates)
                    candidates = [c for c, k in zip(candidates, keep) if k]
                    covered = [p for p, k in zip(covered, keep) if k]
                if not candidates:
                    continue
                cand_probs = goal.probabilities([str(c) for c in candidates])  # (C, K)
                gold = cand_probs[:, goal.gold]
                success = goal.is_success(cand_probs)
                if success.any():
                    best = int(np.flatnonzero(success)[np.argmin(gold[success])])
                    modified = sorted(state.modified | covered[best])
                    return SearchOutcome("successful", candidates[best], cand_probs[best], modified)
                best = int(np.argmin(gold))
                if gold[best] < best_probs[goal.gold]:
                    state.current, best_probs = candidates[best], cand_probs[best]
                    state.modified |= covered[best]
        except QueryBudgetExhausted:
            return SearchOutcome("failed", state.current, best_probs, sorted(state.modified), "query budget")
        return SearchOutcome("failed", state.current, best_probs, sorted(state.modified), "no flip found")
