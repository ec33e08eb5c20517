"""scl: the supervised contrastive loss against a naive loop, and training end to end."""

import math

import pytest
import torch
import torch.nn.functional as F

import robustune
from robustune.methods.scl import supervised_contrastive_loss
from robustune.modeling import ModelSettings


def naive_supcon(z, labels, tau):
    per_anchor, zd = [], z.detach()
    n = z.shape[0]
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        den = sum(math.exp(float(zd[i] @ zd[a]) / tau) for a in range(n) if a != i)
        per_anchor.append(-sum(math.log(math.exp(float(zd[i] @ zd[p]) / tau) / den) for p in positives)
                          / len(positives))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


@pytest.mark.parametrize("labels", [[0, 1, 0, 2, 1, 0], [0, 1, 2, 3, 4, 5], [1, 1, 1, 1, 1, 1]])
def test_loss_matches_naive_loop(labels):
    z = F.normalize(torch.randn(6, 5, generator=torch.Generator().manual_seed(0)), dim=-1).requires_grad_()
    labels = torch.tensor(labels)
    got = supervised_contrastive_loss(z, labels, 0.3)
    assert got.item() == pytest.approx(naive_supcon(z, labels, 0.3), rel=1e-5, abs=1e-7)
    got.backward()
    assert torch.isfinite(z.grad).all()


def test_scl_trains_with_a_datastore(tiny_encoder, toy_csv, tmp_path):
    from conftest import toy_rows

    texts = [t for t, _ in toy_rows()]  # toy_csv's rows, in its order
    labels = torch.tensor([["negative", "positive"].index(y) for _, y in toy_rows()])

    def full_set_scl(model):  # L_scl over the whole training set, one "batch", no dropout
        model.eval()
        with torch.no_grad():
            return supervised_contrastive_loss(F.normalize(model.encode(**model.tokenize(texts)), dim=-1),
                                               labels, 0.3).item()

    start = robustune.RobustClassifier.from_encoder(tiny_encoder, ModelSettings(
        label_names=["negative", "positive"]), seed=3)
    result = robustune.train(data=str(toy_csv), output_dir=str(tmp_path / "m"), model=tiny_encoder,
                             method="scl", epochs=3, batch_size=8, lr=3e-3, seed=3, progress=False,
                             eval_data=str(toy_csv))
    model = result.model
    # It trains: the contrastive objective falls on this learnable toy set (3.84 -> 3.64 measured;
    # its floor, every class perfectly clustered, is about log 23 = 3.14).
    assert full_set_scl(model) < full_set_scl(start) - 0.1
    assert result.eval_metrics["accuracy_knn"] >= 0.75
    # The datastore is the training set re-encoded by the final model, with its labels.
    assert len(model.knn) == len(texts) and model.knn.labels.tolist() == labels.tolist()
    with torch.no_grad():
        expected = F.normalize(model.encode(**model.tokenize(texts)).float(), dim=-1)
    torch.testing.assert_close(model.knn.features, expected, rtol=1e-4, atol=1e-5)
    assert {"accuracy_linear", "accuracy_knn"} <= set(result.eval_metrics)
