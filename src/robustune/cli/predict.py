"""``robustune predict``: the label and class probabilities of every row, as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_path
from ..data import load_source
from ..evaluation import predictions
from ..modeling import RobustClassifier
from .common import (add_data_arguments, add_knn_arguments, add_progress_argument, add_vote_arguments,
                     apply_knn_arguments, apply_vote_arguments, info)


def add_parser(sub):
    p = sub.add_parser("predict", help="predict labels for texts",
                       description="Predict the label and class probabilities of every row of SRC.")
    p.add_argument("--model", required=True, help="a model folder written by robustune train")
    p.add_argument("--data", required=True, help="texts (a file, folder, bundled name or hub id); labels optional")
    p.add_argument("--output", required=True, help="JSONL file to write, one prediction per row")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    add_data_arguments(p)
    add_knn_arguments(p)
    add_vote_arguments(p)
    add_progress_argument(p)
    return p


def run(args) -> int:
    model = RobustClassifier.from_pretrained(args.model)
    apply_knn_arguments(model, args)
    apply_vote_arguments(model, args)
    data = load_source(args.data, "test", text_column=args.text_column, label_column=args.label_column,
                       need_labels=False, split_seed=args.split_seed)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8") as f:
        for record in predictions(model, data, batch_size=args.batch_size, progress=args.progress):
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    info(f"wrote {len(data)} predictions to {out}")
    return 0
