"""Victim forward cost per text at batch sizes 4-128: does batching more texts per forward pay on this machine?

    PYTHONPATH=src python bench/forward_batch.py MODEL_DIR [--data sst2:test]

Scores the first 256 texts of --data with ``RobustClassifier.predict_proba`` at each batch size (one
warm-up batch first) and prints milliseconds per text and per forward, side by side in one process.
"""

from __future__ import annotations

import argparse
import time

from robustune.data import load_source
from robustune.modeling import RobustClassifier


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data", default="sst2:test")
    p.add_argument("--texts", type=int, default=256)
    args = p.parse_args()
    model = RobustClassifier.from_pretrained(args.model)
    texts = load_source(args.data, "test").texts[:args.texts]
    for batch in (4, 8, 16, 32, 64, 128):
        model.predict_proba(texts[:batch])  # warm-up
        start, forwards = time.perf_counter(), 0
        for i in range(0, len(texts), batch):
            model.predict_proba(texts[i:i + batch], batch_size=batch)
            forwards += 1
        seconds = time.perf_counter() - start
        print(f"batch {batch:4d}: {1000 * seconds / len(texts):.2f} ms/text, {1000 * seconds / forwards:.1f} ms/forward")


if __name__ == "__main__":
    main()
