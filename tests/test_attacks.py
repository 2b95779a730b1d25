"""errlib.core.attacks.pgd: threat-model bounds, targeting, best iterate, model state, bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from errlib.core.attacks import pgd
from helpers import tiny_images, tiny_labels, tiny_model

pytestmark = pytest.mark.usefixtures("isolated_env")

N = 64
# Radii small enough that the step length (and the number of steps) carries the
# iterate far outside the ball: without the projection the bound is broken.
BOUNDS = {"l2": dict(eps=1.0, step_size=1.0, tol=1e-5),
          "linf": dict(eps=0.1, step_size=0.1, tol=1e-6)}


def _norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.norm(dim=1) if norm == "l2" else flat.abs().amax(dim=1)


@pytest.mark.parametrize("use_best", [True, False], ids=["best", "last"])
@pytest.mark.parametrize("targeted", [True, False], ids=["targeted", "untargeted"])
@pytest.mark.parametrize("random_start", [False, True], ids=["x0", "random_start"])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_stays_in_eps_ball_and_box(norm, random_start, targeted, use_best):
    model = tiny_model()
    x = tiny_images(N)
    y = tiny_labels(N)
    labels = (y + 3) % 10 if targeted else y
    b = BOUNDS[norm]
    torch.manual_seed(0)
    res = pgd(model, x, labels, eps=b["eps"], step_size=b["step_size"], steps=20, norm=norm,
              targeted=targeted, random_start=random_start, use_best=use_best, progress=False)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == torch.float32
    dist = _norm(res.x_adv - x, norm)
    # Every example, not the mean: the per-example bound is the threat model.
    assert (dist <= b["eps"] + b["tol"]).all(), f"max {norm} distance {dist.max().item()} > eps {b['eps']}"
    assert res.x_adv.min().item() >= 0.0 and res.x_adv.max().item() <= 1.0
    # The attack really reached the boundary, so both constraints were active.
    assert (dist >= 0.8 * b["eps"]).float().mean().item() >= 0.5, "attack hardly moved; bound untested"
    assert ((res.x_adv == 0) | (res.x_adv == 1)).any(), "no pixel hit the box; box untested"


def test_random_start_starts_inside_the_ball():
    """One step of size ~0 from a random start: the start itself must respect both constraints."""
    model = tiny_model()
    x = tiny_images(N)
    for norm, eps in (("l2", 2.0), ("linf", 0.3)):
        torch.manual_seed(1)
        res = pgd(model, x, tiny_labels(N), eps=eps, steps=1, step_size=1e-9, norm=norm,
                  random_start=True, use_best=False, progress=False)
        dist = _norm(res.x_adv - x, norm)
        assert (dist <= eps + 1e-5).all()
        assert (dist > 0).all(), "random_start did not move the start point"
        assert 0.0 <= res.x_adv.min().item() and res.x_adv.max().item() <= 1.0


def test_targeted_l2_reaches_target_with_large_eps():
    model = tiny_model()
    x = tiny_images(N)
    target = (tiny_labels(N) + 3) % 10
    res = pgd(model, x, target, eps=10.0, steps=20, norm="l2", targeted=True, progress=False)
    with torch.no_grad():
        pred = model(res.x_adv).argmax(1)
    assert res.success_rate >= 0.95
    assert res.success.dtype == torch.bool and res.success.shape == (N,)
    assert torch.equal(res.success, pred == target)
    assert torch.equal(res.pred, pred)
    assert torch.allclose(res.delta_norm, (res.x_adv - x).flatten(1).norm(dim=1), atol=1e-5)
    # The returned loss is the cross-entropy toward the target at x_adv.
    with torch.no_grad():
        ce = F.cross_entropy(model(res.x_adv), target, reduction="none")
    assert torch.allclose(res.loss, ce, atol=1e-4)


def test_untargeted_success_means_prediction_left_true_label():
    model = tiny_model()
    x = tiny_images(N)
    with torch.no_grad():
        y = model(x).argmax(1)  # clean predictions: every example starts correct
    res = pgd(model, x, y, eps=3.0, steps=20, targeted=False, progress=False)
    with torch.no_grad():
        pred = model(res.x_adv).argmax(1)
    assert torch.equal(res.success, pred != y)
    assert res.success_rate >= 0.9


@pytest.mark.parametrize("targeted", [True, False], ids=["targeted", "untargeted"])
def test_best_iterate_is_no_worse_than_last_iterate(targeted):
    model = tiny_model()
    x = tiny_images(N)
    y = tiny_labels(N)
    labels = (y + 3) % 10 if targeted else y
    # A step much longer than the radius makes the iterates oscillate, so the
    # last one is often not the best: the comparison below is not vacuous.
    kw = dict(eps=1.0, steps=10, step_size=4.0, norm="l2", targeted=targeted, progress=False)
    best = pgd(model, x, labels, use_best=True, **kw)
    last = pgd(model, x, labels, use_best=False, **kw)
    if targeted:  # lower CE toward the target is better
        assert (best.loss <= last.loss + 1e-6).all()
        assert (best.loss < last.loss - 1e-4).any(), "settings too easy: best == last everywhere"
    else:  # higher CE on the true label is better
        assert (best.loss >= last.loss - 1e-6).all()
        assert (best.loss > last.loss + 1e-4).any(), "settings too easy: best == last everywhere"
    for res in (best, last):  # each result is self-consistent
        with torch.no_grad():
            logits = model(res.x_adv)
        assert torch.allclose(res.loss, F.cross_entropy(logits, labels, reduction="none"), atol=1e-4)
        assert torch.equal(res.pred, logits.argmax(1))


class _ModeSpy(nn.Module):
    """Identity that records whether it ran in training mode."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return x


def _train_mode_model():
    model = tiny_model()
    spy = _ModeSpy()
    model = nn.Sequential(spy, *model)
    model.train()
    model[-1].bias.requires_grad_(False)  # a mixed pattern to restore
    return model, spy


def test_model_mode_and_requires_grad_are_restored():
    model, spy = _train_mode_model()
    flags = [p.requires_grad for p in model.parameters()]
    assert flags == [True, False]
    res = pgd(model, tiny_images(8), tiny_labels(8), eps=1.0, steps=3, progress=False)
    assert len(res.x_adv) == 8
    assert spy.seen and not any(spy.seen), "the attack must run the model in eval mode"
    assert model.training and all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters()), "no parameter gradients expected"


def test_model_state_is_restored_when_the_attack_fails():
    model, _ = _train_mode_model()
    bad_targets = torch.full((8,), 10)  # class 10 does not exist: cross-entropy raises
    with pytest.raises((IndexError, RuntimeError)):
        pgd(model, tiny_images(8), bad_targets, eps=1.0, steps=2, progress=False)
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == [True, False]


def test_pgd_is_deterministic_with_random_start_after_manual_seed():
    model = tiny_model()
    x, t = tiny_images(N), tiny_labels(N)
    kw = dict(eps=1.0, steps=5, random_start=True, progress=False)
    torch.manual_seed(123)
    a = pgd(model, x, t, **kw)
    torch.manual_seed(123)
    b = pgd(model, x, t, **kw)
    torch.manual_seed(124)
    c = pgd(model, x, t, **kw)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.pred, b.pred) and torch.equal(a.loss, b.loss)
    assert not torch.equal(a.x_adv, c.x_adv), "random_start ignored the seed"


def test_batching_and_uint8_input_do_not_change_the_result():
    model = tiny_model()
    x8 = (tiny_images(N) * 255).round().to(torch.uint8)
    t = tiny_labels(N)
    kw = dict(eps=2.0, steps=5, progress=False)
    whole = pgd(model, x8.float() / 255, t, **kw)
    pieces = pgd(model, x8, t, batch_size=7, **kw)
    assert torch.allclose(whole.x_adv, pieces.x_adv, atol=1e-6)
    assert torch.equal(whole.pred, pieces.pred) and torch.equal(whole.success, pieces.success)
    assert torch.allclose(whole.delta_norm, pieces.delta_norm, atol=1e-5)


# ---- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("eps, shown", [(0, "got 0"), (0.0, "got 0.0"), (-1.5, "got -1.5")])
def test_pgd_rejects_non_positive_eps(eps, shown):
    with pytest.raises(ValueError, match="eps") as exc:
        pgd(tiny_model(), tiny_images(4), tiny_labels(4), eps=eps, steps=3, progress=False)
    assert shown in str(exc.value) and "positive" in str(exc.value)


@pytest.mark.parametrize("steps, shown", [(0, "got 0"), (-2, "got -2"), (2.5, "got 2.5")])
def test_pgd_rejects_bad_steps(steps, shown):
    with pytest.raises(ValueError, match="steps") as exc:
        pgd(tiny_model(), tiny_images(4), tiny_labels(4), eps=1.0, steps=steps, progress=False)
    assert shown in str(exc.value) and ">= 1" in str(exc.value)


def test_pgd_rejects_unknown_norm():
    with pytest.raises(ValueError) as exc:
        pgd(tiny_model(), tiny_images(4), tiny_labels(4), eps=1.0, steps=3, norm="l3", progress=False)
    msg = str(exc.value)
    assert "'l3'" in msg and "l2" in msg and "linf" in msg


def test_pgd_rejects_empty_batch():
    with pytest.raises(ValueError, match="empty"):
        pgd(tiny_model(), torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long), eps=1.0,
            steps=3, progress=False)


@pytest.mark.parametrize("bad, shown", [(1.5, "1.5"), (-0.1, "-0.1")])
def test_pgd_rejects_pixels_outside_unit_interval(bad, shown):
    x = tiny_images(4)
    x[2, 0, 3, 3] = bad
    with pytest.raises(ValueError, match=r"\[0, 1\]") as exc:
        pgd(tiny_model(), x, tiny_labels(4), eps=1.0, steps=3, progress=False)
    assert shown in str(exc.value)


def test_pgd_rejects_length_mismatch():
    with pytest.raises(ValueError, match="4 images.*3"):
        pgd(tiny_model(), tiny_images(4), tiny_labels(3), eps=1.0, steps=3, progress=False)


def test_random_start_draws_from_the_given_generator_only():
    model, x, y = tiny_model(), tiny_images(40), tiny_labels(40)
    state = torch.get_rng_state()

    def run(seed):
        return pgd(model, x, y, eps=0.5, steps=3, random_start=True, progress=False,
                   generator=torch.Generator().manual_seed(seed)).x_adv

    a, b, c = run(5), run(5), run(6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)  # torch's global generator is left alone
