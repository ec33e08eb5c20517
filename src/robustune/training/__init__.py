"""Training: the config, the data features, the one Trainer subclass and ``train()``."""

from .config import TrainConfig
from .train import TrainResult, load_training_data, train
from .trainer import RobustTrainer, TrainingModule

__all__ = ["TrainConfig", "TrainResult", "train", "load_training_data", "RobustTrainer", "TrainingModule"]
