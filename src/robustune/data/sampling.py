"""Seeded sampling of training data: splits, subsets, k-shot, class imbalance and label noise.

Every function takes an explicit seed and uses its own ``random.Random``; none touches global state.
"""

from __future__ import annotations

import random
from collections import defaultdict

from ..errors import DataError
from .dataset import TextDataset


def _by_class(labels: list[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    return dict(sorted(groups.items()))


def stratified_split(data: TextDataset, test_fraction: float, seed: int) -> tuple[TextDataset, TextDataset]:
    """Split into (train, test) keeping each class's share; the same seed gives the same split."""
    if not 0 < test_fraction < 1:
        raise DataError(f"test fraction must be between 0 and 1, got {test_fraction}")
    rng = random.Random(seed)
    train_idx, test_idx = [], []
    for indices in _by_class(data.require_labels()).values():
        indices = indices[:]
        rng.shuffle(indices)
        n_test = max(1, round(len(indices) * test_fraction)) if len(indices) > 1 else 0
        test_idx += indices[:n_test]
        train_idx += indices[n_test:]
    return data.subset(sorted(train_idx)), data.subset(sorted(test_idx))


def subset_indices(size: int, n: int, seed: int) -> list[int]:
    """The sorted row indices ``random_subset`` keeps of ``size`` rows."""
    if n <= 0:
        raise DataError(f"the number of samples must be positive, got {n}")
    if n >= size:
        return list(range(size))
    return sorted(random.Random(seed).sample(range(size), n))


def random_subset(data: TextDataset, n: int, seed: int) -> TextDataset:
    """``n`` examples drawn without replacement (all of them if there are fewer)."""
    indices = subset_indices(len(data), n, seed)
    return data if len(indices) == len(data) else data.subset(indices)


def k_shot(data: TextDataset, k: int, seed: int) -> TextDataset:
    """``k`` examples per class, drawn with the seed."""
    if k <= 0:
        raise DataError(f"--shots must be positive, got {k}")
    rng = random.Random(seed)
    chosen = []
    for label, indices in _by_class(data.require_labels()).items():
        if len(indices) < k:
            raise DataError(f"{data.origin}: class {label!r} has {len(indices)} examples, fewer than {k} shots")
        chosen += rng.sample(indices, k)
    return data.subset(sorted(chosen))


def imbalance(data: TextDataset, ratio: float, minority: list[str], seed: int) -> TextDataset:
    """Keep ``ratio`` of the examples of each class in ``minority`` (at least one), all of the others."""
    if not 0 < ratio <= 1:
        raise DataError(f"--imbalance must be in (0, 1], got {ratio}")
    groups = _by_class(data.require_labels())
    unknown = [m for m in minority if m not in groups]
    if unknown:
        raise DataError(f"{data.origin}: minority class {unknown[0]!r} is not one of {list(groups)}")
    rng = random.Random(seed)
    chosen = []
    for label, indices in groups.items():
        if label in minority:
            indices = rng.sample(indices, max(1, round(len(indices) * ratio)))
        chosen += indices
    return data.subset(sorted(chosen))


def label_noise(data: TextDataset, rate: float, seed: int) -> TextDataset:
    """Flip a ``rate`` share of the labels, each to a different class drawn uniformly."""
    if not 0 <= rate < 1:
        raise DataError(f"--label-noise must be in [0, 1), got {rate}")
    labels = data.require_labels()[:]
    classes = sorted(set(labels))
    rng = random.Random(seed)
    for i in rng.sample(range(len(labels)), round(len(labels) * rate)):
        labels[i] = rng.choice([c for c in classes if c != labels[i]])
    return TextDataset(texts=data.texts[:], labels=labels, origin=data.origin, rows=data.rows[:])
