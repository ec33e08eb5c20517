"""``robustune evaluate``: accuracy, macro-F1, per-class figures and the confusion matrix."""

from __future__ import annotations

import json

from ..data import load_source
from ..errors import RobustuneError
from ..knn.datastore import VOTES
from ..evaluation import evaluate
from ..modeling import RobustClassifier
from .common import add_data_arguments, info, write_json


def add_parser(sub):
    p = sub.add_parser("evaluate", help="evaluate a saved model on labelled data",
                       description="Evaluate a saved model; prints and optionally writes the metrics as JSON.")
    p.add_argument("--model", required=True, help="a model folder written by robustune train")
    p.add_argument("--data", required=True, help="labelled data (a file, folder, bundled name or hub id; "
                   "a bundled or hub dataset defaults to its test split)")
    p.add_argument("--output", help="write the metrics to this JSON file")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    add_data_arguments(p)
    g = p.add_argument_group("KNN datastore (models saved with one; override the saved settings, no retraining)")
    g.add_argument("--knn-k", type=int, help="number of neighbours K")
    g.add_argument("--knn-weight", type=float, help="share λ' of the KNN vote in the combined probabilities")
    g.add_argument("--knn-vote", choices=VOTES, help="uniform vote share or similarity-weighted vote")
    return p


def run(args) -> int:
    model = RobustClassifier.from_pretrained(args.model)
    knn = {"k": args.knn_k, "weight": args.knn_weight, "vote": args.knn_vote}
    if any(v is not None for v in knn.values()):
        if model.knn is None:
            raise RobustuneError(f"{args.model}: the model has no KNN datastore; --knn-* options do not apply")
        model.knn.configure(**knn)
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
