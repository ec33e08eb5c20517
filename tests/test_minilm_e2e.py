"""End to end on the real bundled all-MiniLM-L6-v2 with a few hundred SST-2 rows."""

import json

import numpy as np
import pytest

from robustune import RobustClassifier
from robustune.assets import default_encoder
from robustune.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm_model(tmp_path_factory):
    if not default_encoder().startswith("/"):
        pytest.skip("the bundled MiniLM package is not installed")
    out = tmp_path_factory.mktemp("minilm") / "model"
    code = main(["train", "--data", "sst2:train", "--max-train-samples", "400", "--epochs", "1",
                 "--batch-size", "16", "--max-length", "64", "--output", str(out)])
    assert code == 0
    return out


def test_learns_sst2_and_reports_metrics(minilm_model, tmp_path):
    metrics_path = tmp_path / "m.json"
    assert main(["evaluate", "--model", str(minilm_model), "--data", "sst2:test",
                 "--output", str(metrics_path)]) == 0
    metrics = json.loads(metrics_path.read_text())
    assert metrics["n"] == 872
    assert metrics["accuracy"] > 0.7  # 400 rows, one epoch: well above chance (0.5)


def test_reload_gives_identical_probabilities(minilm_model):
    texts = ["a charming and often affecting journey", "unflinchingly bleak and desperate"]
    a = RobustClassifier.from_pretrained(minilm_model).predict_proba(texts)
    b = RobustClassifier.from_pretrained(minilm_model).predict_proba(texts)
    np.testing.assert_array_equal(a, b)
    config = json.loads((minilm_model / "config.json").read_text())
    assert config["robustune"]["training"]["train_examples"] == 400


def test_encoder_weights_load_with_plain_automodel(minilm_model):
    # The saved encoder keeps HF's own key prefix, so any transformers user can load it.
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(minilm_model)
    model = RobustClassifier.from_pretrained(minilm_model)
    for name, tensor in model.encoder.state_dict().items():
        assert np.array_equal(encoder.state_dict()[name].numpy(), tensor.numpy()), name
