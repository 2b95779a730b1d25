"""Reference solutions to the course's coding exercises (see :mod:`errlib.teach.exercises`).

Try an exercise before reading its solution here. No notebook imports this file: the
notebooks hold only stubs, and the checkers in :mod:`errlib.teach.exercises` test a student's
function against hand-made cases and errlib's own functions, not against these. The
tests (``tests/test_exercises.py``) run every checker on the solution below, which must
pass. It lives inside the package so that a Colab kernel, which installs errlib and
nothing else, has it too.

Conventions as everywhere in errlib: images ``(N, C, H, W)`` float in [0, 1], labels
``(N,)`` int64, accuracies and rates are fractions in [0, 1].
"""
from __future__ import annotations

import math
from typing import Callable, Sequence, Tuple

import torch


def _per_example(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape ``(N,)`` to ``(N, 1, 1, ...)`` so it broadcasts over ``like``'s other axes."""
    return v.view(-1, *[1] * (like.dim() - 1))


# 01 · the source model
def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Per-channel ``(x - mean) / std`` for ``x`` of shape (N, C, H, W)."""
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def per_class_error(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Error rate among the images of each true class, shape (num_classes,); nan for an absent class."""
    wrong = torch.bincount(y[pred != y], minlength=num_classes).float()
    total = torch.bincount(y, minlength=num_classes).float()
    return wrong / total


# 02 · crafting the errors
def l2_step(x: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
    """Move each example ``step_size`` along its own gradient direction (L2-normalised per example)."""
    g_norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return x + step_size * grad / _per_example(g_norm, grad)


def l2_project(x: torch.Tensor, x0: torch.Tensor, eps: float) -> torch.Tensor:
    """Pull each ``x`` back into the L2 ball of radius ``eps`` around ``x0``, then into [0, 1]."""
    delta = x - x0
    d_norm = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    scale = torch.clamp(eps / d_norm, max=1.0)
    return (x0 + delta * _per_example(scale, delta)).clamp(0.0, 1.0)


def relative_radius(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``eps / ||x||_2`` per image, shape (N,): how large the attack's budget is next to the image."""
    return eps / x.flatten(1).norm(dim=1)


# 03 · training on errors
def targets_other(y: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """A target for each label, uniform over the ``num_classes - 1`` classes that are not ``y``."""
    offset = torch.randint(1, num_classes, y.shape, generator=generator)
    return (y + offset) % num_classes


# 04 · measuring
def binomial_ci(acc: float, n: int, z: float = 1.96) -> Tuple[float, float]:
    """Wilson score interval for an accuracy ``acc`` measured on ``n`` independent test images."""
    denom = 1 + z * z / n
    centre = (acc + z * z / (2 * n)) / denom
    half = z * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def shift_share(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> float:
    """Share of predictions equal to ``(y + 1) mod num_classes``, the D_det training label."""
    return (pred == (y + 1) % num_classes).float().mean().item()


# 05 · wrong labels
def relabel_with_teacher(teacher: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Wallace's D_wrong: the images the teacher gets wrong, labelled with its wrong answer."""
    with torch.no_grad():
        pred = teacher(x).argmax(1)
    wrong = pred != y
    return x[wrong], pred[wrong]


def error_agreement(student_pred: torch.Tensor, teacher_pred: torch.Tensor, y: torch.Tensor) -> float:
    """Among images the teacher gets wrong, the share where the student gives the same wrong answer."""
    teacher_wrong = teacher_pred != y
    return (student_pred[teacher_wrong] == teacher_pred[teacher_wrong]).float().mean().item()


# 06 · the 2-D toy
def linf_project(x: torch.Tensor, x0: torch.Tensor, eps: float) -> torch.Tensor:
    """Clip each coordinate to ``[x0 - eps, x0 + eps]`` and to [0, 1]."""
    return torch.max(torch.min(x, x0 + eps), x0 - eps).clamp(0.0, 1.0)


def keep_flips(y: torch.Tensor, pred_clean: torch.Tensor, pred_adv: torch.Tensor) -> torch.Tensor:
    """Bool mask of the points the teacher got right and the attack made it get wrong."""
    return (pred_clean == y) & (pred_adv != y)


# 07 · controls
def transfer_rate(pred_other: torch.Tensor, target: torch.Tensor, y_true: torch.Tensor,
                  success: torch.Tensor) -> float:
    """Share of the source's successful, truly wrong-target examples that another model also calls the target."""
    ok = success & (target != y_true)
    if not ok.any():
        return float("nan")
    return (pred_other[ok] == target[ok]).float().mean().item()


def nearest_neighbour_labels(x_query: torch.Tensor, x_ref: torch.Tensor, y_ref: torch.Tensor) -> torch.Tensor:
    """The label of each query image's nearest reference image in pixel (L2) distance."""
    return y_ref[torch.cdist(x_query.flatten(1), x_ref.flatten(1)).argmin(1)]


def targeted_pgd(model: torch.nn.Module, x0: torch.Tensor, target: torch.Tensor, eps: float, steps: int,
                 step_size: float) -> torch.Tensor:
    """Targeted L2 PGD: ``steps`` steps toward ``target``, each image's iterate of lowest loss kept.

    The loss toward the target is measured at the clean input, after every step and at the
    last iterate (``steps + 1`` evaluations, as :func:`errlib.core.attacks.pgd`); ties keep
    the earlier iterate.
    """
    x = x0.clone()
    best, best_loss = x0.clone(), torch.full((len(x0),), float("inf"))
    for i in range(steps + 1):
        x.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(x), target, reduction="none")
        (grad,) = torch.autograd.grad(-loss.sum(), x)  # ascend J = -CE: toward the target
        x, loss = x.detach(), loss.detach()
        better = loss < best_loss
        best[better], best_loss = x[better], torch.where(better, loss, best_loss)
        if i < steps:
            x = l2_project(l2_step(x, grad, step_size), x0, eps)
    return best
