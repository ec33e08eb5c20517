"""Cosines of the Chinese recipes' similarity (MaskedLMSimilarity) on chnsenti test reviews.

For seeded test reviews with at least 4 letter/digit pieces: the original against itself with one
and with three random pieces replaced by one of the MLM's top-10 single-piece substitutes, and
against an unrelated review. Prints percentiles (JSON); the recipes' threshold is chosen from them.

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/zh_similarity.py --mlm runs/mlm-zh --num-texts 150
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from robustune.attacks.constraints import MaskedLMSimilarity, is_content
from robustune.attacks.pieces import PieceSegmenter
from robustune.attacks.substitutes.pieces import MaskedPieceSubstitutes
from robustune.data import load_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlm", required=True, help="masked LM folder")
    parser.add_argument("--data", default="chnsenti:test", help="texts (default: chnsenti:test)")
    parser.add_argument("--num-texts", type=int, default=150, help="reviews to sample (default: 150)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    args = parser.parse_args()

    gen = MaskedPieceSubstitutes(args.mlm, top_k=48)
    sim = MaskedLMSimilarity(gen.tokenizer, gen.model)
    segment = PieceSegmenter(gen.tokenizer)
    texts = load_source(args.data, "test", need_labels=False).texts
    rng = np.random.default_rng(args.seed)
    chosen = rng.permutation(len(texts))[:args.num_texts]
    one, three, unrelated = [], [], []
    for n, index in enumerate(chosen):
        original = segment(texts[index])
        positions = [j for j, w in enumerate(original.words) if is_content(w)]
        if len(positions) < 4:
            continue
        current = original
        for k, j in enumerate(rng.choice(positions, 3, replace=False)):
            singles = [c for c in gen(current, int(j)) if isinstance(c, str)]
            if not singles:
                break
            current = current.replace(int(j), singles[rng.integers(min(10, len(singles)))])
            if k == 0:
                one.append(sim.similarity(original, [current])[0])
        three.append(sim.similarity(original, [current])[0])
        unrelated.append(sim.similarity(original, [segment(texts[chosen[(n + 1) % len(chosen)]])])[0])

    def percentiles(values):
        return {p: round(float(np.percentile(values, p)), 4) for p in (5, 25, 50, 75, 95)}

    print(json.dumps({"texts": len(one), "one_substitute_top10": percentiles(one),
                      "three_substitutes_top10": percentiles(three), "unrelated_text": percentiles(unrelated)},
                     indent=2))


if __name__ == "__main__":
    main()
