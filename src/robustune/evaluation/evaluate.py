"""Evaluate a trained classifier on labelled data, and predict on unlabelled data."""

from __future__ import annotations

import numpy as np

from ..data import LabelMap, TextDataset
from ..modeling import RobustClassifier
from .metrics import accuracy_from_probs, classification_metrics


def evaluate(model: RobustClassifier, data: TextDataset, batch_size: int = 64, progress: bool = False) -> dict:
    """Metrics of ``model`` on ``data``; a label the model never saw is an error naming its row.

    A model with several predictors (a linear head and a KNN datastore; a smoothed vote and its base
    classifier) is scored on the model's own prediction (the combined one; the vote), and each other
    predictor's accuracy is added as ``accuracy_<name>``.
    """
    label_map = LabelMap(tuple(model.label_names))
    y_true = label_map.encode(data)
    parts = model.predict_components(data.texts, batch_size=batch_size, progress=progress)
    probs = parts.pop(model.prediction_component)
    metrics = classification_metrics(y_true, probs.argmax(-1).tolist(), model.label_names)
    if parts:
        metrics.update({f"accuracy_{name}": accuracy_from_probs(p, y_true) for name, p in parts.items()})
    return metrics


def predictions(model: RobustClassifier, data: TextDataset, batch_size: int = 64, progress: bool = False):
    """One record per row: the text, the predicted label and every class probability."""
    probs = model.predict_proba(data.texts, batch_size=batch_size, progress=progress)
    names = model.label_names
    for text, p in zip(data.texts, probs):
        yield {"text": text, "label": names[int(np.argmax(p))],
               "probabilities": {n: round(float(v), 6) for n, v in zip(names, p)}}
