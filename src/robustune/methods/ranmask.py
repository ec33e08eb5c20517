"""ranmask — train on randomly masked inputs, predict by a vote over random maskings (RanMASK).

Zeng, Zheng, Xu, Huang. "Certified Robustness to Text Adversarial Attacks by Randomized [MASK]",
2021 (arXiv 2105.03743); compared with other defences in TextDefender (Li et al., EMNLP 2021, arXiv
2108.12777).

Training objective, with M_ρ(x) the input with round(ρ·n) of its n maskable tokens (not special
tokens, not padding) replaced by [MASK], uniformly at random, fresh every step:

    L = CE(f(M_ρ(x)), y)

Prediction (modeling/smoothing.py, ``MaskVote``): N masked copies M_ρ^(1..N)(x), each classified by f;
p(c | x) = #{j : argmax f(M_ρ^(j)(x)) = c} / N (the vote shares), and the label is the majority.
ρ, N and the vote's seed are saved with the model (``robustune.smoothing`` in config.json) and can
be overridden when predicting, evaluating or attacking (``--vote-samples``, ``--mask-rate``,
``--vote-seed``; ``RobustClassifier.configure_smoothing``). Every prediction — an attack's queries
included — costs N encoder forwards; the attack summary counts them (``avg_model_forwards``).

Defaults: ρ = 0.3 and N = 15. The paper's certified setting masks ρ = 90% with N up to 100; its
empirical-defence variants go down to ρ = 5% (TextDefender's code defaults to ρ = 0.9 and an
ensemble of 100). ρ = 0.3 is a middle ground between the two; N = 15 keeps an attack's cost (N forwards per query) within reach on a CPU. Pick
larger ρ and N where certification (or a larger compute budget) matters. The pilot of issue 23
(bench/results/robustness-pilot/: ρ = 0.3, N = 9, 2,000 SST-2 rows, 1 epoch) found no gain under
textfooler at this ρ and 3.8 points less clean accuracy. At the paper's ρ = 0.9 (4,000 SST-2 rows, 2
epochs, one seed; BENCHMARKS.md "Randomised smoothing: safer, ranmask and dne") MiniLM does not learn the
task: 62.0% test accuracy against vanilla's 85.9%, and less accuracy than vanilla under every attack.

Deviations from the paper, and why:
- Word pieces (tokens) are masked, not whitespace words: the masked copy keeps the input's length and
  masking composes with any tokenizer. Exactly round(ρ·n) tokens are masked per copy.
- Each input's N maskings come from a generator seeded with a hash of (seed, its token ids), so a
  prediction is reproducible and does not depend on the batch (the paper draws them afresh per call);
  a changed text still gets fresh masks.
- Training masks come from a generator seeded with the run's seed (a resumed run draws a fresh stream).

Example::

    robustune train --data sst2/train.tsv --method ranmask --mask-rate 0.3 --vote-samples 15 --output out/
    robustune attack --model out/ --data sst2/test.tsv --recipe textfooler --vote-samples 32
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import RobustuneError
from ..modeling.smoothing import MaskVote, mask_positions, maskable_tokens
from .input_noise import InputNoise, VoteParams


class RanMask(InputNoise):
    name = "ranmask"

    @dataclass
    class Params(VoteParams):
        mask_rate: float = field(default=0.3, metadata={"help": "ranmask: share ρ of tokens masked, in training "
                                                                "and in the vote (0.3)"})

        def __post_init__(self) -> None:
            super().__post_init__()
            if not 0 < self.mask_rate < 1:
                raise ValueError(f"mask_rate must be in (0, 1), got {self!r}")

    def __init__(self, params=None):
        super().__init__(params)
        self._special: list[int] = []
        self._mask_id = 0

    def setup(self, classifier, train_dataset) -> None:
        if classifier.tokenizer.mask_token_id is None:
            raise RobustuneError("ranmask needs a tokenizer with a mask token ([MASK]); this encoder's has none")
        super().setup(classifier, train_dataset)
        self._special = list(classifier.tokenizer.all_special_ids)
        self._mask_id = classifier.tokenizer.mask_token_id

    def altered(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """M_ρ(x) for a batch, (B, T), from the method's seeded generator."""
        maskable = maskable_tokens(input_ids, attention_mask, self._special)  # (B, T)
        chosen = mask_positions(maskable, self.params.mask_rate, self.generator(input_ids.device))  # (B, T)
        return input_ids.masked_fill(chosen, self._mask_id)

    def finalize(self, classifier, train_dataset) -> None:
        p = self.params
        classifier.smoothing = MaskVote(samples=p.vote_samples, mask_rate=p.mask_rate, seed=p.vote_seed)
