"""Poisoning objectives, one per file, registered by name (a sibling of ``methods.METHODS``).

They are :class:`~robustune.methods.Method` subclasses and run on the same ``train()`` and
RobustTrainer as the fine-tuning methods (``train(config, registry=POISONERS)``); they are kept out
of ``METHODS`` because a victim fine-tuning on clean data has no use for them. To add one: a file
here and one line in ``POISONERS``.
"""

from __future__ import annotations

from ...methods import Method
from .badnet import BadNet
from .layerwise import Layerwise
from .ripple import Ripple

POISONERS: dict[str, type[Method]] = {
    Layerwise.name: Layerwise,
    BadNet.name: BadNet,
    Ripple.name: Ripple,
}

__all__ = ["POISONERS", "Layerwise", "BadNet", "Ripple"]
