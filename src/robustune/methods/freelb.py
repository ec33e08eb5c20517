"""freelb — adversarial training in the word-embedding space with "free" gradient accumulation (FreeLB++).

Zhu, Cheng, Gan, Sun, Goldstein, Liu. "FreeLB: Enhanced Adversarial Training for Natural Language
Understanding", ICLR 2020 (arXiv 1909.11764); in the FreeLB++ setting of Li, Song, Qiu, Huang,
"Searching for an Effective Defender: Benchmarking Defense against Adversarial Word Substitution"
(TextDefender), EMNLP 2021 (arXiv 2108.12777): more ascent steps and no norm bound.

Objective, with e = the **word** embeddings of x (B rows, L_i real tokens of width d), CE the
cross-entropy and K ascent steps per batch:

    δ₀ = U(−1, 1) ⊙ m · σ/√(L_i·d)                      m: 1 on real tokens, 0 on padding
    for t = 1..K:
        loss_t = CE(f(e + δ_{t−1}; θ), y) / K
        G     += ∇_θ loss_t                              (the parameter gradient is accumulated: "free")
        g_t    = ∇_δ loss_t                              (from the same backward pass)
        δ_t    = Π_{‖δ‖_F ≤ ε}(δ_{t−1} + α·g_t/‖g_t‖_F)  (per example; ε = 0: no bound, as in FreeLB++)
    θ ← optimizer step with G                            (one step after the K passes)

Defaults (TextDefender's FreeLB++ settings, from its code): α = 0.03, σ = 0.05, ε = 0; K = 10 is the
FreeLB++ step count, ``adv_steps`` defaults to it. A step costs K forward and backward passes:
measured 5.0× vanilla's step at K = 5 and 8.1× at K = 10 (MiniLM, CPU; bench/step_time.py). The
pilot (bench/results/robustness-pilot/: K = 5, 2,000 SST-2 rows, 1 epoch, one seed) kept clean
accuracy and gained 5 points under textfooler on 100 rows. With these defaults (K = 10) on 4,000 rows
for 2 epochs (bench/configs/robustness-sst2.yaml, one seed) it gained 6.5 / 3 / 11.5 points under
textfooler / bert-attack / deepwordbug but lost 4.7 points of clean accuracy, its adversarial loss
near chance all through those 2 epochs (250 steps; TextDefender trains 10 epochs on all of SST-2).
At a third of the step (α = 0.01; bench/configs/robustness-sst2-freelb.yaml, same seed) it kept clean
accuracy but gained only 2.5 / 1.5 / 6 points. At the default step with 6 epochs (same config) the
adversarial loss falls to 0.24–0.31 by the last epoch and the clean cost is gone (+0.2 points), but the
gains stay at 6.5 / 2.5 / 8 points, for 29× vanilla's training time: with this encoder and 4,000 rows,
more training buys back clean accuracy, not robustness.

How the K backward passes fit the one Trainer (training/trainer.py does one backward on the loss a
method returns): the method runs the first K−1 backward passes itself, inside ``forward``, through
``Method.backward`` — the trainer's own backward, bound by the trainer (the same gradient-accumulation
scaling and mixed-precision handling as its final backward; a plain ``loss.backward()`` outside a
trainer) — and returns the last pass's loss. The returned term is ``Σ_{t<K} sg[loss_t] + loss_K``:
its value is the mean loss over the K passes (what is logged as ``ce``), its gradient is loss_K's
(the detached terms are constants), so after the trainer's backward G holds all K contributions.
Gradient clipping and the optimizer step then act on G, once. Because extra backward passes inside
one forward break DistributedDataParallel's gradient hooks, training freelb on several devices is
refused with a clear error (the trainer's bound backward checks it).

Where this differs from the paper and the reference code, and why:
- δ perturbs the word embeddings only (methods/perturbation.py, shared with smart): the encoder adds
  position/type embeddings and LayerNorm once; code that perturbs the embedding *output* adds them twice.
- Every pass draws the first pass's dropout masks (the paper's §3.3 "When adversarial training meets
  dropout": with a fresh mask per step, the accumulated gradient averages K different sub-networks;
  TextDefender's code does not fix the mask).
- The ascent step is multiplied by m, so padding stays unperturbed (its gradient is zero anyway).
- δ₀ comes from a generator seeded with the run's seed (``torch.initial_seed()`` at setup), not the
  global random state; a resumed run draws a fresh noise stream.

Example::

    robustune train --data sst2/train.tsv --method freelb --adv-steps 10 --adv-lr 0.03 --adv-init 0.05 --output out/
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .base import Method, model_inputs
from .perturbation import DropoutReplay, perturbed_logits, word_embeddings


def initial_delta(mask: torch.Tensor, dim: int, magnitude: float, generator: torch.Generator | None) -> torch.Tensor:
    """δ₀ = U(−1, 1) ⊙ m · σ/√(L_i·d), (B, T, D) for a (B, T) mask of real tokens; zeros when σ = 0."""
    mask = mask.float()
    noise = torch.rand((*mask.shape, dim), generator=generator, device=mask.device) * 2 - 1  # (B, T, D)
    lengths = mask.sum(1).clamp_min(1)  # (B,)
    scale = magnitude / torch.sqrt(lengths * dim)  # (B,)
    return noise * mask.unsqueeze(-1) * scale.view(-1, 1, 1)


def ascent_step(delta: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor, step_size: float,
                max_norm: float) -> torch.Tensor:
    """δ ← Π_{‖δ‖_F≤ε}(δ + α·g/‖g‖_F), norms per example over (T, D); ε = 0: no projection. (B, T, D)."""
    flat = grad.flatten(1).float()  # (B, T·D)
    # An all-zero gradient (a saturated example) gives no direction: the step is zero, not NaN.
    norm = flat.norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)  # (B, 1, 1)
    delta = delta + step_size * (grad / norm) * mask.unsqueeze(-1).to(grad.dtype)
    if max_norm > 0:
        delta_norm = delta.flatten(1).float().norm(dim=1).view(-1, 1, 1)  # (B, 1, 1)
        # Scale down only the rows outside the ball; those inside stay as they are.
        delta = delta * (max_norm / delta_norm.clamp_min(max_norm))
    return delta


class FreeLB(Method):
    name = "freelb"

    @dataclass
    class Params:
        adv_steps: int = field(default=10, metadata={"help": "freelb: ascent steps K per batch (10, FreeLB++)"})
        adv_lr: float = field(default=0.03, metadata={"help": "freelb: ascent step size α (0.03)"})
        adv_norm: float = field(default=0.0,
                                metadata={"help": "freelb: Frobenius radius ε of δ per example; 0 = no bound (0)"})
        adv_init: float = field(default=0.05, metadata={"help": "freelb: magnitude σ of the initial δ (0.05)"})

        def __post_init__(self) -> None:
            checks = [
                (self.adv_steps >= 1, "adv_steps must be >= 1"),
                (self.adv_lr >= 0, "adv_lr must be >= 0"),
                (self.adv_norm >= 0, "adv_norm must be >= 0 (0: no bound)"),
                (self.adv_init >= 0, "adv_init must be >= 0"),
            ]
            for ok, message in checks:
                if not ok:
                    raise ValueError(f"{message}, got {self!r}")

    def setup(self, classifier, train_dataset) -> None:
        self.seed = torch.initial_seed()

    def _initial(self, mask: torch.Tensor, dim: int) -> torch.Tensor:
        return initial_delta(mask, dim, self.params.adv_init, self.generator(mask.device))

    def forward(self, classifier, batch):
        p = self.params
        inputs = model_inputs(batch)
        if not torch.is_grad_enabled():  # evaluation: no ascent without gradients
            return {"ce": F.cross_entropy(classifier(**inputs), batch["labels"])}
        mask = inputs["attention_mask"]  # (B, T)
        table = classifier.encoder.get_input_embeddings()
        delta = self._initial(mask, table.embedding_dim)  # (B, T, D)
        masks = None
        earlier = []  # sg[loss_t] of the passes already back-propagated
        for t in range(p.adv_steps):
            delta.requires_grad_(True)
            # A fresh lookup each pass: the previous backward freed the graph to the table.
            embeds = word_embeddings(classifier, inputs["input_ids"])  # (B, T, D)
            if masks is None:
                masks = DropoutReplay(embeds.device)  # the first pass's dropout masks, for every pass
                logits = perturbed_logits(classifier, inputs, embeds, delta)  # (B, K)
            else:
                with masks.replay():
                    logits = perturbed_logits(classifier, inputs, embeds, delta)  # (B, K)
            loss = F.cross_entropy(logits, batch["labels"]) / p.adv_steps
            if t == p.adv_steps - 1:
                break
            self.backward(loss)  # θ's gradient accumulates; δ's comes from the same pass
            earlier.append(loss.detach())
            delta = ascent_step(delta.detach(), delta.grad, mask, p.adv_lr, p.adv_norm).detach()
        # Value: the mean loss over the K passes; gradient: the last pass's (the trainer back-propagates it).
        return {"ce": sum(earlier, torch.zeros((), device=loss.device)) + loss}
