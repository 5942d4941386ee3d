"""RMSProp as TensorFlow 1 implements it, and the epsilon conversion between the two frameworks.

Chapter 2 ("Training MobileNetV3") explains why this matters. For a gradient g, a running mean square
v and a learning rate lr, the two frameworks update a weight as follows:

* PyTorch (``torch.optim.RMSprop``): ``v`` starts at 0;
  ``buf = momentum · buf + g / (sqrt(v) + eps)``; ``w -= lr · buf``.
* TensorFlow 1 (``tf.compat.v1.train.RMSPropOptimizer``): ``v`` starts at **1**;
  ``buf = momentum · buf + lr · g / sqrt(v + eps)``; ``w -= buf``.

So eps sits inside the square root in TensorFlow and outside in PyTorch, and TensorFlow's learning
rate is applied *inside* the momentum buffer (a changed learning rate only affects new gradients).
When ``v`` is small, ``sqrt(v + eps_tf) ≈ sqrt(eps_tf)``, which gives the article's rule of thumb
``eps_torch ≈ sqrt(eps_tf)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim import Optimizer

__all__ = ["RMSpropTF", "tf_eps_to_torch", "torch_eps_to_tf", "steady_state_steps"]


def tf_eps_to_torch(eps: float) -> float:
    """The PyTorch RMSprop epsilon that best stands in for TensorFlow's: ``sqrt(eps)``.

    Example:
        >>> round(tf_eps_to_torch(1e-3), 4)
        0.0316
    """
    if not eps > 0:
        raise ValueError(f"expected eps > 0, got {eps!r}")
    return math.sqrt(eps)


def torch_eps_to_tf(eps: float) -> float:
    """The inverse of :func:`tf_eps_to_torch`: ``eps ** 2``."""
    if not eps > 0:
        raise ValueError(f"expected eps > 0, got {eps!r}")
    return eps**2


class RMSpropTF(Optimizer):
    """RMSProp with TensorFlow 1 semantics (``tf.compat.v1.train.RMSPropOptimizer``).

    Differences from ``torch.optim.RMSprop``, which takes the same arguments:

    1. the mean-square accumulator starts at 1, not 0 (early steps are small, a built-in warm-up);
    2. eps is added *inside* the square root: ``sqrt(v + eps)``;
    3. the learning rate multiplies the gradient *before* it enters the momentum buffer, so a learning
       rate change does not rescale the velocity already accumulated.

    Weight decay is L2 regularisation added to the gradient (TensorFlow adds it to the loss).

    Args:
        params: Parameters or parameter groups.
        lr: Learning rate.
        alpha: Decay of the mean-square average (TensorFlow's ``decay``, default 0.9 there and here).
        eps: Added inside the square root (TensorFlow's ``epsilon``; MobileNetV3's recipe uses 1e-3).
        weight_decay: L2 penalty coefficient.
        momentum: Momentum factor.
        centered: Divide by the estimated variance (subtract the squared mean gradient) instead.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-2,
        alpha: float = 0.9,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        for name, value, low, high in (
            ("lr", lr, 0.0, math.inf),
            ("alpha", alpha, 0.0, 1.0),
            ("eps", eps, 0.0, math.inf),
            ("weight_decay", weight_decay, 0.0, math.inf),
            ("momentum", momentum, 0.0, 1.0),
        ):
            if not low <= value <= high:
                raise ValueError(f"expected {low} <= {name} <= {high}, got {value!r}")
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay, "momentum": momentum, "centered": centered}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("RMSpropTF does not support sparse gradients")
                self._update(p, group)
        return loss

    def _update(self, p: torch.Tensor, group: dict) -> None:
        grad = p.grad
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        state = self.state[p]
        if not state:
            state["step"] = 0
            # TensorFlow starts the accumulator at 1
            state["square_avg"] = torch.ones_like(p)
            state["momentum_buffer"] = torch.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(p)
        state["step"] += 1
        alpha = group["alpha"]
        square_avg = state["square_avg"]
        # v = α v + (1 − α) g²
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha)
            variance = square_avg.addcmul(grad_avg, grad_avg, value=-1)
            denominator = variance.add_(group["eps"]).sqrt_()
        else:
            # eps inside the square root
            denominator = square_avg.add(group["eps"]).sqrt_()
        buffer = state["momentum_buffer"]
        # lr inside the buffer
        buffer.mul_(group["momentum"]).addcdiv_(
            grad, denominator, value=group["lr"]
        )
        p.sub_(buffer)


def steady_state_steps(
    optimizer_class: type[Optimizer], grad_rms: torch.Tensor | Iterable[float], *, lr: float, eps: float
) -> torch.Tensor:
    """The size of an RMSProp step once the mean square has settled, for each gradient RMS, taken by the optimizer itself.

    Under a constant gradient ``g`` the mean square ``v`` settles at ``g²`` whatever it started from. With
    ``alpha=0`` it gets there in one step (``v = 0 · v + 1 · g² = g²``), so one step of a fresh optimizer
    without momentum, from a float64 weight, is exactly the steady-state step: no formula is typed here, the
    optimizer computes it (``torch.optim.RMSprop``: ``lr · g / (sqrt(g²) + eps)``; :class:`RMSpropTF`:
    ``lr · g / sqrt(g² + eps)``).

    Args:
        optimizer_class: ``torch.optim.RMSprop``, :class:`RMSpropTF`, or another optimizer with their arguments.
        grad_rms: The gradient magnitudes (> 0), one step each (all in one elementwise step).
        lr: Learning rate.
        eps: The optimizer's epsilon.

    Returns:
        ``|Δw|`` per gradient, float64, of the shape of ``grad_rms``.
    """
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
        raise TypeError(f"expected an optimizer class such as torch.optim.RMSprop, got {optimizer_class!r}")
    grads = torch.as_tensor(grad_rms, dtype=torch.float64).detach().clone()
    if grads.numel() == 0 or not bool((grads > 0).all()) or not bool(grads.isfinite().all()):
        raise ValueError("expected grad_rms to be a non-empty set of finite values > 0")
    weight = torch.zeros_like(grads, requires_grad=True)
    optimizer = optimizer_class([weight], lr=lr, alpha=0.0, eps=eps, momentum=0.0)
    weight.grad = grads
    optimizer.step()
    return weight.detach().abs()
