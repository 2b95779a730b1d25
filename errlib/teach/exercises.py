"""Exercises for the course: predictions before a result, and checkers for coding exercises.

Two tools, both safe to call from a notebook that runs unattended (papermill, CI): they
print, and never raise because of what the student did or did not do.

* :func:`compare_prediction` sets a guess written *before* a run beside the measurement.
  ``None`` (the default in every notebook) prints "no guess recorded".
* :func:`check` runs the checker of a coding exercise on the student's function and
  prints ``PASS``, ``FAIL`` with a hint, or ``not attempted`` when the stub still raises
  ``NotImplementedError``; :func:`passed` does the same and returns whether it passed.

The checkers live in :mod:`errlib.teach.checkers` (the whole PGD loop's in
:mod:`errlib.teach.pgd_checker`, their shared tools in :mod:`errlib.teach.check_kit`): each
draws several fresh cases per call beside fixed edge cases, checks properties as well as
values, fails a function that changes its inputs or draws from torch's global random
generator, and never prints a case's expected answer. Hints point at the idea, not at the code. Reference solutions live apart,
in :mod:`errlib.teach.solutions`; no notebook imports them. :data:`EXERCISES` lists every
exercise, coding or question, with the notebook it belongs to.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch

from . import checkers as ck
from .pgd_checker import check_targeted_pgd
from .check_kit import CheckFailed  # noqa: F401 (re-exported: a checker's finding)

NOT_ATTEMPTED, PASS, FAIL = "not attempted", "pass", "fail"


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
    _coding("normalize", "01", "the Normalize layer", ck.check_normalize,
            "every channel has its own mean and std, and each must meet every pixel of its own channel"),
    _coding("per_class_error", "01", "error rate per class", ck.check_per_class_error,
            "a class's error rate compares its wrong images with its own images, not with the whole test set; a "
            "class with no image has no rate"),
    Exercise("q01_accurate_not_robust", "01", "question", "accurate but not robust"),
    _coding("l2_step", "02", "the L2 step", ck.check_l2_step,
            "each example moves exactly step_size along its own gradient's direction, whatever the gradient's "
            "size; an example with no gradient has no direction"),
    _coding("l2_project", "02", "the L2 projection", ck.check_l2_project,
            "only a perturbation longer than eps changes: it shrinks to length eps along its own direction; "
            "valid pixels come last"),
    _coding("targeted_pgd", "02", "the whole targeted L2 PGD loop", check_targeted_pgd,
            "start from a copy of x0; at every step take a fresh gradient of minus the loss toward the target "
            "(detach the iterate), step, project onto the ball and the box, and keep each image's iterate of "
            "lowest loss, the clean image included"),
    _coding("relative_radius", "02", "how big is eps next to an image?", ck.check_relative_radius,
            "an image's L2 norm is the square root of the sum of its squared pixels"),
    _coding("targets_other", "03", "a target rule that never picks the true class", ck.check_targets_other,
            "draw how far from y the target lies (never zero steps round the classes), so that every other "
            "class is equally likely for every y; all randomness goes through the generator passed in"),
    Exercise("q03_fit_vs_generalise", "03", "question", "fitting errors vs generalising"),
    _coding("binomial_ci", "04", "a confidence interval for an accuracy", ck.check_binomial_ci,
            "Wilson's interval holds every true accuracy p within z standard errors of the measured one, the "
            "standard error computed at p itself (so it never collapses at 0% or 100%)"),
    _coding("shift_share", "04", "how often does the D_det student say y+1?", ck.check_shift_share,
            "the class after the last class is the first one"),
    Exercise("q04_which_caveat", "04", "question", "which caveat touches which set"),
    _coding("relabel_with_teacher", "05", "relabel a dataset with a teacher", ck.check_relabel_with_teacher,
            "keep only the images the teacher gets wrong; each one's new label is the class the teacher said, an "
            "integer class like every label"),
    _coding("error_agreement", "05", "does the student copy its teacher's mistakes?", ck.check_error_agreement,
            "only the images the teacher gets wrong count, in the numerator and in the denominator"),
    Exercise("q05_random_below_chance", "05", "question", "what random wrong labels can teach"),
    _coding("linf_project", "06", "the L-inf projection", ck.check_linf_project,
            "each coordinate on its own: no further than eps from the original, then a valid value"),
    _coding("keep_flips", "06", "which points flipped?", ck.check_keep_flips,
            "a flip is a fact about a point before the attack and after it: right before, wrong after"),
    Exercise("q06_more_flips", "06", "question", "flips here and in Wallace's figure"),
    _coding("transfer_rate", "07", "a transfer rate", ck.check_transfer_rate,
            "only rows where the source really was fooled into a wrong class count; of those, how often does "
            "the other model say the target?"),
    _coding("nearest_neighbour_labels", "07", "a 1-nearest-neighbour reader", ck.check_nearest_neighbour_labels,
            "nearest means the smallest Euclidean (L2) distance over all pixels; return labels, not positions"),
    Exercise("q07_failed_control", "07", "question", "what a failed control means"),
    Exercise("q08_confidence", "08", "question", "why not maximise the judge's confidence in y"),
    Exercise("q08_blind", "08", "question", "a blind judge"),
    Exercise("q08_weak_judge", "08", "question", "a judge that is not robust enough"),
]}


def run_check(name: str, fn: Callable, seed: Optional[int] = None) -> tuple:
    """``(status, message)`` for ``fn`` as the answer to coding exercise ``name``; never raises on ``fn``.

    ``seed`` fixes the cases drawn (tests); ``None`` draws fresh ones, so a function that
    hard-codes the answers of one call fails the next.
    """
    if name not in EXERCISES or EXERCISES[name].kind != "coding":
        coding = sorted(n for n, e in EXERCISES.items() if e.kind == "coding")
        raise ValueError(f"no coding exercise named {name!r}; the names are: {', '.join(coding)}")
    ex = EXERCISES[name]
    seed = int.from_bytes(os.urandom(4), "little") if seed is None else int(seed)
    try:
        with torch.no_grad():
            ex.checker(fn, torch.Generator().manual_seed(seed))
    except NotImplementedError:
        return NOT_ATTEMPTED, "the stub still raises NotImplementedError: write the function, then rerun this cell"
    except CheckFailed as err:
        return FAIL, f"{err}. Hint: {ex.hint}"
    except Exception as err:  # the student's code crashed on a test case
        return FAIL, f"your function raised {type(err).__name__}: {err}. Hint: {ex.hint}"
    return PASS, f"all cases right ({ck.ROUNDS} or more fresh cases, edge cases included)"


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
