"""Training objectives, one per file, registered by name.

To add a method: write ``methods/<name>.py`` with a :class:`Method` subclass and add one line to
``METHODS`` below.
"""

from __future__ import annotations

from ..errors import RobustuneError
from .base import Method, NoParams, Stage, model_inputs
from .dne import DNE
from .freelb import FreeLB
from .knn_bert import KNNBert
from .match_tuning import MatchTuning
from .ranmask import RanMask
from .safer import Safer
from .scl import SCL
from .smart import Smart
from .three_phase import Joint, ThreePhase
from .vanilla import Vanilla

METHODS: dict[str, type[Method]] = {
    Vanilla.name: Vanilla,
    Smart.name: Smart,
    MatchTuning.name: MatchTuning,
    KNNBert.name: KNNBert,
    SCL.name: SCL,
    ThreePhase.name: ThreePhase,
    Joint.name: Joint,
    FreeLB.name: FreeLB,
    RanMask.name: RanMask,
    Safer.name: Safer,
    DNE.name: DNE,
}


def get_method(name: str, registry: dict[str, type[Method]] | None = None) -> type[Method]:
    """The method called ``name`` in ``registry`` (default: ``METHODS``)."""
    registry = METHODS if registry is None else registry
    try:
        return registry[name]
    except KeyError:
        raise RobustuneError(f"unknown method {name!r}; choose one of {', '.join(registry)}") from None


__all__ = ["METHODS", "Method", "NoParams", "Stage", "get_method", "model_inputs"]
