"""How many successful attacks swap a word for one of the opposite sentiment: a check of label preservation.

A word-substitution attack on a sentiment classifier is valid only if its substitutions keep the text's
sentiment; a swap of "fun" for "sick" changes what the text says, and a model that "resists" it would be
wrong. This reads every attack's per-example records (``examples.jsonl``) under the given folders (a
``robustune bench`` output or ``robustune attack`` outputs) and counts, per attack, the successful
examples with at least one substitution whose original and new word are rated on opposite sides of
neutral in the VADER lexicon (``robustune.attacks.sentiment``; a word outside it never flips): the swaps
that ``robustune attack --keep-polarity`` rejects. Character edits (deepwordbug) almost never land on
another rated word, so their count is a floor for the lexicon's noise.

    python bench/polarity_swaps.py runs/robustness-sst2-budget [--tables bench/results/polarity-swaps/tables.json]

Prints one line per attack: the successful examples, those with an opposite-polarity swap, their share,
and accuracy under attack if those successes were not counted (an upper bound of the accuracy under a
label-preserving attack: the search might have found a valid example instead).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from robustune.attacks.sentiment import opposite_polarity


def opposite_swap(substitutions: list) -> bool:
    """Whether any (position, original, new) substitution swaps a rated word for one of opposite sign."""
    return any(opposite_polarity(old, new) for _, old, new in substitutions)


def count(examples: Path) -> dict:
    records = [json.loads(line) for line in examples.read_text().splitlines() if line.strip()]
    successful = [r for r in records if r["status"] == "successful"]
    flipped = sum(opposite_swap(r["substitutions"]) for r in successful)
    robust = sum(r["status"] == "failed" for r in records)
    return {"examples": len(records), "successful": len(successful), "opposite_polarity": flipped,
            "share": flipped / max(len(successful), 1), "accuracy_under_attack": robust / max(len(records), 1),
            "accuracy_if_not_counted": (robust + flipped) / max(len(records), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="bench outputs or attack outputs to search")
    parser.add_argument("--tables", type=Path, help="also write the counts as a study's tables.json")
    args = parser.parse_args()
    found = sorted(p for folder in args.folders for p in folder.rglob("examples.jsonl"))
    if not found:
        sys.exit(f"no examples.jsonl under {', '.join(map(str, args.folders))}")
    rows = []
    for path in found:
        name = path.parent.parent.name if path.parent.name == "attack" else path.parent.name
        c = count(path)
        print(f"{name}: {c['successful']} successful of {c['examples']}; {c['opposite_polarity']} "
              f"({c['share']:.0%}) swap a word for one of opposite polarity; accuracy under attack "
              f"{c['accuracy_under_attack']:.1%}, {c['accuracy_if_not_counted']:.1%} without them")
        parts = name.split("__")  # a bench attack cell: dataset__setting__method__seedN__recipe
        model, seed, recipe = (parts[2], int(parts[3].removeprefix("seed")), parts[4]) if len(parts) == 5 else \
            (name, None, None)
        rows.append([model, recipe, seed, c["examples"], c["successful"], c["opposite_polarity"],
                     round(100 * c["share"], 1), round(100 * c["accuracy_under_attack"], 1),
                     round(100 * c["accuracy_if_not_counted"], 1)])
    if args.tables:
        from robustune.bench.studies import write_tables

        write_tables(args.tables, [{
            "title": "Successful attacks that swap a word for one of opposite sentiment (VADER lexicon)",
            "columns": ["model", "recipe", "seed", "examples", "successful", "opposite-polarity swap",
                        "% of successful", "accuracy under attack %", "% without them"],
            "rows": sorted(rows, key=lambda r: (str(r[1]), r[0], r[2] or 0))}])

if __name__ == "__main__":
    main()
