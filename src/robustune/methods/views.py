"""Training examples made of several texts ("views"), for phases that are not plain classification.

A denoising auto-encoder needs a corrupted text and its original; a Siamese network needs two texts
and a pair label. :class:`ViewDataset` tokenizes each view once; :class:`ViewCollator` pads each view
on its own, so a batch holds ``<view>_input_ids`` / ``<view>_attention_mask`` (and
``<view>_token_type_ids`` where the tokenizer makes them) for every view, plus ``labels``.

Example::

    data = ViewDataset({"a": ["good", "bad"], "b": ["fine", "good"]}, tokenizer, 128, labels=[1.0, 0.0])
    batch = ViewCollator(tokenizer, ["a", "b"])([data[0], data[1]])  # batch["a_input_ids"]: (2, T)
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class ViewDataset(Dataset):
    """Aligned lists of texts, one list per view, tokenized once (unpadded); optional ``labels``."""

    def __init__(self, views: dict[str, list[str]], tokenizer, max_length: int, labels: list | None = None):
        sizes = {len(texts) for texts in views.values()} | ({len(labels)} if labels is not None else set())
        if len(sizes) != 1:
            raise ValueError(f"views and labels must have one length, got {sorted(sizes)}")
        self.size = sizes.pop()
        self.texts = {name: list(texts) for name, texts in views.items()}
        self.encodings = {name: tokenizer(texts, truncation=True, max_length=max_length)
                          for name, texts in self.texts.items()}
        self.labels = labels

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict:
        item = {f"{name}_{key}": values[i] for name, enc in self.encodings.items() for key, values in enc.items()}
        if self.labels is not None:
            item["labels"] = self.labels[i]
        return item


class ViewCollator:
    """Pads every view of a list of examples separately; ``labels`` keep their Python type."""

    def __init__(self, tokenizer, views: list[str]):
        self.tokenizer = tokenizer
        self.views = list(views)

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        for name in self.views:
            prefix = f"{name}_"
            tokens = [{k[len(prefix):]: v for k, v in e.items() if k.startswith(prefix)} for e in examples]
            padded = self.tokenizer.pad(tokens, return_tensors="pt")
            batch.update({prefix + k: v for k, v in padded.items()})
        if "labels" in examples[0]:
            batch["labels"] = torch.tensor([e["labels"] for e in examples])
        return batch


def view_inputs(batch: dict[str, torch.Tensor], view: str) -> dict[str, torch.Tensor]:
    """The encoder inputs of one view of a batch (``input_ids``, ``attention_mask``, ...)."""
    prefix = f"{view}_"
    return {k[len(prefix):]: v for k, v in batch.items() if k.startswith(prefix)}
