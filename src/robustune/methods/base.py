"""The interface every training objective implements.

A method is an ``nn.Module`` (so its own state — a momentum encoder, a queue, an EMA teacher —
moves to the device, is checkpointed by the Trainer and resumes with it) that turns a batch into
**named, already-weighted loss terms**; the trainer sums them and logs each one. Its
hyper-parameters are a dataclass, ``Params``, whose fields become CLI flags and are saved in the
model's config.

A method that needs several backward passes per optimizer step (freelb) runs all but the last itself,
inside ``forward``, with :meth:`Method.backward`: the trainer binds it to its own backward, so
gradient-accumulation scaling and mixed precision treat those passes like the returned loss.

A method that needs earlier training phases (a denoising auto-encoder, a contrastive pre-training)
returns them from :meth:`Method.stages`: each :class:`Stage` is its own objective (a ``Method``),
data and schedule, run in order by the same Trainer before the method's own phase.

Adding a method: one file with a ``Method`` subclass, one line in ``methods/__init__.py``, its tests.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
from torch import nn

from ..errors import RobustuneError
from ..modeling import HeadSpec, RobustClassifier


@dataclass
class NoParams:
    """A method without hyper-parameters of its own."""


@dataclass
class Stage:
    """An earlier training phase: its objective, data and schedule (``None``: the run's own value).

    The stage's encoder is saved when it ends (``checkpoints/stage-<name>/encoder.safetensors``), so a
    resumed run skips finished stages and resumes an unfinished one from its last checkpoint.
    """

    name: str
    method: "Method"
    dataset: torch.utils.data.Dataset
    collator: Callable[[list[dict]], dict[str, torch.Tensor]]
    epochs: float | None = None
    lr: float | None = None
    batch_size: int | None = None


class Method(nn.Module):
    name: ClassVar[str]
    Params: ClassVar[type] = NoParams
    #: The head this method trains; ``None`` keeps the default single linear layer.
    head_spec: ClassVar[HeadSpec | None] = None

    def __init__(self, params=None):
        super().__init__()
        self.params = params if params is not None else self.Params()
        self._backward: Callable[[torch.Tensor], None] | None = None
        # The method's own random stream (noise, masks, substitutions), so that it leaves the global random
        # state to the Trainer: a method that draws sets ``seed`` in ``setup`` (the run's torch.initial_seed()).
        self.seed = 0
        self._generator: torch.Generator | None = None

    def generator(self, device: torch.device) -> torch.Generator:
        """The method's generator on ``device``, seeded with ``seed`` (a resumed run draws a fresh stream)."""
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device).manual_seed(self.seed)
        return self._generator

    def bind_backward(self, backward: Callable[[torch.Tensor], None] | None) -> None:
        """Called by the trainer with its own backward: the loss scaling (gradient accumulation) and
        mixed-precision handling it applies to the terms :meth:`forward` returns."""
        self._backward = backward

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate an extra pass inside :meth:`forward` exactly as the trainer back-propagates the
        returned terms (for methods that need several backward passes per step, such as freelb; their
        parameter gradients accumulate with the final one). Outside a trainer: ``loss.backward()``."""
        if self._backward is None:
            loss.backward()
        else:
            self._backward(loss)

    @classmethod
    def parse_params(cls, values: dict | None) -> object:
        """Build ``Params`` from a dict; unknown keys and bad values are user errors."""
        values = dict(values or {})
        fields = {f.name: f for f in dataclasses.fields(cls.Params)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            known = ", ".join(sorted(fields)) or "none"
            raise RobustuneError(f"method {cls.name!r} has no parameter {unknown[0]!r} (its parameters: {known})")
        hints = typing.get_type_hints(cls.Params)
        try:
            values = {k: check_param_type(k, v, hints[k]) for k, v in values.items()}
            return cls.Params(**values)
        except (TypeError, ValueError) as err:
            raise RobustuneError(f"method {cls.name!r}: {err}") from None

    def setup(self, classifier: RobustClassifier, train_dataset) -> None:
        """Called once before training with the tokenized training set (build copies, queues...)."""

    def stages(self, classifier: RobustClassifier, train_dataset, seed: int) -> list[Stage]:
        """Training phases run, in order, before this method's own (none by default)."""
        return []

    def forward(self, classifier: RobustClassifier, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Named loss terms for one batch; their sum is the loss that is back-propagated."""
        raise NotImplementedError

    def after_step(self, classifier: RobustClassifier) -> None:
        """Called after every optimizer step (momentum / EMA updates)."""

    def finalize(self, classifier: RobustClassifier, train_dataset) -> None:
        """Called once after training, before the model is saved (build a datastore, say)."""


def check_param_type(name: str, value, kind):
    """``value`` as the annotated type, or a ValueError: an int takes no bool or fraction (2.0 is 2), a
    float takes ints, a bool and a str take only their own type (JSON gives ``--param`` values types)."""
    if type(None) in typing.get_args(kind):
        if value is None:
            return None
        kind = next(t for t in typing.get_args(kind) if t is not type(None))
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    ok = {bool: isinstance(value, bool),
          int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          str: isinstance(value, str)}.get(kind, True)
    if not ok:
        raise ValueError(f"parameter {name!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return float(value) if kind is float else value


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder inputs of a training batch (drops ``labels`` and ``index``)."""
    return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
