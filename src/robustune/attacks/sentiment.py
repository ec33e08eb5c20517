"""Word sentiment from the VADER lexicon, to keep substitutions from flipping a word's polarity.

VADER (Hutto & Gilbert, ICWSM 2014) rates about 7,500 English words and emoticons from -4 (most
negative) to +4 (most positive); the lexicon ships inside the ``vaderSentiment`` package. A word
substitution attack on a sentiment classifier should keep the text's sentiment, but its substitute
sources let opposite words through: GloVe places "good" beside "bad" (WordNet's antonyms remove only
the listed ones), and a masked LM proposes "great" where the text says "lacks". ``opposite_polarity``
flags a swap between words rated on opposite sides; a word outside the lexicon is neutral and never
flips.

Usage::

    opposite_polarity("fun", "sick")   # True
    opposite_polarity("good", "fine")  # False
    polarity("boring")                 # -1
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..errors import RobustuneError


@functools.lru_cache(maxsize=1)
def vader_valence() -> dict[str, float]:
    """{lower-cased word: mean valence in [-4, 4]} of the VADER lexicon."""
    try:
        import vaderSentiment
    except ImportError:
        raise RobustuneError("the VADER lexicon is not installed: pip install vaderSentiment==3.3.2") from None
    valence = {}
    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        try:
            valence[parts[0].lower()] = float(parts[1])
        except (IndexError, ValueError):  # a malformed line rates nothing
            continue
    return valence


def polarity(word: str) -> int:
    """+1 for a word rated positive, -1 for one rated negative, 0 for a neutral or unrated word."""
    value = vader_valence().get(word.lower(), 0.0)
    return (value > 0) - (value < 0)


def opposite_polarity(word: str, substitute: str) -> bool:
    """Whether the two words are rated on opposite sides of neutral."""
    return polarity(word) * polarity(substitute) < 0
