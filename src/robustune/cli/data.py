"""``robustune data``: what a data source holds, and the problems found in it."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from ..data import load_source
from .common import add_data_arguments


def describe(data) -> dict:
    words = np.array([len(t.split()) for t in data.texts])
    chars = np.array([len(t) for t in data.texts])
    counts = Counter(data.labels) if data.labels is not None else None
    problems = []
    duplicates = len(data.texts) - len(set(data.texts))
    if duplicates:
        problems.append(f"{duplicates} duplicate texts")
    if data.labels is not None:
        seen: dict[str, set] = {}
        for t, label in zip(data.texts, data.labels):
            seen.setdefault(t, set()).add(label)
        conflicting = sum(1 for ls in seen.values() if len(ls) > 1)
        if conflicting:
            problems.append(f"{conflicting} texts appear with more than one label")
        if counts and max(counts.values()) > 10 * min(counts.values()):
            problems.append("classes are imbalanced more than 10:1")
    short = int((words < 2).sum())
    if short:
        problems.append(f"{short} texts have fewer than 2 words")
    return {
        "source": data.origin,
        "rows": len(data),
        "labels": dict(sorted(counts.items())) if counts is not None else None,
        "words": {"mean": round(float(words.mean()), 1), "min": int(words.min()),
                  "median": float(np.median(words)), "p95": float(np.percentile(words, 95)), "max": int(words.max())},
        "characters": {"mean": round(float(chars.mean()), 1), "max": int(chars.max())},
        "problems": problems,
    }


def add_parser(sub):
    p = sub.add_parser("data", help="describe a data source",
                       description="Rows, label distribution, text lengths and problems of a data source. "
                                   "For a bundled name this also fetches it into the cache.")
    p.add_argument("src", help="a file, saved datasets folder, bundled name (sst2, ag_news, mr, tweets, bbc-news, chnsenti) "
                                   "or hub id")
    p.add_argument("--split", help="split of a bundled/hub/saved dataset (default: train)")
    add_data_arguments(p)
    return p


def run(args) -> int:
    data = load_source(args.src, args.split or "train", text_column=args.text_column,
                       label_column=args.label_column, need_labels=False, split_seed=args.split_seed)
    from ..data.bundled import BUNDLED, cleaning_stats
    from ..data.packaged import PACKAGED

    report = describe(data)
    name = str(args.src).split(":")[0]
    if name in PACKAGED:
        report["about"] = PACKAGED[name].description
    if name in BUNDLED and cleaning_stats(name) is not None:
        report["cleaning"] = cleaning_stats(name)  # what was dropped from the whole dataset before splitting
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0
