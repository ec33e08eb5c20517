"""``robustune evaluate``: accuracy, macro-F1, per-class figures and the confusion matrix."""

from __future__ import annotations

import json

from ..data import load_source
from ..evaluation import evaluate
from ..modeling import RobustClassifier
from .common import add_data_arguments, add_knn_arguments, apply_knn_arguments, info, write_json


def add_parser(sub):
    p = sub.add_parser("evaluate", help="evaluate a saved model on labelled data",
                       description="Evaluate a saved model; prints and optionally writes the metrics as JSON.")
    p.add_argument("--model", required=True, help="a model folder written by robustune train")
    p.add_argument("--data", required=True, help="labelled data (a file, folder, bundled name or hub id; "
                   "a bundled or hub dataset defaults to its test split)")
    p.add_argument("--output", help="write the metrics to this JSON file")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    add_data_arguments(p)
    add_knn_arguments(p)
    return p


def run(args) -> int:
    model = RobustClassifier.from_pretrained(args.model)
    apply_knn_arguments(model, args)
    data = load_source(args.data, "test", text_column=args.text_column, label_column=args.label_column,
                       split_seed=args.split_seed)
    metrics = evaluate(model, data, batch_size=args.batch_size, progress=True)
    print(json.dumps(metrics, indent=2))
    parts = {k[len("accuracy_"):]: v for k, v in metrics.items() if k.startswith("accuracy_")}
    if parts:
        info(f"accuracy {metrics['accuracy']:.4f} (combined)  "
             + "  ".join(f"{name} {value:.4f}" for name, value in parts.items()))
    if args.output:
        write_json(args.output, metrics)
        info(f"wrote {args.output}")
    return 0
