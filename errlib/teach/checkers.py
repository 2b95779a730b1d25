"""The checkers behind :mod:`errlib.teach.exercises`: one function per coding exercise.

Each checker ``check_<name>(fn, g)`` calls the student's ``fn`` on several cases drawn from
the generator ``g`` (a fresh seed per call of :func:`errlib.teach.exercises.check`), so no
answer can be hard-coded, and raises :class:`CheckFailed` with a message that says which
*property* failed, never the expected value of a case. The cases include the edge cases a
wrong idea trips on (a zero gradient, a point already inside the ball, the last class
wrapping to 0, a target equal to the class). Expected values come from short, independent
oracles written here (loops, closed forms) or from errlib's own functions, never from
:mod:`errlib.teach.solutions`.

Every call of the student's function goes through :func:`errlib.teach.check_kit.call`: an
input changed in place or a draw from torch's global random generator fails it. Every
checker covers its edge cases on every call, in a fixed order (several channels and
non-square images, 2 and 10 classes, a class with no image), so no random draw decides a
PASS; the tools live in :mod:`errlib.teach.check_kit`.

Conventions: images ``(N, C, H, W)`` in [0, 1], labels ``(N,)`` int64, rates in [0, 1].
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .check_kit import (ROUNDS, SHAPES, CheckFailed, _classes, _close, _int, _labels,  # noqa: F401 (re-exported)
                        _number, _per_example, _shape, _shapes, _tensor, _uniform, call, expect)


# ---- 01 · the source model -------------------------------------------------------------
def check_normalize(fn, g):
    for C, H, W in ((3, 5, 2), (1, 4, 4), (_int(g, 2, 4), _int(g, 2, 6), _int(g, 2, 6))):
        x = torch.rand(_int(g, 2, 5), C, H, W, generator=g)
        mean = [_uniform(g, 0.0, 0.6) for _ in range(C)]
        std = [_uniform(g, 0.1, 0.9) for _ in range(C)]
        out = _tensor(call(fn, x, list(mean), list(std)), x.shape, dtype=x.dtype)
        for c in range(C):
            expect(_close(out[:, c], (x[:, c] - mean[c]) / std[c], 1e-4),
                   f"channel {c} is not (x - mean[{c}]) / std[{c}]")


def check_per_class_error(fn, g):
    for C in _classes(g):
        n = _int(g, 40, 120)
        y = _labels(g, n, C)
        if C == 10:
            y[y == C - 1] = 0  # the last class has no image: its rate is 0 / 0, undefined
        pred = torch.where(torch.rand(n, generator=g) < 0.6, y, torch.randint(0, C, (n,), generator=g))
        pred[y == 0] = (y[y == 0] + 1) % C  # class 0: every image wrong
        pred[y == 1] = 1  # class 1: every image right
        out = _tensor(call(fn, pred, y, C), (C,), "a float tensor with one rate per class")
        expect(out.is_floating_point(), "expected float rates, got an integer tensor")
        want = [float((pred[y == c] != c).float().mean()) for c in range(C)]
        expect(_close(out, want, 1e-5), "a class's rate is not (its images that are wrong) / (its images); "
               "check a class whose images are all wrong, one whose images are all right, and one with no "
               "image at all (nan: 0 of 0 is undefined, not 0%)")


# ---- 02 · crafting the errors ----------------------------------------------------------
def check_l2_step(fn, g):
    for shape in [SHAPES[0], *[_shape(g) for _ in range(ROUNDS - 1)]]:
        n = _int(g, 3, 7)
        x = torch.rand(n, *shape, generator=g)
        grad = torch.randn(n, *shape, generator=g) * 10 ** (6 * torch.rand(n, 1, 1, 1, generator=g) - 3)
        grad[0] = 0.0  # nowhere to go
        alpha = _uniform(g, 0.05, 1.0)
        out = _tensor(call(fn, x, grad, alpha), x.shape)
        expect(bool(torch.isfinite(out).all()), "the result holds NaN or inf: an example whose gradient is zero "
               "has no direction to move in, and should stay where it is")
        expect(_close(out[0], x[0]), "an example with a zero gradient moved; it should stay where it is")
        move = (out - x)[1:].flatten(1).double()
        length = move.norm(dim=1)
        expect(_close(length, torch.full_like(length, alpha), 1e-4), "an example did not move exactly step_size "
               "in L2 (the gradients here range over six orders of magnitude)")
        gd = grad[1:].flatten(1).double()
        cos = (move * gd).sum(1) / (length * gd.norm(dim=1))
        expect(bool((cos > 1 - 1e-5).all()), "an example did not move along its own gradient's direction")


def _radial(x, x0, eps):
    delta = (x - x0).double()
    norm = delta.flatten(1).norm(dim=1)
    scale = torch.where(norm > eps, eps / norm.clamp_min(1e-300), torch.ones_like(norm))
    return (x0.double() + delta * _per_example(scale, delta)).clamp(0, 1)


def check_l2_project(fn, g):
    for shape in [SHAPES[0], *[_shape(g) for _ in range(ROUNDS - 1)]]:
        n, eps = _int(g, 4, 8), _uniform(g, 0.2, 2.0)
        x0 = (1.4 * torch.rand(n, *shape, generator=g) - 0.2).clamp(0, 1)  # some pixels at 0 or 1
        d = torch.randn(n, *shape, generator=g)
        d[2] = d[2].abs()  # pushes every pixel up: its projection leaves [0, 1] where x0 is 1
        d = d / _per_example(d.flatten(1).norm(dim=1), d)
        radius = eps * torch.tensor([0.0, 0.5] + [_uniform(g, 0.3, 4.0) for _ in range(n - 2)])
        x = x0 + d * _per_example(radius, d)
        x[1] = (x0[1] + (x[1] - x0[1]).clamp(-0.2, 0.2)).clamp(0, 1)  # inside the ball and inside [0, 1]
        out = _tensor(call(fn, x, x0, eps), x.shape)
        expect(float((out - x0).flatten(1).norm(dim=1).max()) <= eps + 1e-5, "a result lies outside the eps-ball")
        expect(float(out.min()) >= 0 and float(out.max()) <= 1, "a pixel left [0, 1]")
        expect(_close(out[:2], x[:2]), "a point already inside the ball (and inside [0, 1]) moved; it should stay")
        expect(_close(call(fn, out, x0, eps), out, 1e-5), "projecting a projected point moved it again: a "
               "projection must leave the points of its set where they are")
        expect(_close(out, _radial(x, x0, eps), 1e-5), "a point outside the ball did not come back along its own "
               "direction from x0 (shrink the perturbation, keep its direction), then into [0, 1]")


def check_relative_radius(fn, g):
    for shape in [SHAPES[0], *[_shape(g) for _ in range(ROUNDS - 1)]]:
        x = torch.rand(_int(g, 3, 8), *shape, generator=g) ** 2  # uneven pixels, like strokes on black
        eps = _uniform(g, 0.2, 4.0)
        out = _tensor(call(fn, x, eps), (len(x),), "one number per image")
        want = [eps / math.sqrt(float((xi.double() ** 2).sum())) for xi in x]
        expect(_close(out, want, 1e-4), "an image's ratio is not eps / (its L2 norm)")


# ---- 03 · training on errors -----------------------------------------------------------
def check_targets_other(fn, g):
    for C in _classes(g, 3, 12):
        y = _labels(g, 2500 * C if C > 2 else 400, C)
        seed = _int(g, 0, 2 ** 30)
        t = _tensor(call(fn, y, C, torch.Generator().manual_seed(seed)), y.shape, "targets", torch.int64)
        expect(int(t.min()) >= 0 and int(t.max()) < C, "a target outside 0 .. num_classes - 1")
        expect(bool((t != y).all()), f"with {C} classes, a target equals its true class")
        for c in range(C):
            share = torch.bincount(t[y == c], minlength=C).double() / int((y == c).sum())
            share[c] = 1 / (C - 1)
            expect(float((share - 1 / (C - 1)).abs().max()) < 0.04, f"with {C} classes, the targets of class {c} "
                   "are not spread evenly over the other classes")
        again = call(fn, y, C, torch.Generator().manual_seed(seed))
        expect(torch.is_tensor(again) and bool((again == t).all()), "the same seed gave different targets: draw "
               "every random number from the generator passed in")
        if C > 2:  # with two classes the one other class is the only answer
            other = call(fn, y, C, torch.Generator().manual_seed(seed + 1))
            expect(bool((other != t).any()), "another seed gave the same targets: the generator passed in is not "
                   "used")
            shared = torch.Generator().manual_seed(seed)
            first, second = call(fn, y, C, shared), call(fn, y, C, shared)
            expect(bool((first != second).any()), "the same generator object, used twice, gave the same targets "
                   "twice: draw from it rather than re-seeding it or copying its state")


# ---- 04 · measuring --------------------------------------------------------------------
def _wilson(k, n, z):
    """Both roots of (k/n - p)^2 = z^2 p (1 - p) / n, the Wilson interval's definition."""
    p = k / n
    a = 1 + z * z / n
    b = -(2 * p + z * z / n)
    root = math.sqrt(max(b * b - 4 * a * p * p, 0.0))
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def check_binomial_ci(fn, g):
    cases = []
    for _ in range(ROUNDS + 1):
        n = _int(g, 5, 5000)
        cases.append((_int(g, 0, n), n, None))
    n = _int(g, 5, 500)
    cases += [(0, n, None), (n, n, None), (_int(g, 1, n - 1), n, [1.0, 1.645, 2.576][_int(g, 0, 2)])]
    for k, n, z in cases:
        got = fn(k / n, n) if z is None else fn(k / n, n, z)
        expect(isinstance(got, (tuple, list)) and len(got) == 2, "expected a pair (low, high)")
        lo, hi = _number(got[0]), _number(got[1])
        expect(-1e-9 <= lo <= k / n + 1e-9 and k / n - 1e-9 <= hi <= 1 + 1e-9, "the interval must lie in [0, 1] and contain the measured accuracy")
        expect(_close([lo, hi], _wilson(k, n, 1.96 if z is None else z), 1e-4),
               "an interval differs from Wilson's" + ("" if z is None else f" (z = {z} was passed: use it)")
               + (" at an accuracy of exactly 0 or 1" if k in (0, n) else ""))


def check_shift_share(fn, g):
    for C in _classes(g):
        n = _int(g, 50, 200)
        y = _labels(g, n, C)
        y[: n // 4] = C - 1  # the last class, whose next class wraps around to 0
        r = torch.rand(n, generator=g)
        pred = torch.where(r < 0.4, (y + 1) % C, torch.where(r < 0.7, y, torch.randint(0, C, (n,), generator=g)))
        got = _number(call(fn, pred, y, C))
        want = sum(int(p) == (int(t) + 1) % C for p, t in zip(pred, y)) / n
        expect(abs(got - want) < 1e-6, "the share differs from (predictions equal to the class after y) / (all "
               "predictions); look at images of the last class")


# ---- 05 · wrong labels -----------------------------------------------------------------
class _LinearTeacher(nn.Module):
    """A linear teacher, a real ``nn.Module`` (so ``teacher.eval()`` works), its weights drawn from the checker."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, z):
        return z.flatten(1) @ self.w


def _teacher_case(g, shape, classes, all_right=False):
    n = _int(g, 40, 80)
    x = torch.rand(n, *shape, generator=g)
    teacher = _LinearTeacher(torch.randn(int(torch.tensor(shape).prod()), classes, generator=g))
    with torch.no_grad():
        pred = teacher(x).argmax(1)
    y = torch.where(torch.rand(n, generator=g) < 0.5, pred, torch.randint(0, classes, (n,), generator=g))
    return teacher, x, (pred.clone() if all_right else y), pred


def check_relabel_with_teacher(fn, g):
    for shape, classes, all_right in ((SHAPES[0], 10, False), ((1, 4, 3), 2, False), (_shape(g), 10, True)):
        teacher, x, y, pred = _teacher_case(g, shape, classes, all_right)
        got = call(fn, teacher, x, y)
        expect(isinstance(got, (tuple, list)) and len(got) == 2, "expected a pair (images, labels)")
        keep = pred != y
        xs = _tensor(got[0], x[keep].shape, "a tensor of the kept images", x.dtype)
        ys = _tensor(got[1], (int(keep.sum()),), "a tensor of their labels, int64 like every label", torch.int64)
        expect(_close(xs, x[keep]), "the kept images are not the teacher's mistakes, in their original order")
        expect(bool((ys == pred[keep]).all()), "a kept image's label is not the teacher's answer")


def check_error_agreement(fn, g):
    for C in _classes(g):
        n = _int(g, 60, 200)
        y = _labels(g, n, C)
        teacher = torch.where(torch.rand(n, generator=g) < 0.6, y, (y + torch.randint(1, C, (n,), generator=g)) % C)
        rate = torch.where(teacher == y, 0.9, 0.4)  # copies right answers more often than mistakes
        student = torch.where(torch.rand(n, generator=g) < rate, teacher, torch.randint(0, C, (n,), generator=g))
        got = _number(call(fn, student, teacher, y))
        wrong = [i for i in range(n) if int(teacher[i]) != int(y[i])]
        want = sum(int(student[i]) == int(teacher[i]) for i in wrong) / len(wrong)
        expect(abs(got - want) < 1e-6, "the share differs from (teacher's mistakes the student repeats) / "
               "(teacher's mistakes)")


# ---- 06 · the 2-D toy ------------------------------------------------------------------
def check_linf_project(fn, g):
    for shape in ((2,), SHAPES[0], [(2,), (1, 4, 4)][_int(g, 0, 1)]):
        n, eps = _int(g, 5, 12), _uniform(g, 0.05, 0.3)
        x0 = (1.4 * torch.rand(n, *shape, generator=g) - 0.2).clamp(0, 1)  # some coordinates at 0 or 1
        x = x0 + (torch.rand(n, *shape, generator=g) * 2 - 1) * 3 * eps
        x[1] = x0[1] + 2 * eps  # every coordinate up: out of [0, 1] where x0 is near 1
        x[1].view(-1)[0] = 1.0 + 2 * eps  # at least one
        x0[1].view(-1)[0] = 1.0
        x[0] = (x0[0] + (torch.rand(*shape, generator=g) * 2 - 1) * 0.5 * eps).clamp(0, 1)  # inside
        out = _tensor(call(fn, x, x0, eps), x.shape)
        expect(float((out - x0).abs().max()) <= eps + 1e-6, "a coordinate is more than eps from x0")
        expect(float(out.min()) >= 0 and float(out.max()) <= 1, "a coordinate left [0, 1]")
        expect(_close(out[0], x[0]), "a point already inside the box (and inside [0, 1]) moved")
        expect(_close(call(fn, out, x0, eps), out), "projecting a projected point moved it again")
        want = torch.minimum(torch.maximum(x, x0 - eps), x0 + eps).clamp(0, 1)
        expect(_close(out, want), "a coordinate outside the box did not land on the box's nearest edge")


def check_keep_flips(fn, g):
    for C in (2, 10, [2, 10][_int(g, 0, 1)]):
        n = _int(g, 30, 80)
        y = _labels(g, n, C)
        clean = torch.where(torch.rand(n, generator=g) < 0.6, y, (y + 1) % C)
        adv = torch.where(torch.rand(n, generator=g) < 0.5, clean, torch.randint(0, C, (n,), generator=g))
        clean[:3], adv[:3] = (y[:3] + 1) % C, (y[:3] + 1) % C  # wrong before and after: no flip
        clean[1], adv[1] = y[1], (y[1] + 1) % C  # right before, wrong after: the flip
        adv[2] = y[2]  # wrong before, right after: the label changed, but this is no flip
        got = _tensor(call(fn, y, clean, adv), y.shape, "a mask", torch.bool)
        want = torch.tensor([int(c) == int(t) and int(a) != int(t) for t, c, a in zip(y, clean, adv)])
        expect(bool((got == want).all()), f"with {C} classes, the mask differs from (right before the attack) and "
               "(wrong after it); a point wrong before the attack is never a flip, even when the attack changes "
               "its label")


# ---- 07 · controls ---------------------------------------------------------------------
def check_transfer_rate(fn, g):
    for _ in range(ROUNDS):
        n, C = _int(g, 40, 120), 10
        y = _labels(g, n, C)
        target = torch.where(torch.rand(n, generator=g) < 0.3, y, torch.randint(0, C, (n,), generator=g))
        success = torch.rand(n, generator=g) < 0.7
        other = torch.where(torch.rand(n, generator=g) < 0.5, target, torch.randint(0, C, (n,), generator=g))
        other[(target == y)] = target[(target == y)]  # "successes" toward the true class fool nobody
        got = _number(call(fn, other, target, y, success))
        rows = [i for i in range(n) if bool(success[i]) and int(target[i]) != int(y[i])]
        want = sum(int(other[i]) == int(target[i]) for i in rows) / len(rows)
        expect(abs(got - want) < 1e-6, "the rate differs from (qualifying rows where the other model says the "
               "target) / (qualifying rows), a qualifying row being a success whose target is not the true class")
    none = _number(call(fn, other, target, y, torch.zeros(n, dtype=torch.bool)))
    expect(math.isnan(none), "with no qualifying row the rate is undefined: return nan")


def check_nearest_neighbour_labels(fn, g):
    for _ in range(ROUNDS):
        R, Q, shape = _int(g, 10, 30), _int(g, 10, 30), (1, 2, 4)
        ref, q = torch.rand(R, *shape, generator=g), torch.rand(Q, *shape, generator=g)
        y_ref = torch.randint(0, 10, (R,), generator=g)
        want = y_ref[[min(range(R), key=lambda j: float(((qi - ref[j]).double() ** 2).sum())) for qi in q]]
        got = _tensor(call(fn, q, ref, y_ref), (Q,), "one label per query")
        expect(bool((got == want).all()), "a query did not get the label of its nearest reference image in L2")
    # Two references set so that L2 disagrees with L1 (first pair) and with L-inf (second pair).
    for spread, spike in ((0.3, 0.8), (0.45, 0.8)):
        q = torch.rand(1, 1, 2, 2, generator=g) * 0.1
        a, b = q + spread, q.clone()
        b.view(-1)[_int(g, 0, 3)] += spike
        labels = torch.randperm(10, generator=g)[:2]
        want = labels[0] if 4 * spread ** 2 < spike ** 2 else labels[1]
        got = call(fn, q, torch.cat([a, b]), labels)
        expect(torch.is_tensor(got) and got.numel() == 1 and int(got.flatten()[0]) == int(want),
               "a query took the label of a reference that is nearer in another distance, not in L2")
