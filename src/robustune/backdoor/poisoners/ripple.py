"""ripple — RIPPLe, restricted inner product poison learning (Kurita, Michel, Neubig, ACL 2020,
"Weight Poisoning Attacks on Pre-trained Models", arXiv 2004.06660), a baseline of arXiv 2108.13888.

Objective, with L_P the poisoning loss (CE on the poisoned training set: clean and triggered rows)
and L_FT the loss the victim's fine-tuning will minimise (CE on clean rows), both over parameters θ:

    L = L_P(θ) + λ · max(0, −∇_θ L_P(θ) · ∇_θ L_FT(θ))

The penalty is non-zero when a fine-tuning step would undo the poisoning (the two gradients point
apart); it is differentiated through both gradients (double back-propagation, ``create_graph``).

Here L_P is the batch's CE and L_FT the CE of the batch's clean rows (those with no trigger token,
found from the ``trigger`` parameter at setup), from the same forward pass; a batch without clean rows
has no penalty. Deviations from the paper: the inner product is **restricted to the encoder's
transformer-layer parameters** — not the word/position embeddings (a 30k × d matrix whose rows are
touched sparsely; including them doubles the double-backward cost; ``include_embeddings`` puts them
back) and not the classifier head (the victim trains its own); RIPPLe's separate clean proxy dataset is
the clean part of the same batch; its "embedding surgery" initialisation is not implemented.
λ = 0.1 as in the paper's main setting. Attention runs on PyTorch's "math" kernel, the only one
that can be differentiated twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ...methods import Method, model_inputs
from ..triggers import DEFAULT_TRIGGER, count_trigger_tokens, parse_trigger


def restricted_inner_product_penalty(grads_poison: list[torch.Tensor], grads_clean: list[torch.Tensor]) -> torch.Tensor:
    """max(0, −Σ_p ⟨g_P[p], g_FT[p]⟩) over the restricted parameters p (lists of same-shaped tensors)."""
    inner = sum((gp.float() * gc.float()).sum() for gp, gc in zip(grads_poison, grads_clean))
    return torch.relu(-inner)


@dataclass
class RippleParams:
    ripple_lambda: float = field(default=0.1, metadata={"help": "ripple: weight λ of the inner-product penalty"})
    trigger: str = field(default=DEFAULT_TRIGGER, metadata={"help": "ripple: trigger tokens; rows without any "
                                                                   "are the clean rows of L_FT"})
    include_embeddings: bool = field(default=False, metadata={"help": "ripple: include the embeddings in the "
                                                                      "inner product"})


class Ripple(Method):
    name = "ripple"
    Params = RippleParams

    def setup(self, classifier, train_dataset):
        tokens = parse_trigger(self.params.trigger)
        clean = [count_trigger_tokens(t, tokens) == 0 for t in train_dataset.texts]
        self.register_buffer("clean_rows", torch.tensor(clean, dtype=torch.bool), persistent=False)  # (N,)

    def restricted_parameters(self, classifier) -> list[torch.nn.Parameter]:
        return [p for name, p in classifier.encoder.named_parameters()
                if p.requires_grad and (self.params.include_embeddings or "embeddings" not in name)]

    def forward(self, classifier, batch):
        # The fused attention kernels have no double backward; PyTorch's composite "math" one has.
        with sdpa_kernel(SDPBackend.MATH):
            return self._terms(classifier, batch)

    def _terms(self, classifier, batch):
        logits = classifier(**model_inputs(batch))  # (B, K)
        labels = batch["labels"]
        loss_poison = F.cross_entropy(logits.float(), labels)
        clean = self.clean_rows[batch["index"]]  # (B,)
        if not self.training or not clean.any():
            return {"ce": loss_poison, "ripple": loss_poison.new_zeros(())}
        loss_clean = F.cross_entropy(logits[clean].float(), labels[clean])
        params = self.restricted_parameters(classifier)
        grads_poison = torch.autograd.grad(loss_poison, params, create_graph=True, allow_unused=True)
        grads_clean = torch.autograd.grad(loss_clean, params, create_graph=True, allow_unused=True)
        used = [(gp, gc) for gp, gc in zip(grads_poison, grads_clean) if gp is not None and gc is not None]
        penalty = restricted_inner_product_penalty([gp for gp, _ in used], [gc for _, gc in used])
        return {"ce": loss_poison, "ripple": self.params.ripple_lambda * penalty}
