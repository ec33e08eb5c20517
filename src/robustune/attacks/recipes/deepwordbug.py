"""DeepWordBug (Gao et al., IEEE S&P Workshops 2018, arXiv 1801.04354).

Word importance by replacing each word with ``[UNK]``; for the most important words, character
swaps, substitutions, deletions and insertions (two random edits of each kind, seeded); each word
changed once, at most 40% of the words, total Levenshtein distance <= 30 (TextAttack's recipe).
Deviation: stop-words are left alone as in the other recipes (the paper does not exclude them).
"""

from ..attack import Attack
from ..constraints import MaxEditDistance, MaxModificationRate, RepeatModification, StopWords
from ..search import GreedyWordImportance
from ..substitutes import CharEdits


def build(query_budget=None, seed=0, max_rate=0.4, per_edit=2, **_) -> Attack:
    return Attack(
        name="deepwordbug",
        generator=CharEdits(per_edit=per_edit, seed=seed),
        constraints=[StopWords(), RepeatModification(), MaxModificationRate(max_rate), MaxEditDistance(30)],
        search=GreedyWordImportance(importance="unk"),
        query_budget=query_budget,
    )
