"""The shared training step of the randomised-smoothing methods (ranmask, safer).

Both train the base classifier on randomly altered inputs, CE(f(A(x)), y), with A drawn afresh every
step from the method's own generator (seeded with the run's seed at setup: the global random state is
left to the Trainer), and are deployed with a vote over N such alterations (modeling/smoothing.py). A
subclass defines :meth:`InputNoise.altered`; its ``Params`` extend :class:`VoteParams`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .base import Method, model_inputs


@dataclass
class VoteParams:
    """The vote's settings, saved with the model and overridable when predicting, evaluating or attacking."""

    vote_samples: int = field(default=15, metadata={"help": "ranmask, safer, dne: altered copies N voting on "
                                                            "(dne: averaged into) each prediction; an odd N "
                                                            "leaves no ties between 2 classes (15)"})
    vote_seed: int = field(default=0, metadata={"help": "ranmask, safer, dne: seed of the vote's copies (0)"})

    def __post_init__(self) -> None:
        if self.vote_samples < 1:
            raise ValueError(f"vote_samples must be >= 1, got {self!r}")


class InputNoise(Method):
    def setup(self, classifier, train_dataset) -> None:
        self.seed = torch.initial_seed()

    def altered(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """A(x) for a batch of input ids, (B, T)."""
        raise NotImplementedError

    def forward(self, classifier, batch):
        inputs = model_inputs(batch)
        inputs["input_ids"] = self.altered(inputs["input_ids"], inputs["attention_mask"])
        return {"ce": F.cross_entropy(classifier(**inputs), batch["labels"])}
