"""TextFooler (Jin et al., "Is BERT Really Robust?", AAAI 2020, arXiv 1907.11932).

Greedy search by deletion importance, with the paper's second term where a deletion flips the label
(eq. 2: the probability the new label gains); substitutes are WordNet synonyms and the 50 nearest
GloVe neighbours (cosine >= 0.5, WordNet antonyms removed); stop-words untouched, each word changed
once; MiniLM sentence similarity >= 0.8 to the original.
Deviations: GloVe 6B 50d stands in for counter-fitted vectors, a WordNet part-of-speech agreement
for the tagger, and MiniLM cosine >= 0.8 over the whole text against the original for USE angular
similarity 0.84 over a 15-word window against the current text (none of the paper's resources can
be had offline); at most 40% of the words change (not in the paper; BERT-Attack's cap: with a
similarity threshold of 0.8 it rarely binds). The similarity is checked lazily (``lazy_similarity``):
after the victim has scored a position's candidates, on the flipping ones and then in order of
p_gold until one passes -- the same candidate the paper's order (constraints first) picks, for a
fraction of the encoder passes, at the price of victim queries on candidates it would have rejected.
``keep_polarity`` (not in the paper) rejects swaps of a word for one of opposite sentiment (VADER),
which counter-fitted vectors largely keep out and GloVe lets through.
"""

from ..attack import Attack
from ..constraints import MaxModificationRate, RepeatModification, SamePolarity, SentenceSimilarity, StopWords
from ..search import GreedyWordImportance
from ..substitutes import GloveNeighbours, Union, WordNetSynonyms


def build(query_budget=None, seed=0, similarity=0.8, max_rate=0.4, precision="auto",
          lazy_similarity=True, keep_polarity=False, **_) -> Attack:
    return Attack(
        name="textfooler",
        generator=Union(WordNetSynonyms(max_candidates=50), GloveNeighbours(k=50, min_cos=0.5)),
        constraints=[StopWords(), RepeatModification(), MaxModificationRate(max_rate),
                     *([SamePolarity()] if keep_polarity else []),
                     SentenceSimilarity(similarity, precision=precision, lazy=lazy_similarity)],
        search=GreedyWordImportance(importance="delete"),
        query_budget=query_budget,
    )
