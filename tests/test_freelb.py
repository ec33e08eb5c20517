"""freelb: δ₀, the projected ascent, the K-pass loop against a naive reference, the trainer's backward
hook (gradient accumulation, bf16), train/save/load from the API and the CLI."""

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
from robustune.methods.freelb import FreeLB, ascent_step, initial_delta
from robustune.methods.vanilla import Vanilla
from robustune.modeling import ModelSettings


def _classifier(tiny_encoder):
    return RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["neg", "pos"]), seed=0)


def _batch(classifier, texts=("a good film", "boring and dull plot of a long story", "i loved this movie")):
    batch = dict(classifier.tokenize(list(texts)))
    batch["labels"] = torch.tensor([1, 0, 1][: len(texts)])
    return batch


def _grads(classifier) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in classifier.named_parameters() if p.grad is not None}


def test_initial_delta_is_uniform_scaled_by_length_and_masked():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    delta = initial_delta(mask, 5, 0.5, torch.Generator().manual_seed(0))
    assert delta.shape == (2, 4, 5)
    assert torch.all(delta[0, 3] == 0) and torch.all(delta[1, 2:] == 0)  # padding untouched
    for i, length in enumerate([3, 2]):
        bound = 0.5 / math.sqrt(length * 5)
        real = delta[i, :length]
        assert real.abs().max() <= bound and real.abs().max() > bound / 2  # U(−1, 1)·σ/√(L·d)
    assert torch.equal(initial_delta(mask, 5, 0.0, None), torch.zeros(2, 4, 5))


def test_ascent_step_matches_naive_formula_and_stays_inside_the_ball():
    gen = torch.Generator().manual_seed(1)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    delta = torch.randn(3, 3, 4, generator=gen) * 0.1 * mask.unsqueeze(-1)
    grad = torch.randn(3, 3, 4, generator=gen) * torch.tensor([1e-6, 1.0, 1e3]).view(3, 1, 1) * mask.unsqueeze(-1)
    for eps in (0.0, 0.2, 5.0):  # 5: every row inside the ball, left as it is
        out = ascent_step(delta, grad, mask, 0.5, eps)
        for i in range(3):
            g = grad[i].flatten().tolist()
            g_norm = math.sqrt(sum(v * v for v in g))
            expected = delta[i] + 0.5 * grad[i] / g_norm
            e_norm = math.sqrt(sum(v * v for v in expected.flatten().tolist()))
            if eps > 0 and e_norm > eps:
                expected = expected * eps / e_norm
            torch.testing.assert_close(out[i], expected, rtol=1e-5, atol=1e-7)
        if eps > 0:
            assert out.flatten(1).norm(dim=1).max() <= eps * (1 + 1e-5)
        else:  # no bound: the step is the full α on every row
            assert out.flatten(1).norm(dim=1).min() > 0.4
    # an all-zero gradient gives no step and no NaN
    torch.testing.assert_close(ascent_step(delta, torch.zeros_like(grad), mask, 0.5, 0.0), delta)


def _naive_freelb(classifier, batch, steps, lr, max_norm, delta0):
    """The FreeLB loop written out: plain backward per pass, norms and projection by hand."""
    classifier.zero_grad()
    mask = batch["attention_mask"].float()
    delta = delta0.clone()
    for _ in range(steps):
        delta.requires_grad_(True)
        embeds = classifier.encoder.embeddings.word_embeddings(batch["input_ids"])
        logits = classifier(inputs_embeds=embeds + delta, attention_mask=batch["attention_mask"],
                            token_type_ids=batch.get("token_type_ids"))
        (F.cross_entropy(logits, batch["labels"]) / steps).backward()
        grad = delta.grad.detach()
        rows = []
        for i in range(grad.shape[0]):
            g_norm = math.sqrt(sum(v * v for v in grad[i].flatten().tolist()))
            row = delta[i].detach() + lr * grad[i] / g_norm * mask[i].unsqueeze(-1)
            r_norm = math.sqrt(sum(v * v for v in row.flatten().tolist()))
            rows.append(row * (max_norm / r_norm) if max_norm > 0 and r_norm > max_norm else row)
        delta = torch.stack(rows)
    return _grads(classifier)


@pytest.mark.parametrize("steps,max_norm", [(3, 0.0), (3, 0.05), (1, 0.0)])
def test_inner_loop_matches_naive_reference(tiny_encoder, steps, max_norm):
    classifier = _classifier(tiny_encoder).eval()  # no dropout: both loops are deterministic
    batch = _batch(classifier)
    method = FreeLB(FreeLB.Params(adv_steps=steps, adv_lr=0.1, adv_norm=max_norm, adv_init=0.5))
    method.seed = 7
    delta0 = initial_delta(batch["attention_mask"], classifier.encoder.config.hidden_size, 0.5,
                           torch.Generator().manual_seed(7))
    expected = _naive_freelb(classifier, batch, steps, 0.1, max_norm, delta0)
    classifier.zero_grad()
    terms = method(classifier, batch)
    terms["ce"].backward()  # what the trainer does with the returned loss
    got = _grads(classifier)
    assert set(got) == set(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-7, msg=name)


def test_logged_value_is_the_mean_loss_over_the_passes(tiny_encoder):
    classifier = _classifier(tiny_encoder).eval()
    batch = _batch(classifier)
    method = FreeLB(FreeLB.Params(adv_steps=1, adv_init=0.0))
    with torch.no_grad():
        clean = F.cross_entropy(classifier(**{k: v for k, v in batch.items() if k != "labels"}), batch["labels"])
    assert method(classifier, batch)["ce"].item() == pytest.approx(clean.item(), rel=1e-5)
    method = FreeLB(FreeLB.Params(adv_steps=4, adv_lr=1.0, adv_init=0.0))
    value = method(classifier, batch)["ce"].item()
    assert value > clean.item()  # the ascent raised the later passes' losses


def test_one_step_zero_init_equals_vanillas_gradient_with_dropout(tiny_encoder):
    classifier = _classifier(tiny_encoder).train()  # dropout on: the same seed draws the same masks
    batch = _batch(classifier)
    torch.manual_seed(3)
    Vanilla()(classifier, batch)["ce"].backward()
    vanilla = _grads(classifier)
    classifier.zero_grad()
    torch.manual_seed(3)
    FreeLB(FreeLB.Params(adv_steps=1, adv_init=0.0, adv_norm=0.0))(classifier, batch)["ce"].backward()
    got = _grads(classifier)
    for name in vanilla:
        torch.testing.assert_close(got[name], vanilla[name], rtol=1e-5, atol=1e-8, msg=name)


def test_passes_share_the_first_passs_dropout_masks(tiny_encoder):
    classifier = _classifier(tiny_encoder).train()
    batch = _batch(classifier)
    # α = 0, σ = 0: every pass sees the same input, so equal masks give K equal losses (mean = each).
    method = FreeLB(FreeLB.Params(adv_steps=3, adv_lr=0.0, adv_init=0.0))
    torch.manual_seed(4)
    value = method(classifier, batch)["ce"].item()
    torch.manual_seed(4)
    single = FreeLB(FreeLB.Params(adv_steps=1, adv_init=0.0))(classifier, batch)["ce"].item()
    assert value == pytest.approx(single, rel=1e-5)


def test_trainer_backward_scales_for_gradient_accumulation(tiny_encoder, tmp_path):
    from transformers import TrainingArguments

    from robustune.training.trainer import RobustTrainer, TrainingModule

    classifier = _classifier(tiny_encoder)
    method = FreeLB()
    args = TrainingArguments(output_dir=str(tmp_path), gradient_accumulation_steps=4, use_cpu=True, report_to="none")
    trainer = RobustTrainer(model=TrainingModule(classifier, method), args=args)
    trainer.current_gradient_accumulation_steps = 4  # set per step by the training loop
    weight = classifier.head.classifier.weight
    weight.grad = None
    method.backward(weight.sum())
    torch.testing.assert_close(weight.grad, torch.full_like(weight, 0.25))


def test_extra_backward_passes_are_refused_under_distributed_training(tiny_encoder, tmp_path, monkeypatch):
    from transformers import TrainingArguments

    from robustune.training.trainer import RobustTrainer, TrainingModule

    classifier = _classifier(tiny_encoder)
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = RobustTrainer(model=TrainingModule(classifier, FreeLB()), args=args)
    monkeypatch.setattr(type(args), "world_size", property(lambda self: 2))
    with pytest.raises(RobustuneError, match="one device"):
        trainer.model.method.backward(classifier.head.classifier.weight.sum())


def test_bad_params_are_user_errors():
    with pytest.raises(RobustuneError, match="adv_steps"):
        get_method("freelb").parse_params({"adv_steps": 0})
    with pytest.raises(RobustuneError, match="adv_norm"):
        get_method("freelb").parse_params({"adv_norm": -1.0})


@pytest.mark.parametrize("bf16", [False, True])
def test_train_save_load_api(tiny_encoder, toy_csv, tmp_path, bf16):
    kwargs = dict(data=str(toy_csv), model=tiny_encoder, method="freelb", epochs=2, batch_size=8, lr=1e-3,
                  seed=5, progress=False, logging_steps=2, bf16=bf16, method_params={"adv_steps": 2})
    result = robustune.train(output_dir=str(tmp_path / "m"), **kwargs)
    texts = ["a good film", "boring and dull", "the worst film this year"]
    before = result.model.predict_proba(texts)
    assert np.isfinite(before).all()
    np.testing.assert_array_equal(before, RobustClassifier.from_pretrained(tmp_path / "m").predict_proba(texts))
    config = json.loads((tmp_path / "m" / "config.json").read_text())["robustune"]
    assert config["method"] == "freelb" and config["method_params"]["adv_steps"] == 2
    if not bf16:
        again = robustune.train(output_dir=str(tmp_path / "m2"), **kwargs)  # same seed, same model
        np.testing.assert_array_equal(before, again.model.predict_proba(texts))


def test_cli_train_and_evaluate(tiny_encoder, toy_csv, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--method", "freelb", "--output", str(out),
                 "--epochs", "1", "--batch-size", "16", "--adv-steps", "2", "--adv-lr", "0.1", "--adv-norm", "1",
                 "--adv-init", "0.1"]) == 0
    params = json.loads((out / "config.json").read_text())["robustune"]["method_params"]
    assert params == {"adv_steps": 2, "adv_lr": 0.1, "adv_norm": 1.0, "adv_init": 0.1}
    assert main(["evaluate", "--model", str(out), "--data", str(toy_csv)]) == 0
    assert '"accuracy"' in capsys.readouterr().out
