"""dne — adversarial training inside the convex hulls of word neighbourhoods, and an ensemble over them (DNE).

Zhou, Zheng, Hsieh, Chang, Huang. "Defense against Synonym Substitution-based Adversarial Attacks via
Dirichlet Neighborhood Ensemble", ACL 2021; compared with other defences in TextDefender (Li et al.,
EMNLP 2021, arXiv 2108.12777).

Every word w with a perturbation set spans a hull of vertices V(w) = [w] + S(w) + S²(w) (its nearest GloVe
neighbours, then theirs; modeling/hull.py). A virtual input replaces each word embedding e(w) by a point of
its hull, ê(w; z) = Σ_j softmax(z)_j e(v_j), with the logits z of the weights starting at a Dirichlet draw,
z₀ = log(β + 10⁻⁶), β ~ Dir(α for w and S(w), α·γ for S²(w)). Training objective per batch, K ascent steps
on z (per word, the gradient normalised over its vertices; the parameter gradients of all K + 1 passes
accumulate into one optimizer step):

    L = CE(f(ê(x; z₀)), y) + Σ_{t=1..K} CE(f(ê(x; z_t)), y)
    z_t = z_{t−1} + η · g_t / ‖g_t‖,   g_t = ∇_z CE(f(ê(x; z_{t−1})), y)

A large step η pushes a word's weight towards its worst vertex, so the model trains on near-worst
neighbour substitutions, in embedding space, without searching for them.

Prediction (modeling/smoothing.py, ``HullEnsemble``): the base model's probabilities averaged over N virtual
inputs, each word a fresh Dirichlet point of its hull, p(c | x) = (1/N) Σ_j f_c(ê(x; log β_j)). An attack
queries this ensemble (N encoder forwards per query; the summary counts them).

Defaults (TextDefender's DNE settings, from its code): α = 1, γ = 0.5, hulls of at most 50 vertices,
K = 3 ascent steps of η = 10; N = 15 as for the votes of ranmask and safer. With these on MiniLM, 4,000
SST-2 rows and 2 epochs (BENCHMARKS.md "Randomised smoothing: safer, ranmask and dne", one seed) the
model does not learn the task: 68.0% test accuracy against vanilla's 85.9%, its loss on the Dirichlet
points still falling at the end (0.68 to 0.51); a step costs 7.4× vanilla's. A word's hull averages
about 25 words (MiniLM's vocabulary: 20,767 tokens have one, of 25 vertices on average), so a Dirichlet
point is far from the word; TextDefender trains BERT-base 10 epochs on all of SST-2. Under attack it
still keeps 18, 16 and 0.5 points more than vanilla (textfooler, bert-attack, deepwordbug). With
first-order hulls (``hull_size`` 9) and 4 epochs it reaches 75.5% and gains only 6.5, 7 and -7: the
robustness of the large hulls goes with their lost accuracy.

Where this differs from the paper and the reference code, and why:
- The first-order sets are safer's (``synonyms`` nearest GloVe 6B neighbours, cosine ≥ 0.5, WordNet
  antonyms and stop-words left out, single-token words of the vocabulary only): the paper's counter-fitted
  vectors cannot be had offline (safer's sentiment filters, ``synonym_keep_polarity`` and
  ``synonym_same_polarity``, apply; the second-order vertices are the kept neighbours' kept sets). Only
  whole words (not ``##`` pieces, nor a word the tokenizer splits) get a hull, as in safer; the reference
  code mixes every token with its neighbours.
- The K + 1 passes replay the first pass's dropout masks (as freelb does here), so what differs between
  them is the hull point, not the dropout noise; the reference code draws fresh masks.
- The Dirichlet draws come from numpy generators: the method's own (seeded with the run's seed at setup; a
  resumed run draws a fresh stream) in training, and one seeded with a hash of (seed, the input's token
  ids) per input at prediction, so a prediction is reproducible and does not depend on the batch (the
  reference code cycles through a cache of 10,000 draws per hull size).
- The ensemble averages probabilities over N = 15 virtual inputs; the reference wraps the model for
  TextAttack with its own ensemble size.
- Extra backward passes inside one forward break DistributedDataParallel's gradient hooks, so training dne
  on several devices is refused with a clear error (as for freelb).

Example::

    robustune train --data sst2/train.tsv --method dne --adv-steps 3 --adv-lr 10 --vote-samples 15 --output out/
    robustune attack --model out/ --data sst2/test.tsv --recipe textfooler
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..modeling.hull import dirichlet_weights, hull_corners, hull_points, hull_table
from ..modeling.smoothing import HullEnsemble, whole_words
from .base import Method, model_inputs
from .perturbation import DropoutReplay
from .safer import NeighbourParams, perturbation_sets


def ascent_logits(logits: torch.Tensor, grad: torch.Tensor, step: float) -> torch.Tensor:
    """z + η·g/‖g‖ per word (the norm over its vertices), shifted so that each word's largest logit is 0;
    slots past a hull's end (logit −inf, gradient 0) stay −inf. (B, T, M)."""
    norm = grad.norm(dim=-1, keepdim=True) + 1e-6  # (B, T, 1)
    moved = logits + step * grad / norm
    return moved - moved.max(dim=-1, keepdim=True).values


class DNE(Method):
    name = "dne"

    @dataclass
    class Params(NeighbourParams):
        hull_size: int = field(default=50, metadata={"help": "dne: most vertices of a word's hull, itself, its "
                                                             "neighbours and theirs (50)"})
        dirichlet_alpha: float = field(default=1.0, metadata={"help": "dne: Dirichlet concentration α of a word "
                                                                       "and its neighbours (1.0)"})
        dirichlet_decay: float = field(default=0.5, metadata={"help": "dne: factor γ of α for the neighbours' "
                                                                       "neighbours (0.5)"})
        adv_steps: int = field(default=3, metadata={"help": "dne: ascent steps K on the hull weights (3)"})
        adv_lr: float = field(default=10.0, metadata={"help": "dne: ascent step η on the hull weights' logits, "
                                                              "the gradient normalised per word (10)"})

        def __post_init__(self) -> None:
            super().__post_init__()
            checks = [
                (self.hull_size >= 2, "hull_size must be >= 2 (a word and a neighbour)"),
                (self.dirichlet_alpha > 0, "dirichlet_alpha must be > 0"),
                (0 < self.dirichlet_decay <= 1, "dirichlet_decay must be in (0, 1]"),
                (self.adv_steps >= 0, "adv_steps must be >= 0"),
                (self.adv_lr >= 0, "adv_lr must be >= 0"),
            ]
            for ok, message in checks:
                if not ok:
                    raise ValueError(f"{message}, got {self!r}")

    def __init__(self, params=None):
        super().__init__(params)
        self._hulls = self._continuation = self._rng = None

    def setup(self, classifier, train_dataset) -> None:
        p = self.params
        offsets, candidates, self._continuation = perturbation_sets(classifier.tokenizer, p, self.name)
        self._hulls = hull_table(offsets, candidates, p.hull_size)  # (offsets, vertices, first)
        self.seed = torch.initial_seed()

    def rng(self) -> np.random.Generator:
        """The method's Dirichlet stream, seeded with ``seed`` (numpy: torch draws Dirichlet variables from
        the global random state only)."""
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng

    def initial_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """The hulls of a batch, (B, T, M) vertex ids, and z₀ = log(β + 10⁻⁶) of a Dirichlet draw β, −inf on
        the slots past a hull's end; on ``input_ids``' device."""
        p = self.params
        ids = input_ids.cpu()
        eligible = whole_words(ids, attention_mask.cpu(), self._continuation)  # (B, T)
        corners, concentration = hull_corners(ids, eligible, *self._hulls, p.dirichlet_alpha,
                                              p.dirichlet_decay)  # (B, T, M) each
        logits = torch.log(dirichlet_weights(concentration, self.rng()) + 1e-6)
        logits = logits.masked_fill(concentration == 0, float("-inf"))
        return corners.to(input_ids.device), logits.to(input_ids.device)

    def forward(self, classifier, batch):
        p = self.params
        inputs = model_inputs(batch)
        if not torch.is_grad_enabled():  # evaluation: the plain input, no ascent without gradients
            return {"ce": F.cross_entropy(classifier(**inputs), batch["labels"])}
        corners, logits = self.initial_logits(inputs["input_ids"], inputs["attention_mask"])  # (B, T, M)
        table = classifier.encoder.get_input_embeddings()
        masks = DropoutReplay(corners.device)  # the first pass's dropout masks, for every pass
        earlier = []  # sg[loss_t] of the passes already back-propagated
        for t in range(p.adv_steps + 1):
            logits.requires_grad_(True)
            # A fresh lookup each pass: the previous backward freed the graph to the table.
            points = hull_points(torch.softmax(logits, dim=-1), table(corners))  # (B, T, D)
            with masks.replay() if t else contextlib.nullcontext():
                out = classifier(inputs_embeds=points, attention_mask=inputs["attention_mask"],
                                 token_type_ids=inputs.get("token_type_ids"))  # (B, K)
            loss = F.cross_entropy(out, batch["labels"])
            if t == p.adv_steps:
                break
            self.backward(loss)  # θ's gradient accumulates; z's comes from the same pass
            earlier.append(loss.detach())
            logits = ascent_logits(logits.detach(), logits.grad, p.adv_lr).detach()
        if not earlier:
            return {"ce": loss}
        # Values: the Dirichlet point's loss and the K adversarial ones summed; gradient: the last pass's
        # (the trainer back-propagates it onto the K already accumulated).
        return {"ce": earlier[0], "adversarial": sum(earlier[1:], torch.zeros((), device=loss.device)) + loss}

    def finalize(self, classifier, train_dataset) -> None:
        p = self.params
        offsets, vertices, first = self._hulls
        classifier.smoothing = HullEnsemble(samples=p.vote_samples, seed=p.vote_seed, alpha=p.dirichlet_alpha,
                                            decay=p.dirichlet_decay, offsets=offsets, vertices=vertices,
                                            first=first, continuation=self._continuation)
