"""Randomised smoothing at prediction time: the classifier's answer is a vote over random variants of the input.

A smoothed model keeps its smoothing in its saved config (``robustune.smoothing`` in config.json,
written by the method that trained it, e.g. ``ranmask`` or ``safer``; a smoothing that needs tables saves
them in the weights file under ``smoothing.``), so ``predict``, ``evaluate``, ``attack`` and the Python API
all run the model a user would deploy, not a deterministic stand-in. The settings can be overridden after
loading (:meth:`RobustClassifier.configure_smoothing`, ``--vote-samples`` ...).

Two votes, each over N random variants of the input classified by the base model; the probabilities are
the vote shares (the share of variants predicting each class), and the predicted label is the majority; a
tie goes to the lower label index (argmax), so an odd N avoids ties between two classes:

- :class:`MaskVote` is RanMASK's (Zeng, Zheng, Xu, Huang, "Certified Robustness to Text Adversarial
  Attacks by Randomized [MASK]", arXiv 2105.03743): a share ρ of the tokens replaced by [MASK].
- :class:`SubstitutionVote` is SAFER's (Ye, Gong, Liu, "SAFER: A Structure-free Approach for Certified
  Robustness to Adversarial Word Substitutions", ACL 2020): every word that has a perturbation set is
  replaced by a word drawn uniformly from that set (the word itself included; a keep rate, not in the
  paper, makes the word itself more likely).

And one ensemble, :class:`HullEnsemble`, DNE's (Zhou, Zheng, Hsieh, Chang, Huang, "Defense against
Synonym Substitution-based Adversarial Attacks via Dirichlet Neighborhood Ensemble", ACL 2021): the base
model's probabilities averaged over N virtual inputs whose word embeddings are Dirichlet-weighted points of
the convex hull of each word's neighbourhood (modeling/hull.py).

Reproducibility: the N variants of an input are drawn from a generator seeded with a hash of
(seed, the input's token ids), so a text gets the same vote in any batch, in any order, on any run —
and a changed text (an attacker's candidate) gets fresh variants, as a deployed smoothed model would.

Deviations: both work on tokens (word pieces), not whitespace words, so a variant has the input's length
and the vote composes with the tokenizer. RanMASK masks exactly round(ρ·n) of the n maskable tokens (not
special tokens, not padding) per copy, as in the reference code's fixed count. SAFER's substitution
touches only words that are a single token of a WordPiece vocabulary (a token that neither starts with
``##`` nor is followed by a ``##`` piece) and substitutes among single-token words; a word the tokenizer
splits keeps its pieces.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import RobustuneError
from .hull import dirichlet_weights, hull_corners, hull_points

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


def vote(copies: torch.Tensor, batch: dict[str, torch.Tensor], samples: int, base: Callable[[dict], torch.Tensor],
         num_labels: int) -> torch.Tensor:
    """(B, K) vote shares of ``base`` (tokenized batch -> (b, K) probabilities) over ``copies``, (B·N, T): the
    N variants of each row of ``batch``, row after row; the variants keep the row's other inputs."""
    expanded = {k: v.repeat_interleave(samples, dim=0) for k, v in batch.items() if k != "input_ids"}
    votes = []
    for start in range(0, copies.shape[0], CHUNK):
        part = {k: v[start:start + CHUNK] for k, v in expanded.items()}
        votes.append(base({"input_ids": copies[start:start + CHUNK], **part}).argmax(-1))  # (b,)
    return vote_shares(torch.cat(votes).view(-1, samples), num_labels)


def row_generator(seed: int, ids: torch.Tensor, attention: torch.Tensor) -> tuple[torch.Tensor, torch.Generator]:
    """A row's real (not padding) positions, (T,) bool, and its generator, seeded from (seed, its real
    token ids): drawn over the real tokens only, so the padding a batch adds cannot change the draw."""
    real = attention.bool().cpu()  # (T,)
    return real, torch.Generator().manual_seed(input_seed(seed, ids.cpu()[real].tolist()))


def word_piece_continuations(tokenizer) -> torch.Tensor:
    """(V,) bool: the WordPiece continuation tokens (``##...``) of ``tokenizer``'s vocabulary."""
    vocab = tokenizer.get_vocab()
    out = torch.zeros(max(vocab.values()) + 1, dtype=torch.bool)
    out[[i for w, i in vocab.items() if w.startswith("##")]] = True
    return out


def whole_words(input_ids: torch.Tensor, attention_mask: torch.Tensor, continuation: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: tokens that are a whole word: real, not a ``##`` piece and not followed by one."""
    piece = continuation[input_ids]  # (B, T)
    followed = torch.zeros_like(piece)
    followed[:, :-1] = piece[:, 1:]
    return attention_mask.bool() & ~piece & ~followed


def substitution_table(tokenizer, neighbours: Callable[[str], list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """SAFER's perturbation sets over ``tokenizer``'s vocabulary, as (offsets (V+1,), candidates (E,)): the
    set of token v is ``candidates[offsets[v]:offsets[v+1]]``, the token ids of ``neighbours(word)`` that are
    single tokens of the vocabulary, for every alphabetic, non-special token (others have an empty set)."""
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_ids)
    sets: list[list[int]] = [[] for _ in range(max(vocab.values()) + 1)]
    # Tens of seconds for a BERT vocabulary (a GloVe search and WordNet filters a word): a bar on a terminal.
    for word, i in tqdm(vocab.items(), desc="perturbation sets", unit="token", disable=None, leave=False):
        if i in special or not word.isalpha():
            continue
        sets[i] = list(dict.fromkeys(vocab[n] for n in neighbours(word) if vocab.get(n, i) != i))
    offsets = torch.zeros(len(sets) + 1, dtype=torch.long)
    offsets[1:] = torch.tensor([len(s) for s in sets]).cumsum(0)
    candidates = torch.tensor([c for s in sets for c in s], dtype=torch.long)
    return offsets, candidates


def substitute_tokens(input_ids: torch.Tensor, eligible: torch.Tensor, offsets: torch.Tensor,
                      candidates: torch.Tensor, generator: torch.Generator | None, keep: float = 0.0) -> torch.Tensor:
    """(R, T) ids with every ``eligible`` token replaced by a uniform draw from its perturbation set with the
    token itself added: a token with a set of c words keeps itself with probability max(1/(c+1), ``keep``),
    and otherwise takes each of its c neighbours with equal probability."""
    sizes = (offsets[1:] - offsets[:-1])[input_ids] * eligible  # (R, T): c per position, 0 where not eligible
    if not len(candidates):
        return input_ids
    # One uniform u per position: u < share swaps, to neighbour floor(u / share · c); with keep = 0 that is
    # floor(u·(c+1)) < c, a uniform draw over the set and the word (float64: no rounding past a boundary).
    u = torch.rand(input_ids.shape, generator=generator, device=input_ids.device).double()  # (R, T)
    share = torch.clamp(sizes.double() / (sizes + 1), max=1.0 - keep)  # (R, T): 0 where there is no set
    swap = u < share
    draw = torch.minimum((u / share.clamp(min=1e-12) * sizes).long(), (sizes - 1).clamp(min=0))  # (R, T)
    picked = candidates[(offsets[input_ids] + draw).clamp(max=len(candidates) - 1)]  # (R, T)
    return torch.where(swap, picked, input_ids)


class Smoothing:
    """What the smoothings share: N forwards per prediction, and their tables (``TENSORS``) by name."""

    TENSORS: ClassVar[tuple[str, ...]] = ()
    samples: int

    def check_samples(self, what: str) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise RobustuneError(f"{what} needs samples >= 1, got {self.samples!r}")

    def check_tensors(self, needs: str) -> None:
        """A clear error where a table is missing; ``needs`` says what, e.g. "a hull ensemble needs its hulls"."""
        if any(getattr(self, name) is None for name in self.TENSORS):
            names = [f"smoothing.{name}" for name in self.TENSORS]
            raise RobustuneError(f"{needs} (the {', '.join(names[:-1])} and {names[-1]} tensors of model.safetensors)")

    @property
    def forwards_per_text(self) -> int:
        return self.samples

    def tensors(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in self.TENSORS}


@dataclass
class MaskVote(Smoothing):
    """RanMASK's prediction: the vote of the base classifier over ``samples`` random maskings."""

    kind: ClassVar[str] = "mask-vote"
    samples: int = 15
    mask_rate: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        self.check_samples("the vote")
        if not 0 <= self.mask_rate < 1:
            raise RobustuneError(f"the mask rate must be in [0, 1), got {self.mask_rate!r}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def masked_copies(self, batch: dict[str, torch.Tensor], mask_token_id: int, special_ids: list[int]) -> torch.Tensor:
        """(B·N, T) input ids: N masked copies of each row, drawn from that row's own generator."""
        ids, attention = batch["input_ids"], batch["attention_mask"]  # (B, T)
        maskable = maskable_tokens(ids, attention, special_ids)  # (B, T)
        chosen = torch.zeros(ids.shape[0], self.samples, ids.shape[1], dtype=torch.bool)  # (B, N, T)
        for i in range(ids.shape[0]):
            real, generator = row_generator(self.seed, ids[i], attention[i])
            sub = maskable[i].cpu()[real].expand(self.samples, -1)  # (N, L)
            chosen[i][:, real] = mask_positions(sub, self.mask_rate, generator)
        chosen = chosen.flatten(0, 1).to(ids.device)  # (B·N, T)
        return ids.repeat_interleave(self.samples, dim=0).masked_fill(chosen, mask_token_id)

    def probabilities(self, batch: dict[str, torch.Tensor], classifier) -> torch.Tensor:
        """(B, K) vote shares of ``classifier``'s base model over the masked copies."""
        tokenizer = classifier.tokenizer
        if tokenizer.mask_token_id is None:
            raise RobustuneError("this model's tokenizer has no mask token; its smoothing cannot mask inputs")
        copies = self.masked_copies(batch, tokenizer.mask_token_id, tokenizer.all_special_ids)  # (B·N, T)
        return vote(copies, batch, self.samples, classifier.base_probabilities, classifier.num_labels)


@dataclass
class SubstitutionVote(Smoothing):
    """SAFER's prediction: the vote of the base classifier over ``samples`` random word substitutions.

    The perturbation sets (:func:`substitution_table`) and the vocabulary's ``##`` pieces are tensors
    saved in the model's weights file; ``samples`` and ``seed`` are the settings (config.json).
    """

    kind: ClassVar[str] = "substitution-vote"
    TENSORS: ClassVar[tuple[str, ...]] = ("offsets", "candidates", "continuation")
    samples: int = 15
    seed: int = 0
    keep: float = 0.0  # the least probability that a word keeps itself (0: the paper's uniform draw)
    offsets: torch.Tensor | None = dataclasses.field(default=None, repr=False, compare=False)
    candidates: torch.Tensor | None = dataclasses.field(default=None, repr=False, compare=False)
    continuation: torch.Tensor | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.check_samples("the vote")
        if not 0 <= self.keep <= 1:
            raise RobustuneError(f"the keep rate must be in [0, 1], got {self.keep!r}")
        self.check_tensors("a substitution vote needs its perturbation table")
        if len(self.offsets) != len(self.continuation) + 1 or int(self.offsets[-1]) != len(self.candidates):
            raise RobustuneError(f"the substitution table is inconsistent: {len(self.offsets)} offsets for a "
                                 f"vocabulary of {len(self.continuation)}, {len(self.candidates)} candidates")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "samples": self.samples, "seed": self.seed, "keep": self.keep}

    def substituted_copies(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B·N, T) input ids: N substituted copies of each row, drawn from that row's own generator."""
        ids, attention = batch["input_ids"].cpu(), batch["attention_mask"].cpu()  # (B, T): the table is on the CPU
        eligible = whole_words(ids, attention, self.continuation)  # (B, T)
        copies = ids.unsqueeze(1).repeat(1, self.samples, 1)  # (B, N, T)
        for i in range(ids.shape[0]):
            real, generator = row_generator(self.seed, ids[i], attention[i])
            sub = copies[i][:, real]  # (N, L)
            copies[i][:, real] = substitute_tokens(sub, eligible[i][real].expand_as(sub), self.offsets,
                                                   self.candidates, generator, self.keep)
        return copies.flatten(0, 1).to(batch["input_ids"].device)  # (B·N, T)

    def probabilities(self, batch: dict[str, torch.Tensor], classifier) -> torch.Tensor:
        """(B, K) vote shares of ``classifier``'s base model over the substituted copies."""
        check_vocabulary(batch, self.continuation, "substitution table")
        return vote(self.substituted_copies(batch), batch, self.samples, classifier.base_probabilities,
                    classifier.num_labels)


def check_vocabulary(batch: dict[str, torch.Tensor], continuation: torch.Tensor, what: str) -> None:
    """A clear error when ``batch`` holds token ids past the end of a saved table's vocabulary."""
    if batch["input_ids"].max() >= len(continuation):
        raise RobustuneError(f"token ids beyond the {what}'s vocabulary of {len(continuation)}")


@dataclass
class HullEnsemble(Smoothing):
    """DNE's prediction: the base classifier's probabilities averaged over ``samples`` virtual inputs, each
    word's embedding a Dirichlet-weighted point of the hull of its neighbourhood (modeling/hull.py).

    The hulls (:func:`hull.hull_table`) and the vocabulary's ``##`` pieces are tensors saved in the model's
    weights file; ``samples``, ``seed`` and the Dirichlet's ``alpha`` and ``decay`` are the settings.
    """

    kind: ClassVar[str] = "hull-ensemble"
    TENSORS: ClassVar[tuple[str, ...]] = ("offsets", "vertices", "first", "continuation")
    samples: int = 15
    seed: int = 0
    alpha: float = 1.0
    decay: float = 0.5
    offsets: torch.Tensor | None = dataclasses.field(default=None, repr=False, compare=False)
    vertices: torch.Tensor | None = dataclasses.field(default=None, repr=False, compare=False)
    first: torch.Tensor | None = dataclasses.field(default=None, repr=False, compare=False)
    continuation: torch.Tensor | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.check_samples("the ensemble")
        if not self.alpha > 0 or not 0 < self.decay <= 1:
            raise RobustuneError(f"the Dirichlet needs alpha > 0 and decay in (0, 1], got {self.alpha!r}, "
                                 f"{self.decay!r}")
        self.check_tensors("a hull ensemble needs its hulls")
        vocabulary = len(self.continuation)
        if (len(self.offsets) != vocabulary + 1 or len(self.first) != vocabulary
                or int(self.offsets[-1]) != len(self.vertices)):
            raise RobustuneError(f"the hull table is inconsistent: {len(self.offsets)} offsets and {len(self.first)} "
                                 f"first-order counts for a vocabulary of {vocabulary}, {len(self.vertices)} vertices")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "samples": self.samples, "seed": self.seed, "alpha": self.alpha,
                "decay": self.decay}

    def weights(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The hulls' vertex ids (B, T, M) and N Dirichlet draws of their weights per row, (B, N, T, M), each
        row's from its own generator (padding positions: the token itself)."""
        ids, attention = batch["input_ids"].cpu(), batch["attention_mask"].cpu()  # (B, T): the hulls are on the CPU
        eligible = whole_words(ids, attention, self.continuation)  # (B, T)
        corners, concentration = hull_corners(ids, eligible, self.offsets, self.vertices, self.first,
                                              self.alpha, self.decay)  # (B, T, M) each
        weights = torch.zeros(*ids.shape[:1], self.samples, *corners.shape[1:])  # (B, N, T, M)
        weights[..., 0] = 1.0
        for i in range(ids.shape[0]):
            real = attention[i].bool()  # (T,)
            rng = np.random.default_rng(input_seed(self.seed, ids[i][real].tolist()))
            part = concentration[i][real].expand(self.samples, -1, -1)  # (N, L, M)
            weights[i][:, real] = dirichlet_weights(part.contiguous(), rng)
        return corners, weights

    def probabilities(self, batch: dict[str, torch.Tensor], classifier) -> torch.Tensor:
        """(B, K) probabilities of ``classifier``'s base model averaged over the N virtual inputs of each row."""
        check_vocabulary(batch, self.continuation, "hull table")
        corners, weights = self.weights(batch)  # (B, T, M), (B, N, T, M)
        table = classifier.encoder.get_input_embeddings()
        device = batch["input_ids"].device
        rows = max(1, CHUNK // self.samples)  # rows per forward: rows·N sequences
        out = []
        for start in range(0, corners.shape[0], rows):
            part = slice(start, start + rows)
            points = hull_points(weights[part].to(device), table(corners[part].to(device)))  # (r, N, T, D)
            inputs = {k: v[part].repeat_interleave(self.samples, dim=0) for k, v in batch.items() if k != "input_ids"}
            probs = classifier.base_probabilities({"inputs_embeds": points.flatten(0, 1), **inputs})  # (r·N, K)
            out.append(probs.view(-1, self.samples, probs.shape[-1]).mean(1))  # (r, K)
        return torch.cat(out)


SMOOTHINGS: dict[str, type] = {MaskVote.kind: MaskVote, SubstitutionVote.kind: SubstitutionVote,
                               HullEnsemble.kind: HullEnsemble}
#: Prefix of a smoothing's tensors in the model's weights file.
TENSOR_PREFIX = "smoothing."


def smoothing_from_dict(values: dict, where: str, tensors: dict[str, torch.Tensor] | None = None):
    """The smoothing a saved config describes, with its ``tensors`` (as :meth:`tensors` returned them); a
    clear error naming ``where`` when it is not one."""
    values = dict(values)
    kind = values.pop("kind", None)
    if kind not in SMOOTHINGS:
        raise RobustuneError(f"{where}: unknown smoothing {kind!r} (known: {', '.join(SMOOTHINGS)})")
    cls = SMOOTHINGS[kind]
    tensors = tensors or {}
    unexpected = sorted(set(tensors) - set(cls.TENSORS))
    if unexpected:
        raise RobustuneError(f"{where}: tensors {unexpected} do not belong to a {kind} smoothing")
    try:
        return cls(**values, **tensors)
    except TypeError as err:
        raise RobustuneError(f"{where}: bad {kind} settings: {err}") from None
    except RobustuneError as err:
        raise RobustuneError(f"{where}: {err}") from None
