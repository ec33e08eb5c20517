"""Shared fixtures: a tiny BERT built in code and small labelled data."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from robustune.testing import build_tiny_encoder

# The tiny models' ops are microseconds long: with several threads on a busy 2-core machine each op
# waits for its threads to be scheduled, which made a tiny training run ~15x slower (18.6 s vs 1.1 s).
torch.set_num_threads(1)


_POS = ["a good film", "great fun and charming", "i loved this movie", "a brilliant and moving story",
        "wonderful acting", "the best film this year", "lovely music and great scenes", "funny and fine"]
_NEG = ["a bad film", "boring and dull", "i hated this movie", "an awful mess of a story",
        "terrible acting", "the worst film this year", "ugly music and weak scenes", "stupid and slow"]


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    """Path of a randomly initialised 2-layer BERT with a small vocabulary."""
    return str(build_tiny_encoder(tmp_path_factory.mktemp("tiny-bert")))


def toy_rows(n_per_class: int = 24, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = [(rng.choice(_POS), "positive") for _ in range(n_per_class)]
    rows += [(rng.choice(_NEG), "negative") for _ in range(n_per_class)]
    rng.shuffle(rows)
    return rows


def train_toy_model(encoder: str, folder: Path, method: str, params: dict) -> tuple[Path, Path]:
    """A tiny ``method`` model trained on the toy task in ``folder``: (its saved folder, the training csv)."""
    import robustune

    csv = folder / "toy.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in toy_rows()))
    robustune.train(data=str(csv), output_dir=str(folder / "m"), model=encoder, method=method, epochs=3,
                    batch_size=8, lr=3e-3, seed=3, progress=False, method_params=params)
    return folder / "m", csv


@pytest.fixture
def toy_csv(tmp_path) -> Path:
    """A small, learnable two-class CSV (text,label)."""
    path = tmp_path / "toy.csv"
    path.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in toy_rows()))
    return path


class CountingEncoder(torch.nn.Module):
    """Wraps the encoder and counts the sequences it encodes."""

    def __init__(self, encoder):
        super().__init__()
        self.inner = encoder
        self.sequences = 0
        self.config = encoder.config

    def forward(self, **kwargs):
        self.sequences += (kwargs.get("input_ids") if kwargs.get("input_ids") is not None
                           else kwargs["inputs_embeds"]).shape[0]
        return self.inner(**kwargs)
