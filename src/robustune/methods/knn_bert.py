"""knn-bert — supervised momentum contrastive fine-tuning with a KNN classifier.

Li, Linyang et al. "KNN-BERT: Fine-Tuning Pre-Trained Models with KNN Classifier", 2021,
https://arxiv.org/abs/2110.02523 .

Query q_i = normalize(g_q(h_i)), h = pool(f_q(x)) the classifier's pooled vector and g_q a projection
head. Keys k = normalize(g_k(pool(f_k(x)))) come from momentum copies, θ_k ← m·θ_k + (1 − m)·θ_q
after every optimizer step (m = 0.999), and fill a labelled FIFO queue of size K_q. For each query
the positives P_i are the M_m most similar and the M_l least similar same-label queue entries, the
negatives N_i all entries of other labels:

    L_con = mean_{i, p ∈ P_i}  −log( e^{q_i·k_p/τ} / (e^{q_i·k_p/τ} + Σ_{n ∈ N_i} e^{q_i·k_n/τ}) ),  τ = 0.07
    L     = λ·L_con + (1 − λ)·CE(C(h), y)

After training the training set is re-encoded with the final model into a KNN datastore saved with
the model; inference mixes p = λ'·p_knn + (1 − λ')·softmax(C(h)) (see ``robustune.knn``).

Example::

    robustune train --data sst2/train.tsv --method knn-bert --contrastive-weight 0.1 --queue-size 4096 \\
        --output out/
    robustune evaluate --model out/ --data sst2/test.tsv --knn-k 20 --knn-weight 0.3

Choices and deviations from the paper / reference code:

- The batch's keys are enqueued *before* the loss is computed, so every query has at least its
  own key (the momentum view of the same text, MoCo's positive) among its candidates and an empty
  queue is never a problem. The queue starts empty (label −1 marks an empty slot) instead of the
  reference code's initial queue of unprojected, unnormalized features, a known fault.
- The key encoder runs in eval mode (no dropout): keys are the stable side of the comparison.
- The momentum update runs in ``after_step`` on the unwrapped model, so it is not lost under data
  parallelism (a known fault of the reference code); keys are all-gathered across ranks.
- Each positive's term is averaged over all (query, positive) pairs; positives are a set (an entry
  that is both among the most and the least similar counts once).
- ``--extra-positives P`` (default 0) also encodes P sampled same-class training examples per
  example with the key encoder, as the reference code does; the sampling generator is seeded from
  the run's seed but is not checkpointed, so a resumed run samples differently.
- The KNN feature is the pooled vector h the linear head reads, not the training-only projection
  (see ``robustune.knn.attach_datastore``).
- The default queue holds 4,096 keys, not the reference's 32k–100k: on the few-thousand-example
  training sets this package is run on (2 CPU cores), a larger queue would hold each example's
  stale keys many times over. Set ``--queue-size`` for large data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import gather_tensors
from ..knn import KNNParams, datastore_from_training_set
from ..modeling.pooling import pool
from .base import Method, model_inputs


def knn_contrastive_loss(q: torch.Tensor, keys: torch.Tensor, key_labels: torch.Tensor, labels: torch.Tensor,
                         top_positives: int, hard_positives: int, temperature: float) -> torch.Tensor:
    """KNN-BERT's supervised InfoNCE against a labelled queue.

    q: (B, P) normalized queries (with gradient); keys: (Q, P) normalized; key_labels: (Q,) with −1
    for an empty slot; labels: (B,). Returns the mean over all (query, positive) pairs; 0 (with a
    graph) when no query has a positive.
    """
    logits = q.float() @ keys.float().T / temperature  # (B, Q)
    same = key_labels[None, :] == labels[:, None]  # (B, Q); an empty slot (−1) never matches
    neg = ~same & (key_labels >= 0)[None, :]  # (B, Q)
    sims = logits.detach()
    pos = torch.zeros_like(same)
    if top_positives > 0:
        idx = sims.masked_fill(~same, float("-inf")).topk(min(top_positives, keys.shape[0]), dim=1).indices
        pos.scatter_(1, idx, True)
    if hard_positives > 0:
        idx = sims.masked_fill(~same, float("inf")).topk(min(hard_positives, keys.shape[0]), dim=1,
                                                          largest=False).indices
        pos.scatter_(1, idx, True)
    pos &= same  # top-k picks padding when a class has fewer entries than M_m / M_l
    # A finite stand-in for −inf: logsumexp over no negatives would give NaN gradients.
    very_negative = torch.finfo(logits.dtype).min / 2
    neg_lse = logits.masked_fill(~neg, very_negative).logsumexp(dim=1, keepdim=True)  # (B, 1)
    per_pair = torch.logaddexp(logits, neg_lse) - logits  # (B, Q): −log(e^s / (e^s + Σ_n e^n))
    n_pairs = pos.sum()
    if n_pairs == 0:
        return q.sum() * 0.0
    return per_pair[pos].sum() / n_pairs


def projection_head(dim: int, out_dim: int) -> nn.Module:
    """MoCo-v2 style 2-layer MLP projection."""
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out_dim))


@dataclass
class KNNBertParams(KNNParams):
    contrastive_weight: float = field(default=0.1, metadata={"help": "λ: weight of the contrastive term, "
                                      "CE gets 1 − λ (knn-bert default 0.1, scl default 0.9)"})
    temperature: float = field(default=0.07, metadata={"help": "τ of the contrastive loss "
                               "(knn-bert default 0.07, scl default 0.3)"})
    queue_size: int = field(default=4096, metadata={"help": "knn-bert: queue size K_q (default: 4096)"})
    top_positives: int = field(default=10, metadata={"help": "knn-bert: M_m most similar positives (default: 10)"})
    hard_positives: int = field(default=2, metadata={"help": "knn-bert: M_l least similar positives (default: 2)"})
    momentum: float = field(default=0.999, metadata={"help": "knn-bert: key encoder momentum m (default: 0.999)"})
    projection_dim: int = field(default=128, metadata={"help": "knn-bert: projection size (default: 128)"})
    extra_positives: int = field(default=0, metadata={"help": "knn-bert: P sampled same-class examples encoded "
                                 "as extra keys per example (default: 0)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.contrastive_weight <= 1.0:
            raise ValueError(f"contrastive_weight must lie in [0, 1], got {self.contrastive_weight}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.queue_size < 1 or self.projection_dim < 1:
            raise ValueError("queue_size and projection_dim must be positive")
        if self.top_positives < 0 or self.hard_positives < 0 or self.top_positives + self.hard_positives == 0:
            raise ValueError("top_positives and hard_positives must be ≥ 0, and not both 0")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        if self.extra_positives < 0:
            raise ValueError(f"extra_positives must be ≥ 0, got {self.extra_positives}")


class KNNBert(Method):
    name = "knn-bert"
    Params = KNNBertParams

    def setup(self, classifier, train_dataset) -> None:
        p, dim = self.params, classifier.encoder.config.hidden_size
        self.pooling = classifier.settings.pooling
        self.query_projection = projection_head(dim, p.projection_dim)  # g_q, trained, not saved
        self.key_encoder = copy.deepcopy(classifier.encoder)  # f_k
        self.key_projection = copy.deepcopy(self.query_projection)  # g_k
        for param in [*self.key_encoder.parameters(), *self.key_projection.parameters()]:
            param.requires_grad_(False)
        # Buffers, so Trainer checkpoints carry the queue and a resumed run continues it.
        self.register_buffer("queue_keys", torch.zeros(p.queue_size, p.projection_dim))  # (Q, P)
        self.register_buffer("queue_labels", torch.full((p.queue_size,), -1, dtype=torch.long))  # (Q,)
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self._train_set, self._tokenizer = train_dataset, classifier.tokenizer
        self._by_class = {}
        for i, y in enumerate(train_dataset.labels):
            self._by_class.setdefault(int(y), []).append(i)
        self._generator = torch.Generator().manual_seed(torch.initial_seed())

    # ---- keys and queue ---------------------------------------------------------------------------
    @torch.no_grad()
    def _keys(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        self.key_encoder.eval()
        hidden = self.key_encoder(**inputs).last_hidden_state  # (B, T, D)
        pooled = pool(hidden, inputs["attention_mask"], self.pooling)  # (B, D)
        return F.normalize(self.key_projection(pooled).float(), dim=-1)  # (B, P)

    def _sampled_positives(self, labels: torch.Tensor, device) -> tuple[dict, torch.Tensor]:
        """P same-class training examples per label, tokenized and padded, and their labels."""
        picked, picked_labels = [], []
        for y in labels.tolist():
            pool_ = self._by_class[y]
            draws = torch.randint(len(pool_), (self.params.extra_positives,), generator=self._generator)
            picked += [pool_[j] for j in draws.tolist()]
            picked_labels += [y] * len(draws)
        items = [{k: v for k, v in self._train_set[i].items() if k not in ("labels", "index")} for i in picked]
        batch = {k: v.to(device) for k, v in self._tokenizer.pad(items, return_tensors="pt").items()}
        return batch, torch.tensor(picked_labels, device=device)

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor, labels: torch.Tensor) -> None:
        size = self.queue_keys.shape[0]
        keys, labels = keys[-size:], labels[-size:]  # more keys than slots: the newest win
        slots = (self.queue_ptr + torch.arange(keys.shape[0], device=keys.device)) % size  # (n,)
        self.queue_keys[slots] = keys.to(self.queue_keys.dtype)
        self.queue_labels[slots] = labels
        self.queue_ptr.copy_((self.queue_ptr + keys.shape[0]) % size)

    # ---- the objective ----------------------------------------------------------------------------
    def forward(self, classifier, batch):
        p, inputs, labels = self.params, model_inputs(batch), batch["labels"]
        h = classifier.encode(**inputs)  # (B, D)
        logits = classifier.head(h)  # (B, C)
        q = F.normalize(self.query_projection(h).float(), dim=-1)  # (B, P)
        if self.training:
            keys, key_labels = self._keys(inputs), labels
            if p.extra_positives:
                extra, extra_labels = self._sampled_positives(labels, labels.device)
                keys = torch.cat([keys, self._keys(extra)])
                key_labels = torch.cat([key_labels, extra_labels])
            self._enqueue(gather_tensors(keys), gather_tensors(key_labels))
        con = knn_contrastive_loss(q, self.queue_keys, self.queue_labels, labels,
                                   p.top_positives, p.hard_positives, p.temperature)
        lam = p.contrastive_weight
        return {"contrastive": lam * con, "ce": (1 - lam) * F.cross_entropy(logits, labels)}

    @torch.no_grad()
    def after_step(self, classifier) -> None:
        """θ_k ← m·θ_k + (1 − m)·θ_q for the encoder and the projection."""
        query = [*classifier.encoder.parameters(), *self.query_projection.parameters()]
        key = [*self.key_encoder.parameters(), *self.key_projection.parameters()]
        torch._foreach_lerp_(key, query, 1.0 - self.params.momentum)

    def finalize(self, classifier, train_dataset) -> None:
        datastore_from_training_set(classifier, train_dataset, self.params)
