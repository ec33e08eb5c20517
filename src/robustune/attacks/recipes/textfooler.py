"""TextFooler (Jin et al., "Is BERT Really Robust?", AAAI 2020, arXiv 1907.11932).

Greedy search by deletion importance; substitutes are WordNet synonyms and the 50 nearest GloVe
neighbours (cosine >= 0.5, WordNet antonyms removed; the paper uses counter-fitted vectors);
stop-words untouched, each word changed once, at most 40% of the words; MiniLM sentence
similarity >= 0.8 to the original (the paper: USE over a window, 0.84 angular).
"""

from ..attack import Attack
from ..constraints import MaxModificationRate, RepeatModification, SentenceSimilarity, StopWords
from ..search import GreedyWordImportance
from ..substitutes import GloveNeighbours, Union, WordNetSynonyms


def build(query_budget=None, seed=0, similarity=0.8, max_rate=0.4, precision="auto",
          lazy_similarity=True, **_) -> Attack:
    return Attack(
        name="textfooler",
        generator=Union(WordNetSynonyms(max_candidates=50), GloveNeighbours(k=50, min_cos=0.5)),
        constraints=[StopWords(), RepeatModification(), MaxModificationRate(max_rate),
                     SentenceSimilarity(similarity, precision=precision, lazy=lazy_similarity)],
        search=GreedyWordImportance(importance="delete"),
        query_budget=query_budget,
    )
