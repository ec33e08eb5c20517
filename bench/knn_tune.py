"""Choose a saved model's KNN K and λ' on a dev split (never the test split); print the test accuracy there.

    PYTHONPATH=src python bench/knn_tune.py MODEL_DIR --dev ../shared/datasets/sst2/dev.tsv \\
        --test ../shared/datasets/sst2/test.tsv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fewshot import _tune_on_dev  # noqa: E402

from robustune import RobustClassifier, load_source  # noqa: E402
from robustune.data import random_subset  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--dev", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--max-dev-samples", type=int, default=1000)
    args = p.parse_args()
    model = RobustClassifier.from_pretrained(args.model)
    if model.knn is None:
        sys.exit(f"{args.model}: no KNN datastore")
    dev = random_subset(load_source(args.dev, "test"), args.max_dev_samples, 0)
    chosen, test_accuracy = _tune_on_dev(model, dev, load_source(args.test, "test"))
    print(f"chosen on dev: K={chosen['k']} weight={chosen['weight']}; test combined accuracy {test_accuracy:.4f}")


if __name__ == "__main__":
    main()
