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


MLM_TEXTS = ["a good film", "a great and moving story", "a bad and boring movie", "the worst film this year",
             "i loved this movie", "i hated this film", "the music was lovely", "the acting was awful"] * 8


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory) -> str:
    """Path of a 1-layer masked LM with its own 120-token WordPiece vocabulary, trained briefly on MLM_TEXTS."""
    from robustune.attacks.mlm_build import build_mlm

    out = tmp_path_factory.mktemp("tiny-mlm")
    stats = build_mlm(out, MLM_TEXTS, base="scratch", steps=30, batch_size=16, vocab_size=120, hidden=32, layers=1,
                      lr=3e-3, progress=False)
    assert stats["last_loss"] < stats["first_loss"]
    return str(out)


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

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()


def attack_counting_forwards(folder: Path, output: Path) -> tuple[int, int, list[dict], dict]:
    """Attack the saved smoothed model in ``folder`` (a swap generator that needs no assets, on 3 rows) with
    its encoder counted: (its forwards per query, the sequences it encoded, the attack's records, summary)."""
    import json

    from robustune import RobustClassifier
    from robustune.attacks import Attack, load_victim, run_attack
    from robustune.attacks.constraints import RepeatModification, StopWords
    from robustune.data import TextDataset

    model = RobustClassifier.from_pretrained(folder)
    counter = CountingEncoder(model.encoder)
    model.encoder = counter
    victim = load_victim(model, precision="fp32")  # the counted model is the one searched (no bf16 copy)

    def swap(text, position):
        return {"good": ["bad", "awful"], "great": ["boring"], "loved": ["hated"]}.get(text.words[position], [])

    data = TextDataset(["a good film", "i loved this movie", "great fun"], ["positive"] * 3, "toy",
                       [f"row {i}" for i in range(3)])
    summary = run_attack(Attack(swap, [StopWords(), RepeatModification()]), victim, data, output, progress=False)
    records = [json.loads(line) for line in (output / "examples.jsonl").read_text().splitlines()]
    return victim.forwards_per_query, counter.sequences, records, summary


def check_saved_smoothing(folder: Path, csv: Path, tmp_path: Path, texts: list[str], settings: dict,
                          dropped, error: str) -> None:
    """A saved smoothed model: ``settings`` in its config.json, its tables and predictions unchanged by a
    save/load round trip, ``evaluate`` reporting the vote's and the base classifier's accuracy, and a
    weights file without the tensors ``dropped(name)`` selects a clear error matching ``error`` (not a
    silently unsmoothed model)."""
    import json
    import shutil

    import numpy as np
    from safetensors.torch import load_file, save_file

    import robustune
    from robustune import RobustClassifier, RobustuneError

    model = RobustClassifier.from_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["robustune"]["smoothing"] == settings
    model.save_pretrained(tmp_path / "again")
    again = RobustClassifier.from_pretrained(tmp_path / "again")
    for name, tensor in model.smoothing.tensors().items():
        assert torch.equal(tensor, again.smoothing.tensors()[name])
    np.testing.assert_array_equal(model.predict_proba(texts), again.predict_proba(texts))
    metrics = robustune.evaluate(model, robustune.load_source(str(csv), "test"))
    assert {"accuracy", "accuracy_linear"} <= set(metrics) and metrics["accuracy"] > 0.8
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    state = load_file(str(bad / "model.safetensors"))
    save_file({k: v for k, v in state.items() if not dropped(k)}, str(bad / "model.safetensors"))
    with pytest.raises(RobustuneError, match=error):
        RobustClassifier.from_pretrained(bad)
