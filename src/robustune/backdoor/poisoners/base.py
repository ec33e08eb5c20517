"""What a poisoning objective adds to a :class:`~robustune.methods.Method`: the poisoned data it trains on."""

from __future__ import annotations

from typing import ClassVar

from ...methods import Method


class Poisoner(Method):
    #: ``poison_dataset`` mode of the paper the objective comes from, what ``poison`` uses unless
    #: ``--mode`` says otherwise: ``combinatorial`` (arXiv 2108.13888) or ``single`` (one token fires).
    data_mode: ClassVar[str]
