"""The KNN datastore: normalized sentence vectors of the training set with their labels, and the vote.

KNN-BERT (Li et al. 2021, arXiv 2110.02523) classifies with the linear head *and* a K-nearest-
neighbour vote over the training set encoded by the final model:

    p_knn(c | x) = Σ_{j ∈ topK(x)} w_j · [y_j = c] / Σ_{j ∈ topK(x)} w_j
    p(c | x)     = λ' · p_knn(c | x) + (1 − λ') · softmax(C(h(x)))_c

with w_j = 1 (vote share, the paper's choice) or w_j = max(cos(h(x), h_j), 0) (similarity-weighted).
Neighbours are found by cosine similarity of the L2-normalized pooled vectors, with one of
these backends (``auto`` picks):

- ``torch``: exact float32 matmul + top-k (auto for small stores).
- ``bf16``: a bfloat16 matmul shortlists the top max(4K, K + 32) entries, which are then rescored
  exactly in float32 (auto from ``BF16_MIN_ENTRIES`` entries on a GPU; not on a CPU, where even
  with native bf16 matmul the shortlist plus rescoring measured slower end to end than the exact
  search at 100,000 entries, BENCHMARKS.md issue 3). bf16 scores err by about 1e-2, so a true
  neighbour is missed only if it ranks behind dozens of entries within that error of it; the
  final K and their similarities are float32.
- ``faiss``: ``IndexFlatIP`` (exact), when faiss is installed and the store holds at least
  ``FAISS_MIN_ENTRIES`` vectors, where it saves holding the (B, N) similarity matrix.

Each query is scored against the store on its own, so a prediction never depends on which other
texts share its batch.

Example::

    store = KNNDatastore(features, labels, num_labels=2, k=10, weight=0.2)
    p_knn = store.vote(pooled)                    # (B, K)
    p = store.combine(torch.softmax(logits, -1), p_knn)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..errors import RobustuneError

FAISS_MIN_ENTRIES = 1_000_000
BF16_MIN_ENTRIES = 50_000
VOTES = ("uniform", "similarity")
BACKENDS = ("auto", "torch", "bf16", "faiss")
TENSOR_PREFIX = "knn."


@dataclass
class KNNSettings:
    """How the store votes; saved under ``robustune.knn`` in config.json."""

    k: int = 10
    weight: float = 0.2  # λ': the share of p_knn in the combined probabilities
    vote: str = "uniform"
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.k < 1:
            raise RobustuneError(f"--knn-k must be at least 1, got {self.k}")
        if not 0.0 <= self.weight <= 1.0:
            raise RobustuneError(f"--knn-weight must lie in [0, 1], got {self.weight}")
        if self.vote not in VOTES:
            raise RobustuneError(f"--knn-vote must be one of {VOTES}, got {self.vote!r}")
        if self.backend not in BACKENDS:
            raise RobustuneError(f"--knn-backend must be one of {BACKENDS}, got {self.backend!r}")


def knn_vote(queries: torch.Tensor, features: torch.Tensor, labels: torch.Tensor, num_labels: int, k: int,
             vote: str = "uniform", shortlist_features: torch.Tensor | None = None) -> torch.Tensor:
    """Class distribution of the top-``k`` cosine neighbours, in torch.

    queries: (B, D) any scale; features: (N, D) L2-normalized; labels: (N,) long. Returns (B, C).
    ``shortlist_features`` (N, D) in a low precision: shortlist with them, rescore in float32.
    """
    q = F.normalize(queries.float(), dim=-1)  # (B, D)
    k = min(k, features.shape[0])
    if shortlist_features is None:
        top_sims, top_idx = (q @ features.T).topk(k, dim=-1)  # (B, k)
    else:
        coarse = q.to(shortlist_features.dtype) @ shortlist_features.T  # (B, N)
        cand = coarse.topk(min(max(4 * k, k + 32), features.shape[0]), dim=-1).indices  # (B, S)
        exact = torch.einsum("bd,bsd->bs", q, features[cand])  # (B, S), float32
        top_sims, pos = exact.topk(k, dim=-1)  # (B, k)
        top_idx = cand.gather(1, pos)
    return _vote_share(top_sims, labels[top_idx], num_labels, vote)


def _fast_bf16(device: torch.device) -> bool:
    return device.type == "cuda"


def _vote_share(top_sims: torch.Tensor, top_labels: torch.Tensor, num_labels: int, vote: str) -> torch.Tensor:
    if vote == "uniform":
        w = torch.ones_like(top_sims)  # (B, k)
    else:
        # A dissimilar neighbour (cosine ≤ 0) gets no say; the epsilon keeps an all-zero row defined.
        w = top_sims.clamp_min(0) + 1e-6
    p = torch.zeros(top_sims.shape[0], num_labels, dtype=w.dtype, device=w.device)  # (B, C)
    p.scatter_add_(1, top_labels, w)
    return p / p.sum(-1, keepdim=True)


class KNNDatastore:
    """Normalized features (N, D) float32 and labels (N,) long, with the voting settings."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, num_labels: int,
                 settings: KNNSettings | None = None, **overrides):
        if features.ndim != 2 or labels.shape != (features.shape[0],) or features.shape[0] == 0:
            raise RobustuneError(f"bad KNN datastore: features {tuple(features.shape)}, labels {tuple(labels.shape)}")
        self.features = F.normalize(features.detach().float(), dim=-1).contiguous()  # (N, D)
        self.labels = labels.detach().long().contiguous()  # (N,)
        self.num_labels = num_labels
        self.settings = settings or KNNSettings()
        self.configure(**overrides)
        self._faiss_index = None
        self._bf16 = None  # (N, D) bfloat16 copy for the shortlist, made on first use

    def __len__(self) -> int:
        return self.features.shape[0]

    def configure(self, **values) -> None:
        """Change k / weight / vote / backend (``None`` values are ignored), e.g. at evaluation time."""
        merged = {**asdict(self.settings), **{k: v for k, v in values.items() if v is not None}}
        self.settings = KNNSettings(**merged)

    def _use_faiss(self) -> bool:
        backend = self.settings.backend
        if not (backend == "faiss" or (backend == "auto" and len(self) >= FAISS_MIN_ENTRIES)):
            return False
        try:
            import faiss  # noqa: F401
        except ImportError:
            if backend == "faiss":
                raise RobustuneError("--knn-backend faiss needs faiss-cpu (pip install faiss-cpu==1.15.1)") from None
            return False
        return True

    def _use_bf16(self, device: torch.device) -> bool:
        backend = self.settings.backend
        return backend == "bf16" or (backend == "auto" and len(self) >= BF16_MIN_ENTRIES and _fast_bf16(device))

    def vote(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, D) pooled vectors -> (B, C) neighbour class distribution."""
        if self._use_faiss():
            return self._faiss_vote(pooled)
        if self.features.device != pooled.device:
            self.features, self.labels = self.features.to(pooled.device), self.labels.to(pooled.device)
            self._bf16 = None
        shortlist = None
        if self._use_bf16(pooled.device):
            if self._bf16 is None:
                self._bf16 = self.features.to(torch.bfloat16)
            shortlist = self._bf16
        return knn_vote(pooled, self.features, self.labels, self.num_labels, self.settings.k, self.settings.vote,
                        shortlist)

    def _faiss_vote(self, pooled: torch.Tensor) -> torch.Tensor:
        import faiss

        if self._faiss_index is None:
            self._faiss_index = faiss.IndexFlatIP(self.features.shape[1])
            self._faiss_index.add(self.features.cpu().numpy())
        q = F.normalize(pooled.detach().float(), dim=-1).cpu().numpy()
        sims, idx = self._faiss_index.search(q, min(self.settings.k, len(self)))  # (B, k) each
        top_sims, top_idx = torch.from_numpy(sims), torch.from_numpy(idx).long()
        p = _vote_share(top_sims, self.labels.cpu()[top_idx], self.num_labels, self.settings.vote)
        return p.to(pooled.device)

    def combine(self, p_linear: torch.Tensor, p_knn: torch.Tensor) -> torch.Tensor:
        """p = λ'·p_knn + (1 − λ')·p_linear, (B, C)."""
        w = self.settings.weight
        return w * p_knn.to(p_linear.dtype) + (1 - w) * p_linear

    # ---- persistence: tensors go into model.safetensors, settings into config.json ---------------
    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"{TENSOR_PREFIX}features": self.features, f"{TENSOR_PREFIX}labels": self.labels}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], num_labels: int, settings: dict) -> "KNNDatastore":
        try:
            features, labels = tensors[f"{TENSOR_PREFIX}features"], tensors[f"{TENSOR_PREFIX}labels"]
        except KeyError as err:
            raise RobustuneError(f"incomplete KNN datastore in the model file: no {err}") from None
        return cls(features, labels, num_labels, KNNSettings(**settings))
