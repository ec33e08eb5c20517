"""The KNN datastore: the vote against a naive loop, the mixture, faiss = torch, the CLI overrides."""

import json

import pytest
import torch
import torch.nn.functional as F

import robustune
from robustune import RobustClassifier, RobustuneError
from robustune.cli import main
from robustune.knn import KNNDatastore, attach_datastore, knn_vote


def naive_vote(query, features, labels, num_labels, k, vote):
    q = query / query.norm()
    sims = sorted(((float(q @ f), int(y)) for f, y in zip(features, labels)), key=lambda t: -t[0])[:k]
    p = [0.0] * num_labels
    for s, y in sims:
        p[y] += 1.0 if vote == "uniform" else max(s, 0.0) + 1e-6
    return [v / sum(p) for v in p]


@pytest.mark.parametrize("vote", ["uniform", "similarity"])
def test_vote_matches_naive_loop(vote):
    g = torch.Generator().manual_seed(1)
    features = F.normalize(torch.randn(30, 6, generator=g), dim=-1)
    labels = torch.randint(0, 3, (30,), generator=g)
    queries = torch.randn(4, 6, generator=g) * 3  # unnormalized on purpose
    got = knn_vote(queries, features, labels, 3, 7, vote)
    want = torch.tensor([naive_vote(q, features, labels, 3, 7, vote) for q in queries])
    torch.testing.assert_close(got, want.float(), atol=1e-5, rtol=1e-5)


def test_combine_and_configure():
    store = KNNDatastore(torch.eye(3), torch.tensor([0, 1, 1]), num_labels=2, k=1, weight=0.25)
    p = store.combine(torch.tensor([[0.2, 0.8]]), torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(p, torch.tensor([[0.4, 0.6]]))
    store.configure(k=3, weight=None)
    assert store.settings.k == 3 and store.settings.weight == 0.25
    with pytest.raises(RobustuneError, match="knn-weight"):
        store.configure(weight=1.5)


def test_faiss_backend_agrees_with_torch():
    pytest.importorskip("faiss")
    g = torch.Generator().manual_seed(2)
    features, labels = torch.randn(200, 8, generator=g), torch.randint(0, 4, (200,), generator=g)
    queries = torch.randn(5, 8, generator=g)
    exact = KNNDatastore(features, labels, 4, k=9, backend="torch").vote(queries)
    faiss = KNNDatastore(features, labels, 4, k=9, backend="faiss").vote(queries)
    torch.testing.assert_close(exact, faiss, atol=1e-5, rtol=1e-5)


def test_bf16_shortlist_agrees_with_exact():
    g = torch.Generator().manual_seed(3)
    features, labels = torch.randn(500, 16, generator=g), torch.randint(0, 3, (500,), generator=g)
    queries = features[:6] + 0.1 * torch.randn(6, 16, generator=g)
    for vote in ("uniform", "similarity"):
        exact = KNNDatastore(features, labels, 3, k=7, vote=vote, backend="torch").vote(queries)
        fast = KNNDatastore(features, labels, 3, k=7, vote=vote, backend="bf16").vote(queries)
        torch.testing.assert_close(exact, fast, atol=1e-5, rtol=1e-5)


def test_any_classifier_takes_a_datastore(tiny_encoder, toy_csv, tmp_path, capsys):
    model = robustune.train(data=str(toy_csv), output_dir=str(tmp_path / "v"), model=tiny_encoder, epochs=1,
                            batch_size=8, seed=1, progress=False).model
    data = robustune.load_source(str(toy_csv), "train")
    assert "accuracy_knn" not in robustune.evaluate(model, data)
    assert main(["evaluate", "--model", str(tmp_path / "v"), "--data", str(toy_csv), "--knn-k", "3"]) == 2
    assert "no KNN datastore" in capsys.readouterr().err
    ids = [model.label_names.index(y) for y in data.labels]
    attach_datastore(model, data.texts, ids, k=1, weight=1.0)
    metrics = robustune.evaluate(model, data)
    assert metrics["accuracy_knn"] == 1.0 and metrics["accuracy"] == 1.0  # k=1 on its own training set
    model.save_pretrained(tmp_path / "k")
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--model", str(tmp_path / "k"), "--data", str(toy_csv), "--knn-k", "48",
                 "--knn-weight", "0.0", "--output", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["accuracy"] == saved["accuracy_linear"]  # λ' = 0: the linear head alone
    assert saved["accuracy_knn"] == pytest.approx(0.5)  # K = N: every query gets the class prior
    assert RobustClassifier.from_pretrained(tmp_path / "k").knn.settings.k == 1  # the model is unchanged



def test_damaged_model_folders_are_named_errors(tiny_encoder, toy_csv, tmp_path):
    from safetensors.torch import load_file, save_file

    model = robustune.train(data=str(toy_csv), output_dir=str(tmp_path / "k"), model=tiny_encoder, epochs=1,
                            batch_size=8, seed=1, progress=False).model
    data = robustune.load_source(str(toy_csv), "train")
    attach_datastore(model, data.texts, [model.label_names.index(y) for y in data.labels], k=1, weight=1.0)
    model.save_pretrained(tmp_path / "k")
    weights = tmp_path / "k" / "model.safetensors"
    save_file({k: v for k, v in load_file(str(weights)).items() if not k.startswith("knn.")}, str(weights))
    with pytest.raises(RobustuneError, match="describes a KNN datastore that model.safetensors lacks"):
        RobustClassifier.from_pretrained(tmp_path / "k")
    config_path = tmp_path / "k" / "config.json"
    config = json.loads(config_path.read_text())
    config["robustune"]["from_the_future"] = 1
    config_path.write_text(json.dumps(config))
    with pytest.raises(RobustuneError, match=r"unknown robustune settings \['from_the_future'\]"):
        RobustClassifier.from_pretrained(tmp_path / "k")
