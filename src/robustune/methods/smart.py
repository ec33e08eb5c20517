"""smart — smoothness-inducing adversarial regularization + Bregman proximal point optimization.

Jiang, He, Chen, Liu, Gao, Zhao. "SMART: Robust and Efficient Fine-Tuning for Pre-trained Natural
Language Models through Principled Regularized Optimization", ACL 2020 (arXiv 1911.03437).

Objective, with f(x; θ) the logits, e = the **word** embeddings of x and ℓ_s the symmetric KL
divergence  ℓ_s(P, Q) = KL(P‖Q) + KL(Q‖P):

    L(θ) = CE(f(x; θ), y) + λ_s·R_s(θ) + μ·D(θ, θ̃)
    R_s  = ℓ_s(f(e + δ; θ), sg[f(e; θ)])            δ: T steps of projected ascent, below
    D    = ℓ_s(f(x; θ), f(x; θ̃))                    θ̃ ← β·θ̃ + (1 − β)·θ after every step (EMA teacher)

    δ₀ ~ N(0, σ²I);  for t < T:  g = ∇_δ ℓ_s(f(e + δ), sg[f(e)]),
                                 δ ← Π_{‖δ‖∞ ≤ ε}(δ + η·g / ‖g‖∞)   (∞-norm per example)

Paper defaults: σ = 1e-5, ε = 1e-5, η = 1e-3, T = 1, λ_s = 1 (the paper searches {1, 3, 5}), μ = 1,
β = 0.99. Setting ``adv_weight`` or ``bregman_weight`` to 0 turns that part off and skips its compute.

Where this differs from the public code, and why:
- δ is added to the word embeddings only and the sum goes in as ``inputs_embeds``, so the
  position/type embeddings and LayerNorm are applied exactly once (public code perturbs the
  embedding *output* and feeds it back, applying them twice).
- The Bregman proximal term is implemented (the authors' released code has no teacher). The teacher
  is a frozen deep copy of the classifier (EMA-updated, never back-propagated); it is the method's
  state (checkpointed, resumed) and never part of the saved model.
- Every pass compared with the clean one (the ascent passes, the perturbed pass, the teacher's) draws
  the clean pass's dropout masks. With independent masks (the authors' code) R_s and D mostly
  measure dropout noise: δ is ε = 1e-5 small, and the teacher equals the student at the start. With
  shared masks R_s measures what δ does and D what θ − θ̃ does, as the paper's objective intends.
- ℓ_s is the exact symmetric KL rather than the authors' "stable_kl" approximation. As in their code,
  the clean logits are a detached target in R_s.
- δ₀ comes from a generator seeded with the run's seed (``torch.initial_seed()`` at setup); a resumed
  run draws a fresh noise stream.

Example::

    robustune train --data sst2/train.tsv --method smart --adv-weight 1 --bregman-weight 1 --output out/
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .base import Method, model_inputs
from .perturbation import DropoutReplay, perturbed_logits, word_embeddings


def symmetric_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Batch mean of KL(p‖q) + KL(q‖p) for (B, K) logits; differentiable in both arguments.

    KL(p‖q) + KL(q‖p) = Σ_k (p_k − q_k)(log p_k − log q_k). Computed in float32 from log-softmax.
    """
    log_p = F.log_softmax(logits_p.float(), dim=-1)  # (B, K)
    log_q = F.log_softmax(logits_q.float(), dim=-1)  # (B, K)
    return ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1).mean()


def ascent_step(delta: torch.Tensor, grad: torch.Tensor, step_size: float, epsilon: float) -> torch.Tensor:
    """δ ← Π_{‖δ‖∞≤ε}(δ + η·g/‖g‖∞) with the ∞-norm taken per example over (T, D); (B, T, D)."""
    norm = grad.abs().amax(dim=tuple(range(1, grad.dim())), keepdim=True)  # (B, 1, 1)
    # An all-zero gradient (a saturated example) gives no direction: the step is zero, not NaN.
    direction = grad / norm.clamp_min(torch.finfo(grad.dtype).tiny)
    return (delta + step_size * direction).clamp(-epsilon, epsilon)


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, beta: float) -> None:
    """θ̃ ← β·θ̃ + (1 − β)·θ over the parameters; buffers are copied."""
    t_params, s_params = list(teacher.parameters()), list(student.parameters())
    torch._foreach_lerp_(t_params, s_params, 1.0 - beta)  # t + (1−β)(s − t)
    for t_buf, s_buf in zip(teacher.buffers(), student.buffers()):
        t_buf.copy_(s_buf)


class Smart(Method):
    name = "smart"

    @dataclass
    class Params:
        noise_std: float = field(default=1e-5, metadata={"help": "smart: σ of the initial perturbation (1e-5)"})
        epsilon: float = field(default=1e-5, metadata={"help": "smart: ∞-norm radius ε of the perturbation (1e-5)"})
        step_size: float = field(default=1e-3, metadata={"help": "smart: ascent step size η (1e-3)"})
        adv_steps: int = field(default=1, metadata={"help": "smart: ascent steps T (1)"})
        adv_weight: float = field(default=1.0, metadata={"help": "smart: weight λ_s of R_s; 0 turns it off (1)"})
        bregman_weight: float = field(default=1.0,
                                      metadata={"help": "smart: weight μ of the Bregman term; 0 turns it off (1)"})
        ema_beta: float = field(default=0.99, metadata={"help": "smart: EMA momentum β of the teacher (0.99)"})

        def __post_init__(self) -> None:
            checks = [
                (self.noise_std >= 0, "noise_std must be >= 0"),
                (self.epsilon > 0, "epsilon must be positive"),
                (self.step_size > 0, "step_size must be positive"),
                (self.adv_steps >= 0, "adv_steps must be >= 0"),
                (self.adv_weight >= 0 and self.bregman_weight >= 0, "weights must be >= 0"),
                (0 <= self.ema_beta < 1, "ema_beta must be in [0, 1)"),
            ]
            for ok, message in checks:
                if not ok:
                    raise ValueError(f"{message}, got {self!r}")

    def __init__(self, params=None):
        super().__init__(params)
        self.teacher = None

    def setup(self, classifier, train_dataset) -> None:
        self.seed = torch.initial_seed()
        if self.params.bregman_weight > 0:
            # A registered submodule: it moves to the device with the model and is checkpointed.
            # It follows the student's train/eval mode, so that it can share the student's dropout masks.
            self.teacher = copy.deepcopy(classifier).requires_grad_(False)

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.generator(like.device), device=like.device, dtype=like.dtype)

    def adversarial_delta(self, classifier, batch, word_embeds: torch.Tensor, clean_logits: torch.Tensor,
                          masks: DropoutReplay) -> torch.Tensor:
        """δ after T projected ascent steps from δ₀ ~ N(0, σ²); (B, T, D), no graph attached."""
        p = self.params
        embeds = word_embeds.detach()  # the ascent moves δ only
        target = clean_logits.detach()
        delta = self._noise(embeds) * p.noise_std  # (B, T, D)
        for _ in range(p.adv_steps):
            with torch.enable_grad(), masks.replay():
                delta.requires_grad_(True)
                loss = symmetric_kl(perturbed_logits(classifier, batch, embeds, delta), target)
                (grad,) = torch.autograd.grad(loss, delta)
            delta = ascent_step(delta.detach(), grad, p.step_size, p.epsilon)
        return delta.detach()

    def forward(self, classifier, batch):
        p = self.params
        inputs = model_inputs(batch)
        word_embeds = word_embeddings(classifier, inputs["input_ids"])  # (B, T, D)
        masks = DropoutReplay(word_embeds.device)  # the clean pass's dropout masks, for every pass below
        clean = perturbed_logits(classifier, inputs, word_embeds, 0.0)  # (B, K), ordinary forward
        terms = {"ce": F.cross_entropy(clean, batch["labels"])}
        if p.adv_weight > 0:
            delta = self.adversarial_delta(classifier, inputs, word_embeds, clean, masks)
            # Gradient reaches θ (word embeddings included) through the perturbed pass only.
            with masks.replay():
                adv = perturbed_logits(classifier, inputs, word_embeds, delta)
            terms["adv_kl"] = p.adv_weight * symmetric_kl(adv, clean.detach())
        if p.bregman_weight > 0:
            with torch.no_grad(), masks.replay():
                teacher_logits = self.teacher(**inputs)  # (B, K)
            terms["bregman"] = p.bregman_weight * symmetric_kl(clean, teacher_logits)
        return terms

    def after_step(self, classifier) -> None:
        if self.teacher is not None:
            ema_update(self.teacher, classifier, self.params.ema_beta)
