"""match-tuning: the in-batch mixing math, batch-independent inference, train/save/load, CLI."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import robustune
from robustune import RobustClassifier, RobustuneError
from robustune.cli import main
from robustune.methods import get_method
from robustune.methods.match_tuning import MatchTuning, match_mix
from robustune.modeling import ModelSettings


def test_match_mix_matches_naive_loop():
    gen = torch.Generator().manual_seed(0)
    H = torch.randn(4, 3, generator=gen)
    tau = 0.7
    expected = torch.zeros(4, 3)
    for i in range(4):
        scores = [sum(H[i, k].item() * H[j, k].item() for k in range(3)) / tau for j in range(4)]
        z = sum(math.exp(s) for s in scores)
        for j in range(4):
            expected[i] += math.exp(scores[j]) / z * H[j]
    torch.testing.assert_close(match_mix(H, tau), expected)


def test_forward_is_ce_on_mixed_features(tiny_encoder):
    settings = ModelSettings(label_names=["neg", "pos"], head=MatchTuning.head_spec)
    classifier = RobustClassifier.from_encoder(tiny_encoder, settings, seed=0).eval()  # no dropout
    assert classifier.head.features[1].out_features == classifier.encoder.config.hidden_size
    batch = {**classifier.tokenize(["a good film", "boring", "i loved this movie"]), "labels": torch.tensor([1, 0, 1])}
    terms = MatchTuning(MatchTuning.Params(match_temperature=0.5))(classifier, batch)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    H = classifier.head.features(classifier.encode(**inputs))
    logits = classifier.head.classifier(match_mix(H, 0.5))
    torch.testing.assert_close(terms["ce"], F.cross_entropy(logits, batch["labels"]))
    # The mix is a real mix: other instances change the training logits.
    assert not torch.allclose(logits, classifier(**inputs))


def test_bad_temperature_is_a_user_error():
    with pytest.raises(RobustuneError, match="match_temperature"):
        get_method("match-tuning").parse_params({"match_temperature": 0})


@pytest.fixture(scope="module")
def trained(tiny_encoder, tmp_path_factory):
    from conftest import toy_rows

    folder = tmp_path_factory.mktemp("mt")
    data = folder / "toy.csv"
    data.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in toy_rows()))
    result = robustune.train(data=str(data), output_dir=str(folder / "m"), model=tiny_encoder,
                             method="match-tuning", epochs=2, batch_size=8, lr=1e-3, seed=2, progress=False)
    return result, folder


def test_predictions_do_not_depend_on_the_batch(trained):
    model = trained[0].model
    texts = ["a good film", "boring and dull", "the worst film this year", "i loved this movie"]
    others = ["terrible acting", "wonderful acting and lovely music in a long moving story", "news"]
    alone = np.concatenate([model.predict_proba([t]) for t in texts])
    together = model.predict_proba(texts, batch_size=64)
    mixed = model.predict_proba(others + texts + others, batch_size=3)[len(others):len(others) + len(texts)]
    np.testing.assert_allclose(alone, together, atol=1e-6)
    np.testing.assert_allclose(alone, mixed, atol=1e-6)


def test_save_load_identical_and_head_recorded(trained):
    result, folder = trained
    texts = ["a good film", "boring and dull"]
    loaded = RobustClassifier.from_pretrained(folder / "m")
    np.testing.assert_array_equal(result.model.predict_proba(texts), loaded.predict_proba(texts))
    config = json.loads((folder / "m" / "config.json").read_text())["robustune"]
    assert config["method"] == "match-tuning" and config["head"]["hidden"] == "input"


def test_cli_train_and_evaluate(tiny_encoder, toy_csv, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--method", "match-tuning",
                 "--output", str(out), "--epochs", "1", "--batch-size", "16", "--match-temperature", "2"]) == 0
    config = json.loads((out / "config.json").read_text())["robustune"]
    assert config["method_params"] == {"match_temperature": 2.0}
    assert main(["evaluate", "--model", str(out), "--data", str(toy_csv)]) == 0
    assert '"macro_f1"' in capsys.readouterr().out
