"""A robustune victim behind a pipe: JSON lines in on stdin, probabilities out on stdout.

``bench/textattack_compare.py`` starts this with robustune's own Python, so that TextAttack (which
lives in a separate virtual environment with transformers 4.x) attacks the very same model object
robustune attacks: ``robustune.attacks.load_victim(MODEL_DIR)``. One request per line:

    {"texts": ["a gripping film", ...]}                 -> {"probs": [[0.1, 0.9], ...]}
    {"texts": [...], "echo": true}                     -> the same shape of zeros, no forward
                                                           (to measure the pipe's own cost)

The first line written is ``{"labels": [...]}`` once the model is loaded. The batch size is the
caller's: the victim scores all the texts of a request in one forward (up to ``--batch-size``).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from robustune.attacks import load_victim


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="robustune model directory (or HF classifier)")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward at most")
    args = p.parse_args()
    victim = load_victim(args.model, batch_size=args.batch_size)
    out = sys.stdout
    out.write(json.dumps({"labels": victim.label_names}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        texts = request["texts"]
        if request.get("echo"):
            probs = np.zeros((len(texts), len(victim.label_names)), np.float32)
        else:
            probs = victim(texts)  # (N, K)
        out.write(json.dumps({"probs": probs.tolist()}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
