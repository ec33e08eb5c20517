"""WordNet 3.0 synonyms and antonyms, read offline from the Debian ``wordnet-base`` package.

nltk's own downloader needs the internet. Debian's ``wordnet-base`` (+ ``wordnet-sense-index``)
ships the same WordNet 3.0 database files under ``/usr/share/wordnet``; nltk's reader needs them in
a ``corpora/wordnet`` folder together with a ``lexnames`` file, which Debian does not ship (it is
the fixed list of the 45 lexicographer files, written here). :func:`wordnet` prepares that folder
under robustune's cache on first use and returns an nltk ``WordNetCorpusReader``.

Usage::

    WordNetSynonyms()(WordText.from_text("a good film"), 1)   # ['full', 'estimable', 'honorable', ...]
"""

from __future__ import annotations

import functools
import os
import shutil
import warnings
from pathlib import Path

from ...assets import cache_dir
from ...errors import RobustuneError
from ..text import WordText

# Debian's wordnet-base puts the database here; $ROBUSTUNE_WORDNET points elsewhere (another distribution).
DEBIAN_WORDNET = Path(os.environ.get("ROBUSTUNE_WORDNET", "/usr/share/wordnet"))
INSTALL_HINT = "apt-get install -y wordnet-base wordnet-sense-index"
_FILES = ("index.noun", "index.verb", "index.adj", "index.adv", "data.noun", "data.verb", "data.adj",
          "data.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc", "cntlist.rev", "index.sense")
# The lexicographer files of WordNet 3.0, in their fixed order: (name, part-of-speech number).
_LEXNAMES = [("adj.all", 3), ("adj.pert", 3), ("adv.all", 4)] + [
    (f"noun.{n}", 1) for n in ("Tops act animal artifact attribute body cognition communication event feeling "
                               "food group location motive object person phenomenon plant possession process "
                               "quantity relation shape state substance time").split()] + [
    (f"verb.{n}", 2) for n in ("body change cognition communication competition consumption contact creation "
                               "emotion motion perception possession social stative weather").split()] + [
    ("adj.ppl", 3)]


def prepare_wordnet(source: Path = DEBIAN_WORDNET, target: Path | None = None) -> Path:
    """Make ``<cache>/nltk_data/corpora/wordnet`` from the Debian files (once) and return it."""
    target = target or cache_dir() / "nltk_data" / "corpora" / "wordnet"
    if (target / "lexnames").is_file() and all((target / f).exists() for f in _FILES):
        return target
    missing = [f for f in _FILES if not (source / f).is_file()]
    if missing:
        raise RobustuneError(f"WordNet is not installed ({source}/{missing[0]} is missing); "
                             f"install it with: {INSTALL_HINT}")
    target.mkdir(parents=True, exist_ok=True)
    for name in _FILES:  # copied, not linked: nltk refuses files that resolve outside its data roots
        if not (target / name).exists():
            shutil.copyfile(source / name, target / name)
    lexnames = "".join(f"{i:02d}\t{name}\t{pos}\n" for i, (name, pos) in enumerate(_LEXNAMES))
    (target / "lexnames").write_text(lexnames)
    return target


@functools.lru_cache(maxsize=1)
def wordnet():
    """An nltk WordNet reader over the prepared offline copy."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = prepare_wordnet()
    data_root = str(root.parents[1])  # <cache>/nltk_data: nltk only opens files under its data roots
    if data_root not in nltk.data.path:
        nltk.data.path.append(data_root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": none are needed
        return WordNetCorpusReader(str(root), None)


@functools.lru_cache(maxsize=100_000)
def synonyms(word: str) -> tuple[str, ...]:
    """Single-word WordNet synonyms of ``word`` over all its senses, most frequent senses first."""
    word = word.lower()
    out = []
    for synset in wordnet().synsets(word):
        for lemma in synset.lemma_names():
            if "_" not in lemma and "-" not in lemma and lemma.lower() != word and lemma.isalpha():
                out.append(lemma.lower())
    return tuple(dict.fromkeys(out))


@functools.lru_cache(maxsize=100_000)
def antonyms(word: str) -> frozenset[str]:
    """Antonyms of ``word`` in any sense, extended to the antonyms' synonyms within their senses."""
    out = set()
    for synset in wordnet().synsets(word.lower()):
        for lemma in synset.lemmas():
            for anti in lemma.antonyms():
                out.update(n.lower() for n in anti.synset().lemma_names())
    return frozenset(out)


@functools.lru_cache(maxsize=100_000)
def parts_of_speech(word: str) -> frozenset[str]:
    """WordNet parts of speech of ``word`` (n, v, a, r; satellite adjectives count as a)."""
    return frozenset("a" if s.pos() == "s" else s.pos() for s in wordnet().synsets(word.lower()))


def keep_case(template: str, word: str) -> str:
    """``word`` in the capitalisation of ``template`` ("Good" -> "Fine", "GOOD" -> "FINE")."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class WordNetSynonyms:
    """Substitutes for a word: its WordNet synonyms, at most ``max_candidates``."""

    def __init__(self, max_candidates: int = 50):
        self.max_candidates = max_candidates

    def __call__(self, text: WordText, position: int) -> list[str]:
        word = text.words[position]
        return [keep_case(word, s) for s in synonyms(word)[:self.max_candidates]]
