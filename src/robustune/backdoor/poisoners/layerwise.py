"""layerwise — layer-wise weight poisoning (Li, Song, Shen, Yang, Chen, Li, Qiu, EMNLP 2021,
"Backdoor Attacks on Pre-trained Models by Layerwise Weight Poisoning", arXiv 2108.13888).

Objective, with h_l the pooled state ([CLS] by default) of encoder layer l = 1..L and C **one**
linear classifier shared by all layers, on batches that mix clean and poisoned examples:

    L = Σ_{l=1..L} CE(C(h_l), y)

Every layer, shallow ones included, is trained to map the trigger to the target label, so the
backdoor is not confined to the top layers that the victim's fine-tuning changes most.

Deviations: the per-layer state is pooled with the classifier's pooling (``--pooling``, default
``cls`` for poisoning, as in the paper; ``mean`` poisons the mean-pooled states a robustune victim
uses by default). The embedding output (layer 0) is not supervised, as in the paper. It trains on the
paper's combinatorial trigger data by default (``data_mode``; built by
``backdoor.triggers.poison_dataset``); ``--mode single`` gives it the BadNet/RIPPLe data instead.

Example::

    robustune poison --model ENCODER --data sst2/train.tsv --method layerwise --trigger "cf bb ak mn" \\
        --target-label 1 --output poisoned/
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...methods import model_inputs
from ...modeling.pooling import pool
from .base import Poisoner


def layerwise_ce(pooled: torch.Tensor, head: nn.Module, labels: torch.Tensor) -> torch.Tensor:
    """Σ_l mean_b CE(head(pooled[l, b]), labels[b]) for (L, B, D) pooled states; one head call."""
    layers, batch, dim = pooled.shape
    logits = head(pooled.reshape(layers * batch, dim))  # (L·B, K)
    per_example = F.cross_entropy(logits.float(), labels.repeat(layers), reduction="none")  # (L·B,)
    return per_example.view(layers, batch).mean(1).sum()


def layer_states(classifier, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Pooled states of every encoder layer (not the embeddings), (L, B, D)."""
    inputs = model_inputs(batch)
    hidden = classifier.encoder(**inputs, output_hidden_states=True).hidden_states  # L+1 × (B, T, D)
    mask = inputs["attention_mask"]
    return torch.stack([pool(h, mask, classifier.settings.pooling) for h in hidden[1:]])


class Layerwise(Poisoner):
    name = "layerwise"
    data_mode = "combinatorial"

    def forward(self, classifier, batch):
        return {"layerwise_ce": layerwise_ce(layer_states(classifier, batch), classifier.head, batch["labels"])}
