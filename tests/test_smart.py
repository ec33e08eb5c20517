"""smart: the symmetric KL, the projected ascent, the embedding path, the EMA teacher, train/save/load."""

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import robustune
from robustune import RobustClassifier, RobustuneError
from robustune.cli import main
from robustune.methods import get_method
from robustune.methods.smart import DropoutReplay, Smart, ascent_step, ema_update, perturbed_logits, symmetric_kl
from robustune.modeling import ModelSettings


def _classifier(tiny_encoder):
    return RobustClassifier.from_encoder(tiny_encoder, ModelSettings(label_names=["neg", "pos"]), seed=0)


def _batch(classifier, texts=("a good film", "boring and dull plot", "i loved this movie")):
    return dict(classifier.tokenize(list(texts)))


def test_symmetric_kl_matches_naive_formula():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen)
    expected = 0.0
    for row_a, row_b in zip(a.tolist(), b.tolist()):
        za, zb = sum(math.exp(v) for v in row_a), sum(math.exp(v) for v in row_b)
        p, q = [math.exp(v) / za for v in row_a], [math.exp(v) / zb for v in row_b]
        expected += sum(pk * math.log(pk / qk) + qk * math.log(qk / pk) for pk, qk in zip(p, q))
    assert symmetric_kl(a, b).item() == pytest.approx(expected / 4, rel=1e-5)
    assert symmetric_kl(a, a).item() == 0.0
    assert symmetric_kl(a, b).item() == pytest.approx(symmetric_kl(b, a).item(), rel=1e-6)


def test_ascent_step_is_normalised_per_example_and_projected():
    gen = torch.Generator().manual_seed(1)
    delta = torch.randn(3, 4, 5, generator=gen) * 1e-5
    grad = torch.randn(3, 4, 5, generator=gen) * torch.tensor([1e-9, 1.0, 1e3]).view(3, 1, 1)
    grad[2] = 0.0  # no direction: no step, and no NaN
    eps, eta = 1e-5, 3e-6
    out = ascent_step(delta, grad, eta, eps)
    for i in range(3):
        norm = max(abs(v) for v in grad[i].flatten().tolist())
        step = grad[i] / norm if norm > 0 else torch.zeros_like(grad[i])
        torch.testing.assert_close(out[i], (delta[i] + eta * step).clamp(-eps, eps), rtol=0, atol=1e-12)
    assert out.abs().max() <= eps
    torch.testing.assert_close(out[2], delta[2].clamp(-eps, eps))


def test_zero_delta_reproduces_clean_logits_exactly(tiny_encoder):
    classifier = _classifier(tiny_encoder).eval()
    batch = _batch(classifier)
    word_embeds = classifier.encoder.get_input_embeddings()(batch["input_ids"])
    with torch.no_grad():
        clean = classifier(**batch)
        assert torch.equal(perturbed_logits(classifier, batch, word_embeds, torch.zeros_like(word_embeds)), clean)
        noise = torch.randn(word_embeds.shape, generator=torch.Generator().manual_seed(0))
        moved = perturbed_logits(classifier, batch, word_embeds, noise)
    assert not torch.allclose(moved, clean)


@pytest.mark.parametrize("steps", [1, 3])
def test_adversarial_delta_stays_within_epsilon(tiny_encoder, steps):
    classifier = _classifier(tiny_encoder).train()
    method = Smart(Smart.Params(noise_std=1e-2, epsilon=1e-3, step_size=5e-4, adv_steps=steps))
    method.setup(classifier, None)
    batch = _batch(classifier)
    word_embeds = classifier.encoder.get_input_embeddings()(batch["input_ids"])
    masks = DropoutReplay(word_embeds.device)
    delta = method.adversarial_delta(classifier, batch, word_embeds, classifier(**batch), masks)
    assert delta.shape == word_embeds.shape and not delta.requires_grad
    assert delta.abs().max() <= torch.tensor(1e-3)  # ε as float32, the dtype δ lives in
    assert delta.abs().max().item() > 0
    assert all(p.grad is None for p in classifier.parameters())  # the ascent touches δ only


def test_ema_update_math(tiny_encoder):
    student = _classifier(tiny_encoder)
    teacher = _classifier(tiny_encoder)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    before = [p.clone() for p in teacher.parameters()]
    ema_update(teacher, student, 0.9)
    for t0, t1, s in zip(before, teacher.parameters(), student.parameters()):
        torch.testing.assert_close(t1, 0.9 * t0 + 0.1 * s)


def test_terms_and_switches(tiny_encoder):
    classifier = _classifier(tiny_encoder).train()
    batch = {**_batch(classifier), "labels": torch.tensor([1, 0, 1])}
    both = Smart()
    both.setup(classifier, None)
    assert set(both(classifier, batch)) == {"ce", "adv_kl", "bregman"}
    only_adv = Smart(Smart.Params(bregman_weight=0.0))
    only_adv.setup(classifier, None)
    assert only_adv.teacher is None and set(only_adv(classifier, batch)) == {"ce", "adv_kl"}
    only_breg = Smart(Smart.Params(adv_weight=0.0))
    only_breg.setup(classifier, None)
    assert set(only_breg(classifier, batch)) == {"ce", "bregman"}
    assert not any(p.requires_grad for p in only_breg.teacher.parameters())


def test_compared_passes_share_the_clean_passs_dropout_masks(tiny_encoder):
    """In training mode (dropout on), with δ = 0 the perturbed pass is the clean pass and a teacher equal
    to the student gives D = 0: the terms measure δ and θ − θ̃, not two different dropout draws."""
    classifier = _classifier(tiny_encoder).train()
    batch = {**_batch(classifier), "labels": torch.tensor([1, 0, 1])}
    method = Smart(Smart.Params(noise_std=0.0, adv_steps=0))
    method.setup(classifier, None)
    method.train()
    torch.manual_seed(0)
    terms = method(classifier, batch)
    assert terms["adv_kl"].item() == 0.0 and terms["bregman"].item() == 0.0
    torch.manual_seed(0)
    again = method(classifier, batch)  # the same seed, the same masks: the terms are reproducible
    assert again["ce"].item() == terms["ce"].item()
    assert method(classifier, batch)["ce"].item() != terms["ce"].item()  # dropout is really on


def test_bad_params_are_user_errors():
    with pytest.raises(RobustuneError, match="epsilon"):
        get_method("smart").parse_params({"epsilon": -1.0})
    with pytest.raises(RobustuneError, match="ema_beta"):
        get_method("smart").parse_params({"ema_beta": 1.0})


def test_train_save_load_and_no_teacher_in_the_saved_model(tiny_encoder, toy_csv, tmp_path):
    kwargs = dict(data=str(toy_csv), model=tiny_encoder, method="smart", epochs=1, batch_size=8, lr=1e-3,
                  seed=5, progress=False, logging_steps=2,
                  method_params={"epsilon": 1e-3, "step_size": 1e-3, "noise_std": 1e-3})
    result = robustune.train(output_dir=str(tmp_path / "m"), **kwargs)
    texts = ["a good film", "boring and dull", "the worst film this year"]
    before = result.model.predict_proba(texts)
    loaded = RobustClassifier.from_pretrained(tmp_path / "m")
    np.testing.assert_array_equal(before, loaded.predict_proba(texts))
    saved = load_file(str(tmp_path / "m" / "model.safetensors"))
    assert set(saved) == set(result.model.state_for_saving())
    assert not any("teacher" in k for k in saved)
    config = json.loads((tmp_path / "m" / "config.json").read_text())["robustune"]
    assert config["method"] == "smart" and config["method_params"]["epsilon"] == 1e-3
    again = robustune.train(output_dir=str(tmp_path / "m2"), **kwargs)  # same seed, same model
    np.testing.assert_array_equal(before, again.model.predict_proba(texts))


def test_cli_train_and_evaluate(tiny_encoder, toy_csv, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--method", "smart", "--output", str(out),
                 "--epochs", "1", "--batch-size", "16", "--adv-steps", "2", "--bregman-weight", "0.5"]) == 0
    params = json.loads((out / "config.json").read_text())["robustune"]["method_params"]
    assert params["adv_steps"] == 2 and params["bregman_weight"] == 0.5
    assert main(["evaluate", "--model", str(out), "--data", str(toy_csv)]) == 0
    assert '"accuracy"' in capsys.readouterr().out
    assert main(["train", "--data", str(toy_csv), "--model", tiny_encoder, "--method", "smart",
                 "--output", str(tmp_path / "bad"), "--ema-beta", "2"]) == 2


def _naive_symmetric_kl(logits_p, logits_q):
    """Mean over rows of Σ_k p log(p/q) + q log(q/p), in float64."""
    p, q = logits_p.double().softmax(-1), logits_q.double().softmax(-1)
    return ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1)).mean()


def test_the_ascent_step_increases_the_smoothness_loss(tiny_encoder):
    # No dropout, and a radius large enough for float32 to resolve ℓ_s (the paper's ε = 1e-5 is not);
    # δ₀ is large enough that the step's sign matters (near δ = 0, ℓ_s is even in δ).
    sigma, eps, eta = 3e-2, 2e-1, 3e-3
    classifier = _classifier(tiny_encoder).eval()
    method = Smart(Smart.Params(noise_std=sigma, epsilon=eps, step_size=eta, adv_steps=1, bregman_weight=0.0))
    method.setup(classifier, None)
    batch = _batch(classifier)
    embeds = classifier.encoder.get_input_embeddings()(batch["input_ids"]).detach()  # (B, T, D)
    with torch.no_grad():
        clean = classifier(**batch)  # (B, K)
    method._generator = None
    delta0 = method._noise(embeds) * sigma  # the ascent's starting point, δ₀
    method._generator = None  # the same δ₀ again, inside the ascent
    delta1 = method.adversarial_delta(classifier, batch, embeds, clean, DropoutReplay(embeds.device))

    def smoothness(delta):
        return _naive_symmetric_kl(perturbed_logits(classifier, batch, embeds, delta), clean)

    # δ₁ is one normalised step up the naive gradient of ℓ_s at δ₀, projected.
    start = delta0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(smoothness(start), start)
    norm = grad.abs().amax(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(delta1, (delta0 + eta * grad.float() / norm).clamp(-eps, eps), rtol=1e-3, atol=1e-6)
    with torch.no_grad():
        before, after = smoothness(delta0).item(), smoothness(delta1).item()
        downhill = smoothness((delta0 - eta * grad.float() / norm).clamp(-eps, eps)).item()
    assert after > 2 * before and downhill < before / 2  # up; and the opposite step goes down


def test_logged_adv_kl_is_the_smoothness_loss_at_the_ascents_delta(tiny_encoder):
    classifier = _classifier(tiny_encoder).eval()  # no dropout: the passes can be replayed here
    method = Smart(Smart.Params(noise_std=1e-3, epsilon=5e-2, step_size=1e-2, adv_steps=2, adv_weight=3.0,
                                bregman_weight=0.0))
    method.setup(classifier, None)
    batch = {**_batch(classifier), "labels": torch.tensor([1, 0, 1])}
    method._generator = None
    terms = method(classifier, batch)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    embeds = classifier.encoder.get_input_embeddings()(inputs["input_ids"]).detach()
    with torch.no_grad():
        clean = classifier(**inputs)
    method._generator = None  # the same δ₀, hence the same δ
    delta = method.adversarial_delta(classifier, inputs, embeds, clean, DropoutReplay(embeds.device))
    with torch.no_grad():
        expected = 3.0 * _naive_symmetric_kl(perturbed_logits(classifier, inputs, embeds, delta), clean)
    assert expected.item() > 0
    assert terms["adv_kl"].item() == pytest.approx(expected.item(), rel=1e-4)
