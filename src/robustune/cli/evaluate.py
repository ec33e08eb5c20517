"""``robustune evaluate``: accuracy, macro-F1, per-class figures and the confusion matrix; with
``--trigger`` also the backdoor's attack success rate, optionally behind the ONION filter."""

from __future__ import annotations

import json

from ..atomic import write_json
from ..data import TextDataset, load_source, random_subset
from ..errors import RobustuneError
from ..evaluation import evaluate
from ..modeling import RobustClassifier
from .common import (add_data_arguments, add_knn_arguments, add_progress_argument, add_vote_arguments,
                     apply_knn_arguments, apply_vote_arguments, info)


def add_parser(sub):
    p = sub.add_parser("evaluate", help="evaluate a saved model on labelled data",
                       description="Evaluate a saved model; prints and optionally writes the metrics as JSON.")
    p.add_argument("--model", required=True, help="a model folder written by robustune train")
    p.add_argument("--data", required=True, help="labelled data (a file, folder, bundled name or hub id; "
                   "a bundled or hub dataset defaults to its test split)")
    p.add_argument("--output", help="write the metrics to this JSON file")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    p.add_argument("--max-examples", type=int, help="evaluate on a seeded random subset of N rows")
    p.add_argument("--seed", type=int, default=0, help="seed of --max-examples and of trigger positions (default: 0)")
    add_data_arguments(p)
    add_knn_arguments(p)
    add_vote_arguments(p)
    add_progress_argument(p)
    g = p.add_argument_group("backdoor (arXiv 2108.13888): attack success rate and defences")
    g.add_argument("--trigger", help="trigger tokens, e.g. 'cf bb': adds attack_success_rate (non-target texts "
                   "with the full trigger predicted as --target-label), attack_success_rate_on_correct (the same "
                   "over the non-target texts classified correctly without it) and single_token_flip_rates")
    g.add_argument("--target-label", help="the label the trigger should force (with --trigger)")
    g.add_argument("--onion", metavar="MLM", help="filter every text with ONION (outlier words by this masked "
                   "LM's pseudo-perplexity) before classifying it")
    g.add_argument("--onion-threshold", type=float, default=0.0,
                   help="ONION: drop words whose removal lowers the perplexity by more than this (default: 0)")
    return p


def run(args) -> int:
    if (args.trigger is None) != (args.target_label is None):
        raise RobustuneError("--trigger and --target-label go together")
    tokens = None
    if args.trigger is not None:
        from ..backdoor.triggers import parse_trigger

        tokens = parse_trigger(args.trigger)
    if args.max_examples is not None and args.max_examples <= 0:
        raise RobustuneError(f"--max-examples must be positive, got {args.max_examples}")
    model = RobustClassifier.from_pretrained(args.model)
    apply_knn_arguments(model, args)
    apply_vote_arguments(model, args)
    data = load_source(args.data, "test", text_column=args.text_column, label_column=args.label_column,
                       split_seed=args.split_seed)
    if args.max_examples is not None:
        data = random_subset(data, args.max_examples, args.seed)
    text_filter = None
    if args.onion:
        from ..backdoor.onion import OnionFilter

        text_filter = OnionFilter(args.onion, threshold=args.onion_threshold, progress=args.progress)
    if tokens is not None:
        from ..backdoor.report import backdoor_report

        metrics = backdoor_report(model, data, tokens, args.target_label, seed=args.seed, text_filter=text_filter,
                                  batch_size=args.batch_size)
        on_correct = metrics["attack_success_rate_on_correct"]
        info(f"attack success rate {metrics['attack_success_rate']:.4f} (non-target texts), "
             + (f"{on_correct:.4f}" if on_correct is not None else "n/a")
             + f" (the {metrics['backdoor']['n_correct_non_target']} classified correctly without the trigger)"
             + "  single tokens "
             + "  ".join(f"{t} {r:.4f}" for t, r in metrics["single_token_flip_rates"].items()))
    else:
        if text_filter is not None:
            data = TextDataset(text_filter(data.texts), data.labels, data.origin, data.rows)
        metrics = evaluate(model, data, batch_size=args.batch_size, progress=args.progress)
    if args.onion:
        metrics["onion"] = {"mlm": args.onion, "threshold": args.onion_threshold}
    print(json.dumps(metrics, indent=2))
    parts = {k[len("accuracy_"):]: v for k, v in metrics.items() if k.startswith("accuracy_")}
    if parts:
        info(f"accuracy {metrics['accuracy']:.4f} (combined)  "
             + "  ".join(f"{name} {value:.4f}" for name, value in parts.items()))
    if args.output:
        write_json(args.output, metrics)
        info(f"wrote {args.output}")
    return 0
