"""CACC and backdoor metrics of a RobustClassifier on labelled data, optionally behind a text filter
(ONION); what ``robustune evaluate --trigger`` and ``poison --eval-data`` report."""

from __future__ import annotations

from typing import Callable

from ..data import LabelMap, TextDataset
from ..errors import RobustuneError
from ..evaluation import evaluate
from .metrics import backdoor_metrics


def target_id(model, target_label: str) -> int:
    if target_label not in model.label_names:
        raise RobustuneError(f"--target-label {target_label!r} is not a label of the model "
                             f"({', '.join(model.label_names)})")
    return model.label_names.index(target_label)


def backdoor_report(model, data: TextDataset, tokens: list[str], target_label: str, seed: int = 0,
                    text_filter: Callable[[list[str]], list[str]] | None = None, batch_size: int = 64) -> dict:
    """``evaluate``'s metrics (on filtered texts if ``text_filter``) plus ASR and single-token flip rates."""
    target = target_id(model, target_label)
    labels = LabelMap(tuple(model.label_names)).encode(data)
    shown = data
    if text_filter is not None:
        shown = TextDataset(text_filter(data.texts), data.labels, data.origin, data.rows)
    metrics = evaluate(model, shown, batch_size=batch_size)

    def predict(texts: list[str]) -> list[int]:
        texts = text_filter(texts) if text_filter is not None else texts
        return model.predict_proba(texts, batch_size=batch_size).argmax(-1).tolist()

    metrics.update(backdoor_metrics(predict, data.texts, labels, tokens, target, model.label_names, seed=seed))
    return metrics
