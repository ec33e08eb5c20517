"""Victim forward cost per text at batch sizes 4-128, in fp32 and on the attack's fast path, against the matmul limit.

    PYTHONPATH=src python bench/forward_batch.py MODEL_DIR [--data sst2:test]

Scores the first 256 texts of --data through ``load_victim(MODEL_DIR, precision=...)`` (texts sorted
by length into batches, as the victim sorts an attack's round of requests) at each batch size, the
fastest of 3 passes after a warm-up forward, and
prints milliseconds per text and per forward for ``fp32``, for the fast path (``bf16``: a bf16 copy
under autocast) and for the compiled fast path (``compile=True``: torch.compile, eager attention,
frozen weights; its compilation is timed apart, before the table), side by side in one process, with
the share of predictions on which each agrees with fp32.

The limit: the peak matmul rate of this machine is measured in fp32 and in bf16, the best of
several runs, on two kinds of matmul: the encoder's own (a batch of 64 texts of the mean length:
(64·T, d) @ (d, f), (64·T, f) @ (f, d), (64·T, d) @ (d, d)), and square 1024-wide ones (the usual
measure of a machine's peak). It is measured before the table and again after each row, and the
highest of these measurements is the peak (on a shared machine a single short measurement can fall
far below it, which would flatter the ratios). The encoder's matmul work per text is counted from its config and the texts' own
token counts (no padding): per layer and token, 2·d·(4d + 2f) for the projections and
feed-forward plus 4·T·d for attention (d hidden, f intermediate, T tokens). A limit is that work
at a peak rate; the ratios printed are measured time / limit (1.0 would be every cycle spent on
matmuls at that peak), against the encoder-shape peak and, in the last column, the square peak.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from robustune.attacks import load_victim
from robustune.data import load_source
from robustune.modeling import RobustClassifier

BATCHES = (4, 8, 16, 32, 64, 128)


def matmul_peak(dtype: torch.dtype, shapes: list[tuple[int, int, int]], repeats: int = 10) -> float:
    """FLOP/s of (m, k) @ (k, n) matmuls in ``dtype`` over ``shapes``, the fastest of ``repeats`` runs."""
    gen = torch.Generator().manual_seed(0)
    pairs = [(torch.randn(m, k, generator=gen).to(dtype), torch.randn(k, n, generator=gen).to(dtype))
             for m, k, n in shapes]
    work = sum(2 * m * k * n for m, k, n in shapes)
    best = float("inf")
    for _ in range(repeats + 1):  # the first run warms up
        start = time.perf_counter()
        for a, b in pairs:
            torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return work / best


def encoder_flops(config, tokens: np.ndarray) -> float:
    """Matmul FLOPs of a BERT-style encoder over texts of ``tokens`` tokens each (no padding)."""
    d, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token = 2 * d * (4 * d + 2 * f) + 4 * tokens * d  # (N,)
    return float(layers * (tokens * per_token).sum())


def seconds(victim, texts: list[str], batch: int, passes: int = 3) -> tuple[float, int]:
    """Seconds and forwards of one pass over ``texts`` in calls of ``batch`` texts, the fastest of ``passes``."""
    victim.batch_size = batch
    victim(texts[:batch])  # warm-up
    best, forwards = float("inf"), 0
    for _ in range(passes):
        before = victim.forwards
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            victim(texts[i:i + batch])
        best, forwards = min(best, time.perf_counter() - start), victim.forwards - before
    return best, forwards


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data", default="sst2:test")
    p.add_argument("--texts", type=int, default=256)
    p.add_argument("--fast", choices=["auto", "bf16"], default="auto",
                   help="the fast path's precision (default: auto, as robustune attack)")
    args = p.parse_args()
    texts = load_source(args.data, "test").texts[:args.texts]
    model = RobustClassifier.from_pretrained(args.model)
    tokens = model.tokenize(texts)["attention_mask"].sum(1).numpy()  # (N,) tokens per text, no padding
    # Sorted by length, as the victim sorts a round's requests before cutting them into batches: a batch
    # pads its texts to similar lengths (the limit counts no padding at all).
    order = np.argsort(tokens, kind="stable")
    texts, tokens = [texts[i] for i in order], tokens[order]
    flops = encoder_flops(model.encoder.config, tokens)
    config = model.encoder.config
    rows, d, f = 64 * round(tokens.mean()), config.hidden_size, config.intermediate_size
    encoder_shapes = [(rows, d, f), (rows, f, d), (rows, d, d)]

    def measure_peaks() -> dict[str, float]:
        return {f"{kind} {dtype}": matmul_peak(getattr(torch, name), shapes)
                for kind, shapes in (("encoder", encoder_shapes), ("square", [(1024, 1024, 1024)]))
                for dtype, name in (("fp32", "float32"), ("bf16", "bfloat16"))}

    # The peak is measured before the table and after each of its rows, and the highest of these is the
    # limit's: on a shared or throttling machine one short measurement can fall well below the peak.
    peak = measure_peaks()
    victims = {"fp32": load_victim(model, precision="fp32"), "fast": load_victim(model, precision=args.fast),
               "compiled": load_victim(model, precision=args.fast, compile=True)}
    fast = victims["fast"].precision
    start = time.perf_counter()
    victims["compiled"](texts[:8])  # the first forward compiles (dynamic shapes: one graph for every batch)
    compile_seconds = time.perf_counter() - start
    exact = victims["fp32"](texts).argmax(1)
    agree = {name: float((exact == victims[name](texts).argmax(1)).mean()) for name in ("fast", "compiled")}
    rows = {}
    for batch in BATCHES:
        for name, victim in victims.items():
            spent, forwards = seconds(victim, texts, batch)
            rows.setdefault(batch, {})[name] = (1000 * spent / len(texts), 1000 * spent / forwards)
        again = measure_peaks()
        peak = {key: max(value, again[key]) for key, value in peak.items()}
    limits = {"fp32": 1000 * flops / peak["encoder fp32"] / len(texts),
              "fast": 1000 * flops / peak[f"encoder {fast}"] / len(texts)}
    square_limit = 1000 * flops / peak[f"square {fast}"] / len(texts)
    print(f"{len(texts)} texts of {args.data}, {tokens.mean():.1f} tokens/text, {flops / len(texts) / 1e9:.3f} "
          f"GFLOP/text; matmul peak on the encoder's shapes fp32 {peak['encoder fp32'] / 1e9:.0f} GFLOP/s, bf16 "
          f"{peak['encoder bf16'] / 1e9:.0f} GFLOP/s; on 1024-square ones fp32 {peak['square fp32'] / 1e9:.0f}, "
          f"bf16 {peak['square bf16'] / 1e9:.0f} GFLOP/s (the highest of {len(BATCHES) + 1} measurements); "
          f"{torch.get_num_threads()} threads; fast path = {fast}; fp32 agrees with the fast path on "
          f"{agree['fast']:.1%} of predictions, with the compiled one on {agree['compiled']:.1%}")
    print(f"limit at the encoder-shape peak: fp32 {limits['fp32']:.2f} ms/text, {fast} {limits['fast']:.2f} ms/text; "
          f"at the square peak: {fast} {square_limit:.2f} ms/text; compiling took {compile_seconds:.1f} s\n")
    print(f"| batch | fp32 ms/text | fp32 / limit | {fast} ms/text | {fast} ms/forward | {fast} / limit | "
          f"compiled {fast} ms/text | compiled / limit | compiled / square-peak limit | fp32 / compiled |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for batch, row in rows.items():
        print(f"| {batch} | {row['fp32'][0]:.2f} | {row['fp32'][0] / limits['fp32']:.2f} | "
              f"{row['fast'][0]:.2f} | {row['fast'][1]:.1f} | {row['fast'][0] / limits['fast']:.2f} | "
              f"{row['compiled'][0]:.2f} | {row['compiled'][0] / limits['fast']:.2f} | "
              f"{row['compiled'][0] / square_limit:.2f} | {row['fp32'][0] / row['compiled'][0]:.2f} |")

if __name__ == "__main__":
    main()
