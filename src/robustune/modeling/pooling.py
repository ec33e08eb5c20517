"""Pooling of token states into one sentence vector."""

from __future__ import annotations

import torch

POOLINGS = ("mean", "cls")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """(B, T, D) token states and (B, T) mask -> (B, D) sentence vectors."""
    if how == "cls":
        return hidden[:, 0]
    if how == "mean":
        # Padding must not count: all-MiniLM-L6-v2 was trained with exactly this masked mean.
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    raise ValueError(f"unknown pooling {how!r}; choose one of {POOLINGS}")
