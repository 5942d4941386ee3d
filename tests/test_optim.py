"""RMSpropTF follows TensorFlow 1's RMSProp update rule step by step, learning-rate changes included."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mnv3lib.engine.optim import RMSpropTF, steady_state_steps, tf_eps_to_torch, torch_eps_to_tf


def tf1_rmsprop_reference(w0, grads, lrs, *, alpha, eps, momentum, weight_decay=0.0, centered=False):
    """TensorFlow 1's ApplyRMSProp / ApplyCenteredRMSProp kernels, transcribed in NumPy (float64).

    ms <- rho*ms + (1-rho)*g^2 (ms starts at 1); mg likewise (starts at 0, centered only)
    mom <- momentum*mom + lr*g/sqrt(ms [- mg^2] + eps);  var <- var - mom
    """
    w = np.array(w0, dtype=np.float64)
    ms, mg, mom = np.ones_like(w), np.zeros_like(w), np.zeros_like(w)
    history = []
    for g, lr in zip(grads, lrs):
        g = np.asarray(g, dtype=np.float64) + weight_decay * w
        ms = alpha * ms + (1 - alpha) * g * g
        if centered:
            mg = alpha * mg + (1 - alpha) * g
            denom = np.sqrt(ms - mg * mg + eps)
        else:
            denom = np.sqrt(ms + eps)
        mom = momentum * mom + lr * g / denom
        w = w - mom
        history.append(w.copy())
    return history


def _run_ours(w0, grads, lrs, **kwargs):
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    optimizer = RMSpropTF([w], lr=lrs[0], **kwargs)
    history = []
    for g, lr in zip(grads, lrs):
        for group in optimizer.param_groups:
            group["lr"] = lr
        w.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
        history.append(w.detach().numpy().copy())
    return history


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize(("momentum", "weight_decay"), [(0.9, 0.0), (0.0, 0.0), (0.9, 1e-2)])
def test_matches_tensorflow_rule_with_lr_changed_mid_run(centered: bool, momentum: float, weight_decay: float) -> None:
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=7)
    grads = [rng.normal(scale=scale, size=7) for scale in np.geomspace(1e-3, 10, 40)]
    lrs = [0.064] * 15 + [0.01] * 10 + [0.2] * 15  # two learning-rate changes
    kwargs = {"alpha": 0.9, "eps": 1e-3, "momentum": momentum, "weight_decay": weight_decay, "centered": centered}
    expected = tf1_rmsprop_reference(w0, grads, lrs, **kwargs)
    for step, (ours, theirs) in enumerate(zip(_run_ours(w0, grads, lrs, **kwargs), expected)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


def test_learning_rate_lives_inside_the_momentum_buffer() -> None:
    """After lr drops to 0, TensorFlow's buffer still moves the weight; PyTorch's stops at once."""
    w_tf = torch.zeros(1, requires_grad=True)
    w_pt = torch.zeros(1, requires_grad=True)
    tf_opt = RMSpropTF([w_tf], lr=0.1, momentum=0.9, eps=1e-3)
    pt_opt = torch.optim.RMSprop([w_pt], lr=0.1, momentum=0.9, eps=tf_eps_to_torch(1e-3), alpha=0.9)
    for w, opt in ((w_tf, tf_opt), (w_pt, pt_opt)):
        for _ in range(5):
            w.grad = torch.ones(1)
            opt.step()
        opt.param_groups[0]["lr"] = 0.0
        before = w.detach().clone()
        w.grad = torch.ones(1)
        opt.step()
        moved = (w.detach() - before).abs().item()
        assert (moved > 0.05) if opt is tf_opt else (moved == 0.0)


def test_eps_rule_of_thumb() -> None:
    assert tf_eps_to_torch(1e-3) == pytest.approx(0.0316, abs=1e-4)
    assert torch_eps_to_tf(tf_eps_to_torch(1e-3)) == pytest.approx(1e-3)
    # the two denominators agree when the mean square is far below eps, and differ when it is comparable
    v = torch.tensor([1e-8, 1e-3, 1.0])
    tf_denominator = (v + 1e-3).sqrt()
    torch_denominator = v.sqrt() + tf_eps_to_torch(1e-3)
    ratio = (torch_denominator / tf_denominator).tolist()
    assert ratio[0] == pytest.approx(1.0, abs=1e-2) and ratio[1] > 1.3 and ratio[2] == pytest.approx(1.03, abs=1e-2)


def test_trains_a_small_problem() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    x = torch.randn(256, 5)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.3
    optimizer = RMSpropTF(model.parameters(), lr=0.01, momentum=0.9, eps=1e-3)
    for _ in range(300):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).squeeze(1), y)
        loss.backward()
        optimizer.step()
    assert loss.item() < 1e-3


@pytest.mark.parametrize(("name", "value"), [("lr", -1.0), ("alpha", 1.5), ("eps", -1e-3), ("momentum", 2.0), ("weight_decay", -0.1)])
def test_bad_arguments(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"{name} <= .*got {value}"):
        RMSpropTF([torch.zeros(1, requires_grad=True)], **{name: value})
    with pytest.raises(ValueError, match="eps > 0"):
        tf_eps_to_torch(0.0)
    assert math.isfinite(torch_eps_to_tf(1e-8))


@pytest.mark.parametrize("optimizer_class", [RMSpropTF, torch.optim.RMSprop])
def test_steady_state_steps_are_where_a_long_run_settles(optimizer_class: type) -> None:
    """One step at alpha=0 is the step that a run at alpha=0.9 under a constant gradient settles at
    (PyTorch's mean square starts at 0, TensorFlow's at 1: both forget it after a few hundred steps)."""
    grads = torch.tensor([1e-6, 1e-4, 0.01, 0.0316, 0.5, 3.0], dtype=torch.float64)
    for eps, lr in ((1e-3, 0.064), (1e-8, 0.004), (0.0316, 1.0)):
        steps = steady_state_steps(optimizer_class, grads, lr=lr, eps=eps)
        weight = torch.zeros_like(grads, requires_grad=True)
        optimizer = optimizer_class([weight], lr=lr, alpha=0.9, eps=eps)
        for _ in range(800):
            before = weight.detach().clone()
            weight.grad = grads.clone()
            optimizer.step()
        torch.testing.assert_close(steps, (weight.detach() - before).abs(), rtol=1e-9, atol=0)
    tf = steady_state_steps(RMSpropTF, grads, lr=1.0, eps=1e-3)
    torch.testing.assert_close(tf[3], torch.tensor(0.0316 / math.sqrt(0.0316**2 + 1e-3), dtype=torch.float64))


def test_steady_state_steps_refuses_bad_input() -> None:
    with pytest.raises(TypeError, match="optimizer class"):
        steady_state_steps("rmsprop", [0.1], lr=1.0, eps=1e-3)
    with pytest.raises(ValueError, match="> 0"):
        steady_state_steps(RMSpropTF, [0.1, 0.0], lr=1.0, eps=1e-3)
