"""Sharing work between the processes of a ``torchrun``/``accelerate`` launch.

Outside a distributed launch (or with one process) every helper is the identity: rank 0 of 1 takes
the whole range and gathering returns the local result. Work that every rank would otherwise repeat
(re-encoding the training set for a KNN datastore, attacking examples for adversarial training) is
split into contiguous shards, one per rank, and gathered back in rank order, so the result equals
the single-process one.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """(this process's rank, number of processes); (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(n: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s contiguous share of ``range(n)``; the shares cover it in rank order."""
    return slice(rank * n // world, (rank + 1) * n // world)


def gather_tensors(x: torch.Tensor) -> torch.Tensor:
    """All ranks' rows concatenated in rank order (ranks may hold different row counts); ``x`` itself
    when not distributed."""
    _, world = rank_and_world()
    if world == 1:
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    padded = x.new_zeros((int(max(sizes)), *x.shape[1:]))  # all_gather needs equal shapes
    padded[: x.shape[0]] = x
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([part[: int(size)] for part, size in zip(parts, sizes)])


def gather_lists(items: list) -> list:
    """All ranks' (picklable) lists concatenated in rank order; ``items`` when not distributed."""
    _, world = rank_and_world()
    if world == 1:
        return items
    parts: list = [None] * world
    dist.all_gather_object(parts, items)
    return [item for part in parts for item in part]
