"""Character edits (DeepWordBug, Gao et al., IEEE S&P Workshops 2018, arXiv 1801.04354).

For a word, DeepWordBug proposes typos that keep it readable to people but unknown to the model's
vocabulary: swap two adjacent characters, substitute a character, delete a character, insert a
character. ``per_edit`` random edits of each of the four kinds are proposed per word (the
deepwordbug recipe asks for one, as TextAttack's does); ``keep_ends=True`` leaves the first and
last characters alone, which keeps long words readable. The randomness comes from a generator
seeded with (seed, position, word), so the
same text always gets the same candidates, whatever else ran before.

Usage::

    CharEdits(seed=0)(WordText.from_text("a good film"), 1)   # ['godo', 'gpod', 'god', 'gobod', ...]
"""

from __future__ import annotations

import random
import string
import zlib

from ..text import WordText

EDITS = ("swap", "substitute", "delete", "insert")


def edit_word(word: str, edit: str, rng: random.Random, keep_ends: bool = False) -> str | None:
    """One random ``edit`` of ``word``; None where the word is too short for it."""
    lo, hi = (1, len(word) - 1) if keep_ends else (0, len(word))
    letters = string.ascii_lowercase
    if edit == "swap":
        if hi - lo < 2:
            return None
        i = rng.randrange(lo, hi - 1)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if edit == "substitute":
        if hi - lo < 1:
            return None
        i = rng.randrange(lo, hi)
        return word[:i] + rng.choice(letters.replace(word[i].lower(), "")) + word[i + 1:]
    if edit == "delete":
        if hi - lo < 1 or len(word) < 2:
            return None
        i = rng.randrange(lo, hi)
        return word[:i] + word[i + 1:]
    if edit == "insert":
        i = rng.randrange(max(lo, 0), max(hi, lo) + 1)
        return word[:i] + rng.choice(letters) + word[i:]
    raise ValueError(f"unknown edit {edit!r}")


class CharEdits:
    def __init__(self, per_edit: int = 1, edits: tuple[str, ...] = EDITS, keep_ends: bool = False, seed: int = 0):
        self.per_edit = per_edit
        self.edits = edits
        self.keep_ends = keep_ends
        self.seed = seed

    def __call__(self, text: WordText, position: int) -> list[str]:
        word = text.words[position]
        rng = random.Random(zlib.crc32(f"{self.seed}:{position}:{word}".encode()))
        out = []
        for edit in self.edits:
            for _ in range(self.per_edit):
                candidate = edit_word(word, edit, rng, self.keep_ends)
                # An edit that makes the word re-read as something else ("don't" -> "dont'", whose
                # apostrophe becomes punctuation) would move the positions the constraints check.
                if candidate and candidate != word and WordText.from_text(candidate).words == (candidate,):
                    out.append(candidate)
        return list(dict.fromkeys(out))
