"""dne: the hulls and the Dirichlet draws against naive references, the ascent loop against a naive
reference on a tiny model, the ensemble (deterministic, batch-independent, summing to 1, reloaded with the
same predictions), attacks counting N forwards per query, the API, the CLI and bad input."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import robustune
from conftest import attack_counting_forwards, check_saved_smoothing
from robustune import RobustClassifier, RobustuneError
from robustune.cli import main
from robustune.methods import get_method
from robustune.methods.dne import DNE, ascent_logits
from robustune.modeling import ModelSettings
from robustune.modeling.hull import dirichlet_weights, hull_corners, hull_points, hull_table
from robustune.modeling.smoothing import HullEnsemble

TEXTS = ["a good film", "boring and dull", "the worst film this year", "i loved this movie and the music",
         "great fun", "an awful mess of a story"]
SETS = {1: [2, 3], 2: [1, 4], 3: [5], 4: [1, 6], 6: [2]}  # token -> its neighbours, nearest first; vocabulary of 8


def _csr(sets, vocabulary):
    offsets = torch.zeros(vocabulary + 1, dtype=torch.long)
    offsets[1:] = torch.tensor([len(sets.get(v, [])) for v in range(vocabulary)]).cumsum(0)
    return offsets, torch.tensor([c for v in range(vocabulary) for c in sets.get(v, [])], dtype=torch.long)


def naive_hull(v, sets, size):
    """[v] + S(v) + the neighbours of S(v) in order, each once, ``size`` in all; and |S(v)| kept."""
    row = [v]
    for w in sets.get(v, []):
        if w not in row:
            row.append(w)
    first = len(row) - 1
    for w in sets.get(v, []):
        for u in sets.get(w, []):
            if u not in row:
                row.append(u)
    return row[:size], min(first, size - 1)


@pytest.fixture(scope="module")
def dne_model(tiny_encoder, tmp_path_factory):
    """A tiny dne model trained on the toy task, saved; (its folder, the training csv)."""
    from conftest import train_toy_model

    return train_toy_model(tiny_encoder, tmp_path_factory.mktemp("dne"), "dne",
                           {"synonyms": 8, "vote_samples": 8, "vote_seed": 5, "adv_steps": 2})


def test_hull_table_matches_a_naive_reference():
    offsets, candidates = _csr(SETS, 8)
    for size in (2, 3, 4, 50):
        hull_offsets, vertices, first = hull_table(offsets, candidates, size)
        for v in range(8):
            row, near = naive_hull(v, SETS, size)
            assert [v] + vertices[hull_offsets[v]:hull_offsets[v + 1]].tolist() == row, (v, size)
            assert int(first[v]) == (near if v in SETS else 0)
    _, vertices, first = hull_table(offsets, candidates, 50)
    assert int(first[1]) == 2 and len(vertices) == sum(len(naive_hull(v, SETS, 50)[0]) - 1 for v in range(8))


def test_hull_corners_and_concentrations():
    offsets, candidates = _csr(SETS, 8)
    hulls = hull_table(offsets, candidates, 50)
    ids = torch.tensor([[0, 1, 4, 7], [2, 3, 0, 0]])
    eligible = torch.tensor([[0, 1, 1, 1], [1, 0, 0, 0]]).bool()
    corners, concentration = hull_corners(ids, eligible, *hulls, alpha=2.0, decay=0.25)
    M = corners.shape[-1]
    assert M == max(len(naive_hull(v, SETS, 50)[0]) for v in (1, 4, 2))
    for r in range(2):
        for t in range(4):
            v = int(ids[r, t])
            row, near = naive_hull(v, SETS, 50) if eligible[r, t] else ([v], 0)
            assert corners[r, t, : len(row)].tolist() == row
            expected = [2.0] * (1 + near) + [0.5] * (len(row) - 1 - near) + [0.0] * (M - len(row))
            assert concentration[r, t].tolist() == expected, (r, t)


def test_dirichlet_weights_sum_to_one_and_have_the_dirichlet_mean():
    concentration = torch.tensor([[1.0, 1.0, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    draws = dirichlet_weights(concentration.expand(20000, -1, -1).contiguous(), np.random.default_rng(0))
    assert draws.shape == (20000, 2, 4) and draws.dtype == torch.float32
    torch.testing.assert_close(draws.sum(-1), torch.ones(20000, 2))
    assert torch.all(draws[..., 3] == 0) and torch.all(draws[:, 1, 0] == 1)  # no weight past a hull's end
    torch.testing.assert_close(draws[:, 0].mean(0), torch.tensor([0.4, 0.4, 0.2, 0.0]), atol=0.01, rtol=0)
    # the second moment of a Dirichlet(1, 1, 0.5) weight: α_j(α_j + 1) / (α₀(α₀ + 1)), α₀ = 2.5
    torch.testing.assert_close((draws[:, 0, 0] ** 2).mean(), torch.tensor(2 / 8.75), atol=0.01, rtol=0)
    same = dirichlet_weights(concentration, np.random.default_rng(3))
    assert torch.equal(same, dirichlet_weights(concentration, np.random.default_rng(3)))


def test_hull_points_and_the_ascent_step_match_naive_formulas():
    gen = torch.Generator().manual_seed(0)
    corners = torch.randn(2, 3, 4, 5, generator=gen)  # (R, T, M, D)
    weights = torch.softmax(torch.randn(2, 6, 3, 4, generator=gen), -1)  # (R, N, T, M)
    points = hull_points(weights, corners)
    for r, n, t in [(0, 0, 0), (1, 5, 2), (1, 3, 1)]:
        expected = sum(weights[r, n, t, m] * corners[r, t, m] for m in range(4))
        torch.testing.assert_close(points[r, n, t], expected)
    torch.testing.assert_close(hull_points(weights[:, 2], corners), points[:, 2])
    logits = torch.tensor([[[0.0, -1.0, float("-inf")], [0.0, -2.0, -3.0]]])  # (1, 2, 3)
    grad = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]])
    moved = ascent_logits(logits, grad, 10.0)
    # (0, -1) + 10·(3, 4)/5 = (6, 7): shifted by its max; the slot past the hull's end stays -inf
    assert moved[0, 0, :2].tolist() == pytest.approx([-1.0, 0.0], abs=1e-4) and moved[0, 0, 2] == float("-inf")
    assert moved[0, 1].tolist() == [0.0, -2.0, -3.0]  # no gradient, no step


def _classifier(tiny_encoder):
    return RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["neg", "pos"]), seed=0)


def _method(classifier, steps, lr=10.0):
    method = DNE(DNE.Params(adv_steps=steps, adv_lr=lr))
    method.setup(classifier, None)
    method.seed = 11
    return method


def _grads(classifier) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in classifier.named_parameters() if p.grad is not None}


def _naive_dne(classifier, batch, corners, logits, steps, lr):
    """The DNE loop written out: each pass's point by a loop over vertices, plain backward per pass."""
    classifier.zero_grad()
    table = classifier.encoder.embeddings.word_embeddings
    for _ in range(steps + 1):
        logits.requires_grad_(True)
        weights = torch.softmax(logits, -1)
        points = sum(weights[..., m:m + 1] * table(corners[..., m]) for m in range(corners.shape[-1]))
        out = classifier(inputs_embeds=points, attention_mask=batch["attention_mask"],
                         token_type_ids=batch.get("token_type_ids"))
        F.cross_entropy(out, batch["labels"]).backward()
        grad = logits.grad
        norm = torch.sqrt((grad ** 2).sum(-1, keepdim=True)) + 1e-6
        moved = logits.detach() + lr * grad / norm
        logits = (moved - moved.max(-1, keepdim=True).values).detach()
    return _grads(classifier)


@pytest.mark.parametrize("steps", [0, 1, 3])
def test_inner_loop_matches_naive_reference(tiny_encoder, steps):
    classifier = _classifier(tiny_encoder).eval()  # no dropout: both loops are deterministic
    batch = dict(classifier.tokenize(["a good film", "boring and dull plot of a long story", "i loved this movie"]))
    batch["labels"] = torch.tensor([1, 0, 1])
    method = _method(classifier, steps)
    assert (method._hulls[0][1:] > method._hulls[0][:-1]).any()  # the tiny vocabulary has hulls
    corners, logits = _method(classifier, steps).initial_logits(batch["input_ids"], batch["attention_mask"])
    assert corners.shape[-1] > 1 and torch.isinf(logits).any()
    expected = _naive_dne(classifier, batch, corners, logits, steps, 10.0)
    classifier.zero_grad()
    terms = method(classifier, batch)
    sum(terms.values()).backward()  # what the trainer does with the returned terms
    got = _grads(classifier)
    assert set(got) == set(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-6, msg=name)
    if steps:
        assert terms["adversarial"].item() > steps * terms["ce"].item()  # the ascent raised the losses


def test_words_without_a_hull_give_vanillas_gradient_times_the_passes(tiny_encoder):
    classifier = _classifier(tiny_encoder).eval()
    batch = dict(classifier.tokenize(["a good film", "boring and dull"]))
    batch["labels"] = torch.tensor([1, 0])
    method = _method(classifier, 2)
    offsets, _, first = method._hulls
    method._hulls = (torch.zeros_like(offsets), torch.zeros(0, dtype=torch.long), torch.zeros_like(first))
    sum(method(classifier, batch).values()).backward()
    got = _grads(classifier)
    classifier.zero_grad()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    (3 * F.cross_entropy(classifier(**inputs), batch["labels"])).backward()
    for name, grad in _grads(classifier).items():
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_ensemble_is_deterministic_batch_independent_and_sums_to_one(dne_model):
    model = RobustClassifier.from_pretrained(dne_model[0])
    assert isinstance(model.smoothing, HullEnsemble) and model.forwards_per_text == 8
    probs = model.predict_proba(TEXTS)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(probs, model.predict_proba(TEXTS))  # same seed, same draws
    np.testing.assert_allclose(probs, np.concatenate([model.predict_proba([t]) for t in TEXTS]), atol=1e-6)
    np.testing.assert_allclose(probs[::-1], model.predict_proba(TEXTS[::-1], batch_size=2), atol=1e-6)
    corners, weights = model.smoothing.weights(model.tokenize(TEXTS[:2]))
    assert corners.shape[-1] > 1 and not torch.equal(weights[:, 0], weights[:, 1])  # the N draws differ
    # the average of the N virtual inputs' probabilities, written out
    batch = model.tokenize([TEXTS[0]])
    corners, weights = model.smoothing.weights(batch)
    table = model.encoder.get_input_embeddings()
    with torch.no_grad():
        each = [model.base_probabilities({"inputs_embeds": hull_points(weights[:, n], table(corners)),
                                          "attention_mask": batch["attention_mask"]}) for n in range(8)]
    np.testing.assert_allclose(probs[0], torch.cat(each).mean(0).numpy(), atol=1e-5)
    model.configure_smoothing(seed=6)
    assert not np.array_equal(probs, model.predict_proba(TEXTS))


def test_saved_model_reloads_with_its_hulls_and_predictions(dne_model, tmp_path):
    check_saved_smoothing(*dne_model, tmp_path, TEXTS,
                          {"kind": "hull-ensemble", "samples": 8, "seed": 5, "alpha": 1.0, "decay": 0.5},
                          lambda name: name == "smoothing.first", "hull")


def test_attack_on_dne_counts_n_forwards_per_query(dne_model, tmp_path):
    per_query, sequences, records, _ = attack_counting_forwards(dne_model[0], tmp_path / "a")
    assert per_query == 8
    assert sequences == 8 * sum(r["queries"] for r in records)  # the ensemble itself was attacked


def test_same_seed_trains_the_same_model(tiny_encoder, toy_csv, tmp_path):
    kwargs = dict(data=str(toy_csv), model=tiny_encoder, method="dne", epochs=1, batch_size=16, lr=1e-3, seed=5,
                  progress=False, method_params={"adv_steps": 1, "vote_samples": 3})
    first = robustune.train(output_dir=str(tmp_path / "a"), **kwargs).model.predict_proba(TEXTS)
    again = robustune.train(output_dir=str(tmp_path / "b"), **kwargs).model.predict_proba(TEXTS)
    np.testing.assert_array_equal(first, again)


def test_cli_train_predict_and_bad_params(tiny_encoder, toy_csv, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--method", "dne", "--output", str(out),
                 "--epochs", "1", "--batch-size", "16", "--adv-steps", "1", "--hull-size", "6",
                 "--dirichlet-alpha", "0.5", "--vote-samples", "3"]) == 0
    smoothing = json.loads((out / "config.json").read_text())["robustune"]["smoothing"]
    assert smoothing == {"kind": "hull-ensemble", "samples": 3, "seed": 0, "alpha": 0.5, "decay": 0.5}
    assert main(["predict", "--model", str(out), "--data", str(toy_csv), "--output", str(tmp_path / "p.jsonl"),
                 "--vote-samples", "5"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert all(math.isclose(sum(r["probabilities"].values()), 1.0, abs_tol=1e-4) for r in rows)
    assert main(["evaluate", "--model", str(out), "--data", str(toy_csv), "--keep-rate", "0.5"]) == 2
    assert "--keep-rate does not apply to a hull-ensemble model" in capsys.readouterr().err
    for bad, name in [({"hull_size": 1}, "hull_size"), ({"dirichlet_decay": 0.0}, "dirichlet_decay"),
                      ({"dirichlet_alpha": -1.0}, "dirichlet_alpha"), ({"adv_steps": -1}, "adv_steps")]:
        with pytest.raises(RobustuneError, match=name):
            get_method("dne").parse_params(bad)
