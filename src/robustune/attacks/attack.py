"""An attack = substitute generator + constraints + search (+ a query budget), run on one example.

Usage::

    from robustune.attacks import build_recipe, load_victim
    victim = load_victim("models/sst2")                  # or any callable texts -> probabilities
    attack = build_recipe("textfooler")
    result = attack.attack(victim, "a gripping, funny film", label=1)
    result.status, result.adversarial                    # ('successful', 'a gripping, comic film')
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .constraints import check_all
from .goal import Goal
from .search import GreedyWordImportance
from .text import WordText
from .victim import Victim

Generator = Callable[[WordText, int], list]  # candidate words (str) or spans (text.Span) at a position
Segmenter = Callable[[str], WordText]  # how a text is cut into the units an attack substitutes


def substitutions(original: WordText, adversarial: WordText, modified: list[int]) -> list[list]:
    """``[[position, original unit, adversarial unit], ...]`` (a span's later units become "")."""
    return [[i, original.words[i], adversarial.words[i]] for i in modified]


def apply_substitutions(original: WordText, changes: list[list]) -> WordText:
    """The adversarial units rebuilt from the original's and the recorded substitutions."""
    words = list(original.words)
    for position, _, new in changes:
        words[position] = new
    return type(original)(tuple(words), original.gaps)


@dataclass
class AttackResult:
    original: str
    adversarial: str
    label: int
    status: str  # successful | failed | skipped
    original_probabilities: list[float]
    adversarial_probabilities: list[float]
    modified: list[int]  # unit positions changed (words; pieces or characters for the Chinese recipes)
    substitutions: list[list]  # [[position, original unit, adversarial unit], ...]
    num_words: int  # units of the original text
    queries: int  # texts sent to the victim (cache hits not counted), the fp32 checks included
    forwards: float  # the victim's batches; a share of them when examples are attacked concurrently
    seconds: float  # wall time; a share of it when examples are attacked concurrently
    victim_seconds: float = 0.0  # of ``seconds``, the time inside the victim's forwards
    forwards_per_query: int = 1  # encoder forwards per scored text (N for a smoothed victim)
    reason: str = ""
    requested: int = 0  # texts the search asked to have scored, cache hits included (TextAttack's count)
    exact_queries: int = 0  # of ``queries``, fp32 checks of label flips found by a bf16 search
    overturned: int = 0  # label flips of the bf16 search that the fp32 model did not confirm

    @property
    def perturbed_word_pct(self) -> float:
        return 100.0 * len(self.modified) / max(self.num_words, 1)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["perturbed_word_pct"] = round(self.perturbed_word_pct, 3)
        return out


@dataclass
class Attack:
    generator: Generator
    constraints: list
    search: GreedyWordImportance = field(default_factory=GreedyWordImportance)
    query_budget: int | None = None
    name: str = "custom"
    cache: bool = True  # False only to measure what the cache saves (benchmarks)
    segment: Segmenter = WordText.from_text  # words; pieces.PieceSegmenter / pieces.characters for Chinese

    def attack(self, victim: Victim, text: str, label: int) -> AttackResult:
        """Attack one example whose gold label id is ``label``."""
        # A victim shared by concurrent searches (concurrent.Lane) gives this example's share of the time.
        clock = getattr(victim, "clock", time.perf_counter)
        start, forwards, victim_seconds = clock(), victim.forwards, victim.seconds
        goal = Goal(victim, label, self.query_budget, self.cache)
        original = self.segment(text)
        outcome = self.search.run(goal, original, self.generator, self.constraints)
        original_probs = goal.known(text) if goal.queries else outcome.probabilities
        modified = outcome.modified  # a failed attack: the positions of the last text it reached
        return AttackResult(
            original=text, adversarial=str(outcome.adversarial), label=label, status=outcome.status,
            original_probabilities=np.round(original_probs, 6).tolist(),
            adversarial_probabilities=np.round(outcome.probabilities, 6).tolist(),
            modified=modified, substitutions=substitutions(original, outcome.adversarial, modified),
            num_words=len(original), queries=goal.queries, forwards=round(victim.forwards - forwards, 4),
            seconds=round(clock() - start, 4),
            victim_seconds=round(victim.seconds - victim_seconds, 4), reason=outcome.reason,
            requested=goal.requested, exact_queries=goal.exact_queries, overturned=goal.overturned,
            forwards_per_query=victim.forwards_per_query,
        )

    def satisfies_constraints(self, result: AttackResult) -> bool:
        """Whether a result's adversarial text respects every constraint of this attack."""
        original = self.segment(result.original)
        adversarial = apply_substitutions(original, result.substitutions)
        changed = {i for i, (a, b) in enumerate(zip(original.words, adversarial.words)) if a != b}
        return str(adversarial) == result.adversarial and changed == set(result.modified) and \
            check_all(self.constraints, original, adversarial, changed)
