"""errlib.core.constrained.constrained_pgd: eps-ball and box, the judge constraint, keep rules, bad args."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from errlib.core.attacks import L2Step, default_step_size

from errlib.core.constrained import constrained_pgd
from helpers import tiny_images, tiny_labels, tiny_model

pytestmark = pytest.mark.usefixtures("isolated_env")

N = 64
METHODS = ["kl", "orthogonal"]
KEEPS = ["best", "first"]


@pytest.mark.parametrize("random_start", [False, True], ids=["x0", "random_start"])
@pytest.mark.parametrize("keep", KEEPS)
@pytest.mark.parametrize("method", METHODS)
def test_every_row_stays_in_its_ball_and_the_box(method, keep, random_start):
    source, judge = tiny_model(seed=0), tiny_model(seed=1)
    x, t = tiny_images(N), (tiny_labels(N) + 3) % 10
    gen = torch.Generator().manual_seed(0) if random_start else None
    eps = 1.0  # step 1.0 x 20 steps carries the iterate far outside the ball without the projection
    x_adv, info = constrained_pgd(source, judge, x, t, eps=eps, steps=20, step_size=1.0,
                                  method=method, keep=keep, generator=gen)
    assert x_adv.shape == x.shape and x_adv.dtype == torch.float32
    dist = (x_adv - x).flatten(1).norm(dim=1)
    assert (dist <= eps + 1e-5).all(), f"max L2 distance {dist.max().item()} > eps"
    assert torch.allclose(info["norm"], dist, atol=1e-5)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (dist >= 0.5 * eps).float().mean() >= 0.5, "attack hardly moved; bound untested"
    for k in ("fooled", "judge_kept", "norm"):
        assert info[k].shape == (N,)
    assert info["fooled"].dtype == torch.bool and info["judge_kept"].dtype == torch.bool
    # The info agrees with the models' readings of the returned rows.
    with torch.no_grad():
        assert torch.equal(info["fooled"], source(x_adv).argmax(1) == t)
        assert torch.equal(info["judge_kept"], judge(x_adv).argmax(1) == judge(x).argmax(1))


def test_box_none_allows_unbounded_vectors_and_keeps_the_ball():
    torch.manual_seed(0)
    source, judge = nn.Linear(12, 5), nn.Linear(12, 5)
    x = 5 * torch.randn(40, 12)
    t = torch.randint(0, 5, (40,))
    x_adv, info = constrained_pgd(source, judge, x, t, eps=2.0, steps=10, box=None)
    assert ((x_adv - x).norm(dim=1) <= 2.0 + 1e-5).all()
    assert (x_adv.abs() > 1).any()
    with pytest.raises(ValueError, match="box"):
        constrained_pgd(source, judge, x, t, eps=2.0, steps=10)  # default box [0, 1]


def _planted_linear(n=200, d=20, k=4, seed=0):
    """A source that reads every dimension and a linear judge that reads only dims 0-1.

    A perturbation in dims 2.. moves the source and leaves the judge exactly where it was, so a
    constrained attack can always keep the judge's reading; an unconstrained one also moves dims
    0-1 (the source's weights there are large) and flips the judge on many rows.
    """
    g = torch.Generator().manual_seed(seed)
    source, judge = nn.Linear(d, k), nn.Linear(d, k)
    with torch.no_grad():
        source.weight.copy_(torch.randn(k, d, generator=g))
        source.weight[:, :2] *= 4
        source.bias.zero_()
        judge.weight.zero_()
        judge.weight[:, :2] = 3 * torch.randn(k, 2, generator=g)
        judge.bias.zero_()
    x = torch.randn(n, d, generator=g)
    t = torch.randint(0, k, (n,), generator=g)
    return source, judge, x, t


def _plain_l2_pgd(model, x, t, eps, steps):
    """Unconstrained targeted L2 PGD on unbounded vectors, last iterate (the reference to beat)."""
    step = L2Step(eps, default_step_size(eps, steps))
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x_adv), t), x_adv)
        x_adv = step.step(x_adv.detach(), -g)
        d = x_adv - x
        x_adv = x + d * (eps / d.norm(dim=1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
    return x_adv.detach()


@pytest.mark.parametrize("keep", KEEPS)
@pytest.mark.parametrize("method", METHODS)
def test_on_a_linear_judge_the_constraint_holds_where_it_can(method, keep):
    source, judge, x, t = _planted_linear()
    eps, steps = 4.0, 30
    # The unconstrained attack (plain targeted PGD, last iterate) does move the judge on many rows ...
    x_free = _plain_l2_pgd(source, x, t, eps, steps)
    free_fooled = (source(x_free).argmax(1) == t).float().mean()
    moved = (judge(x_free).argmax(1) != judge(x).argmax(1)).float().mean()
    assert moved > 0.2, "unconstrained attack never moved the judge; test vacuous"
    # ... the constrained one keeps the judge's reading on every row, and still fools the source.
    lam = 10.0
    x_adv, info = constrained_pgd(source, judge, x, t, eps=eps, steps=steps, lam=lam, method=method,
                                  keep=keep, box=None)
    # "kl" holds the whole output distribution, so every row can keep its reading. "orthogonal" holds
    # the judge's log-probability of its clean class to first order (plus a restoring step): that
    # keeps the argmax wherever that probability is above 1/2; near a tie it cannot, by design.
    feasible = judge(x).softmax(1).amax(1) > 0.5 if method == "orthogonal" else torch.ones(len(x), dtype=torch.bool)
    assert feasible.float().mean() > 0.5
    lost = (~info["judge_kept"] & feasible).sum().item()
    assert lost == 0, f"{lost} rows changed the judge's reading"
    assert info["fooled"].float().mean() >= 0.9
    assert info["fooled"].float().mean() >= free_fooled - 0.1


def test_keep_first_stops_no_later_than_keep_best():
    source, judge, x, t = _planted_linear(seed=1)
    kw = dict(eps=4.0, steps=30, lam=10.0, box=None)
    _, best = constrained_pgd(source, judge, x, t, keep="best", **kw)
    _, first = constrained_pgd(source, judge, x, t, keep="first", **kw)
    both = best["fooled"] & best["judge_kept"] & first["fooled"]
    assert both.float().mean() > 0.5
    assert (first["step"][both] <= best["step"][both]).all()
    assert first["norm"][both].mean() < best["norm"][both].mean(), "the first fooling iterate is not closer"
    assert (first["loss"][both] >= best["loss"][both] - 1e-6).all()


def test_models_are_restored_and_unchanged():
    source, judge = tiny_model(seed=0), tiny_model(seed=1)
    source.train()
    judge.eval()
    before = [p.clone() for p in judge.parameters()]
    constrained_pgd(source, judge, tiny_images(8), tiny_labels(8), eps=1.0, steps=3)
    assert source.training and not judge.training
    assert all(p.requires_grad for p in source.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, judge.parameters()))


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=0.0), "eps"), (dict(eps=-1.0), "eps"), (dict(steps=0), "steps"), (dict(steps=2.5), "steps"),
    (dict(step_size=-0.1), "step_size"), (dict(lam=-1.0), "lam"), (dict(lam=float("nan")), "lam"),
    (dict(method="confidence"), "method"), (dict(keep="last"), "keep"), (dict(box=(1.0, 0.0)), "box"),
    (dict(generator=0), "generator"),
])
def test_bad_arguments_raise_before_compute(kwargs, match):
    source, judge = tiny_model(seed=0), tiny_model(seed=1)
    args = dict(eps=1.0, steps=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        constrained_pgd(source, judge, tiny_images(4), tiny_labels(4), **args)


@pytest.mark.parametrize("x, t, match", [
    (tiny_images(4), tiny_labels(5), "target"),
    (tiny_images(4), tiny_labels(4).int(), "target"),
    (tiny_images(4) * 3, tiny_labels(4), "box"),
    (tiny_images(0), tiny_labels(0), "non-empty"),
    ((tiny_images(4) * 255).to(torch.uint8), tiny_labels(4), "float"),
])
def test_bad_inputs_raise(x, t, match):
    with pytest.raises(ValueError, match=match):
        constrained_pgd(tiny_model(seed=0), tiny_model(seed=1), x, t, eps=1.0, steps=3)


def test_models_must_be_modules():
    with pytest.raises(ValueError, match="judge"):
        constrained_pgd(tiny_model(), lambda z: z, tiny_images(4), tiny_labels(4), eps=1.0, steps=3)
