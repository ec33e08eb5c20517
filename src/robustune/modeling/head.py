"""The classification head: dropout -> [Linear(d, hidden) -> activation -> dropout] -> Linear(., K).

``features(h)`` is everything before the last linear layer and ``classifier`` is that layer, so a
method can work on the features (match-tuning mixes them across the batch) and still reuse the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

ACTIVATIONS = {"none": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


@dataclass
class HeadSpec:
    hidden: int | None = None  # None: a single linear layer on the pooled vector
    dropout: float = 0.1
    activation: str = "none"

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {list(ACTIVATIONS)}")


class ClassificationHead(nn.Module):
    def __init__(self, input_dim: int, num_labels: int, spec: HeadSpec):
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(spec.dropout)]
        width = input_dim
        if spec.hidden is not None:
            layers += [nn.Linear(input_dim, spec.hidden), ACTIVATIONS[spec.activation](), nn.Dropout(spec.dropout)]
            width = spec.hidden
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(pooled))  # (B, K)
