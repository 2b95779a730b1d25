"""The checker of exercise 02.3, the learner's whole targeted L2 PGD loop (:mod:`errlib.teach.exercises`).

The learner's ``targeted_pgd(model, x0, target, eps, steps, step_size)`` runs on small models
beside :func:`errlib.core.attacks.pgd`, the oracle, on three cases drawn from the generator:

* *interior*: images in [0.3, 0.7] and a radius under 0.3, so the [0, 1] box never binds and
  every correct loop (projection then clamp, or clamp then projection) walks errlib's path:
  each image's result must be errlib's to 1e-4. A wrong sign, gradients summed over steps
  (no ``detach``/zeroing) or a whole-batch norm all leave that path.
* *well*: a model whose loss toward the target is a well a little ahead of the clean image,
  with an odd number of steps: the iterates bounce across it, the last one is worse than the
  clean image, and only a loop that keeps the best iterate returns errlib's answer.
* *box*: images with pixels at 0 and 1 and a larger radius: every result inside the ball and
  the box, the same success as errlib's within a row or a tenth, and norms alike.

The learner's input is checked unchanged after each call, and the global RNG is not used to
draw the models, so the check leaves a notebook's state as it found it.
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.attacks import pgd
from .check_kit import _int, _uniform, call, expect


class _Well(nn.Module):
    """Two logits, ``[-k ||x - p||^2, 0]``: the loss toward class 0 falls as ``x`` nears ``p``."""

    def __init__(self, p: torch.Tensor, k: float = 4.0):
        super().__init__()
        self.register_buffer("p", p)
        self.k = k
        self.unused = nn.Parameter(torch.zeros(1))  # errlib's pgd reads the device from a parameter

    def forward(self, x):
        d2 = ((x - self.p) ** 2).flatten(1).sum(1)
        return torch.stack([-self.k * d2, torch.zeros_like(d2)], dim=1)


def _mlp(g, shape, classes, scale):
    """A small tanh MLP, its weights drawn from ``g`` (the global RNG restored after construction)."""
    with torch.random.fork_rng(devices=[]):
        net = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(shape).prod()), 24), nn.Tanh(),
                            nn.Linear(24, classes))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return net.eval()


def _run(fn, model, x0, target, eps, steps, alpha):
    """The learner's result (gradients on, the input checked unchanged) and errlib's."""
    with torch.enable_grad():  # the checks run under no_grad; the learner's loop needs autograd
        out = call(fn, model, x0, target, eps, steps, alpha)
    expect(torch.is_tensor(out) and tuple(out.shape) == tuple(x0.shape),
           f"expected the adversarial images, a tensor of shape {tuple(x0.shape)}")
    expect(bool(torch.isfinite(out).all()), "a result holds NaN or inf")
    out = out.detach().float()
    ref = pgd(model, x0, target, eps=eps, steps=steps, step_size=alpha, progress=False)
    norm = (out - x0).flatten(1).norm(dim=1)
    expect(float(norm.max()) <= eps + 1e-4, "a result lies outside the eps-ball: project after every step")
    expect(float(out.min()) >= 0 and float(out.max()) <= 1, "a pixel left [0, 1]")
    return out, ref, norm


def _interior(fn, g):
    shape, classes = [(3, 5, 4), (1, 6, 3)][_int(g, 0, 1)], [2, 10][_int(g, 0, 1)]
    x0 = 0.3 + 0.4 * torch.rand(_int(g, 6, 10), *shape, generator=g)
    model, eps, steps = _mlp(g, shape, classes, 1.0), _uniform(g, 0.15, 0.28), _int(g, 6, 9)
    target = torch.randint(0, classes, (len(x0),), generator=g)
    out, ref, _ = _run(fn, model, x0, target, eps, steps, 2.5 * eps / steps)
    expect(bool(((out - ref.x_adv).flatten(1).abs().amax(1) < 1e-4).all()),
           "on images far from 0 and 1 your attack did not walk errlib's path: ascend minus the loss toward the "
           "target, with a fresh gradient at every step (detach the iterate), normalised per image")


def _well(fn, g):
    shape, n = (1, 4, 5), _int(g, 3, 6)
    x0 = 0.3 + 0.4 * torch.rand(n, *shape, generator=g)
    eps, steps = 0.25, 2 * _int(g, 2, 4) + 1
    alpha = 2.5 * eps / steps
    u = torch.randn(n, *shape, generator=g)
    u = u / u.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    model = _Well(x0 + 0.3 * alpha * u)  # the well 0.3 steps ahead: the iterates bounce across it
    out, ref, _ = _run(fn, model, x0, torch.zeros(n, dtype=torch.long), eps, steps, alpha)
    expect(bool(((out - ref.x_adv).flatten(1).abs().amax(1) < 1e-4).all()),
           "when the loss rises again near the end, your attack did not return the iterate of lowest loss "
           "(the clean image counts as one)")


def _box(fn, g):
    shape, classes = [(1, 6, 5), (3, 4, 4)][_int(g, 0, 1)], 10
    n = _int(g, 24, 32)
    x0 = (1.4 * torch.rand(n, *shape, generator=g) - 0.2).clamp(0, 1)  # pixels at 0 and at 1
    model, eps, steps = _mlp(g, shape, classes, 0.6), _uniform(g, 0.8, 1.5), 10
    target = torch.randint(0, classes, (n,), generator=g)
    out, ref, norm = _run(fn, model, x0, target, eps, steps, 2.5 * eps / steps)
    with torch.no_grad():
        mine = int((model(out).argmax(1) == target).sum())
    theirs = int(ref.success.sum())
    expect(abs(mine - theirs) <= max(1, n // 10), f"your attack reached {mine} of {n} targets, errlib's pgd "
           f"{theirs}, with pixels at 0 and 1 in the images")
    expect(abs(float(norm.mean()) - float(ref.delta_norm.mean())) <= 0.1 * eps,
           "your perturbations' mean length differs from errlib's by more than a tenth of eps")


def check_targeted_pgd(fn, g):
    """The three cases of the module docstring, in a fixed order (each draws its sizes from ``g``)."""
    _interior(fn, g)
    _well(fn, g)
    _box(fn, g)
    _interior(fn, g)
