"""robustune: robust fine-tuning of transformer text classifiers, and honest robustness measurement.

Python API (mirrors the CLI)::

    import robustune
    result = robustune.train(data="mr", output_dir="out", method="vanilla", epochs=1)
    model = robustune.RobustClassifier.from_pretrained("out")
    model.predict(["a gripping, funny film"])        # ['positive']
    model.predict_proba(["a gripping, funny film"])  # array([[0.03, 0.97]], dtype=float32)
"""

from .data import load_source
from .errors import DataError, RobustuneError
from .evaluation import evaluate
from .methods import METHODS
from .modeling import RobustClassifier
from .training import TrainConfig, TrainResult, train

__version__ = "0.1.0"

__all__ = ["train", "TrainConfig", "TrainResult", "RobustClassifier", "evaluate", "load_source", "METHODS",
           "RobustuneError", "DataError", "__version__"]
