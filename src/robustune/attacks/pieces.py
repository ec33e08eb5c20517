"""Texts segmented into sentence pieces or characters, for languages written without spaces.

The Chinese piece-level attack (Li et al., "Generating Adversarial Examples in Chinese Texts Using
Sentence-Pieces", arXiv 2012.14769) substitutes *sentence pieces*: the units of the masked LM's own
sentencepiece vocabulary, so that no word segmenter is needed and a substitute is always one token
of the MLM. :class:`PieceSegmenter` turns a text into a :class:`PieceText` whose units are the
pieces the MLM's tokenizer produces (their character offsets in the original text) and whose gaps
are what lies between (spaces, the rest past truncation); ``str(pieces)`` is the original text,
character for character, whatever the tokenizer normalises (NFKC, lower-casing) or marks ("\u2581",
"##"). :func:`characters` makes every non-space character a unit (the character-level baseline).

Usage::

    seg = PieceSegmenter(AutoTokenizer.from_pretrained("path/to/zh-mlm"))
    pieces = seg("这家酒店很好")          # PieceText(words=(...the pieces...), gaps=('', ..., ''))
    str(pieces.replace(len(pieces) - 1, "差"))   # the text with its last piece replaced
"""

from __future__ import annotations

from dataclasses import dataclass

from .text import WordText


@dataclass(frozen=True)
class PieceText(WordText):
    """A :class:`WordText` whose units are sentence pieces (or characters) instead of words."""

    @classmethod
    def from_spans(cls, text: str, spans: list[tuple[int, int]]) -> "PieceText":
        """Units ``text[s:e]`` for sorted, non-overlapping ``spans``; everything else becomes gaps."""
        words, gaps, end = [], [], 0
        for start, stop in spans:
            gaps.append(text[end:start])
            words.append(text[start:stop])
            end = stop
        gaps.append(text[end:])
        return cls(tuple(words), tuple(gaps))


def piece_spans(text: str, offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans of the pieces from a tokenizer's offsets, whitespace moved to the gaps.

    Special tokens have empty offsets; a lone "\u2581" token shares its span with the next piece
    (sentencepiece's word-start marker) or covers only a space: both are merged or dropped, so the
    spans are non-empty, in order and disjoint.
    """
    spans: list[tuple[int, int]] = []
    for start, stop in offsets:
        while start < stop and text[start].isspace():
            start += 1
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        if start >= stop:
            continue
        if spans and start < spans[-1][1]:  # overlaps the previous piece: one unit
            spans[-1] = (spans[-1][0], max(stop, spans[-1][1]))
        else:
            spans.append((start, stop))
    return spans


class PieceSegmenter:
    """``segmenter(text) -> PieceText`` with the sentence pieces of a fast HF tokenizer."""

    def __init__(self, tokenizer, max_length: int = 256):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, text: str) -> PieceText:
        # The MLM's limit less its two special tokens: every unit can then be masked in the MLM's input.
        limit = min(self.max_length, self.tokenizer.model_max_length) - 2
        enc = self.tokenizer(text, truncation=True, max_length=limit, return_offsets_mapping=True,
                             add_special_tokens=False)
        return PieceText.from_spans(text, piece_spans(text, enc["offset_mapping"]))


def characters(text: str) -> PieceText:
    """Every non-whitespace character is a unit (a character-level segmentation)."""
    return PieceText.from_spans(text, [(i, i + 1) for i, ch in enumerate(text) if not ch.isspace()])
