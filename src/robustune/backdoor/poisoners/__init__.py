"""Poisoning objectives, one per file, registered by name (a sibling of ``methods.METHODS``).

They are :class:`~robustune.methods.Method` subclasses (``Poisoner``: plus the poisoned-data mode of
their paper, ``data_mode``) and run on the same ``train()`` and
RobustTrainer as the fine-tuning methods (``train(config, registry=POISONERS)``); they are kept out
of ``METHODS`` because a victim fine-tuning on clean data has no use for them. To add one: a file
here and one line in ``POISONERS``.
"""

from __future__ import annotations

from .badnet import BadNet
from .base import Poisoner
from .layerwise import Layerwise
from .ripple import Ripple

POISONERS: dict[str, type[Poisoner]] = {
    Layerwise.name: Layerwise,
    BadNet.name: BadNet,
    Ripple.name: Ripple,
}

__all__ = ["POISONERS", "Poisoner", "Layerwise", "BadNet", "Ripple"]
