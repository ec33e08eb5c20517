"""Supervised contrastive phase (Siamese, cosine-similarity regression) and the imbalance augmentation.

Phase 2 of three-phase (arXiv 2405.14437). Pairs (x_a, x_b) are labelled l = 1 when both have the
same class and 0 otherwise; with u = pool(f(x_a)), v = pool(f(x_b)):

    L_cl = mean over pairs of (cos(u, v) − l)²

(sentence-transformers' ``CosineSimilarityLoss``; written as a tensor function here because that
class needs a ``SentenceTransformer``). Pairs are balanced: every anchor gets, per round, one
partner of its own class and one of another class, so half the pairs are positive.

Imbalance augmentation: for a class with x examples and the largest class with x_max,

    f(x) = log(x_max / x) · r_max / log(x_max)

and a class with f(x) ≥ r_min is replicated round(f(x)) times (r_max = 4, r_min = 1.5). Reading
of the paper: the class then appears round(f) times in all — its originals plus round(f) − 1
copies with the stop words removed (scikit-learn's ``ENGLISH_STOP_WORDS``; a copy that would be
empty keeps the original text). The augmented set is what pairs are drawn from.

Example (the phase runs inside ``three-phase``)::

    robustune train --data sst2 --method three-phase --imbalance 0.1 --cl-epochs 1 --output out/
"""

from __future__ import annotations

import math
import random
from collections import Counter

import torch
import torch.nn.functional as F

from ..errors import RobustuneError
from .base import Method
from .denoising import DenoisingPhase, dae_views
from .views import ViewCollator, ViewDataset, view_inputs


def replication_factor(x: int, x_max: int, r_max: float = 4.0) -> float:
    """f(x) = log(x_max / x) · r_max / log(x_max); 0 for the largest class (and when x_max is 1)."""
    if x_max <= 1:
        return 0.0
    return math.log(x_max / x) * r_max / math.log(x_max)


def replication_counts(class_sizes: dict, r_max: float = 4.0, r_min: float = 1.5) -> dict:
    """How many times each class appears after augmentation: round(f) (halves up) where f ≥ r_min, else 1."""
    x_max = max(class_sizes.values())
    counts = {}
    for label, x in class_sizes.items():
        f = replication_factor(x, x_max, r_max)
        counts[label] = math.floor(f + 0.5) if f >= r_min else 1  # half up: Python's round(2.5) is 2
    return counts


def remove_stop_words(text: str) -> str:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    kept = [w for w in text.split() if w.lower() not in ENGLISH_STOP_WORDS]
    return " ".join(kept) if kept else text


def augment_minority(texts: list[str], labels: list[int], r_max: float = 4.0,
                     r_min: float = 1.5) -> tuple[list[str], list[int]]:
    """The examples plus (round(f) − 1) stop-word-removed copies of each example of a replicated class."""
    counts = replication_counts(Counter(labels), r_max, r_min)
    out_texts, out_labels = list(texts), list(labels)
    for text, label in zip(texts, labels):
        copy = remove_stop_words(text)
        out_texts += [copy] * (counts[label] - 1)
        out_labels += [label] * (counts[label] - 1)
    return out_texts, out_labels


def balanced_pairs(labels: list[int], rounds: int, seed: int) -> list[tuple[int, int, float]]:
    """(a, b, l) index pairs: per round, each anchor with one same-class and one other-class partner."""
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    if len(by_class) < 2:
        raise RobustuneError("the contrastive phase needs at least two classes in the training data")
    rng = random.Random(seed)
    pairs = []
    for _ in range(rounds):
        for i, label in enumerate(labels):
            same = by_class[label]
            j = i
            if len(same) > 1:  # a class of one has only itself as positive
                while j == i:
                    j = rng.choice(same)
            others = [c for c in by_class if c != label]
            pairs.append((i, j, 1.0))
            pairs.append((i, rng.choice(by_class[rng.choice(others)]), 0.0))
    return pairs


def cosine_pair_loss(u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """mean_i (cos(u_i, v_i) − l_i)² for u, v (B, D) and l (B,)."""
    cos = F.cosine_similarity(u.float(), v.float(), dim=-1)  # (B,)
    return ((cos - labels.float()) ** 2).mean()


def pair_dataset(texts: list[str], labels: list[int], tokenizer, max_length: int, *, rounds: int, seed: int,
                 augment: bool, r_max: float, r_min: float, dae_deletion: float | None = None):
    """Siamese pairs (views ``a``, ``b``); with ``dae_deletion``, also the DAE views of each anchor."""
    if augment:
        texts, labels = augment_minority(texts, labels, r_max, r_min)
    pairs = balanced_pairs(labels, rounds, seed)
    views = {"a": [texts[i] for i, _, _ in pairs], "b": [texts[j] for _, j, _ in pairs]}
    if dae_deletion is not None:
        views.update(dae_views(views["a"], dae_deletion, seed))
    dataset = ViewDataset(views, tokenizer, max_length, labels=[l for _, _, l in pairs])
    return dataset, ViewCollator(tokenizer, list(views))


def siamese_loss(classifier, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    u = classifier.encode(**view_inputs(batch, "a"))  # (B, D)
    v = classifier.encode(**view_inputs(batch, "b"))  # (B, D)
    return cosine_pair_loss(u, v, batch["labels"])


class SiamesePhase(Method):
    """L = mean (cos(u, v) − l)² over a batch of pairs. Used as a :class:`Stage`."""

    name = "cl"

    def forward(self, classifier, batch):
        return {"cl": siamese_loss(classifier, batch)}


class JointPhase(DenoisingPhase):
    """The paper's ablation: L = λ·L_dae(anchor) + L_cl(pair), trained together on the pair data."""

    name = "joint"

    def forward(self, classifier, batch):
        return {"dae": self.weight * self.dae_loss(classifier, batch), "cl": siamese_loss(classifier, batch)}
