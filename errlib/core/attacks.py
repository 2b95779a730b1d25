"""Projected gradient descent (PGD) in [0, 1] pixel space, L2 and L-inf.

The threat model is a small step object (after MadryLab's ``AttackerStep``):
``step`` moves along the gradient, ``project`` returns to the eps-ball and the
[0, 1] box, ``random_start`` samples a starting point. :func:`pgd` is the one
loop; targeting is a single sign on the loss.

    res = pgd(model, x, target, eps=3.0, steps=20)          # targeted L2
    res.x_adv, res.success, res.pred, res.delta_norm

Shapes: ``x`` is ``(N, C, H, W)`` float in [0, 1] (uint8 is accepted and
divided by 255); ``target``/labels are ``(N,)`` int64. The model normalises its
own input (see :mod:`errlib.core.models`).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .data import check_pixels, to_float
from .progress import progress_bar
from .parallel import cpu_settings


def _draw(sampler, shape, like: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """``sampler(shape)`` (``torch.rand``/``torch.randn``) with ``like``'s dtype and device,
    drawn from ``generator`` on its own device (``None``: torch's global generator, on ``like``'s)."""
    if generator is None:
        return sampler(shape, dtype=like.dtype, device=like.device)
    return sampler(shape, dtype=like.dtype, device=generator.device, generator=generator).to(like.device)


class L2Step:
    """Fixed-length steps along the per-example normalised gradient; L2-ball projection."""

    norm = "l2"

    def __init__(self, eps: float, step_size: float):
        self.eps, self.step_size = float(eps), float(step_size)

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        g_norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (grad.dim() - 1))
        return x + self.step_size * grad / g_norm

    def project(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        delta = x - x0
        d_norm = delta.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))
        delta = delta * torch.clamp(self.eps / d_norm.clamp_min(1e-12), max=1.0)
        # Clamping to the box after the radial projection can only shrink |delta|.
        return (x0 + delta).clamp_(0.0, 1.0)

    def random_start(self, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        # A uniformly random direction scaled to a radius drawn uniformly in the ball.
        d = _draw(torch.randn, x0.shape, x0, generator)
        d = d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x0.dim() - 1))
        r = _draw(torch.rand, (len(x0),), x0, generator).view(-1, *[1] * (x0.dim() - 1))
        return self.project(x0 + self.eps * r * d, x0)

    def norm_of(self, delta: torch.Tensor) -> torch.Tensor:
        return delta.flatten(1).norm(dim=1)


class LinfStep:
    """Signed-gradient steps; projection onto the L-inf ball (clipping each pixel)."""

    norm = "linf"

    def __init__(self, eps: float, step_size: float):
        self.eps, self.step_size = float(eps), float(step_size)

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return x + self.step_size * grad.sign()

    def project(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return torch.max(torch.min(x, x0 + self.eps), x0 - self.eps).clamp_(0.0, 1.0)

    def random_start(self, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return self.project(x0 + (2 * _draw(torch.rand, x0.shape, x0, generator) - 1) * self.eps, x0)

    def norm_of(self, delta: torch.Tensor) -> torch.Tensor:
        return delta.flatten(1).abs().amax(dim=1)


STEPS = {"l2": L2Step, "linf": LinfStep}


@dataclass
class AttackResult:
    """What :func:`pgd` returns; every tensor has the batch's length ``N`` first.

    x_adv: (N, C, H, W) float in [0, 1], each example's best iterate.
    success: (N,) bool; targeted: ``pred == target``; untargeted: ``pred != y``.
    pred: (N,) int64, the model's prediction on ``x_adv``.
    delta_norm: (N,) float, ``||x_adv - x||`` in the attack's norm.
    loss: (N,) float, the per-example cross-entropy toward the target
        (targeted) or on the true label (untargeted) at ``x_adv``.
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    pred: torch.Tensor
    delta_norm: torch.Tensor
    loss: torch.Tensor

    @property
    def success_rate(self) -> float:
        return self.success.float().mean().item() if len(self.success) else float("nan")


def default_step_size(eps: float, steps: int) -> float:
    """``2.5 * eps / steps``: enough to cross the ball and back (Foolbox-style default)."""
    return 2.5 * eps / steps


def _finite(v) -> bool:
    try:
        return math.isfinite(v)
    except (OverflowError, TypeError):  # an int too large for a float; not a number
        return False


def check_step_size(step_size: float) -> None:
    """ValueError naming ``step_size`` unless it is a finite positive number (inf would move no pixel)."""
    if not (isinstance(step_size, (int, float)) and not isinstance(step_size, bool) and _finite(step_size)
            and step_size > 0):
        raise ValueError(f"step_size must be a finite positive number, got {step_size!r}")


def check_attack_args(eps: float, steps: int, norm: str) -> None:
    """Raise a ValueError naming the bad argument (before any compute)."""
    if norm not in STEPS:
        raise ValueError(f"unknown norm {norm!r}; allowed: {', '.join(STEPS)}")
    if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and _finite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite positive number (a radius in [0, 1] pixel units), got {eps!r}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")


def _check_pgd_args(x, labels, eps, steps, step_size, norm) -> float:
    """Validate :func:`pgd`'s inputs; return the step size (the default when ``None``)."""
    check_attack_args(eps, steps, norm)
    if step_size is None:
        step_size = default_step_size(eps, steps)
    check_step_size(step_size)
    if len(x) != len(labels):
        raise ValueError(f"x has {len(x)} images but labels has {len(labels)} entries")
    if len(x) == 0:
        raise ValueError("pgd got an empty batch of images")
    check_pixels(x, "attack inputs")
    return step_size


class _Best(NamedTuple):
    """One batch's kept iterate: ``x`` (n, C, H, W), ``pred`` (n,) and ``loss`` (n,) at it."""

    x: torch.Tensor
    pred: torch.Tensor
    loss: torch.Tensor


def _pgd_batch(model: nn.Module, x0: torch.Tensor, x_start: torch.Tensor, labels: torch.Tensor,
               stepper, steps: int, targeted: bool, use_best: bool) -> _Best:
    """``steps`` PGD steps from ``x_start``; the kept iterate (best, or the last one)."""
    sign = -1.0 if targeted else 1.0  # we always *ascend* sign * CE
    x = x_start.clone()
    best_x = x0.clone()
    best_obj = torch.full((len(x0),), float("-inf"), device=x0.device)
    best_pred = torch.zeros(len(x0), dtype=torch.long, device=x0.device)
    best_loss = torch.zeros(len(x0), device=x0.device)
    for i in range(steps + 1):
        last = i == steps
        x.requires_grad_(not last)
        with torch.set_grad_enabled(not last):
            logits = model(x)
            loss = F.cross_entropy(logits, labels, reduction="none")
            obj = sign * loss
            if not last:
                (grad,) = torch.autograd.grad(obj.sum(), x)
        with torch.no_grad():
            x_d = x.detach()
            better = obj.detach() > best_obj if use_best else torch.ones_like(best_obj, dtype=torch.bool)
            if use_best or last:
                best_obj = torch.where(better, obj.detach(), best_obj)
                best_loss = torch.where(better, loss.detach(), best_loss)
                best_pred = torch.where(better, logits.detach().argmax(1), best_pred)
                best_x[better] = x_d[better]
            if not last:
                x = stepper.project(stepper.step(x_d, grad), x0)
    return _Best(best_x, best_pred, best_loss)


class _Batch(NamedTuple):
    """One batch's part of an :class:`AttackResult`, on the input's device (``success`` is set once, for all)."""

    x_adv: torch.Tensor
    pred: torch.Tensor
    loss: torch.Tensor
    delta_norm: torch.Tensor


@contextlib.contextmanager
def _frozen_eval(model: nn.Module):
    """``model`` in eval mode with frozen parameters inside the block; both restored after."""
    was_training = model.training
    grad_flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), grad_flags):
            p.requires_grad_(flag)
        model.train(was_training)


def _assemble(batches, labels: torch.Tensor, targeted: bool) -> AttackResult:
    """One :class:`AttackResult` from the per-batch ones (``success`` from ``pred`` and ``labels``)."""
    pred = torch.cat([b.pred for b in batches])
    labels = labels.to(pred.device)
    return AttackResult(x_adv=torch.cat([b.x_adv for b in batches]),
                        success=pred == labels if targeted else pred != labels, pred=pred,
                        delta_norm=torch.cat([b.delta_norm for b in batches]),
                        loss=torch.cat([b.loss for b in batches]))


@cpu_settings
def pgd(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *, eps: float, steps: int,
        step_size: Optional[float] = None, norm: str = "l2", targeted: bool = True,
        random_start: bool = False, use_best: bool = True, batch_size: int = 512,
        device: Optional[torch.device] = None, progress: bool = True,
        desc: Optional[str] = None, generator: Optional[torch.Generator] = None) -> AttackResult:
    """Run PGD on ``x`` (N, C, H, W) in [0, 1] and return an :class:`AttackResult`.

    Targeted (default): ``labels`` are target classes and the loop *minimises*
    the cross-entropy toward them. Untargeted: ``labels`` are true classes and
    the loop maximises their cross-entropy.

    ``step_size`` defaults to :func:`default_step_size`. With ``use_best``
    (default, as MadryLab's ``use_best``) each example keeps its iterate with the
    lowest targeted loss (highest untargeted loss) among the clean input, every
    intermediate iterate and the last one; otherwise the last iterate.
    ``random_start`` draws the starting points from ``generator`` (a CPU
    ``torch.Generator``; ``None``: torch's global one).

    The model is put in eval mode for the attack and its parameters are frozen;
    both are restored afterwards. Results come back on the input's device.
    ``batch_size`` images are attacked at once, with the process's thread count
    (:mod:`errlib.core.parallel`); examples are attacked independently (the
    default's speed: ``benchmarks/README.md``).
    """
    step_size = _check_pgd_args(x, labels, eps, steps, step_size, norm)
    stepper = STEPS[norm](eps, step_size)
    device = device if device is not None else next(model.parameters()).device
    out_device, batches = x.device, []
    with _frozen_eval(model):
        starts = range(0, len(x), batch_size)
        for s in progress_bar(starts, desc=desc or f"PGD {norm} eps={eps:g}", disable=not progress,
                              unit="batch"):
            xb = to_float(x[s:s + batch_size].to(device, non_blocking=True))
            lb = labels[s:s + batch_size].to(device, non_blocking=True)
            x_start = stepper.random_start(xb, generator) if random_start else xb
            best = _pgd_batch(model, xb, x_start, lb, stepper, steps, targeted, use_best)
            batches.append(_Batch(*(t.to(out_device) for t in (best.x, best.pred, best.loss,
                                                               stepper.norm_of(best.x - xb)))))
    return _assemble(batches, labels, targeted)
