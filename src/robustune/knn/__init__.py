"""KNN classification over a datastore of training-set sentence vectors (KNN-BERT's inference side).

Example (any trained classifier, not only knn-bert ones)::

    from robustune.knn import attach_datastore
    attach_datastore(model, train_texts, train_label_ids, k=10, weight=0.2)
    model.predict_components(texts)  # {"linear": ..., "knn": ..., "combined": ...}
    model.save_pretrained("out")     # the store goes into out/model.safetensors
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..distributed import gather_tensors, rank_and_world, shard
from .datastore import BACKENDS, VOTES, KNNDatastore, KNNSettings, knn_vote


@dataclass
class KNNParams:
    """The KNN-inference parameters of methods that build a datastore in ``finalize`` (CLI flags)."""

    knn_k: int = field(default=10, metadata={"help": "KNN inference: neighbours K (default: 10)"})
    knn_weight: float = field(default=0.2, metadata={"help": "KNN inference: share λ' of the KNN vote (default: 0.2)"})
    knn_vote: str = field(default="uniform", metadata={"help": f"KNN inference: {' or '.join(VOTES)} vote"})
    knn_backend: str = field(default="auto", metadata={"help": f"KNN search: {', '.join(BACKENDS)} (default: auto)"})

    def __post_init__(self) -> None:
        self.knn_settings()  # validates

    def knn_settings(self) -> KNNSettings:
        return KNNSettings(k=self.knn_k, weight=self.knn_weight, vote=self.knn_vote, backend=self.knn_backend)


def attach_datastore(classifier, texts: list[str], label_ids: list[int], batch_size: int = 64,
                     progress: bool = False, **settings) -> KNNDatastore:
    """Encode ``texts`` with the classifier as it is now and attach the store to it.

    The feature is the pooled sentence vector h (normalized), the one the linear head reads, not a
    training-only projection: the projection head is discarded after training (as in MoCo/SimCLR,
    whose pre-projection features transfer better), and any classifier can then have a datastore.
    """
    # Under torchrun each rank encodes its shard of the texts; the gathered store is the same on every rank.
    rank, world = rank_and_world()
    part = shard(len(texts), rank, world)
    features = classifier.encode_texts(texts[part], batch_size=batch_size, progress=progress)  # (N / world, D)
    if world > 1:  # NCCL gathers device tensors
        device = next(classifier.parameters()).device
        features = gather_tensors(features.to(device)).cpu()  # (N, D)
    store = KNNDatastore(features, torch.tensor(label_ids, dtype=torch.long), classifier.num_labels,
                         KNNSettings(**settings))
    classifier.knn = store
    return store


def datastore_from_training_set(classifier, train_dataset, params: KNNParams) -> KNNDatastore:
    """A method's ``finalize``: re-encode the training set with the final model (not the stale
    training queue) into the classifier's datastore."""
    return attach_datastore(classifier, train_dataset.texts, train_dataset.labels, **vars(params.knn_settings()))


__all__ = ["KNNDatastore", "KNNSettings", "KNNParams", "knn_vote", "attach_datastore", "datastore_from_training_set"]
