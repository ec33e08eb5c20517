"""Character-substitution baseline for the Chinese piece attack (the comparison of arXiv 2012.14769).

The same attack as ``pieces-zh`` with single *characters* as the units: every Chinese character is
a position, its importance is the drop in the gold probability when it is masked, and the
substitutes are the masked LM's top-48 one-character pieces at that character (masked in place);
no spans. Constraints, budget (40% of the characters) and similarity are those of ``pieces-zh``.
This is how character-level Chinese attacks work without segmentation (one character swapped for
another the LM finds plausible), so the two recipes differ only in the unit they substitute.
"""

from ..attack import Attack
from ..pieces import characters
from .pieces_zh import masked_lm_attack, resolve_mlm


def build(query_budget=None, seed=0, mlm=None, top_k=48, similarity=0.95, max_rate=0.4, **_) -> Attack:
    from ..substitutes.pieces import MaskedPieceSubstitutes

    generator = MaskedPieceSubstitutes(resolve_mlm(mlm, "chars-zh"), top_k=top_k, span=1, single_char=True)
    return masked_lm_attack("chars-zh", generator, characters, query_budget, similarity, max_rate)
