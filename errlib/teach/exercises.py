"""Exercises for the course: predictions before a result, and checkers for coding exercises.

Two tools, both safe to call from a notebook that runs unattended (papermill, CI): they
print, and never raise because of what the student did or did not do.

* :func:`compare_prediction` sets a guess written *before* a run beside the measurement.
  ``None`` (the default in every notebook) prints "no guess recorded".
* :func:`check` runs the checker of a coding exercise on the student's function and
  prints ``PASS``, ``FAIL`` with a hint, or ``not attempted`` when the stub still raises
  ``NotImplementedError``; :func:`passed` does the same and returns whether it passed.

Each checker tests behaviour on hand-made cases with known answers, and where errlib
already has the function (``attacks.L2Step``, ``errsets.wrong_label_set``, ...) on random
inputs against it. Reference solutions live apart, in :mod:`errlib.teach.solutions`; no
notebook imports them. :data:`EXERCISES` lists every exercise, coding or question, with
the notebook it belongs to.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch

from ..core import attacks
from ..stages import errsets

NOT_ATTEMPTED, PASS, FAIL = "not attempted", "pass", "fail"


class CheckFailed(AssertionError):
    """A checker's finding: what the student's function got wrong."""


def _expect(ok: bool, message: str) -> None:
    if not ok:
        raise CheckFailed(message)


def _close(a, b, tol: float = 1e-5) -> bool:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=tol, rtol=tol, equal_nan=True))


def _images(n=6, shape=(3, 4, 4), seed=0) -> torch.Tensor:
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


# ---- 01 · the source model -------------------------------------------------------------
def _check_normalize(fn):
    x = torch.zeros(1, 3, 1, 1)
    x[0, :, 0, 0] = torch.tensor([0.5, 0.5, 0.5])
    out = fn(x, [0.5, 0.25, 0.0], [0.5, 0.25, 0.5])
    _expect(torch.is_tensor(out) and out.shape == x.shape, f"expected a tensor of shape {tuple(x.shape)}")
    _expect(_close(out.flatten(), [0.0, 1.0, 1.0]), f"channel values {out.flatten().tolist()}, expected "
            "[0.0, 1.0, 1.0] for a pixel of 0.5 with mean (0.5, 0.25, 0) and std (0.5, 0.25, 0.5)")
    x = _images(4, (3, 5, 2))
    mean, std = [0.1, 0.2, 0.3], [0.2, 0.4, 0.8]
    out = fn(x, mean, std)
    for c in range(3):
        _expect(_close(out[:, c] * std[c] + mean[c], x[:, c], 1e-4), f"channel {c} is not "
                f"(x - mean[{c}]) / std[{c}]: mean and std are per channel, shape (1, C, 1, 1)")


def _check_per_class_error(fn):
    y = torch.tensor([0, 0, 1, 1, 1, 2])
    pred = torch.tensor([0, 1, 1, 1, 0, 0])
    out = fn(pred, y, 3)
    _expect(torch.is_tensor(out) and out.shape == (3,), "expected a tensor of shape (num_classes,)")
    _expect(_close(out, [0.5, 1 / 3, 1.0]), f"got {out.tolist()}, expected [0.5, 0.333, 1.0]: class 0 has "
            "2 images, 1 wrong; class 1 has 3, 1 wrong; class 2 has 1, wrong")


# ---- 02 · crafting the errors ----------------------------------------------------------
def _check_l2_step(fn):
    x, g = _images(5), torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    g[0] *= 100.0  # one example with a much larger gradient: the step length must not care
    out = fn(x, g, 0.3)
    _expect(torch.is_tensor(out) and out.shape == x.shape, "expected a tensor of x's shape")
    moved = (out - x).flatten(1).norm(dim=1)
    _expect(_close(moved, torch.full((5,), 0.3), 1e-4), f"each example should move exactly step_size=0.3 "
            f"in L2; moved {[round(v, 3) for v in moved.tolist()]}")
    _expect(_close(out, attacks.L2Step(1.0, 0.3).step(x, g), 1e-4),
            "the direction differs from the per-example normalised gradient")


def _check_l2_project(fn):
    x0, eps = _images(6), 0.5
    x = x0 + torch.randn(6, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    x[0] = x0[0] + 0.01  # already inside the ball (norm 0.04) and inside [0, 1] after clamping
    out = fn(x, x0, eps)
    _expect(torch.is_tensor(out) and out.shape == x.shape, "expected a tensor of x's shape")
    _expect(float((out - x0).flatten(1).norm(dim=1).max()) <= eps + 1e-5, "a result lies outside the eps-ball")
    _expect(float(out.min()) >= 0 and float(out.max()) <= 1, "a pixel left [0, 1]: clamp after projecting")
    _expect(_close(out[0], x[0].clamp(0, 1)), "a point already inside the ball should not move")
    _expect(_close(out, attacks.L2Step(eps, 0.1).project(x, x0), 1e-5),
            "the result differs from the radial projection: scale delta by min(1, eps / ||delta||) per example")


def _check_relative_radius(fn):
    x = torch.ones(2, 1, 2, 2)
    x[1] *= 0.5
    out = fn(x, 1.0)
    _expect(torch.is_tensor(out) and out.shape == (2,), "expected one number per image, shape (N,)")
    _expect(_close(out, [0.5, 1.0]), f"got {out.tolist()}, expected [0.5, 1.0]: an all-ones 2x2 image has "
            "L2 norm 2, an all-0.5 one norm 1")


# ---- 03 · training on errors -----------------------------------------------------------
def _check_targets_other(fn):
    C = 10
    y = torch.randint(0, C, (20000,), generator=torch.Generator().manual_seed(3))
    t = fn(y, C, torch.Generator().manual_seed(4))
    _expect(torch.is_tensor(t) and t.shape == y.shape and t.dtype == torch.int64,
            "expected an int64 tensor of y's shape")
    _expect(int(t.min()) >= 0 and int(t.max()) < C, "a target outside 0 .. num_classes - 1")
    _expect(bool((t != y).all()), f"{int((t == y).sum())} targets equal the true class")
    zeros = t[y == 0]
    share = torch.bincount(zeros, minlength=C)[1:].float() / len(zeros)
    _expect(float((share - 1 / (C - 1)).abs().max()) < 0.03, "for y = 0 the targets should be spread evenly "
            f"over classes 1-9; shares {[round(v, 2) for v in share.tolist()]}")


# ---- 04 · measuring --------------------------------------------------------------------
_WILSON = {(0.5, 100): (0.4038, 0.5962), (0.0, 10): (0.0, 0.2775), (0.9, 1000): (0.8798, 0.9171),
           (1.0, 50): (0.9286, 1.0)}


def _check_binomial_ci(fn):
    for (acc, n), want in _WILSON.items():
        got = fn(acc, n)
        _expect(len(got) == 2 and _close([float(v) for v in got], want, 1e-3),
                f"binomial_ci({acc}, {n}) gave {tuple(round(float(v), 4) for v in got)}, expected {want}")


def _check_shift_share(fn):
    y = torch.tensor([0, 1, 9, 9, 3])
    pred = torch.tensor([1, 2, 0, 9, 3])
    got = fn(pred, y, 10)
    _expect(isinstance(got, (float, int)) or torch.is_tensor(got), "expected a number")
    _expect(abs(float(got) - 0.6) < 1e-6, f"got {float(got):.3f}, expected 0.6: 0->1, 1->2 and 9->0 "
            "are shifts (the last wraps around), 9->9 and 3->3 are not")


# ---- 05 · wrong labels -----------------------------------------------------------------
def _teacher(seed=5):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10))


def _check_relabel_with_teacher(fn):
    teacher, x = _teacher(), _images(64)
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(6))
    got = fn(teacher, x, y)
    _expect(isinstance(got, (tuple, list)) and len(got) == 2, "expected a pair (images, labels)")
    want = errsets.wrong_label_set(teacher, x, y)
    _expect(tuple(got[0].shape) == tuple(want.x.shape), f"kept {len(got[0])} images; the teacher is wrong "
            f"on {len(want)} of {len(x)}: keep exactly those")
    _expect(_close(got[0], want.x) and bool((got[1] == want.y).all()),
            "the kept images or their labels differ: label each kept image with the teacher's answer")


def _check_error_agreement(fn):
    y = torch.tensor([0, 1, 2, 3, 4])
    teacher = torch.tensor([0, 2, 3, 4, 4])   # wrong on images 1, 2, 3
    student = torch.tensor([1, 2, 3, 0, 0])   # copies the teacher's mistake on 1 and 2
    got = float(fn(student, teacher, y))
    _expect(abs(got - 2 / 3) < 1e-6, f"got {got:.3f}, expected 0.667: the teacher errs on 3 images and the "
            "student repeats 2 of those mistakes (images where the teacher is right do not count)")


# ---- 06 · the 2-D toy ------------------------------------------------------------------
def _check_linf_project(fn):
    x0 = torch.tensor([[0.05, 0.5], [0.95, 0.2]])
    x = torch.tensor([[-0.3, 0.58], [1.4, 0.0]])
    got = fn(x, x0, 0.12)
    _expect(torch.is_tensor(got) and got.shape == x.shape, "expected a tensor of x's shape")
    _expect(_close(got, [[0.0, 0.58], [1.0, 0.08]]), f"got {got.tolist()}, expected [[0.0, 0.58], [1.0, 0.08]]: "
            "clip each coordinate to x0 +- eps, then to [0, 1]")
    xr, x0r = _images(4, (2,)) * 2 - 0.5, _images(4, (2,), seed=7)
    _expect(_close(fn(xr, x0r, 0.1), attacks.LinfStep(0.1, 0.01).project(xr, x0r)), "random points disagree")


def _check_keep_flips(fn):
    y = torch.tensor([0, 1, 0, 1, 0])
    clean = torch.tensor([0, 1, 1, 1, 0])
    adv = torch.tensor([1, 1, 0, 0, 0])
    got = fn(y, clean, adv)
    _expect(torch.is_tensor(got) and got.dtype == torch.bool, "expected a bool mask")
    _expect(got.tolist() == [True, False, False, True, False], f"got {got.tolist()}, expected "
            "[True, False, False, True, False]: point 2 was wrong before the attack, so it is not a flip")


# ---- 07 · controls ---------------------------------------------------------------------
def _check_transfer_rate(fn):
    target = torch.tensor([1, 2, 3, 4, 5, 6])
    y_true = torch.tensor([0, 0, 3, 0, 0, 0])
    success = torch.tensor([True, True, True, True, False, True])
    other = torch.tensor([1, 0, 3, 4, 5, 0])
    got = float(fn(other, target, y_true, success))
    _expect(abs(got - 0.5) < 1e-6, f"got {got:.3f}, expected 0.5: count only successful examples whose "
            "target is not the true class (rows 0, 1, 3, 5); the other model agrees on rows 0 and 3")
    none = fn(other, target, y_true, torch.zeros(6, dtype=torch.bool))
    _expect(math.isnan(float(none)), "with no successful example the rate is undefined: return nan")


def _check_nearest_neighbour_labels(fn):
    ref = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]).view(3, 1, 1, 2)
    y_ref = torch.tensor([7, 8, 9])
    q = torch.tensor([[0.1, 0.0], [0.9, 0.8], [0.2, 0.9], [0.6, 0.6]]).view(4, 1, 1, 2)
    got = fn(q, ref, y_ref)
    _expect(torch.is_tensor(got) and got.tolist() == [7, 8, 9, 8], f"got {got.tolist() if torch.is_tensor(got) else got}"
            ", expected [7, 8, 9, 8]: each query takes the label of the closest reference image (L2)")


@dataclass(frozen=True)
class Exercise:
    name: str
    notebook: str  # the two-digit number of the notebook it belongs to
    kind: str  # "coding" (has a checker) or "question" (answer hidden in the notebook)
    title: str
    hint: str = ""
    checker: Optional[Callable] = None


def _coding(name, nb, title, checker, hint):
    return Exercise(name, nb, "coding", title, hint, checker)


EXERCISES: Dict[str, Exercise] = {e.name: e for e in [
    _coding("normalize", "01", "the Normalize layer", _check_normalize,
            "reshape mean and std to (1, C, 1, 1) so they broadcast over N, H and W"),
    _coding("per_class_error", "01", "error rate per class", _check_per_class_error,
            "torch.bincount(y, minlength=C) counts images per class; do the same for y[pred != y]"),
    Exercise("q01_accurate_not_robust", "01", "question", "accurate but not robust"),
    _coding("l2_step", "02", "the L2 step", _check_l2_step,
            "divide each example's gradient by its own norm: grad.flatten(1).norm(dim=1), reshaped to (N, 1, 1, 1)"),
    _coding("l2_project", "02", "the L2 projection", _check_l2_project,
            "delta = x - x0; multiply by min(1, eps / ||delta||) per example; then clamp x0 + delta to [0, 1]"),
    _coding("relative_radius", "02", "how big is eps next to an image?", _check_relative_radius,
            "x.flatten(1).norm(dim=1) is each image's L2 norm"),
    _coding("targets_other", "03", "a target rule that never picks the true class", _check_targets_other,
            "add a random offset in 1 .. C-1 to y, modulo C (torch.randint(1, C, y.shape, generator=g))"),
    Exercise("q03_fit_vs_generalise", "03", "question", "fitting errors vs generalising"),
    _coding("binomial_ci", "04", "a confidence interval for an accuracy", _check_binomial_ci,
            "the Wilson interval: centre (p + z^2/2n) / (1 + z^2/n), half-width "
            "z * sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)"),
    _coding("shift_share", "04", "how often does the D_det student say y+1?", _check_shift_share,
            "compare pred with (y + 1) % num_classes; the modulo matters for the last class"),
    Exercise("q04_which_caveat", "04", "question", "which caveat touches which set"),
    _coding("relabel_with_teacher", "05", "relabel a dataset with a teacher", _check_relabel_with_teacher,
            "pred = teacher(x).argmax(1) under torch.no_grad(); keep = pred != y; return x[keep], pred[keep]"),
    _coding("error_agreement", "05", "does the student copy its teacher's mistakes?", _check_error_agreement,
            "select the images where teacher_pred != y first, then compare student and teacher there"),
    Exercise("q05_random_below_chance", "05", "question", "why random wrong labels score below chance"),
    _coding("linf_project", "06", "the L-inf projection", _check_linf_project,
            "torch.max(torch.min(x, x0 + eps), x0 - eps), then .clamp(0, 1)"),
    _coding("keep_flips", "06", "which points flipped?", _check_keep_flips,
            "a flip needs two things: right before the attack (pred_clean == y) and wrong after it"),
    Exercise("q06_more_flips", "06", "question", "more flips than Wallace"),
    _coding("transfer_rate", "07", "a transfer rate", _check_transfer_rate,
            "mask = success & (target != y_true); return (pred_other[mask] == target[mask]).float().mean()"),
    _coding("nearest_neighbour_labels", "07", "a 1-nearest-neighbour reader", _check_nearest_neighbour_labels,
            "torch.cdist(a.flatten(1), b.flatten(1)) gives all pairwise distances; argmin(1) picks the closest"),
    Exercise("q07_failed_control", "07", "question", "what a failed control means"),
]}


def run_check(name: str, fn: Callable) -> tuple:
    """``(status, message)`` for ``fn`` as the answer to coding exercise ``name``; never raises on ``fn``."""
    if name not in EXERCISES or EXERCISES[name].kind != "coding":
        coding = sorted(n for n, e in EXERCISES.items() if e.kind == "coding")
        raise ValueError(f"no coding exercise named {name!r}; the names are: {', '.join(coding)}")
    ex = EXERCISES[name]
    try:
        ex.checker(fn)
    except NotImplementedError:
        return NOT_ATTEMPTED, "the stub still raises NotImplementedError: write the function, then rerun this cell"
    except CheckFailed as err:
        return FAIL, f"{err}. Hint: {ex.hint}"
    except Exception as err:  # the student's code crashed on a test case
        return FAIL, f"your function raised {type(err).__name__}: {err}. Hint: {ex.hint}"
    return PASS, "all cases right"


def check(name: str, fn: Callable) -> None:
    """Check the student's ``fn`` for exercise ``name`` and print the verdict (PASS, FAIL + hint, not attempted)."""
    passed(name, fn)


def passed(name: str, fn: Callable) -> bool:
    """As :func:`check`, and return whether ``fn`` passed (for cells that then use it)."""
    status, message = run_check(name, fn)
    label = {PASS: "PASS", FAIL: "FAIL", NOT_ATTEMPTED: "not attempted"}[status]
    print(f"[{label}] {name} ({EXERCISES[name].title}): {message}")
    return status == PASS


def compare_prediction(what: str, guess, measured: float, *, percent: bool = True) -> Optional[float]:
    """Print the guess beside the measurement; return guess minus measurement (None without a guess).

    With ``percent`` (default) ``measured`` is a fraction in [0, 1] and ``guess`` a
    percentage 0-100, as the notebooks ask for; otherwise both are in the same units.
    """
    shown = f"{100 * measured:.1f}%" if percent else f"{measured:.3g}"
    if guess is None:
        print(f"{what}: measured {shown}; no guess recorded (set the guess variable before the run next time)")
        return None
    try:
        g = float(guess)
    except (TypeError, ValueError):
        print(f"{what}: measured {shown}; could not read the guess {guess!r} (write a number)")
        return None
    m = 100 * measured if percent else measured
    unit = " points" if percent else ""
    diff = g - m
    side = "high" if diff > 0 else "low"
    verdict = "spot on" if abs(diff) < 1e-9 else f"{abs(diff):.1f}{unit} {side}"
    note = ""
    if percent and 0 < g <= 1:
        note = " (guesses are percentages: 0.6 means 0.6%, write 60 for 60%)"
    print(f"{what}: you guessed {g:g}{'%' if percent else ''}, measured {shown}: {verdict}{note}")
    return diff


def listing(notebook: Optional[str] = None) -> str:
    """The exercises (of one notebook, e.g. ``"02"``, or all) as lines of text."""
    rows = [e for e in EXERCISES.values() if notebook is None or e.notebook == notebook]
    return "\n".join(f"{e.notebook} {e.kind:<8} {e.name:<26} {e.title}" for e in rows)
