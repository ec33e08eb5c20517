"""Reading local CSV / TSV / JSONL files (optionally gzip-compressed: ``.tsv.gz``) with validation
that names the file and row."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

from ..errors import DataError
from .dataset import TextDataset

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "tweet")
LABEL_COLUMNS = ("label", "labels", "class", "category", "polarity", "sentiment", "target")


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{path}: not a valid gzip file ({err})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} is not valid UTF-8 (byte {raw[err.start]:#04x} at offset {err.start}); "
            "re-save the file as UTF-8"
        ) from None


def pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, origin: str) -> str | None:
    """The column to use: the one asked for, else the first conventional name present."""
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{origin}: no {what} column {wanted!r}; the columns are {columns}")
        return wanted
    lowered = {c.lower(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    return None


def _columns_error(path: Path, columns: list[str], delimiter: str, text: str) -> DataError:
    hint = ""
    first_line = text.splitlines()[0] if text else ""
    if delimiter == "," and "\t" in first_line:
        hint = " The header contains tabs: is this a tab-separated file? Name it .tsv."
    elif delimiter == "\t" and "," in first_line and "\t" not in first_line:
        hint = " The header contains commas but no tabs: is this a comma-separated file? Name it .csv."
    return DataError(
        f"{path}: cannot find a text column among {columns} (looked for {', '.join(TEXT_COLUMNS)}); "
        f"pass --text-column.{hint}"
    )


def _rows_from_delimited(path: Path, delimiter: str):
    text = _decode(path)
    # GLUE-style TSVs carry bare quote characters inside the text, so TSV is read without quoting.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: the file is empty") from None
    except csv.Error as err:
        raise DataError(f"{path}: line 1: {err}") from None
    header = [h.strip() for h in header]
    rows = []
    try:
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            rows.append((reader.line_num, fields))
    except csv.Error as err:
        raise DataError(f"{path}: line {reader.line_num}: {err}") from None
    return header, rows, text


def read_delimited(path: Path, delimiter: str, text_column: str | None, label_column: str | None,
                   need_labels: bool) -> TextDataset:
    header, rows, raw_text = _rows_from_delimited(path, delimiter)
    text_col = pick_column(header, text_column, TEXT_COLUMNS, "text", str(path))
    if text_col is None:
        raise _columns_error(path, header, delimiter, raw_text)
    label_col = pick_column(header, label_column, LABEL_COLUMNS, "label", str(path))
    if label_col is None and need_labels:
        raise DataError(
            f"{path}: cannot find a label column among {header} (looked for {', '.join(LABEL_COLUMNS)}); "
            "pass --label-column"
        )
    ti = header.index(text_col)
    li = header.index(label_col) if label_col is not None else None
    texts, labels, where = [], [], []
    for row_number, (line, fields) in enumerate(rows, start=1):
        place = f"{path}: row {row_number} (line {line})"
        if len(fields) != len(header):
            raise DataError(
                f"{place}: has {len(fields)} fields but the header has {len(header)}"
                + (" (is the delimiter right?)" if len(fields) == 1 else "")
            )
        texts.append(_check_text(fields[ti], place))
        if li is not None:
            labels.append(_check_label(fields[li], place))
        where.append(place)
    return _finish(path, texts, labels if li is not None else None, where)


def read_jsonl(path: Path, text_column: str | None, label_column: str | None, need_labels: bool) -> TextDataset:
    texts, labels, where = [], [], []
    text_col = label_col = None
    has_labels = None
    row_number = 0
    for line_number, line in enumerate(_decode(path).splitlines(), start=1):
        if not line.strip():
            continue
        row_number += 1
        place = f"{path}: row {row_number} (line {line_number})"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{place}: not valid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{place}: expected a JSON object per line")
        if text_col is None:
            columns = list(record)
            text_col = pick_column(columns, text_column, TEXT_COLUMNS, "text", place)
            if text_col is None:
                raise DataError(f"{place}: cannot find a text field among {columns}; pass --text-column")
            label_col = pick_column(columns, label_column, LABEL_COLUMNS, "label", place)
            if label_col is None and need_labels:
                raise DataError(f"{place}: cannot find a label field among {columns}; pass --label-column")
            has_labels = label_col is not None
        if text_col not in record:
            raise DataError(f"{place}: missing the text field {text_col!r}")
        texts.append(_check_text(record[text_col], place))
        if has_labels:
            if label_col not in record:
                raise DataError(f"{place}: missing the label field {label_col!r}")
            labels.append(_check_label(record[label_col], place))
        where.append(place)
    return _finish(path, texts, labels if has_labels else None, where)


def _check_text(value, place: str) -> str:
    if value is None or not isinstance(value, (str, int, float)):
        raise DataError(f"{place}: the text is missing")
    text = str(value).strip()
    if not text:
        raise DataError(f"{place}: the text is empty")
    return text


def _check_label(value, place: str) -> str:
    if value is None or isinstance(value, (list, dict)):
        raise DataError(f"{place}: the label is missing")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    label = str(value).strip()
    if not label:
        raise DataError(f"{place}: the label is missing")
    return label


def _finish(path: Path, texts, labels, where) -> TextDataset:
    if not texts:
        raise DataError(f"{path}: contains no rows")
    return TextDataset(texts=texts, labels=labels, origin=str(path), rows=where)


def read_file(path: Path, text_column: str | None = None, label_column: str | None = None,
              need_labels: bool = True) -> TextDataset:
    suffix = path.suffix.lower()
    if suffix == ".gz":  # the format is the suffix before it: data.tsv.gz
        suffix = Path(path.stem).suffix.lower()
    if suffix == ".csv":
        return read_delimited(path, ",", text_column, label_column, need_labels)
    if suffix in (".tsv", ".tab"):
        return read_delimited(path, "\t", text_column, label_column, need_labels)
    if suffix in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(path, text_column, label_column, need_labels)
    raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv, .tsv or .jsonl (or those + .gz)")
