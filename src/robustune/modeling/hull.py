"""Convex hulls of word neighbourhoods, and Dirichlet-weighted points inside them (DNE's math).

Zhou, Zheng, Hsieh, Chang, Huang. "Defense against Synonym Substitution-based Adversarial Attacks via
Dirichlet Neighborhood Ensemble", ACL 2021.

A token w with a perturbation set S(w) (safer's sets, :func:`smoothing.substitution_table`) spans the
hull of the vertices

    V(w) = [w] + S(w) + S²(w)        S²(w): the neighbours of its neighbours not already listed,

``size`` vertices at most (w first, then S(w) in order of nearness, then S²(w)). A virtual embedding of
w is a point of that hull, Σ_j β_j e(v_j), with the weights drawn from a Dirichlet distribution,

    β ~ Dir(α, ..., α, αγ, ..., αγ)      α for w and S(w), α·γ (the decay γ < 1) for S²(w),

so that a draw stays nearer the first-order neighbours. A token without a set is its own hull (β = 1).

Stored like the substitution table, as CSR: the vertices after w of token v are
``vertices[offsets[v]:offsets[v+1]]``, the first ``first[v]`` of them S(v).
"""

from __future__ import annotations

import numpy as np
import torch


def hull_table(offsets: torch.Tensor, candidates: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """(offsets (V+1,), vertices (E,), first (V,)): each token's hull vertices after itself, its set S(v)
    and then S²(v), ``size`` vertices in all with v itself, from the perturbation sets (offsets, candidates)."""
    sets = [candidates[offsets[v]:offsets[v + 1]].tolist() for v in range(len(offsets) - 1)]
    rows, first = [], []
    for v, near in enumerate(sets):
        row = list(near)
        seen = {v, *near}
        for u in near:
            for w in sets[u]:
                if w not in seen:
                    seen.add(w)
                    row.append(w)
        rows.append(row[: size - 1])
        first.append(min(len(near), size - 1))
    hull_offsets = torch.zeros(len(rows) + 1, dtype=torch.long)
    hull_offsets[1:] = torch.tensor([len(r) for r in rows], dtype=torch.long).cumsum(0)
    vertices = torch.tensor([w for r in rows for w in r], dtype=torch.long)
    return hull_offsets, vertices, torch.tensor(first, dtype=torch.long)


def hull_corners(input_ids: torch.Tensor, eligible: torch.Tensor, offsets: torch.Tensor, vertices: torch.Tensor,
                 first: torch.Tensor, alpha: float, decay: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The hull of every position of (R, T) ``input_ids``: its vertex ids (R, T, M) and their Dirichlet
    concentrations (R, T, M), float64: α for the token (slot 0) and S(w), α·γ for S²(w), 0 on the slots
    past a hull's end (M: the largest hull in the batch). Positions not ``eligible`` are their own hull."""
    sizes = (offsets[1:] - offsets[:-1])[input_ids] * eligible  # (R, T)
    extra = int(sizes.max()) if sizes.numel() else 0
    j = torch.arange(extra)  # (M-1,)
    inside = j < sizes.unsqueeze(-1)  # (R, T, M-1)
    index = (offsets[input_ids].unsqueeze(-1) + j).clamp(max=max(len(vertices) - 1, 0))  # (R, T, M-1)
    others = torch.where(inside, vertices[index], input_ids.unsqueeze(-1)) if extra else index
    ids = torch.cat([input_ids.unsqueeze(-1), others], dim=-1)  # (R, T, M)
    near = j < first[input_ids].unsqueeze(-1)  # (R, T, M-1): S(w)'s slots
    rest = torch.where(near, alpha, alpha * decay) * inside  # (R, T, M-1)
    concentration = torch.cat([torch.full_like(sizes, alpha, dtype=torch.float64).unsqueeze(-1),
                               rest.double()], dim=-1)  # (R, T, M)
    return ids, concentration


def dirichlet_weights(concentration: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Dirichlet draws over the last axis of ``concentration`` (…, M), float32, rows summing to 1; slots of
    concentration 0 get weight 0. Drawn as normalised Gamma variables from ``rng`` (numpy's generator: a
    seeded stream per input, which torch's Dirichlet, on the global random state, cannot give)."""
    gamma = torch.from_numpy(rng.standard_gamma(concentration.numpy()))  # (…, M)
    total = gamma.sum(-1, keepdim=True)
    weights = gamma / total.clamp_min(1e-300)
    # Every Gamma draw of a row underflowing to 0 (tiny concentrations only): the token itself, not 0/0.
    weights[..., 0] = torch.where(total[..., 0] > 0, weights[..., 0], 1.0)
    return weights.float()


def hull_points(weights: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """Σ_j β_j e(v_j) for (R, T, M, D) vertex embeddings: (R, T, M) weights -> (R, T, D), or N draws per
    row, (R, N, T, M) -> (R, N, T, D). (A batched matmul over (row, position): the N draws share the
    vertices, which are never copied N times.)"""
    spec = "rtm,rtmd->rtd" if weights.dim() == 3 else "rntm,rtmd->rntd"
    return torch.einsum(spec, weights.to(corners.dtype), corners)
