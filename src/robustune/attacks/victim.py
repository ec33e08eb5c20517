"""The model under attack: anything that maps texts to class probabilities.

``load_victim`` accepts a robustune model directory, any Hugging Face sequence-classification model
(a local directory or a hub id), or a Python callable ``texts -> (N, K) probabilities``. A
:class:`Victim` counts the texts it scores (queries), the batches it runs (forwards) and the
seconds spent inside them, so that a benchmark can tell the model's cost from the search's.
``forwards_per_query`` is what one scored text costs the model in encoder forwards: 1, or N for a
smoothed model that votes over N random variants of each text (ranmask).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import RobustuneError

ProbabilityFn = Callable[[list[str]], "np.ndarray"]


class Victim:
    """``victim(texts) -> (N, K)`` probabilities, batched ``batch_size`` texts per model forward."""

    def __init__(self, predict_proba: ProbabilityFn, label_names: Sequence[str], batch_size: int = 64,
                 forwards_per_query: int = 1):
        self.predict_proba = predict_proba
        self.forwards_per_query = forwards_per_query
        self.label_names = list(label_names)
        self.batch_size = batch_size
        self.queries = 0
        self.forwards = 0
        self.seconds = 0.0  # wall time inside predict_proba

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start:start + self.batch_size])
            began = time.perf_counter()
            probs = np.asarray(self.predict_proba(chunk), dtype=np.float32)  # (b, K)
            self.seconds += time.perf_counter() - began
            if probs.shape != (len(chunk), len(self.label_names)):
                raise RobustuneError(f"the victim returned shape {probs.shape} for {len(chunk)} texts; "
                                     f"expected ({len(chunk)}, {len(self.label_names)})")
            out.append(probs)
            self.forwards += 1
        self.queries += len(texts)
        return np.concatenate(out) if out else np.zeros((0, len(self.label_names)), np.float32)


def _hf_sequence_classifier(source: str, batch_size: int) -> Victim:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(source).eval()
    except (OSError, ValueError) as err:
        raise RobustuneError(f"cannot load {source!r} as a sequence-classification model: "
                             f"{str(err).splitlines()[0]}") from None
    config = model.config
    names = [config.id2label.get(i, str(i)) for i in range(config.num_labels)]

    @torch.inference_mode()
    def predict_proba(texts: list[str]) -> np.ndarray:
        batch = tokenizer(texts, truncation=True, padding=True, return_tensors="pt")
        return torch.softmax(model(**batch).logits.float(), dim=-1).numpy()

    return Victim(predict_proba, names, batch_size)


def load_victim(model, label_names: Sequence[str] | None = None, batch_size: int = 64) -> Victim:
    """A :class:`Victim` from a robustune model dir, an HF model dir/id, a RobustClassifier or a callable."""
    from ..modeling import RobustClassifier

    if isinstance(model, Victim):
        return model
    if isinstance(model, RobustClassifier):
        return Victim(lambda texts: model.predict_proba(texts, batch_size=batch_size), model.label_names, batch_size,
                      forwards_per_query=model.forwards_per_text)
    if callable(model):
        if label_names is None:
            raise RobustuneError("a function victim needs label_names")
        return Victim(model, label_names, batch_size)
    source = str(model)
    config = Path(source) / "config.json"
    if config.is_file() and "robustune" in json.loads(config.read_text()):
        return load_victim(RobustClassifier.from_pretrained(source), batch_size=batch_size)
    if Path(source).exists() and not config.is_file():
        raise RobustuneError(f"{source}: not a model directory (no config.json)")
    return _hf_sequence_classifier(source, batch_size)
