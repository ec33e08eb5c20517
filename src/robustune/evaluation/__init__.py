"""Metrics, evaluation and prediction."""

from .evaluate import evaluate, predictions
from .metrics import classification_metrics

__all__ = ["evaluate", "predictions", "classification_metrics"]
