"""scl — in-batch supervised contrastive learning + cross-entropy.

Gunel, Beliz et al. "Supervised Contrastive Learning for Pre-trained Language Model Fine-tuning",
ICLR 2021, https://arxiv.org/abs/2011.01403 ; the loss is Khosla et al. "Supervised Contrastive
Learning", NeurIPS 2020, https://arxiv.org/abs/2004.11362 (L^sup_out).

With z_i = normalize(h_i) the pooled vectors of a batch, P(i) = {j ≠ i : y_j = y_i}:

    L_scl = mean_{i : |P(i)| > 0}  −1/|P(i)| Σ_{p ∈ P(i)} log( e^{z_i·z_p/τ} / Σ_{a ≠ i} e^{z_i·z_a/τ} )
    L     = λ·L_scl + (1 − λ)·CE(C(h), y)          (Gunel's best: λ = 0.9, τ = 0.3)

The ablation of knn-bert without a queue or momentum encoder: the same kind of objective on
the batch alone. After training, the training set is encoded into a KNN datastore, as for knn-bert,
so the two are compared on linear, KNN and combined accuracy.

Example::

    robustune train --data sst2/train.tsv --method scl --contrastive-weight 0.9 --temperature 0.3 --output out/

Deviations: anchors without a positive in the batch are left out of the mean (Gunel's sum would
count them as 0), and the sum over anchors is a mean, so λ does not depend on the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..knn import KNNParams, datastore_from_training_set
from .base import Method, model_inputs


def supervised_contrastive_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Khosla's L^sup_out over a batch. z: (B, D) normalized; labels: (B,). 0 (with a graph) when no
    anchor has a positive."""
    logits = z.float() @ z.float().T / temperature  # (B, B)
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    # The anchor is never its own contrast; a finite stand-in for −inf keeps 0·(−inf) out of the sum.
    logits = logits.masked_fill(eye, torch.finfo(logits.dtype).min / 2)
    log_prob = logits - logits.logsumexp(dim=1, keepdim=True)  # (B, B)
    pos = (labels[:, None] == labels[None, :]) & ~eye  # (B, B)
    n_pos = pos.sum(1)  # (B,)
    anchors = n_pos > 0
    if not anchors.any():
        return z.sum() * 0.0
    per_anchor = -(log_prob * pos).sum(1)[anchors] / n_pos[anchors]
    return per_anchor.mean()


@dataclass
class SCLParams(KNNParams):
    contrastive_weight: float = field(default=0.9, metadata={"help": "λ: weight of the contrastive term"})
    temperature: float = field(default=0.3, metadata={"help": "τ of the contrastive loss"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.contrastive_weight <= 1.0:
            raise ValueError(f"contrastive_weight must lie in [0, 1], got {self.contrastive_weight}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


class SCL(Method):
    name = "scl"
    Params = SCLParams

    def forward(self, classifier, batch):
        labels = batch["labels"]
        h = classifier.encode(**model_inputs(batch))  # (B, D)
        logits = classifier.head(h)  # (B, C)
        con = supervised_contrastive_loss(F.normalize(h.float(), dim=-1), labels, self.params.temperature)
        lam = self.params.contrastive_weight
        return {"contrastive": lam * con, "ce": (1 - lam) * F.cross_entropy(logits, labels)}

    def finalize(self, classifier, train_dataset) -> None:
        datastore_from_training_set(classifier, train_dataset, self.params)
