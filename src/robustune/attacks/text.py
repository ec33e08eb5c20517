"""A text split into words and the gaps between them, so that one word can be replaced in place.

Words are runs of letters/digits (with inner apostrophes and hyphens: ``don't``, ``well-made``);
everything else (spaces, punctuation) is kept verbatim in ``gaps``, so ``str(text)`` rebuilds the
original exactly and a substitution changes nothing but the word it names.

The same structure holds any segmentation into units with verbatim gaps: :mod:`.pieces` builds one
from a tokenizer's sentence pieces (Chinese, no spaces) or from single characters, and the search,
constraints and report work on it unchanged. A :class:`Span` replaces several adjacent units at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")


@dataclass(frozen=True)
class Span:
    """A substitute for ``length`` adjacent units starting at the position it is proposed for."""

    text: str
    length: int = 2


@dataclass(frozen=True)
class WordText:
    words: tuple[str, ...]
    gaps: tuple[str, ...]  # len(words) + 1: before the first word, between words, after the last

    @classmethod
    def from_text(cls, text: str) -> "WordText":
        words, gaps, end = [], [], 0
        for match in _WORD.finditer(text):
            gaps.append(text[end:match.start()])
            words.append(match.group())
            end = match.end()
        gaps.append(text[end:])
        return cls(tuple(words), tuple(gaps))

    def __str__(self) -> str:
        parts = [self.gaps[0]]
        for word, gap in zip(self.words, self.gaps[1:]):
            parts += [word, gap]
        return "".join(parts)

    def __len__(self) -> int:
        return len(self.words)

    def replace(self, position: int, word: str) -> "WordText":
        """The text with the word at ``position`` replaced (an empty ``word`` deletes it)."""
        words = list(self.words)
        words[position] = word
        return type(self)(tuple(words), self.gaps)

    def replace_span(self, position: int, span: Span) -> "WordText":
        """The text with units ``position .. position + span.length - 1`` replaced by ``span.text``.

        The first unit takes the whole text and the others become empty, so positions stay put; the
        gaps between the units are kept (generators propose spans only where they are empty).
        """
        words = list(self.words)
        words[position:position + span.length] = [span.text] + [""] * (span.length - 1)
        return type(self)(tuple(words), self.gaps)

    def delete(self, position: int) -> "WordText":
        """The text without the word at ``position`` (and without the gap after it)."""
        words = self.words[:position] + self.words[position + 1:]
        gaps = self.gaps[:position + 1] + self.gaps[position + 2:]
        return type(self)(words, gaps)
