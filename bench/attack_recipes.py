"""Every attack recipe on the same examples of one model: summary figures and speed, side by side.

Writes each recipe's outputs (summary.json, examples.jsonl, report.md) under --output/RECIPE and
prints one Markdown table: clean accuracy, accuracy under attack, attack success rate, perturbed
words, queries/example, seconds/example (and of those, the seconds inside the victim), victim
forwards/s (forwards = batched model calls). ``--option per_edit=1`` passes a keyword to every
recipe's builder (for ablations of a recipe's settings).

    flock /tmp/robustune-heavy.lock env PYTHONPATH=src python bench/attack_recipes.py \
        --model /tmp/victim-sst2 --data sst2:test --num-examples 200 \
        --mlm /tmp/mlm-minilm --output /tmp/attack-bench
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from robustune.attacks import RECIPES, build_recipe, load_victim, run_attack
from robustune.data import load_source


def recipe_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> (key, value); the value is read as JSON where it can be (1, 0.5, true)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--num-examples", type=int, default=200)
    p.add_argument("--recipes", default=",".join(RECIPES))
    p.add_argument("--mlm", help="masked LM for bert-attack")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="/tmp/attack-bench")
    p.add_argument("--batch-size", type=int, default=64, help="texts per victim forward")
    p.add_argument("--no-cache", action="store_true", help="ablation: score repeated texts again")
    p.add_argument("--option", type=recipe_option, action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword for the recipe builders, e.g. per_edit=1 (repeatable)")
    args = p.parse_args()
    data = load_source(args.data, "test")
    rows = []
    for recipe in args.recipes.split(","):
        out = Path(args.output) / recipe
        victim = load_victim(args.model, batch_size=args.batch_size)
        attack = build_recipe(recipe, seed=args.seed, mlm=args.mlm, **dict(args.option))
        attack.cache = not args.no_cache
        start = time.perf_counter()
        summary = run_attack(attack, victim, data, out, num_examples=args.num_examples, seed=args.seed,
                             resume=True, progress=False,
                             run_info={"model": args.model, "mlm": args.mlm, "options": dict(args.option)})
        summary["wall_seconds"] = round(time.perf_counter() - start, 1)
        rows.append((recipe, summary))
        print(recipe, json.dumps(summary), flush=True)
    print(f"\n{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"{args.num_examples} examples of {args.data}, model {args.model}, batch {args.batch_size}, "
          f"cache {'off' if args.no_cache else 'on'}, options {dict(args.option)}\n")
    print("| recipe | clean acc | acc under attack | success rate | perturbed words % | queries/example | "
          "seconds/example | victim seconds/example | forwards/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for recipe, s in rows:
        print(f"| {recipe} | {s['clean_accuracy']:.3f} | {s['accuracy_under_attack']:.3f} | "
              f"{s['attack_success_rate']:.3f} | {s['avg_perturbed_word_pct']:.1f} | {s['avg_queries']:.1f} | "
              f"{s['seconds_per_example']:.3f} | {s['victim_seconds_per_example']:.3f} | {s['forwards_per_second']:.2f} |")


if __name__ == "__main__":
    main()
