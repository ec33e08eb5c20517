"""vanilla — plain cross-entropy fine-tuning, the baseline every method is compared with.

Objective: L = CE(C(pool(f(x))), y).

Example::

    robustune train --data train.csv --method vanilla --output out/
"""

from __future__ import annotations

import torch.nn.functional as F

from .base import Method, model_inputs


class Vanilla(Method):
    name = "vanilla"

    def forward(self, classifier, batch):
        logits = classifier(**model_inputs(batch))  # (B, K)
        return {"ce": F.cross_entropy(logits, batch["labels"])}
