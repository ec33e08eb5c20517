"""Arguments and output helpers shared by several sub-commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_data_arguments(parser) -> None:
    parser.add_argument("--text-column", help="column holding the text (default: text, sentence, review, ...)")
    parser.add_argument("--label-column", help="column holding the label (default: label, class, category, ...)")
    parser.add_argument("--split-seed", type=int, default=42,
                        help="seed of the train/dev/test split of sources that have none (default: 42)")


def write_json(path: str | Path, payload) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def info(message: str) -> None:
    print(message, file=sys.stderr)
