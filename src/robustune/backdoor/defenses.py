"""Defences against a backdoor planted in pre-trained weights (arXiv 2108.13888, §5 "Defense").

* **Re-initialising the top layers** before the victim's fine-tuning (``robustune train
  --reinit-top-layers N``): the top N transformer layers get fresh weights, BERT's initialisation
  (Linear weights ~ N(0, initializer_range²), biases 0, LayerNorm 1/0) from a seeded generator,
  so whatever the attacker planted there is gone; a layer-wise poison survives in the layers below.
  (transformers' own ``_init_weights`` skips weights it has loaded, so it cannot be used here.)
* **Re-fine-tuning with a large learning rate**: ``robustune train --lr 3e-4 ...``, nothing to add.
* **Trigger search**: ``backdoor/scan.py``.
* **ONION at inference** (Qi, Chen, Li, Yao, Liu, Sun, EMNLP 2021, "ONION: A Simple and Effective
  Defense Against Textual Backdoor Attacks", arXiv 2011.10369): ``backdoor/onion.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import RobustuneError


def transformer_layers(encoder: nn.Module) -> nn.ModuleList:
    """The encoder's list of transformer layers (BERT/RoBERTa/ELECTRA ``encoder.layer``, DistilBERT
    ``transformer.layer``)."""
    for path in (("encoder", "layer"), ("transformer", "layer")):
        module = encoder
        for name in path:
            module = getattr(module, name, None)
        if isinstance(module, nn.ModuleList):
            return module
    raise RobustuneError(f"--reinit-top-layers: cannot find the transformer layers of {type(encoder).__name__}")


@torch.no_grad()
def reinitialize_top_layers(encoder: nn.Module, n: int, seed: int = 0) -> None:
    """Give the top ``n`` transformer layers fresh, seeded BERT-style initial weights, in place."""
    layers = transformer_layers(encoder)
    if not 0 < n <= len(layers):
        raise RobustuneError(f"--reinit-top-layers must be between 1 and {len(layers)} (the encoder's layers), got {n}")
    std = getattr(encoder.config, "initializer_range", 0.02)
    generator = torch.Generator().manual_seed(seed)
    for layer in layers[len(layers) - n:]:
        for module in layer.modules():
            if isinstance(module, nn.Linear):
                weight = torch.empty(module.weight.shape).normal_(0.0, std, generator=generator)
                module.weight.copy_(weight)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
