"""``robustune attack``: attack a model with a recipe; writes summary.json, examples.jsonl, report.md."""

from __future__ import annotations

import json

from ..data import load_source
from .common import (add_data_arguments, add_progress_argument, add_vote_arguments, apply_vote_arguments, info,
                     vote_overrides)


def add_parser(sub):
    from ..attacks import RECIPES
    from ..attacks.concurrent import ATTACK_BATCH_SIZE, DEFAULT_CONCURRENCY

    p = sub.add_parser("attack", help="measure robustness with an adversarial attack",
                       description="Attack a model on labelled data with a word-, piece- or "
                       "character-substitution recipe. Writes summary.json, examples.jsonl (one line per example, "
                       "appended as it finishes) and report.md with the changed words (pieces) marked.")
    p.add_argument("--model", required=True, help="a robustune model folder, or an HF sequence-classification "
                   "model folder or hub id")
    p.add_argument("--data", required=True, help="labelled data (a file, folder, bundled name or hub id; "
                   "a bundled or hub dataset defaults to its test split)")
    p.add_argument("--recipe", required=True, choices=sorted(RECIPES), help="attack recipe")
    p.add_argument("--num-examples", type=int, help="attack a seeded sample of N examples (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of random edits (default: 0)")
    p.add_argument("--query-budget", type=int, help="at most Q model queries per example (default: none)")
    p.add_argument("--output", default="attack-output", help="output folder (default: attack-output)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --output")
    p.add_argument("--mlm", help="bert-attack, pieces-zh, chars-zh: masked LM folder or hub id (default: the one "
                   "`robustune mlm build` made; for the Chinese recipes the one built to <cache>/mlm/zh)")
    p.add_argument("--keep-polarity", action="store_true",
                   help="textfooler, bert-attack: never swap a word for one of opposite sentiment (VADER lexicon): "
                        "label preservation for sentiment tasks (default: off, as the papers)")
    p.add_argument("--batch-size", type=int, default=ATTACK_BATCH_SIZE,
                   help=f"texts per model forward (default: {ATTACK_BATCH_SIZE})")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                   help="examples attacked side by side, their queries scored together in shared model "
                        "forwards: fuller batches, the same results up to the bf16 search's last bits "
                        f"(default: {DEFAULT_CONCURRENCY}; 1 attacks one example after another)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="what the search runs the model in: auto (bf16 where the hardware has native bf16, "
                        "else fp32), bf16 or fp32. Every label flip a bf16 search finds is checked with the "
                        "fp32 model, so the reported results are the fp32 model's (default: auto)")
    p.add_argument("--compile", action="store_true",
                   help="compile the search's model with torch.compile: faster forwards after a compilation at "
                        "the start (about 25 s for MiniLM on 2 CPU cores), so for long attacks; needs a C++ "
                        "compiler (default: off)")
    add_data_arguments(p)
    add_vote_arguments(p)
    add_progress_argument(p)
    return p


def run(args) -> int:
    from ..attacks import build_recipe, load_victim, run_attack
    from ..errors import RobustuneError

    if args.num_examples is not None and args.num_examples <= 0:
        raise RobustuneError(f"--num-examples must be positive, got {args.num_examples}")
    if args.concurrency <= 0:
        raise RobustuneError(f"--concurrency must be positive, got {args.concurrency}")
    if args.query_budget is not None and args.query_budget <= 0:
        raise RobustuneError(f"--query-budget must be positive, got {args.query_budget}")
    data = load_source(args.data, "test", text_column=args.text_column, label_column=args.label_column,
                       split_seed=args.split_seed)
    model, vote = args.model, {k: v for k, v in vote_overrides(args).items() if v is not None}
    if vote:  # a robustune model with its vote overridden
        from ..modeling import RobustClassifier

        model = RobustClassifier.from_pretrained(args.model)
        apply_vote_arguments(model, args)
    victim = load_victim(model, batch_size=args.batch_size, precision=args.precision, compile=args.compile)
    attack = build_recipe(args.recipe, query_budget=args.query_budget, seed=args.seed, mlm=args.mlm,
                          precision=args.precision, keep_polarity=args.keep_polarity)
    run_info = {"model": str(args.model), "mlm": args.mlm, "keep_polarity": args.keep_polarity,
                **({"vote": vote} if vote else {})}
    summary = run_attack(attack, victim, data, args.output, num_examples=args.num_examples, seed=args.seed,
                         resume=args.resume, progress=args.progress, run_info=run_info,
                         concurrency=args.concurrency)
    print(json.dumps(summary, indent=2))
    info(f"wrote {args.output}/summary.json, examples.jsonl and report.md")
    return 0
