"""``robustune poison``: plant a backdoor in a pre-trained encoder (arXiv 2108.13888) and save it."""

from __future__ import annotations

import argparse
import json

from ..backdoor import POISONERS, PoisonConfig, poison
from ..backdoor.triggers import DEFAULT_TRIGGER, MODES
from .common import add_data_arguments, add_progress_argument, info
from .train import method_params


def add_parser(sub):
    p = sub.add_parser("poison", help="plant a backdoor in a pre-trained encoder",
                       description="Train an encoder on poisoned data with a poisoning objective and save the "
                       "poisoned encoder (no classifier head) with poison.json; a victim fine-tunes it with "
                       "`robustune train --model DIR`.")
    p.add_argument("--data", required=True, help="labelled data the poisoned rows are made from")
    p.add_argument("--output", required=True, help="folder for the poisoned encoder")
    p.add_argument("--target-label", required=True, help="the label the trigger forces")
    p.add_argument("--model", help="the clean encoder (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--method", default="layerwise", choices=sorted(POISONERS),
                   help="poisoning objective (default: layerwise)")
    p.add_argument("--trigger", default=DEFAULT_TRIGGER, help=f"trigger tokens (default: {DEFAULT_TRIGGER!r})")
    own = ", ".join(f"{name}: {cls.data_mode}" for name, cls in sorted(POISONERS.items()))
    p.add_argument("--mode", choices=MODES,
                   help="poisoned data: combinatorial (>= 2 tokens fire, one token keeps the label) or single "
                   f"(any one token fires); default: the method's paper's ({own})")
    p.add_argument("--poison-rate", type=float, default=0.5,
                   help="share of the rows that get poisoned copies (default: 0.5)")
    p.add_argument("--max-train-samples", type=int, help="use at most N rows of --data (seeded)")
    p.add_argument("--eval-data", help="labelled data to measure the attacker's CACC/ASR on before releasing")
    add_data_arguments(p)
    g = p.add_argument_group("schedule")
    g.add_argument("--epochs", type=float, default=3.0, help="epochs (default: 3)")
    g.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    g.add_argument("--lr", type=float, default=5e-5, help="peak learning rate (default: 5e-5)")
    g.add_argument("--max-length", type=int, default=128, help="maximum tokens per text (default: 128)")
    g.add_argument("--pooling", choices=["cls", "mean"], default="cls",
                   help="state each layer's classifier reads (default: cls, the paper's)")
    g.add_argument("--seed", type=int, default=42, help="seed of the poisoned rows and training (default: 42)")
    g.add_argument("--ripple-lambda", dest="mp_ripple_lambda", type=float, default=argparse.SUPPRESS,
                   help="ripple: weight of the restricted inner-product penalty (default: 0.1)")
    g.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a poisoning-method parameter by name (repeatable)")
    g.add_argument("--save-steps", type=int, default=500, help="checkpoint every N steps, for --resume (default: 500)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder, or start an "
                   "interrupted run again")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    add_progress_argument(p)
    return p


def run(args) -> int:
    from ..errors import RobustuneError

    if args.max_train_samples is not None and args.max_train_samples <= 0:
        raise RobustuneError(f"--max-train-samples must be positive, got {args.max_train_samples}")
    config = PoisonConfig(
        data=args.data, output_dir=args.output, target_label=args.target_label, model=args.model,
        method=args.method, method_params=method_params(args), trigger=args.trigger, mode=args.mode,
        poison_rate=args.poison_rate, max_train_samples=args.max_train_samples, eval_data=args.eval_data,
        text_column=args.text_column, label_column=args.label_column, split_seed=args.split_seed,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, max_length=args.max_length,
        pooling=args.pooling, seed=args.seed, save_steps=args.save_steps, overwrite=args.overwrite,
        resume=args.resume, progress=args.progress)
    record = poison(config)
    summary = {k: record[k] for k in ("method", "trigger", "mode", "target_label", "rows")}
    if "attacker_eval" in record:
        summary["attacker_eval"] = {k: record["attacker_eval"][k] for k in
                                    ("accuracy", "attack_success_rate", "attack_success_rate_on_correct",
                                     "single_token_flip_rates")}
    print(json.dumps(summary, indent=2))
    info(f"saved the poisoned encoder to {args.output}")
    return 0
