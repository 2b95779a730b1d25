"""Judge-constrained targeted L2 PGD: fool a source model while a robust judge's reading stays put.

Why (``docs/reference.md`` §10): a filter that keeps the error rows a robust judge still reads as
their original class *selects* rows, and the rows it keeps are those whose robust features survived
best, which biases a D_det student by construction. Constraining the attack instead keeps every
row: the perturbation moves the source model toward the target ``t`` while leaving the judge's
reading *as it was on the clean image*. The constraint is neutral on purpose: it never asks the
judge to be *more* confident in the original class, because that term would write robust
original-class features into every row (in D_det they point to the wrong label, y, not y+1).

Two ways to hold the judge still, per step of targeted PGD on the source model ``C``:

- ``method="kl"``: descend ``CE(C(x+d), t) + lam * KL(J(x) || J(x+d))``; the KL term is zero at
  the clean image and grows as the judge's output distribution moves, in any direction.
- ``method="orthogonal"``: descend ``CE(C(x+d), t)`` along its gradient with the component along
  ``grad_x log softmax(J(x+d))[c]`` removed, ``c`` the judge's clean prediction (the log-probability
  rather than the raw logit, so that other classes' logits rising also counts). To first order the
  step leaves the judge's belief in ``c`` unchanged; a Newton step along the same gradient then
  restores any drop in it since the clean image (the curvature's drift). ``lam`` is not used.

Which iterate each row keeps (iterates 1..steps; the clean input never counts):

- ``keep="best"`` (the analogue of the paper's ``use_best``): the iterate with the lowest CE
  toward ``t`` among those whose judge argmax equals its clean argmax; a row with none keeps its
  last iterate (then ``judge_kept`` is False for it).
- ``keep="first"``: the first iterate that fools the source (argmax ``t``) while the judge still
  reads as on the clean input; failing that, the "best" rule's choice. It carries the weakest
  target features that suffice, a deliberate contrast.

Shapes and ranges: ``x`` is ``(N, ...)`` float (images ``(N, C, H, W)`` in [0, 1] with the default
``box``; any real vectors with ``box=None``), ``target`` ``(N,)`` int64. Both models take ``x``'s
shape and return logits ``(N, K)`` (normalisation inside the model). Losses, the perturbation, the
projection and the clamp run in float32. Rows are attacked independently, in batches of
:data:`BATCH_SIZE` with the process's thread count, like :func:`errlib.core.attacks.pgd`.

    x_adv, info = constrained_pgd(source, judge, x, t, eps=3.0, steps=20)
    info["fooled"], info["judge_kept"], info["norm"]
"""
from __future__ import annotations

import math
from typing import Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import L2Step, _draw, _frozen_eval, check_attack_args, check_step_size, default_step_size
from .parallel import cpu_settings

METHODS = ("kl", "orthogonal")
KEEPS = ("best", "first")
BATCH_SIZE = 512
INFO_KEYS = ("fooled", "judge_kept", "norm", "pred", "judge_pred", "judge_clean_pred", "loss", "step")


def check_constrained_args(model, judge, x, target, eps, steps, step_size, lam, method, keep, box,
                           generator) -> float:
    """Raise a ValueError naming the bad argument (before any compute); return the step size."""
    for name, m in (("model", model), ("judge", judge)):
        if not isinstance(m, nn.Module):
            raise ValueError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    check_attack_args(eps, steps, "l2")
    step_size = default_step_size(eps, steps) if step_size is None else step_size
    check_step_size(step_size)
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    if keep not in KEEPS:
        raise ValueError(f"unknown keep rule {keep!r}; allowed: {', '.join(KEEPS)}")
    if not (torch.is_tensor(x) and torch.is_floating_point(x) and x.dim() >= 2 and len(x)):
        raise ValueError("x must be a non-empty float tensor (N, ...) with a batch dimension first")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    if not (torch.is_tensor(target) and target.dtype == torch.int64 and target.shape == (len(x),)):
        raise ValueError(f"target must be an int64 tensor of shape ({len(x)},), got "
                         f"{getattr(target, 'dtype', type(target))} {tuple(getattr(target, 'shape', ()))}")
    if len(target) and target.min() < 0:
        raise ValueError("target holds negative class indices")
    if box is not None:
        if not (isinstance(box, (tuple, list)) and len(box) == 2 and float(box[0]) < float(box[1])):
            raise ValueError(f"box must be None or a pair (low, high) with low < high, got {box!r}")
        if x.min() < box[0] or x.max() > box[1]:
            raise ValueError(f"x has values in [{x.min().item():.3g}, {x.max().item():.3g}], outside "
                             f"box {tuple(box)}; pass box=None for unbounded inputs")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return float(step_size)


def _rows(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-row ``(n,)`` tensor shaped to broadcast against ``like`` ``(n, ...)``."""
    return v.view(-1, *[1] * (like.dim() - 1))


def project_l2(stepper: L2Step, x: torch.Tensor, x0: torch.Tensor, box) -> torch.Tensor:
    """Back into the eps-ball around ``x0``, then into ``box`` (which only shrinks ``|x - x0|``)."""
    if box is not None and tuple(map(float, box)) == (0.0, 1.0):
        return stepper.project(x, x0)  # errlib's own L2 projection and [0, 1] clamp
    delta = x - x0
    scale = torch.clamp(stepper.eps / stepper.norm_of(delta).clamp_min(1e-12), max=1.0)
    out = x0 + delta * _rows(scale, delta)
    return out if box is None else out.clamp_(float(box[0]), float(box[1]))


class _Eval(NamedTuple):
    """One iterate's readings: source logits, CE toward t, judge logits; the objective's grads."""

    logits: torch.Tensor
    ce: torch.Tensor
    judge_logits: torch.Tensor
    direction: Optional[torch.Tensor]  # the descent direction (None at the last iterate)
    restore: Optional[torch.Tensor]  # "orthogonal": a step back to the judge's clean reading


def _evaluate(model, judge, x, t, logp0, c0, lam, method, with_grad: bool) -> _Eval:
    """Read both models at ``x``; with ``with_grad``, the constrained descent direction."""
    x = x.detach().requires_grad_(with_grad)
    with torch.set_grad_enabled(with_grad):
        logits = model(x).float()
        ce = F.cross_entropy(logits, t, reduction="none")
        jl = judge(x).float()
        if not with_grad:
            return _Eval(logits, ce, jl, None, None)
        logp = F.log_softmax(jl, dim=1)
        if method == "kl":
            kl = (logp0.exp() * (logp0 - logp)).sum(1)
            (g,) = torch.autograd.grad((ce + lam * kl).sum(), x)
            direction = -g
        else:
            (g_ce,) = torch.autograd.grad(ce.sum(), x)
            lp_c = logp.gather(1, c0[:, None])[:, 0]
            (a,) = torch.autograd.grad(lp_c.sum(), x)
            d, a = -g_ce.flatten(1), a.flatten(1)
            a2 = (a * a).sum(1).clamp_min(1e-24)
            direction = (d - ((d * a).sum(1) / a2)[:, None] * a).view_as(x)
            # The Newton step back to the clean log-probability (second-order drift undone).
            restore = (((logp0.gather(1, c0[:, None])[:, 0] - lp_c.detach()).clamp_min(0) / a2)[:, None]
                       * a).view_as(x)
            return _Eval(logits.detach(), ce.detach(), jl.detach(), direction.detach(), restore.detach())
    return _Eval(logits.detach(), ce.detach(), jl.detach(), direction.detach(), None)


def _take(mask: torch.Tensor, rec: Dict[str, torch.Tensor], new: Dict[str, torch.Tensor]) -> None:
    """Rows in ``mask`` of every record tensor take the new values (in place)."""
    for k, v in new.items():
        rec[k][mask] = v[mask]


def _attack_batch(model, judge, x0, t, x_start, stepper, steps, lam, method, keep, box):
    """One chunk's constrained attack; returns the kept iterate ``x`` and its info tensors."""
    n = len(x0)
    with torch.no_grad():
        jl0 = judge(x0).float()
    logp0, c0 = F.log_softmax(jl0, dim=1), jl0.argmax(1)
    x = x_start
    best, first = None, None
    best_ce = torch.full((n,), float("inf"), device=x0.device)
    have_best = torch.zeros(n, dtype=torch.bool, device=x0.device)
    have_first = torch.zeros_like(have_best)
    for i in range(steps + 1):
        ev = _evaluate(model, judge, x, t, logp0, c0, lam, method, with_grad=i < steps)
        if i >= 1:
            rec = {"x": x.detach(), "ce": ev.ce, "pred": ev.logits.argmax(1),
                   "judge_pred": ev.judge_logits.argmax(1), "step": torch.full((n,), i, device=x0.device)}
            if best is None:  # every record starts as the first step's iterate
                best = {k: v.clone() for k, v in rec.items()}
                first = {k: v.clone() for k, v in rec.items()}
            kept = rec["judge_pred"] == c0
            better = kept & (ev.ce < best_ce)
            _take(better | (~have_best & ~kept), best, rec)  # fallback: the last iterate
            best_ce = torch.where(better, ev.ce, best_ce)
            have_best |= kept
            new_first = kept & (rec["pred"] == t) & ~have_first
            _take(new_first, first, rec)
            have_first |= new_first
        if i < steps:
            x = stepper.step(x.detach(), ev.direction)
            x = project_l2(stepper, x if ev.restore is None else x + ev.restore, x0, box)
    out = best if keep == "best" else {k: torch.where(_rows(have_first, v), first[k], v)
                                         for k, v in best.items()}
    info = {"fooled": out["pred"] == t, "judge_kept": out["judge_pred"] == c0,
            "norm": stepper.norm_of(out["x"] - x0), "pred": out["pred"], "judge_pred": out["judge_pred"],
            "judge_clean_pred": c0, "loss": out["ce"], "step": out["step"].long()}
    return out["x"], info


@cpu_settings
def constrained_pgd(model: nn.Module, judge: nn.Module, x: torch.Tensor, target: torch.Tensor, *,
                    eps: float, steps: int, step_size: Optional[float] = None, lam: float = 1.0,
                    method: str = "kl", keep: str = "best", box: Optional[Tuple[float, float]] = (0.0, 1.0),
                    generator: Optional[torch.Generator] = None
                    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Targeted L2 PGD toward ``target`` on ``model`` that leaves ``judge``'s reading of ``x`` put.

    ``x`` ``(N, ...)`` float (inside ``box`` unless ``box`` is None), ``target`` ``(N,)`` int64.
    ``eps`` is the L2 radius, ``steps`` the number of steps, ``step_size`` defaults to
    :func:`errlib.core.attacks.default_step_size`; ``lam`` weighs the KL term (method "kl");
    ``method``/``keep`` as in the module docstring. ``generator`` (a CPU ``torch.Generator``):
    start each row at a random point of its ball, drawn from it; ``None``: start at ``x``, as the
    course's plain error sets do.

    Returns ``x_adv`` (same shape as ``x``, float32, on ``x``'s device; every row within ``eps`` of
    its ``x`` and inside ``box``) and ``info``, per-row ``(N,)`` tensors: ``fooled`` (bool, the
    model predicts ``target``), ``judge_kept`` (bool, the judge's argmax equals its argmax on the
    clean row), ``norm`` (``||x_adv - x||_2``), ``pred``/``judge_pred`` (argmax at ``x_adv``),
    ``judge_clean_pred``, ``loss`` (CE toward ``target`` at ``x_adv``), ``step`` (the kept
    iterate's index, 1..steps). Both models are put in eval mode with frozen parameters for the
    attack and restored afterwards.
    """
    step_size = check_constrained_args(model, judge, x, target, eps, steps, step_size, lam, method,
                                       keep, box, generator)
    stepper = L2Step(eps, step_size)
    device = next(model.parameters()).device
    xs, infos = [], []
    with _frozen_eval(model), _frozen_eval(judge):
        for s in range(0, len(x), BATCH_SIZE):
            xb = x[s:s + BATCH_SIZE].to(device).float()
            tb = target[s:s + BATCH_SIZE].to(device)
            x_start = xb
            if generator is not None:  # a random start in the ball, drawn per batch
                d = _draw(torch.randn, xb.shape, xb, generator)
                r = _draw(torch.rand, (len(xb),), xb, generator)
                d = d * _rows(r * eps / stepper.norm_of(d).clamp_min(1e-12), d)
                x_start = project_l2(stepper, xb + d, xb, box)
            xa, info = _attack_batch(model, judge, xb, tb, x_start, stepper, steps, lam, method, keep, box)
            xs.append(xa.to(x.device))
            infos.append({k: info[k].to(x.device) for k in INFO_KEYS})
    return torch.cat(xs), {k: torch.cat([i[k] for i in infos]) for k in INFO_KEYS}
