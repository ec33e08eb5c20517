"""knn-bert: the loss against a naive loop, the queue, the momentum update, training end to end."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import robustune
from robustune import RobustClassifier, RobustuneError
from robustune.distributed import gather_tensors
from robustune.methods.knn_bert import KNNBert, knn_contrastive_loss


def naive_knn_contrastive(q, keys, key_labels, labels, m_most, m_least, tau):
    total, pairs = 0.0, 0
    for i in range(q.shape[0]):
        sims = [float(q[i] @ keys[j]) for j in range(keys.shape[0])]
        same = [j for j in range(keys.shape[0]) if key_labels[j] == labels[i]]
        negs = [j for j in range(keys.shape[0]) if key_labels[j] >= 0 and key_labels[j] != labels[i]]
        ranked = sorted(same, key=lambda j: -sims[j])
        positives = set(ranked[:m_most]) | (set(ranked[-m_least:]) if m_least else set())
        for p in positives:
            num = math.exp(sims[p] / tau)
            den = num + sum(math.exp(sims[n] / tau) for n in negs)
            total += -math.log(num / den)
            pairs += 1
    return total / pairs if pairs else 0.0


@pytest.mark.parametrize("m_most,m_least", [(3, 1), (1, 0), (0, 2), (50, 50)])
def test_loss_matches_naive_loop(m_most, m_least):
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(5, 8, generator=g), dim=-1)
    keys = F.normalize(torch.randn(20, 8, generator=g), dim=-1)
    key_labels = torch.randint(0, 3, (20,), generator=g)
    key_labels[:4] = -1  # empty slots
    labels = torch.tensor([0, 1, 2, 0, 1])
    got = knn_contrastive_loss(q, keys, key_labels, labels, m_most, m_least, 0.5)
    want = naive_knn_contrastive(q, keys, key_labels, labels, m_most, m_least, 0.5)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_loss_edge_cases_have_finite_gradients():
    q = F.normalize(torch.randn(2, 4), dim=-1).requires_grad_()
    keys = F.normalize(torch.randn(3, 4), dim=-1)
    # Only same-label entries (no negatives): every pair is already perfect, loss 0.
    loss = knn_contrastive_loss(q, keys, torch.tensor([0, 0, 0]), torch.tensor([0, 0]), 2, 1, 0.07)
    loss.backward()
    assert loss.item() == pytest.approx(0.0) and torch.isfinite(q.grad).all()
    # An empty queue: no positives at all.
    q.grad = None
    loss = knn_contrastive_loss(q, keys, torch.tensor([-1, -1, -1]), torch.tensor([0, 1]), 2, 1, 0.07)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(q.grad).all()


def _method(classifier, dataset, **params):
    method = KNNBert(KNNBert.parse_params({"queue_size": 6, "projection_dim": 4, **params}))
    method.setup(classifier, dataset)
    return method


@pytest.fixture
def tiny_setup(tiny_encoder):
    from robustune.modeling import ModelSettings
    from robustune.training.features import Collator, EncodedDataset

    classifier = RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["a", "b"]), seed=0)
    data = EncodedDataset(["a good film", "a bad film", "great fun", "boring and dull"], [1, 0, 1, 0],
                          classifier.tokenizer, 32)
    batch = Collator(classifier.tokenizer)([data[i] for i in range(4)])
    return classifier, data, batch


def test_queue_starts_empty_and_is_fifo(tiny_setup):
    classifier, data, batch = tiny_setup
    method = _method(classifier, data)
    assert (method.queue_labels == -1).all()
    method.train()
    method(classifier, batch)  # 4 keys into 6 slots
    assert method.queue_labels.tolist() == [1, 0, 1, 0, -1, -1] and int(method.queue_ptr) == 4
    first_keys = method.queue_keys[:4].clone()
    assert torch.allclose(first_keys.norm(dim=-1), torch.ones(4))  # projected, normalized keys
    method(classifier, batch)  # wraps around: slots 4, 5, 0, 1
    assert method.queue_labels.tolist() == [1, 0, 1, 0, 1, 0] and int(method.queue_ptr) == 2
    assert torch.allclose(method.queue_keys[4:], first_keys[:2], atol=1e-6)
    # The queue is state of the method: a Trainer checkpoint carries it.
    assert {"queue_keys", "queue_labels", "queue_ptr"} <= set(method.state_dict())


def test_momentum_update(tiny_setup):
    classifier, data, batch = tiny_setup
    method = _method(classifier, data, momentum=0.9)
    q0 = next(classifier.encoder.parameters())
    k0 = next(method.key_encoder.parameters())
    assert not k0.requires_grad and torch.equal(q0, k0)
    before = k0.detach().clone()
    with torch.no_grad():
        q0.add_(1.0)
    method.after_step(classifier)
    torch.testing.assert_close(k0, 0.9 * before + 0.1 * q0.detach())
    # Gradients reach the query side only.
    method.train()
    sum(method(classifier, batch).values()).backward()
    assert q0.grad is not None and k0.grad is None
    assert all(p.grad is not None for p in method.query_projection.parameters())


def test_gather_is_identity_without_distributed():
    x = torch.randn(3, 2)
    assert gather_tensors(x) is x


def test_bad_params_are_user_errors():
    with pytest.raises(RobustuneError, match="contrastive_weight"):
        KNNBert.parse_params({"contrastive_weight": 2.0})
    with pytest.raises(RobustuneError, match="knn-k"):
        KNNBert.parse_params({"knn_k": 0})
    # Types are checked before training, not when finalize first uses the value.
    for bad in ({"knn_k": 2.5}, {"top_positives": True}, {"contrastive_weight": True}, {"knn_vote": 1}):
        with pytest.raises(RobustuneError, match=f"parameter '{next(iter(bad))}' must be"):
            KNNBert.parse_params(bad)
    params = KNNBert.parse_params({"knn_k": 4.0, "momentum": 0})
    assert params.knn_k == 4 and type(params.knn_k) is int and type(params.momentum) is float


def test_train_save_load_and_batch_independence(tiny_encoder, toy_csv, tmp_path):
    result = robustune.train(data=str(toy_csv), output_dir=str(tmp_path / "m"), model=tiny_encoder,
                             method="knn-bert", method_params={"queue_size": 32, "knn_k": 5}, epochs=2,
                             batch_size=8, lr=1e-3, seed=3, progress=False, eval_data=str(toy_csv))
    m = result.eval_metrics
    assert {"accuracy", "accuracy_linear", "accuracy_knn"} <= set(m)
    assert len(result.model.knn) == 48  # the whole training set, re-encoded
    texts = ["a good film", "boring and dull", "the worst film this year", "i loved this movie"]
    before = result.model.predict_proba(texts)
    loaded = RobustClassifier.from_pretrained(tmp_path / "m")
    np.testing.assert_array_equal(before, loaded.predict_proba(texts))
    assert loaded.knn.settings.k == 5
    # Alone or in any batch, a text gets the same probabilities.
    alone = np.concatenate([loaded.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(alone, before, atol=1e-5)
    np.testing.assert_allclose(loaded.predict_proba(texts[::-1])[::-1], before, atol=1e-5)


def test_resume_continues_queue_and_key_encoder(tiny_encoder, toy_csv, tmp_path):
    import shutil

    kw = dict(data=str(toy_csv), model=tiny_encoder, method="knn-bert", method_params={"queue_size": 16},
              epochs=2, batch_size=8, lr=1e-3, seed=3, progress=False)
    full = robustune.train(output_dir=str(tmp_path / "full"), **kw).model.predict_proba(["a good film"])
    part = tmp_path / "part"
    robustune.train(output_dir=str(part), save_steps=6, keep_checkpoints=True, **kw)
    (part / "model.safetensors").unlink()
    for ckpt in sorted((part / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[1:]:
        shutil.rmtree(ckpt)
    resumed = robustune.train(output_dir=str(part), resume=True, **kw).model.predict_proba(["a good film"])
    np.testing.assert_allclose(full, resumed, atol=1e-5)
