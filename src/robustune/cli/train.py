"""``robustune train``: fine-tune an encoder with a robust method and save the classifier."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from ..errors import RobustuneError
from ..methods import METHODS
from ..modeling.pooling import POOLINGS
from ..training import TrainConfig, train
from .common import add_data_arguments, add_progress_argument, info


def _method_flags() -> dict[str, tuple[str, type, object]]:
    """Every method parameter as a flag: {dest: (flag, type, help)}; shared names are one flag."""
    flags = {}
    for method in METHODS.values():
        hints = typing.get_type_hints(method.Params)
        for f in dataclasses.fields(method.Params):
            kind = hints[f.name]
            base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
            help_text = f.metadata.get("help", "")
            if f.name in flags:  # one flag for several methods: every method's help, once
                flag, kind, earlier = flags[f.name]
                if help_text not in earlier:
                    flags[f.name] = (flag, kind, f"{earlier}; {help_text}")
            else:
                flags[f.name] = (f"--{f.name.replace('_', '-')}", base, help_text)
    return flags


def add_parser(sub):
    p = sub.add_parser("train", help="fine-tune a classifier",
                       description="Fine-tune a pre-trained encoder on labelled texts and save the classifier.")
    p.add_argument("--data", required=True, help="training data: a CSV/TSV/JSONL file, a saved datasets folder, "
                   "a bundled name (mr, tweets, bbc-news, chnsenti) or a hub id; SRC:SPLIT picks a split")
    p.add_argument("--output", required=True, help="folder to write the model to")
    p.add_argument("--model", help="encoder: a local path or hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--method", default="vanilla", choices=sorted(METHODS), help="training method (default: vanilla)")
    p.add_argument("--eval-data", help="data to evaluate on after training (same forms as --data)")
    add_data_arguments(p)
    g = p.add_argument_group("training data sampling (seeded with --seed)")
    g.add_argument("--max-train-samples", type=int, help="use at most N training examples")
    g.add_argument("--shots", type=int, help="few-shot: K examples per class")
    g.add_argument("--imbalance", type=float, help="keep this share (0-1] of the minority classes")
    g.add_argument("--minority", action="append", help="a class down-sampled by --imbalance (default: the first)")
    g.add_argument("--label-noise", type=float, help="flip this share [0-1) of the training labels")
    g = p.add_argument_group("schedule")
    g.add_argument("--epochs", type=float, default=3.0, help="epochs (default: 3)")
    g.add_argument("--batch-size", type=int, default=32, help="batch size per device (default: 32)")
    g.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default: 1e-4)")
    g.add_argument("--max-length", type=int, default=128, help="maximum tokens per text (default: 128)")
    g.add_argument("--seed", type=int, default=42, help="seed of sampling, initialisation and order (default: 42)")
    g.add_argument("--pooling", choices=POOLINGS, default="mean", help="sentence pooling (default: mean)")
    g.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CPUs with AVX512-BF16, recent GPUs)")
    g = p.add_argument_group("adversarial augmentation (A2T-style)")
    g.add_argument("--adversarial", metavar="RECIPE", help="each epoch after the first, attack a share of the "
                   "training set with RECIPE (textfooler, bert-attack, deepwordbug) and train on the results too")
    g.add_argument("--adversarial-fraction", type=float, default=0.2,
                   help="share of the training set attacked per epoch (default: 0.2)")
    g.add_argument("--adversarial-query-budget", type=int, default=200,
                   help="queries per attacked example (default: 200)")
    g.add_argument("--adversarial-search", choices=("greedy", "random"), default="greedy",
                   help="the recipe's greedy search, or random sampling from its attack space: the hardest of "
                   "--adversarial-samples random perturbations, one batched query (Ivgi & Berant 2021; "
                   "default: greedy)")
    g.add_argument("--adversarial-samples", type=int, default=16,
                   help="random perturbations per example for --adversarial-search random (default: 16)")
    g.add_argument("--adversarial-mlm", metavar="MLM",
                   help="the masked LM of --adversarial bert-attack (default: the one `robustune mlm build` saves)")
    g.add_argument("--adversarial-keep-polarity", action="store_true",
                   help="textfooler, bert-attack: adversarial rows never swap a word for one of opposite sentiment "
                        "(VADER lexicon), so that they keep the label they are trained with (default: off)")
    g = p.add_argument_group("defence against poisoned pre-trained weights")
    g.add_argument("--reinit-top-layers", type=int, default=0, metavar="N",
                   help="re-initialise the encoder's top N layers before training (default: 0)")
    g = p.add_argument_group("run management")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    g.add_argument("--overwrite", action="store_true", help="replace a model or checkpoints already in --output")
    g.add_argument("--save-steps", type=int, default=500, help="checkpoint every N steps (default: 500)")
    g.add_argument("--keep-checkpoints", action="store_true", help="keep checkpoints after a finished run")
    g = p.add_argument_group("method parameters (each applies to the methods that have it)")
    for dest, (flag, kind, help_text) in _method_flags().items():
        if kind is bool:
            g.add_argument(flag, dest=f"mp_{dest}", action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=help_text)
        else:
            g.add_argument(flag, dest=f"mp_{dest}", type=kind, default=argparse.SUPPRESS, help=help_text)
    g.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter by name (repeatable)")
    add_progress_argument(p)
    return p


def _parse_value(text: str):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def method_params(args) -> dict:
    params = {k[3:]: v for k, v in vars(args).items() if k.startswith("mp_")}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise RobustuneError(f"--param expects KEY=VALUE, got {item!r}")
        params[key.strip().replace("-", "_")] = _parse_value(value)
    return params


def run(args) -> int:
    config = TrainConfig(
        data=args.data, output_dir=args.output, model=args.model, method=args.method,
        method_params=method_params(args), eval_data=args.eval_data, text_column=args.text_column,
        label_column=args.label_column, max_train_samples=args.max_train_samples, shots=args.shots,
        imbalance=args.imbalance, minority=args.minority, label_noise=args.label_noise, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, max_length=args.max_length, seed=args.seed,
        split_seed=args.split_seed, pooling=args.pooling, bf16=args.bf16, adversarial=args.adversarial,
        adversarial_fraction=args.adversarial_fraction, adversarial_query_budget=args.adversarial_query_budget,
        adversarial_search=args.adversarial_search, adversarial_samples=args.adversarial_samples,
        adversarial_mlm=args.adversarial_mlm,
        adversarial_keep_polarity=args.adversarial_keep_polarity,
        reinit_top_layers=args.reinit_top_layers, resume=args.resume,
        overwrite=args.overwrite, save_steps=args.save_steps, keep_checkpoints=args.keep_checkpoints,
        progress=args.progress,
    )
    result = train(config)
    info(f"saved the model to {result.output_dir}")
    if result.eval_metrics:
        m = result.eval_metrics
        print(f"{config.eval_data}: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  (n={m['n']})")
    return 0
