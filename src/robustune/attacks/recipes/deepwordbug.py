"""DeepWordBug (Gao et al., IEEE S&P Workshops 2018, arXiv 1801.04354).

Word importance by replacing each word with ``[UNK]`` (the paper's replace-1 score); for the most
important words in turn, one random edit of each kind -- swap two adjacent characters, substitute,
delete or insert a character (seeded) -- and the greedy search keeps the best; each word changed
once, total Levenshtein distance to the original <= 30 (the paper's edit budget). This is
TextAttack's ``DeepWordBugGao2018``, query for query: four candidates per word (``per_edit=1``;
``per_edit=2`` proposes two of each kind, 40% more queries on SST-2 for a success rate within a
few examples of it, see the recipe's benchmark in bench/textattack_compare.py).
Deviations: stop-words are left alone, as in TextAttack's recipe and robustune's other recipes
(the paper does not exclude them); ``max_rate`` caps the share of words changed (default 1.0: no
cap beyond the edit budget, as in the paper and TextAttack).
"""

from ..attack import Attack
from ..constraints import MaxEditDistance, MaxModificationRate, RepeatModification, StopWords
from ..search import GreedyWordImportance
from ..substitutes import CharEdits


def build(query_budget=None, seed=0, max_rate=1.0, per_edit=1, **_) -> Attack:
    return Attack(
        name="deepwordbug",
        generator=CharEdits(per_edit=per_edit, seed=seed),
        constraints=[StopWords(), RepeatModification(), MaxModificationRate(max_rate), MaxEditDistance(30)],
        search=GreedyWordImportance(importance="unk"),
        query_budget=query_budget,
    )
