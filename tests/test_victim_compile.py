"""The compiled fast path (``load_victim(..., compile=True)``, ``robustune attack --compile``): it scores
like the eager model across batch shapes, from the attack's worker threads too, leaves the caller's model
as it was, and refuses what it cannot do with a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import robustune
from robustune.attacks import build_recipe, load_victim
from robustune.attacks.concurrent import attack_many
from robustune.errors import RobustuneError
from robustune.modeling import RobustClassifier


def _has_cxx() -> bool:
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
        return True
    except Exception:  # noqa: BLE001
        return False


# Compiling needs a C++ compiler; without one only the error it gives is tested.
needs_cxx = pytest.mark.skipif(not _has_cxx(), reason="torch.compile on CPU needs a C++ compiler (g++ or clang++)")

NAMES = ["negative", "positive"]
TEXTS = ["a good and fun film", "the plot was dull", "great acting", "it was bad", "bad", "a long, slow and "
         "tedious film with a dull plot and no acting to speak of"]


@pytest.fixture(scope="module")
def classifier(tiny_encoder):
    return RobustClassifier.from_encoder(tiny_encoder, robustune.modeling.ModelSettings(label_names=NAMES))


@needs_cxx
def test_compiled_victim_scores_like_the_eager_model(classifier):
    from torch._dynamo.utils import counters

    captured = counters["stats"]["calls_captured"]
    eager = load_victim(classifier, precision="fp32", batch_size=4)
    compiled = load_victim(classifier, precision="fp32", batch_size=4, compile=True)
    assert compiled.compiled and compiled.has_fast_path and not eager.compiled
    # Batches of 4, 2 and 1 texts of changing lengths: the dynamic graph (and its batch-of-1 variant).
    for texts in (TEXTS, TEXTS[:2], TEXTS[-1:], TEXTS[::-1]):
        np.testing.assert_allclose(compiled(texts), eager(texts), atol=1e-5)
    np.testing.assert_allclose(compiled.exact(TEXTS), eager(TEXTS), atol=1e-6)
    assert counters["stats"]["calls_captured"] > captured  # dynamo traced the encoder: it did compile
    # The copy is compiled; the caller's model is untouched.
    assert not hasattr(classifier.encoder, "_orig_mod")


@needs_cxx
def test_compiled_victim_gives_the_same_attack_results_from_worker_threads(classifier):
    items = [(t, i % 2) for i, t in enumerate(TEXTS[:4])]
    eager = list(attack_many(build_recipe("deepwordbug", seed=0), load_victim(classifier, precision="fp32"), items, 1))
    compiled = list(attack_many(build_recipe("deepwordbug", seed=0),
                                load_victim(classifier, precision="fp32", compile=True), items, 4))
    # The same searches and verdicts; the compiled run's queries add its exact-model checks.
    assert [(r.status, r.adversarial) for r in compiled] == [(r.status, r.adversarial) for r in eager]
    np.testing.assert_allclose([r.adversarial_probabilities for r in compiled],
                               [r.adversarial_probabilities for r in eager], atol=1e-5)


def test_compile_refuses_a_function_victim():
    with pytest.raises(RobustuneError, match="function victim"):
        load_victim(lambda texts: np.full((len(texts), 2), 0.5), NAMES, compile=True)


def test_compile_without_a_cpp_compiler_says_so(classifier, monkeypatch):
    import torch._inductor.cpp_builder as builder

    def missing():
        raise RuntimeError("no working C++ compiler found")

    monkeypatch.setattr(builder, "get_cpp_compiler", missing)
    with pytest.raises(RobustuneError, match="C\\+\\+ compiler"):
        load_victim(classifier, precision="fp32", compile=True)


@needs_cxx
def test_compiled_hf_sequence_classifier_scores_like_the_eager_one(tiny_encoder, tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig.from_pretrained(tiny_encoder, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(tmp_path / "hf")
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(tmp_path / "hf")
    eager = load_victim(str(tmp_path / "hf"), precision="fp32")
    compiled = load_victim(str(tmp_path / "hf"), precision="fp32", compile=True)  # the whole model compiled
    np.testing.assert_allclose(compiled(TEXTS), eager(TEXTS), atol=1e-5)


@needs_cxx
def test_cli_attack_compile_is_recorded(classifier, toy_csv, tmp_path):
    import json

    from robustune.cli import main

    classifier.save_pretrained(tmp_path / "model")
    out = tmp_path / "attack"
    assert main(["attack", "--model", str(tmp_path / "model"), "--data", str(toy_csv), "--recipe", "deepwordbug",
                 "--num-examples", "3", "--precision", "fp32", "--compile", "--output", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["compiled"] is True
    assert json.loads((out / "run.json").read_text())["compiled"] is True


def test_bench_attack_compile_reaches_the_cell_and_is_checked(toy_csv, tmp_path):
    import yaml

    from robustune.bench import expand, load_config

    raw = {"datasets": [{"name": "toy", "train": str(toy_csv), "test": str(toy_csv)}], "settings": [{"name": "a"}],
           "seeds": [1], "methods": ["vanilla"], "attacks": [{"recipe": "deepwordbug", "compile": True}]}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(raw))
    attack = next(c for c in expand(load_config(tmp_path / "b.yaml")) if c.recipe)
    assert attack.spec["compile"] is True
    raw["attacks"][0]["compile"] = "yes"
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(RobustuneError, match=r"attacks\[0\]\.compile"):
        load_config(tmp_path / "b.yaml")
