"""Substitute generators: ``generator(text, position) -> candidate words`` for the word at ``position``."""

from __future__ import annotations

from ..text import WordText
from .chars import CharEdits
from .embedding import GloveNeighbours
from .wordnet import WordNetSynonyms


class Union:
    """The candidates of several generators, in order, without repeats."""

    def __init__(self, *generators):
        self.generators = generators

    def __call__(self, text: WordText, position: int) -> list[str]:
        return list(dict.fromkeys(w for g in self.generators for w in g(text, position)))


__all__ = ["Union", "CharEdits", "GloveNeighbours", "WordNetSynonyms", "MaskedLMSubstitutes"]


def __getattr__(name):  # the MLM generator imports transformers only when asked for
    if name == "MaskedLMSubstitutes":
        from .mlm import MaskedLMSubstitutes

        return MaskedLMSubstitutes
    raise AttributeError(name)
