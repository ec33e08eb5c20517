"""three-phase — denoising auto-encoder → supervised contrastive → fine-tuning (arXiv 2405.14437).

Lopez-Avila and Suárez-Paniagua, "Combining Denoising Autoencoders with Contrastive Learning to
fine-tune Transformer Models". Three phases on the same encoder f, in order:

1. DAE (TSDAE, :mod:`.denoising`):  L₁ = −log P(x | pool(f(x̃))), x̃ = x with words deleted (p = 0.6).
2. Supervised contrastive, Siamese (:mod:`.siamese`):  L₂ = mean (cos(u, v) − l)², l = [y_a = y_b],
   on balanced pairs, with the imbalance augmentation (stop-word-removed copies of minority classes).
3. Fine-tuning with the head dropout → Linear(d, 100) → dropout → Linear(100, K):  L₃ = CE(C(h), y).

Phases 1 and 2 are :class:`Stage` s with their own epochs, learning rate and batch size (the
``--dae-*`` and ``--cl-*`` flags); phase 3 uses the run's ``--epochs/--lr/--batch-size``. Each
earlier phase's encoder is saved when it ends, so ``--resume`` restarts at the phase that was running.
``--phases dae`` or ``--phases cl`` give the paper's ablations DAE+FT and CL+FT.

``joint`` is the paper's other ablation: phases 1 and 2 trained together, L = λ·L₁ + L₂ on the pair
data (the DAE reconstructs each pair's anchor, corrupted anew for each pair), then fine-tuning. Its
joint phase takes the ``--cl-*`` schedule and ``--dae-deletion``; ``--dae-weight`` is λ.

Example::

    robustune train --data sst2 --max-train-samples 1000 --method three-phase --output out/
    robustune train --data sst2 --method three-phase --phases cl --imbalance 0.1 --output out/
    robustune train --data sst2 --method joint --dae-weight 1.0 --output out/
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch.nn.functional as F

from ..modeling import HeadSpec
from .base import Method, Stage, model_inputs
from .denoising import DenoisingPhase, dae_dataset
from .siamese import JointPhase, SiamesePhase, pair_dataset

PHASES = ("dae", "cl")


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class _PretrainParams:
    dae_deletion: float = field(default=0.6, metadata=_help("DAE: probability of deleting each word (default: 0.6)"))
    cl_epochs: float = field(default=1.0, metadata=_help("contrastive phase: epochs (default: 1)"))
    cl_lr: float = field(default=2e-5, metadata=_help("contrastive phase: learning rate (default: 2e-5)"))
    cl_batch_size: int = field(default=16, metadata=_help("contrastive phase: pairs per batch (default: 16)"))
    cl_rounds: int = field(default=1, metadata=_help(
        "contrastive phase: rounds of pairs; each gives every example one positive and one negative (default: 1)"))
    imbalance_augment: bool = field(default=True, metadata=_help(
        "contrastive phase: stop-word-removed copies of minority classes (default: on)"))
    r_max: float = field(default=4.0, metadata=_help("imbalance augmentation: r_max of f(x) (default: 4)"))
    r_min: float = field(default=1.5, metadata=_help("imbalance augmentation: replicate when f(x) >= r_min (default: 1.5)"))

    def __post_init__(self) -> None:
        if not 0 <= self.dae_deletion < 1:
            raise ValueError(f"dae_deletion must be in [0, 1), got {self.dae_deletion}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_epochs", "_lr", "_batch_size", "_rounds")) and not value > 0:
                raise ValueError(f"{f.name} must be positive, got {value}")
        if self.r_max <= 0 or self.r_min < 1:
            raise ValueError(f"need r_max > 0 and r_min >= 1, got r_max={self.r_max}, r_min={self.r_min}")


@dataclass
class ThreePhaseParams(_PretrainParams):
    phases: str = field(default="dae,cl", metadata=_help(
        "three-phase: earlier phases, in order: 'dae,cl' (the paper), 'dae' or 'cl' (ablations) (default: dae,cl)"))
    dae_epochs: float = field(default=1.0, metadata=_help("DAE phase: epochs (default: 1)"))
    dae_lr: float = field(default=3e-5, metadata=_help("DAE phase: learning rate (default: 3e-5, as TSDAE)"))
    dae_batch_size: int = field(default=8, metadata=_help("DAE phase: batch size (default: 8, as TSDAE)"))

    def __post_init__(self) -> None:
        super().__post_init__()
        names = [p.strip() for p in self.phases.split(",") if p.strip()]
        if not names or any(p not in PHASES for p in names) or len(set(names)) != len(names):
            raise ValueError(f"phases must list some of {', '.join(PHASES)} once each, got {self.phases!r}")
        self.phases = ",".join(names)


@dataclass
class JointParams(_PretrainParams):
    dae_weight: float = field(default=1.0, metadata=_help("joint: weight λ of the DAE loss beside the contrastive one (default: 1)"))


class ThreePhase(Method):
    name = "three-phase"
    Params = ThreePhaseParams
    head_spec = HeadSpec(hidden=100)  # dropout -> Linear(d, 100) -> dropout -> Linear(100, K)

    def forward(self, classifier, batch):
        logits = classifier(**model_inputs(batch))  # (B, K)
        return {"ce": F.cross_entropy(logits, batch["labels"])}

    def _pairs(self, classifier, train_dataset, seed, dae_deletion=None):
        p = self.params
        return pair_dataset(train_dataset.texts, train_dataset.labels, classifier.tokenizer,
                            classifier.settings.max_length, rounds=p.cl_rounds, seed=seed,
                            augment=p.imbalance_augment, r_max=p.r_max, r_min=p.r_min, dae_deletion=dae_deletion)

    def _dae_stage(self, classifier, train_dataset, seed) -> Stage:
        p = self.params
        data, collate = dae_dataset(train_dataset.texts, classifier.tokenizer, classifier.settings.max_length,
                                    p.dae_deletion, seed)
        return Stage("dae", DenoisingPhase(classifier, seed), data, collate, p.dae_epochs, p.dae_lr, p.dae_batch_size)

    def _cl_stage(self, classifier, train_dataset, seed) -> Stage:
        p = self.params
        data, collate = self._pairs(classifier, train_dataset, seed)
        return Stage("cl", SiamesePhase(), data, collate, p.cl_epochs, p.cl_lr, p.cl_batch_size)

    def stages(self, classifier, train_dataset, seed):
        build = {"dae": self._dae_stage, "cl": self._cl_stage}
        return [build[phase](classifier, train_dataset, seed) for phase in self.params.phases.split(",")]


class Joint(ThreePhase):
    name = "joint"
    Params = JointParams

    def stages(self, classifier, train_dataset, seed):
        p = self.params
        data, collate = self._pairs(classifier, train_dataset, seed, dae_deletion=p.dae_deletion)
        return [Stage("joint", JointPhase(classifier, seed, weight=p.dae_weight), data, collate,
                      p.cl_epochs, p.cl_lr, p.cl_batch_size)]
