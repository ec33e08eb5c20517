"""match-tuning — robust fine-tuning by perturbation and interpolation from in-batch instances.

Tong, Wang, Cao, Zhou, Zhao, Qiu. "Robust Fine-tuning via Perturbation and Interpolation from
In-batch Instances", IJCAI 2022 (arXiv 2205.00633).

Objective, for a batch of pooled vectors h (B, d) with labels y and the head's last layer C:

    H  = dense(h)                      (B, d)   the head's hidden layer: dropout -> Linear(d, d) -> tanh -> dropout
    M  = row-softmax(H·Hᵀ / τ_m)       (B, B)   matching matrix, each example against the whole batch (itself too)
    h' = M·H                           (B, d)
    L  = CE(C(h'), y)

Early in training the other rows of M are spread over the batch and act as perturbation; as
same-label instances grow similar, h' becomes an interpolation within a class.

What the paper leaves open, and what is chosen here:
- **Temperature.** The paper gives no temperature value for the matching softmax;
  ``match_temperature`` (τ_m) defaults to 1.0, a plain softmax of dot products, and is a flag.
- **Activation / dense layer.** The paper says "a dense layer" and no more. Here it is the head's
  hidden layer, d -> d (``HeadSpec(hidden="input")``) with tanh — the shape of BERT's pooler — so
  H stays bounded and H·Hᵀ cannot blow up the softmax; the head's usual dropouts stay in place.
- **Inference.** Training mixes across the batch, but a prediction must not depend on which other
  texts share its batch. Inference uses the instance alone, M = I, so h' = H and the prediction is
  the ordinary head path C(dense(h)) — nothing special is saved, and the model loads as any other.

Example::

    robustune train --data sst2/train.tsv --method match-tuning --match-temperature 1.0 --output out/
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..modeling import HeadSpec
from ..modeling.head import SAME_AS_INPUT
from .base import Method, model_inputs


def match_mix(features: torch.Tensor, temperature: float) -> torch.Tensor:
    """h' = row-softmax(H·Hᵀ/τ)·H for (B, d) features H; returns (B, d)."""
    scores = features @ features.transpose(0, 1) / temperature  # (B, B)
    return torch.softmax(scores.float(), dim=-1).to(features.dtype) @ features  # (B, d)


class MatchTuning(Method):
    name = "match-tuning"
    head_spec = HeadSpec(hidden=SAME_AS_INPUT, dropout=0.1, activation="tanh")

    @dataclass
    class Params:
        match_temperature: float = field(default=1.0, metadata={
            "help": "match-tuning: temperature τ_m of the in-batch matching softmax (1.0)"})

        def __post_init__(self) -> None:
            if not self.match_temperature > 0:
                raise ValueError(f"match_temperature must be positive, got {self.match_temperature}")

    def forward(self, classifier, batch):
        pooled = classifier.encode(**model_inputs(batch))  # (B, d)
        features = classifier.head.features(pooled)  # (B, d), H = dense(h)
        mixed = match_mix(features, self.params.match_temperature)  # (B, d), h' = M·H
        return {"ce": F.cross_entropy(classifier.head.classifier(mixed), batch["labels"])}
