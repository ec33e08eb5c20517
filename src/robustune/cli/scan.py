"""``robustune scan``: look for a backdoor trigger — tokens (and pairs) that flip a model's predictions."""

from __future__ import annotations

import json

from ..atomic import write_json
from ..data import load_source, random_subset
from ..errors import RobustuneError
from ..modeling import RobustClassifier
from .common import add_data_arguments, add_progress_argument, info


def add_parser(sub):
    p = sub.add_parser("scan", help="search for backdoor trigger tokens and pairs",
                       description="Insert candidate tokens (a vocabulary sample plus rare tokens) into texts and "
                       "rank them, and with --pairs pairs of the top ones, by how many predictions they flip.")
    p.add_argument("--model", required=True, help="a model folder written by robustune train")
    p.add_argument("--data", required=True, help="texts to insert the candidates into (labels not needed)")
    p.add_argument("--output", help="write the JSON report here (default: print it)")
    p.add_argument("--pairs", action="store_true", help="also score pairs of the top tokens")
    p.add_argument("--pair-top", type=int, default=15, help="tokens (by probability shift) combined into pairs "
                   "(default: 15)")
    p.add_argument("--num-texts", type=int, default=100, help="texts to scan with, a seeded sample (default: 100)")
    p.add_argument("--vocab-sample", type=int, default=100, help="vocabulary tokens sampled (default: 100)")
    p.add_argument("--rare-tokens", type=int, default=100,
                   help="short vocabulary tokens absent from the texts added as candidates (default: 100)")
    p.add_argument("--candidates", help="extra candidate tokens, space-separated")
    p.add_argument("--trigger", help="the real trigger, if known: report where its tokens and pairs ranked")
    p.add_argument("--top", type=int, default=20, help="entries of each ranking kept in the report (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the text sample, candidates and positions")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    add_data_arguments(p)
    add_progress_argument(p)
    return p


def run(args) -> int:
    from ..backdoor.scan import candidate_tokens, scan, trigger_ranks
    from ..backdoor.triggers import parse_trigger

    for name in ("num_texts", "pair_top", "top"):
        if getattr(args, name) <= 0:
            raise RobustuneError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.vocab_sample < 0 or args.rare_tokens < 0:
        raise RobustuneError("--vocab-sample and --rare-tokens must be >= 0")
    trigger = parse_trigger(args.trigger) if args.trigger is not None else None
    extra = parse_trigger(args.candidates) if args.candidates is not None else []
    model = RobustClassifier.from_pretrained(args.model)
    data = load_source(args.data, "test", text_column=args.text_column, label_column=args.label_column,
                       need_labels=False, split_seed=args.split_seed)
    texts = random_subset(data, args.num_texts, args.seed).texts
    vocab = list(model.tokenizer.get_vocab())
    candidates = candidate_tokens(vocab, texts, args.vocab_sample, args.rare_tokens, args.seed, extra)
    report = scan(lambda ts: model.predict_proba(ts, batch_size=args.batch_size), texts, candidates,
                  model.label_names, pairs=args.pairs, pair_top=args.pair_top, seed=args.seed, progress=args.progress)
    if trigger:
        report["trigger_ranks"] = trigger_ranks(report, trigger)
    report["tokens"] = report["tokens"][:args.top]
    if "pairs" in report:
        report["pairs"] = report["pairs"][:args.top]
    report["model"] = args.model
    if args.output:
        write_json(args.output, report)
        info(f"wrote {args.output}")
    else:
        print(json.dumps(report, indent=2))
    best = report["tokens"][0]
    info(f"top token {best['trigger']!r}: flip rate {best['flip_rate']:.3f}"
         + (f"; top pair {report['pairs'][0]['trigger']!r}: {report['pairs'][0]['flip_rate']:.3f}"
            if report.get("pairs") else ""))
    return 0
