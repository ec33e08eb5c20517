"""Perturbing the word embeddings, shared by the embedding-space adversarial methods (smart, freelb).

δ is added to the **word** embeddings only and the sum goes in as ``inputs_embeds``, so the encoder
adds the position/type embeddings and applies its LayerNorm exactly once. (Public code often perturbs
the embedding layer's *output* and feeds it back as ``inputs_embeds``, which applies them twice.)

:class:`DropoutReplay` lets several passes over the same batch draw the same dropout masks, so that
what differs between them is δ, not dropout noise.
"""

from __future__ import annotations

import contextlib

import torch


def word_embeddings(classifier, input_ids: torch.Tensor) -> torch.Tensor:
    """The encoder's word (token) embeddings of ``input_ids``, (B, T, D), with their graph to the table."""
    return classifier.encoder.get_input_embeddings()(input_ids)


def perturbed_logits(classifier, batch: dict[str, torch.Tensor], word_embeds: torch.Tensor,
                     delta: torch.Tensor) -> torch.Tensor:
    """Logits with δ added to the word embeddings; the encoder adds position/type embeddings once."""
    return classifier(inputs_embeds=word_embeds + delta, attention_mask=batch["attention_mask"],
                      token_type_ids=batch.get("token_type_ids"))  # (B, K)


class DropoutReplay:
    """Takes the RNG state where the clean pass starts; a pass run under :meth:`replay` through the same
    modules then draws the same dropout masks, and the RNG outside moves on as after the clean pass."""

    def __init__(self, device: torch.device):
        self.device = device if device.type == "cuda" else None
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(device) if self.device is not None else None

    @contextlib.contextmanager
    def replay(self):
        with torch.random.fork_rng(devices=[self.device] if self.device is not None else []):
            torch.set_rng_state(self.cpu_state)
            if self.device is not None:
                torch.cuda.set_rng_state(self.cuda_state, self.device)
            yield
