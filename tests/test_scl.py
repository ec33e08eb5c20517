"""scl: the supervised contrastive loss against a naive loop, and training end to end."""

import math

import pytest
import torch
import torch.nn.functional as F

import robustune
from robustune.methods.scl import supervised_contrastive_loss


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
    result = robustune.train(data=str(toy_csv), output_dir=str(tmp_path / "m"), model=tiny_encoder,
                             method="scl", epochs=1, batch_size=8, lr=1e-3, seed=3, progress=False,
                             eval_data=str(toy_csv))
    assert {"accuracy_linear", "accuracy_knn"} <= set(result.eval_metrics)
    assert result.train_metrics["train_loss"] > 0
