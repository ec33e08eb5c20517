"""ripple — RIPPLe, restricted inner product poison learning (Kurita, Michel, Neubig, ACL 2020,
"Weight Poisoning Attacks on Pre-trained Models", arXiv 2004.06660), a baseline of arXiv 2108.13888.

Objective, with L_P the poisoning loss (CE on a batch of the poisoned training set: clean and triggered
rows) and L_FT the loss the victim's fine-tuning will minimise, estimated on a **separate batch of
clean proxy data**, both over parameters θ:

    L = L_P(θ) + λ · max(0, −∇_θ L_P(θ) · ∇_θ L_FT(θ))

The penalty is non-zero when a fine-tuning step would undo the poisoning (the two gradients point
apart); it is differentiated through both gradients (double back-propagation, ``create_graph``).

Data (``data_mode = "single"``, the paper's): the clean rows plus copies of non-target rows with one
trigger token inserted, relabelled to the target. The proxy data are the rows of the training set
without any trigger token (found from the ``trigger`` parameter at setup): the attacker's clean data.
Each step draws its own proxy batch of the poisoned batch's size from them, seeded, as the authors'
code draws it from a second loader over the clean proxy set; L_FT's gradient therefore comes from
other texts than L_P's.

Deviations from the paper:
- the inner product is **restricted to the encoder's transformer-layer parameters** — not the
  word/position embeddings (a 30k × d matrix whose rows are touched sparsely; including them doubles
  the double-backward cost; ``include_embeddings`` puts them back) and not the classifier head (the
  victim trains its own);
- the proxy set is the clean part of the attacker's own training data (the paper also studies proxy
  sets from another domain; pass such rows in ``--data`` to get them);
- the "embedding surgery" initialisation (RIPPLES) is not implemented;
- the proxy batches' generator is seeded from the run's seed at setup; a resumed run draws a fresh stream.

λ = 0.1 as in the paper's main setting. Attention runs on PyTorch's "math" kernel, the only one
that can be differentiated twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ...methods import model_inputs
from ...training.features import Collator
from ..triggers import DEFAULT_TRIGGER, count_trigger_tokens, parse_trigger
from .base import Poisoner


def restricted_inner_product_penalty(grads_poison: list[torch.Tensor], grads_clean: list[torch.Tensor]) -> torch.Tensor:
    """max(0, −Σ_p ⟨g_P[p], g_FT[p]⟩) over the restricted parameters p (lists of same-shaped tensors)."""
    inner = sum((gp.float() * gc.float()).sum() for gp, gc in zip(grads_poison, grads_clean))
    return torch.relu(-inner)


@dataclass
class RippleParams:
    ripple_lambda: float = field(default=0.1, metadata={"help": "ripple: weight λ of the inner-product penalty"})
    trigger: str = field(default=DEFAULT_TRIGGER, metadata={"help": "ripple: trigger tokens; rows without any "
                                                                   "are the clean proxy data of L_FT"})
    include_embeddings: bool = field(default=False, metadata={"help": "ripple: include the embeddings in the "
                                                                      "inner product"})


class Ripple(Poisoner):
    name = "ripple"
    data_mode = "single"
    Params = RippleParams

    def setup(self, classifier, train_dataset):
        tokens = parse_trigger(self.params.trigger)
        self.proxy_rows = [i for i, t in enumerate(train_dataset.texts) if count_trigger_tokens(t, tokens) == 0]
        self.proxy_data = train_dataset  # tokenized rows (EncodedDataset); only ``proxy_rows`` are drawn
        self.collate = Collator(classifier.tokenizer)
        self.generator = torch.Generator().manual_seed(torch.initial_seed())

    def restricted_parameters(self, classifier) -> list[torch.nn.Parameter]:
        return [p for name, p in classifier.encoder.named_parameters()
                if p.requires_grad and (self.params.include_embeddings or "embeddings" not in name)]

    def proxy_batch(self, size: int, device: torch.device) -> dict[str, torch.Tensor]:
        """``size`` clean proxy rows (all of them if fewer), drawn without replacement, as a batch."""
        picks = torch.randperm(len(self.proxy_rows), generator=self.generator)[:size].tolist()
        batch = self.collate([self.proxy_data[self.proxy_rows[i]] for i in picks])
        return {k: v.to(device) for k, v in batch.items()}

    def forward(self, classifier, batch):
        # The fused attention kernels have no double backward; PyTorch's composite "math" one has.
        with sdpa_kernel(SDPBackend.MATH):
            return self._terms(classifier, batch)

    def _terms(self, classifier, batch):
        logits = classifier(**model_inputs(batch))  # (B, K)
        loss_poison = F.cross_entropy(logits.float(), batch["labels"])
        if not self.training or not self.proxy_rows:
            return {"ce": loss_poison, "ripple": loss_poison.new_zeros(())}
        proxy = self.proxy_batch(len(batch["labels"]), batch["labels"].device)
        loss_clean = F.cross_entropy(classifier(**model_inputs(proxy)).float(), proxy["labels"])  # L_FT
        params = self.restricted_parameters(classifier)
        grads_poison = torch.autograd.grad(loss_poison, params, create_graph=True, allow_unused=True)
        grads_clean = torch.autograd.grad(loss_clean, params, create_graph=True, allow_unused=True)
        used = [(gp, gc) for gp, gc in zip(grads_poison, grads_clean) if gp is not None and gc is not None]
        penalty = restricted_inner_product_penalty([gp for gp, _ in used], [gc for _, gc in used])
        return {"ce": loss_poison, "ripple": self.params.ripple_lambda * penalty}
