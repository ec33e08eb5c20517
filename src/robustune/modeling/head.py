"""The classification head: dropout -> [Linear(d, hidden) -> activation -> dropout] -> Linear(., K).

``features(h)`` is everything before the last linear layer and ``classifier`` is that layer, so a
method can work on the features (match-tuning mixes them across the batch) and still reuse the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

ACTIVATIONS = {"none": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


#: ``HeadSpec.hidden`` value meaning "as wide as the encoder" (a method's head spec is fixed before
#: the encoder, and so its width, is known; match-tuning needs a d -> d dense layer).
SAME_AS_INPUT = "input"


@dataclass
class HeadSpec:
    hidden: int | str | None = None  # None: a single linear layer on the pooled vector; "input": width d
    dropout: float = 0.1
    activation: str = "none"

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {list(ACTIVATIONS)}")
        if isinstance(self.hidden, str) and self.hidden != SAME_AS_INPUT:
            raise ValueError(f"head hidden must be a width, None or {SAME_AS_INPUT!r}, got {self.hidden!r}")

    def hidden_width(self, input_dim: int) -> int | None:
        """The hidden layer's width on an encoder of width ``input_dim`` (None: no hidden layer)."""
        return input_dim if self.hidden == SAME_AS_INPUT else self.hidden


class ClassificationHead(nn.Module):
    def __init__(self, input_dim: int, num_labels: int, spec: HeadSpec):
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(spec.dropout)]
        width = input_dim
        hidden = spec.hidden_width(input_dim)
        if hidden is not None:
            layers += [nn.Linear(input_dim, hidden), ACTIVATIONS[spec.activation](), nn.Dropout(spec.dropout)]
            width = hidden
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(pooled))  # (B, K)
