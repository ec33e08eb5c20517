"""The classifier robustune trains and saves: encoder + pooling + head, in Hugging Face layout."""

from .classifier import WEIGHTS_NAME, ModelSettings, RobustClassifier
from .head import ClassificationHead, HeadSpec

__all__ = ["RobustClassifier", "ModelSettings", "HeadSpec", "ClassificationHead", "WEIGHTS_NAME"]
