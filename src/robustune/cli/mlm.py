"""``robustune mlm build | score``: make a small masked LM offline (for bert-attack) and measure it."""

from __future__ import annotations

import json

from .common import add_progress_argument, info


def add_parser(sub):
    p = sub.add_parser("mlm", help="build or score a masked LM for bert-attack",
                       description="Build a small masked LM offline from English texts, or measure how often "
                       "a masked LM's top-k holds the original word.")
    actions = p.add_subparsers(dest="mlm_action", required=True, metavar="ACTION")
    b = actions.add_parser("build", help="train a masked LM on texts and save it in HF format")
    b.add_argument("--data", action="append", help="texts to learn from (repeatable; files, folders, bundled "
                   "names; default: mr)")
    b.add_argument("--output", help="folder to save to (default: robustune's cache, where bert-attack looks)")
    b.add_argument("--base", choices=["encoder", "scratch"], default="encoder",
                   help="add an MLM head to the bundled encoder and train it (default), or train from scratch")
    b.add_argument("--tokenizer", choices=["wordpiece", "unigram"], default="wordpiece",
                   help="--base scratch: WordPiece (English) or a sentencepiece unigram vocabulary (texts without "
                   "spaces, e.g. Chinese for pieces-zh) (default: wordpiece)")
    b.add_argument("--vocab-size", type=int, default=8000, help="--base scratch: vocabulary size (default: 8000)")
    b.add_argument("--hidden", type=int, default=256, help="--base scratch: hidden size (default: 256)")
    b.add_argument("--layers", type=int, default=4, help="--base scratch: transformer layers (default: 4)")
    b.add_argument("--encoder", help="encoder for --base encoder (default: the bundled all-MiniLM-L6-v2)")
    b.add_argument("--train-layers", type=int, default=2,
                   help="--base encoder: train the head and this many top layers (default: 2; -1: all)")
    b.add_argument("--steps", type=int, default=600, help="training steps (default: 600)")
    b.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    b.add_argument("--max-length", type=int, default=64, help="tokens per text (default: 64)")
    b.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default: 1e-4)")
    b.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    b.add_argument("--save-steps", type=int, default=200, help="checkpoint every N steps (default: 200)")
    b.add_argument("--resume", action="store_true", help="continue a build interrupted in --output from its last "
                   "checkpoint (the same settings)")
    add_progress_argument(b)
    s = actions.add_parser("score", help="top-k recall of the original word (or piece) at masked positions")
    s.add_argument("--mlm", help="masked LM folder or hub id (default: the built one)")
    s.add_argument("--data", required=True, help="texts to score on (held out from building)")
    s.add_argument("--top-k", type=int, default=48, help="k (default: 48)")
    s.add_argument("--max-words", type=int, default=1000, help="masked words (pieces) to score (default: 1000)")
    s.add_argument("--unit", choices=["word", "piece"], default="word",
                   help="word: top-k recall at masked single-token words (bert-attack); piece: top-1 and top-10 "
                   "accuracy at one masked sentence piece per text (pieces-zh) (default: word)")
    return p


def run(args) -> int:
    from ..attacks.recipes.bert_attack import default_mlm
    from ..data import load_source
    from ..errors import RobustuneError

    if args.mlm_action == "build":
        from ..attacks.mlm_build import build_mlm

        for flag in ("steps", "vocab_size", "hidden", "layers", "save_steps"):
            if getattr(args, flag) <= 0:
                raise RobustuneError(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
        if args.base == "encoder" and args.tokenizer != "wordpiece":
            raise RobustuneError("--tokenizer applies to --base scratch (the encoder keeps its own vocabulary)")
        texts = []
        for src in args.data or ["mr"]:
            texts += load_source(src, "train", need_labels=False).texts
        out = args.output or default_mlm()
        stats = build_mlm(out, texts, base=args.base, encoder=args.encoder, steps=args.steps,
                          batch_size=args.batch_size, max_length=args.max_length, lr=args.lr, seed=args.seed,
                          train_layers=None if args.train_layers < 0 else args.train_layers,
                          tokenizer=args.tokenizer, vocab_size=args.vocab_size, hidden=args.hidden, layers=args.layers,
                          save_steps=args.save_steps, resume=args.resume, progress=args.progress)
        print(json.dumps(stats, indent=2))
        info(f"saved the masked LM to {out}")
        return 0
    from ..attacks.substitutes.mlm import MaskedLMSubstitutes, load_mlm, top_k_recall

    texts = load_source(args.data, "test", need_labels=False).texts
    if args.unit == "piece":
        from ..attacks.substitutes.pieces import masked_piece_accuracy

        source = args.mlm or default_mlm()
        scores = masked_piece_accuracy(*load_mlm(source), texts, ks=tuple(sorted({1, 10, args.top_k})),
                                       max_pieces=args.max_words)
        print(json.dumps({"mlm": source, "data": args.data, **scores}, indent=2))
        return 0
    mlm = MaskedLMSubstitutes(args.mlm or default_mlm(), top_k=args.top_k)
    recall = top_k_recall(mlm, texts, k=args.top_k, max_words=args.max_words)
    print(json.dumps({"mlm": args.mlm or default_mlm(), "top_k": args.top_k, "top_k_recall": recall}, indent=2))
    return 0
