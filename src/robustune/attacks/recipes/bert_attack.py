"""BERT-Attack (Li et al., EMNLP 2020, arXiv 2004.09984).

Word importance ``o_y(S) - o_y(S\\w_i)`` with word i replaced by ``[UNK]`` (the paper masks it with
``[MASK]``; TextAttack's recipe uses ``[UNK]`` too, and a classifier never saw ``[MASK]`` in training);
substitutes are a masked LM's top-48 predictions at the word's position (the paper's K; sub-token
words by combining per-sub-token candidates, ranked by perplexity); stop-words untouched, each word
changed once, at most 40% of the words, MiniLM sentence similarity >= 0.8 to the original.
Deviations: the similarity is MiniLM's cosine (TextAttack's recipe: USE cosine >= 0.2; MiniLM
cosines run higher, and 0.2 would let nearly anything through), checked lazily as in textfooler
(the same picks, fewer encoder passes, more victim queries); TextAttack 0.3.11 proposes 8
candidates per position by default, robustune the paper's 48. ``keep_polarity`` (not in the paper)
rejects swaps of a word for one of opposite sentiment (VADER): a masked LM proposes "great" as
readily as "awful".
"""

from pathlib import Path

from ...assets import cache_dir
from ...errors import RobustuneError
from ..attack import Attack
from ..constraints import MaxModificationRate, RepeatModification, SamePolarity, SentenceSimilarity, StopWords
from ..search import GreedyWordImportance


def default_mlm() -> str:
    """Where ``robustune mlm build`` puts its model by default."""
    return str(cache_dir() / "mlm" / "default")


def build(query_budget=None, seed=0, mlm=None, top_k=48, similarity=0.8, max_rate=0.4, precision="auto",
          lazy_similarity=True, keep_polarity=False, **_) -> Attack:
    from ..substitutes.mlm import MaskedLMSubstitutes

    mlm = mlm or default_mlm()
    if mlm == default_mlm() and not (Path(mlm) / "config.json").is_file():
        raise RobustuneError("bert-attack needs a masked LM: pass --mlm PATH_OR_ID, or build one offline with "
                             "`robustune mlm build` (saved to the default place)")
    return Attack(
        name="bert-attack",
        generator=MaskedLMSubstitutes(mlm, top_k=top_k),
        constraints=[StopWords(), RepeatModification(), MaxModificationRate(max_rate),
                     *([SamePolarity()] if keep_polarity else []),
                     SentenceSimilarity(similarity, precision=precision, lazy=lazy_similarity)],
        search=GreedyWordImportance(importance="unk"),
        query_budget=query_budget,
    )
