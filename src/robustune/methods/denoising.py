"""Denoising auto-encoder phase (TSDAE; Wang, Reimers and Gurevych, Findings of EMNLP 2021).

Phase 1 of three-phase (arXiv 2405.14437). Each word of x is deleted with probability p (0.6),
giving x̃; the encoder's sentence vector h = pool(f(x̃)) is the only memory a decoder may attend
to (cross-attention over one position), and the decoder reconstructs x token by token:

    L_dae = −log P(x | h) = −Σ_t log P(x_t | x_<t, h)     (mean over the non-padding target tokens)

The decoder is the encoder's own architecture run causally with cross-attention
(``AutoModelForCausalLM`` with ``is_decoder`` and ``add_cross_attention``); every weight it shares a
name with is *tied* to the encoder (one parameter), its output layer is tied to the input word
embeddings, and only the cross-attention and the LM head's transform are new (seeded).

Why not sentence-transformers' ``DenoisingAutoEncoderLoss``: it needs a ``SentenceTransformer``
(it calls ``model(features)["sentence_embedding"]`` and reads ``model.transformers_model``), reloads
the decoder from the encoder's ``_name_or_path`` on disk, and ties by replacing the *encoder's*
parameter objects with the decoder's freshly loaded ones. Here the encoder is the classifier's
HF ``AutoModel``, which keeps its own parameters and current values; the decoder and the loss are
the same as that class's (shifted targets, padding ignored, the sentence vector as a one-position
memory). Deviation: words are split on whitespace, not with NLTK (not installed here; SST-2 and AG
News are already tokenized), and each example's corruption is drawn once from the seed, not anew
every epoch, so a resumed run sees the same data.

Example (the phase runs inside ``three-phase``)::

    robustune train --data sst2 --method three-phase --dae-epochs 1 --dae-deletion 0.6 --output out/
"""

from __future__ import annotations

import copy
import random

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import RobustuneError
from ..modeling import RobustClassifier
from .base import Method
from .views import ViewCollator, ViewDataset, view_inputs


def delete_words(text: str, p: float, rng: random.Random) -> str:
    """Delete each whitespace-separated word with probability p; at least one word survives."""
    words = text.split()
    if not words:
        return text
    kept = [w for w in words if rng.random() >= p]
    return " ".join(kept) if kept else words[rng.randrange(len(words))]


def reconstruction_nll(logits: torch.Tensor, target_ids: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Mean −log P(x_t | x_<t, h) over the real target tokens.

    ``logits`` (B, T−1, V) are the decoder's outputs for the inputs ``target_ids[:, :-1]``;
    position t predicts ``target_ids[:, t+1]``. Padding (mask 0) is ignored.
    """
    labels = target_ids[:, 1:].masked_fill(target_mask[:, 1:] == 0, -100)  # (B, T−1)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), ignore_index=-100)


def tied_decoder(encoder: nn.Module, seed: int) -> nn.Module:
    """A causal LM with cross-attention whose shared weights *are* the encoder's parameters."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    config = copy.deepcopy(encoder.config)
    config.is_decoder = True
    config.add_cross_attention = True
    config.tie_word_embeddings = True
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            decoder = AutoModelForCausalLM.from_config(config)
    except ValueError:  # the architecture has no causal-LM class (DistilBERT, say)
        raise RobustuneError(f"the DAE phase needs an encoder that can run as a decoder (BERT, RoBERTa, ...); "
                             f"{type(encoder).__name__} cannot") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    base = decoder.base_model
    own = dict(encoder.named_parameters())
    tied = 0
    for name, _ in list(base.named_parameters()):
        if name in own:
            module_name, _, attr = name.rpartition(".")
            setattr(base.get_submodule(module_name), attr, own[name])
            tied += 1
    if not tied:
        raise RobustuneError(f"no decoder weight could be tied to the {type(encoder).__name__} encoder")
    decoder.get_output_embeddings().weight = encoder.get_input_embeddings().weight
    return decoder


def dae_views(texts: list[str], p: float, seed: int) -> dict[str, list[str]]:
    """The corrupted inputs and the original targets, one seeded draw per example."""
    rng = random.Random(seed)
    return {"noisy": [delete_words(t, p, rng) for t in texts], "target": list(texts)}


def _drop_tied(module: "DenoisingPhase", state_dict: dict, prefix: str, local_metadata) -> None:
    """State-dict hook: leave out the weights tied to the encoder, and keep internally tied ones once."""
    for name in module._tied_names:
        state_dict.pop(f"{prefix}decoder.{name}", None)
    seen = set()  # weights tied inside the decoder (an LM head's bias, say)
    for key in [k for k in state_dict if k.startswith(prefix)]:
        ptr = state_dict[key].untyped_storage().data_ptr()
        if ptr in seen:
            del state_dict[key]
        seen.add(ptr)


class DenoisingPhase(Method):
    """L = −log P(x | pool(f(x̃))) with a decoder tied to the encoder. Used as a :class:`Stage`."""

    name = "dae"

    def __init__(self, classifier: RobustClassifier, seed: int, weight: float = 1.0):
        super().__init__()
        self.decoder = tied_decoder(classifier.encoder, seed)
        self.weight = weight
        shared = {id(p) for p in classifier.encoder.parameters()}
        self._tied_names = {n for n, p in self.decoder.named_parameters(remove_duplicate=False) if id(p) in shared}
        # The tied weights belong to the classifier; saving them twice would make the checkpoint
        # hold shared tensors, which safetensors refuses (and a resume restores them with the encoder).
        self.register_state_dict_post_hook(_drop_tied)

    def dae_loss(self, classifier: RobustClassifier, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        h = classifier.encode(**view_inputs(batch, "noisy"))  # (B, D)
        target = view_inputs(batch, "target")
        ids, mask = target["input_ids"], target["attention_mask"]  # (B, T)
        memory_mask = torch.ones(h.size(0), 1, dtype=mask.dtype, device=mask.device)
        logits = self.decoder(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], encoder_hidden_states=h[:, None],
                              encoder_attention_mask=memory_mask, use_cache=False).logits  # (B, T−1, V)
        return reconstruction_nll(logits, ids, mask)

    def forward(self, classifier, batch):
        return {"dae": self.weight * self.dae_loss(classifier, batch)}


def dae_dataset(texts: list[str], tokenizer, max_length: int, p: float, seed: int) -> tuple[ViewDataset, ViewCollator]:
    return ViewDataset(dae_views(texts, p, seed), tokenizer, max_length), ViewCollator(tokenizer, ["noisy", "target"])
