"""Tokenized training data and the collator that pads it into batches."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class EncodedDataset(Dataset):
    """Texts tokenized once (unpadded), with label ids and each example's index.

    ``texts`` and ``labels`` stay available to methods that need them (sampling positives,
    rebuilding a datastore).
    """

    def __init__(self, texts: list[str], labels: list[int], tokenizer, max_length: int):
        self.texts = list(texts)
        self.labels = list(labels)
        self.encodings = tokenizer(self.texts, truncation=True, max_length=max_length)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> dict:
        item = {k: v[i] for k, v in self.encodings.items()}
        item["labels"] = self.labels[i]
        item["index"] = i
        return item


class Collator:
    """Pads a list of examples to the longest one; ``labels`` and ``index`` become long tensors."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        extra = {k: torch.tensor([e[k] for e in examples]) for k in ("labels", "index") if k in examples[0]}
        tokens = [{k: v for k, v in e.items() if k not in extra} for e in examples]
        batch = dict(self.tokenizer.pad(tokens, return_tensors="pt"))
        batch.update(extra)
        return batch
