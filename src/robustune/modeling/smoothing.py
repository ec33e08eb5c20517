"""Randomised smoothing at prediction time: the classifier's answer is a vote over random variants of the input.

A smoothed model keeps its smoothing in its saved config (``robustune.smoothing`` in config.json,
written by the method that trained it, e.g. ``ranmask``), so ``predict``, ``evaluate``, ``attack`` and
the Python API all run the model a user would deploy, not a deterministic stand-in. The settings can
be overridden after loading (:meth:`RobustClassifier.configure_smoothing`, ``--vote-samples`` ...).

:class:`MaskVote` is RanMASK's (Zeng, Zheng, Xu, Huang, "Certified Robustness to Text Adversarial
Attacks by Randomized [MASK]", arXiv 2105.03743) vote: N copies of the input, each with a share ρ of
its tokens replaced by [MASK], classified by the base model; the probabilities are the vote shares
(the share of copies predicting each class), and the predicted label is the majority; a tie goes to
the lower label index (argmax), so an odd N avoids ties between two classes.

Reproducibility: the N maskings of an input are drawn from a generator seeded with a hash of
(seed, the input's token ids), so a text gets the same vote in any batch, in any order, on any run —
and a changed text (an attacker's candidate) gets fresh masks, as a deployed smoothed model would.

Deviations from RanMASK: tokens (word pieces), not whitespace words, are masked, so the masked copy
has the input's length and masking composes with any tokenizer; exactly round(ρ·n) of the n maskable
tokens (not special tokens, not padding) are masked per copy, as in the reference code's fixed count.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import torch

from ..errors import RobustuneError

#: Sequences per forward when the N copies of a batch are classified (bounds the memory of large N).
CHUNK = 512


def mask_positions(maskable: torch.Tensor, rate: float, generator: torch.Generator | None) -> torch.Tensor:
    """(R, T) bool: per row, round(rate·n) of its n maskable positions, uniformly without replacement."""
    scores = torch.rand(maskable.shape, generator=generator, device=maskable.device)  # (R, T)
    scores = scores.masked_fill(~maskable, 2.0)  # unmaskable positions sort last
    ranks = scores.argsort(dim=1).argsort(dim=1)  # (R, T): the rank of each position's score in its row
    counts = torch.round(maskable.sum(1) * rate).long()  # (R,)
    return (ranks < counts.unsqueeze(1)) & maskable


def maskable_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: list[int]) -> torch.Tensor:
    """(B, T) bool: real tokens that are not special tokens ([CLS], [SEP], [PAD] ...)."""
    special = torch.isin(input_ids, torch.tensor(special_ids, device=input_ids.device))
    return attention_mask.bool() & ~special


def input_seed(seed: int, ids: list[int]) -> int:
    """A 63-bit seed from (seed, token ids): the same text, the same masks, whatever the batch."""
    payload = np.asarray([seed, len(ids), *ids], dtype=np.int64).tobytes()
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "little") & (2**63 - 1)


def vote_shares(predictions: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(B, N) predicted labels -> (B, K) share of the N votes per class (rows sum to 1)."""
    counts = torch.zeros(predictions.shape[0], num_labels, device=predictions.device)
    counts.scatter_add_(1, predictions, torch.ones_like(predictions, dtype=counts.dtype))
    return counts / predictions.shape[1]


@dataclass
class MaskVote:
    """RanMASK's prediction: the vote of the base classifier over ``samples`` random maskings."""

    kind: ClassVar[str] = "mask-vote"
    samples: int = 15
    mask_rate: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise RobustuneError(f"the vote needs samples >= 1, got {self.samples!r}")
        if not 0 <= self.mask_rate < 1:
            raise RobustuneError(f"the mask rate must be in [0, 1), got {self.mask_rate!r}")

    @property
    def forwards_per_text(self) -> int:
        return self.samples

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def masked_copies(self, batch: dict[str, torch.Tensor], mask_token_id: int, special_ids: list[int]) -> torch.Tensor:
        """(B·N, T) input ids: N masked copies of each row, drawn from that row's own generator."""
        ids, attention = batch["input_ids"], batch["attention_mask"]  # (B, T)
        maskable = maskable_tokens(ids, attention, special_ids)  # (B, T)
        chosen = torch.zeros(ids.shape[0], self.samples, ids.shape[1], dtype=torch.bool)  # (B, N, T)
        for i in range(ids.shape[0]):
            real = attention[i].bool().cpu()  # (T,)
            generator = torch.Generator().manual_seed(input_seed(self.seed, ids[i].cpu()[real].tolist()))
            # Drawn over the row's real tokens only, so the padding a batch adds cannot change the draw.
            sub = maskable[i].cpu()[real].expand(self.samples, -1)  # (N, L)
            chosen[i][:, real] = mask_positions(sub, self.mask_rate, generator)
        chosen = chosen.flatten(0, 1).to(ids.device)  # (B·N, T)
        return ids.repeat_interleave(self.samples, dim=0).masked_fill(chosen, mask_token_id)

    def probabilities(self, batch: dict[str, torch.Tensor], base: Callable[[dict], torch.Tensor], num_labels: int,
                      mask_token_id: int, special_ids: list[int]) -> torch.Tensor:
        """(B, K) vote shares of ``base`` (tokenized batch -> (b, K) probabilities) over the masked copies."""
        copies = self.masked_copies(batch, mask_token_id, special_ids)  # (B·N, T)
        expanded = {k: v.repeat_interleave(self.samples, dim=0) for k, v in batch.items() if k != "input_ids"}
        votes = []
        for start in range(0, copies.shape[0], CHUNK):
            part = {k: v[start:start + CHUNK] for k, v in expanded.items()}
            votes.append(base({"input_ids": copies[start:start + CHUNK], **part}).argmax(-1))  # (b,)
        return vote_shares(torch.cat(votes).view(-1, self.samples), num_labels)


SMOOTHINGS: dict[str, type] = {MaskVote.kind: MaskVote}


def smoothing_from_dict(values: dict, where: str):
    """The smoothing a saved config describes; a clear error naming ``where`` when it is not one."""
    values = dict(values)
    kind = values.pop("kind", None)
    if kind not in SMOOTHINGS:
        raise RobustuneError(f"{where}: unknown smoothing {kind!r} (known: {', '.join(SMOOTHINGS)})")
    try:
        return SMOOTHINGS[kind](**values)
    except TypeError as err:
        raise RobustuneError(f"{where}: bad {kind} settings: {err}") from None
