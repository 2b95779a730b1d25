"""Error datasets: training sets made only of a model's errors.

Every builder returns an :class:`ErrorSet`, one record per image:

==============  =====================  ============================================
field           shape / dtype          meaning
==============  =====================  ============================================
``x``           (N, C, H, W) float32   image in [0, 1] (perturbed or not)
``y``           (N,) int64             the label we *train on* (target / teacher's)
``y_true``      (N,) int64             the image's true label (in its own dataset)
``source_pred`` (N,) int64             the source/teacher model's prediction on ``x``
``success``     (N,) bool              attack reached its target / teacher erred
``delta_norm``  (N,) float32           ``||x - x_clean||`` (0 when unperturbed)
==============  =====================  ============================================

Builders:

* :func:`make_targets` -- the named target rules: ``"all"`` (uniform over all C
  classes: the paper's D_rand), ``"other"`` (uniform over the C-1 wrong classes:
  D_other), ``"shift"`` (``(y + 1) mod C``: D_det);
* :func:`adversarial_set` -- D_rand / D_det / D_other by targeted PGD;
* :func:`wrong_label_set` -- Wallace's D_wrong: a teacher's wrong predictions on
  unperturbed images, only the images it gets wrong;
* :func:`relabel_set` -- cross-domain: a teacher labels another dataset's images;
* :func:`random_label_set` -- the control: unperturbed images, labels from a rule.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, Optional

import torch
from torch import nn

from ..core.attacks import pgd
from ..core.data import to_float
from ..core.train import predict

TARGET_RULES = {
    "all": "uniform over all classes, so t = y with probability 1/C (the paper's D_rand)",
    "other": "uniform over the C - 1 other classes, never the true class (D_other)",
    "shift": "t = (y + 1) mod C (the paper's D_det)",
}


@dataclass
class ErrorSet:
    """Images with the labels a student trains on, and where they came from (see module doc)."""

    x: torch.Tensor
    y: torch.Tensor
    y_true: torch.Tensor
    source_pred: torch.Tensor
    success: torch.Tensor
    delta_norm: torch.Tensor

    def __post_init__(self):
        n = len(self.x)
        for f in fields(self):
            if len(getattr(self, f.name)) != n:
                raise ValueError(f"ErrorSet field {f.name} has {len(getattr(self, f.name))} rows, x has {n}")

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx) -> "ErrorSet":
        """Rows selected by a mask, index tensor or slice, e.g. ``es[es.success]``."""
        return ErrorSet(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @property
    def success_rate(self) -> float:
        return self.success.float().mean().item() if len(self) else float("nan")

    @property
    def label_agrees_with_truth(self) -> float:
        """Share of rows whose training label equals the true label."""
        return (self.y == self.y_true).float().mean().item() if len(self) else float("nan")

    def to_dict(self) -> Dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Dict[str, torch.Tensor]) -> "ErrorSet":
        return cls(**{f.name: d[f.name] for f in fields(cls)})

    def quantized(self) -> "ErrorSet":
        """A copy with pixels rounded to the nearest of 256 levels (as when saved as PNG)."""
        out = self[:]
        out.x = (self.x * 255).round() / 255
        return out

    def summary(self) -> Dict[str, float]:
        return {"n": len(self), "success_rate": self.success_rate,
                "label_is_true_class": self.label_agrees_with_truth,
                "mean_delta_norm": self.delta_norm.float().mean().item() if len(self) else float("nan")}


def make_targets(y: torch.Tensor, rule: str, num_classes: int = 10, *, seed: int = 0) -> torch.Tensor:
    """Target classes ``(N,)`` int64 for true labels ``y`` under a named rule (see ``TARGET_RULES``)."""
    if rule not in TARGET_RULES:
        raise ValueError(f"unknown target rule {rule!r}; allowed: "
                         + "; ".join(f"{k} ({v})" for k, v in TARGET_RULES.items()))
    y = y.long().cpu()
    if rule == "shift":
        return (y + 1) % num_classes
    g = torch.Generator().manual_seed(int(seed))
    if rule == "all":
        return torch.randint(0, num_classes, y.shape, generator=g)
    # "other": add a uniform offset in [1, C-1], so the target is never y and uniform over the rest.
    return (y + torch.randint(1, num_classes, y.shape, generator=g)) % num_classes


def adversarial_set(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, rule: str,
                    eps: float, steps: int, step_size: Optional[float] = None,
                    norm: str = "l2", num_classes: int = 10, seed: int = 0,
                    random_start: bool = False, generator: Optional[torch.Generator] = None,
                    batch_size: int = 512, progress: bool = True) -> ErrorSet:
    """Attack every image toward a target from ``rule`` and label it with the target.

    ``rule="all"`` gives D_rand, ``"shift"`` gives D_det, ``"other"`` D_other.
    ``seed`` draws the targets; ``generator`` the random starts, if any.
    All images are kept, failed attacks included (filter with ``es[es.success]``).
    """
    targets = make_targets(y, rule, num_classes, seed=seed)
    res = pgd(model, x, targets, eps=eps, steps=steps, step_size=step_size, norm=norm,
              targeted=True, random_start=random_start, generator=generator, batch_size=batch_size,
              progress=progress, desc=f"PGD toward '{rule}' targets")
    return ErrorSet(x=res.x_adv, y=targets, y_true=y.long().cpu(), source_pred=res.pred,
                    success=res.success, delta_norm=res.delta_norm.float())


class AttackDidNotWork(RuntimeError):
    """An error set whose attack left the images as they were, or reached its targets hardly more often
    than chance: numbers built on it would be garbage, so the run stops (:func:`check_attack_worked`)."""


def check_attack_worked(es_or_metrics, chance: float, what: str) -> None:
    """Stop with :class:`AttackDidNotWork`, saying what to change, if an attacked error set is not one.

    ``es_or_metrics``: an :class:`ErrorSet` or its :meth:`ErrorSet.summary` (a stage's metrics).
    Refused: a mean perturbation norm of zero (eps or the step size moved no pixel), or an attack
    success rate under twice ``chance`` (the labels would be nearly the targets' noise, and a student
    near chance would say nothing about features). The eps sweep's points are weak on purpose and
    are not checked (``get_errset(..., guard=False)``).
    """
    m = es_or_metrics.summary() if isinstance(es_or_metrics, ErrorSet) else es_or_metrics
    norm, success = float(m["mean_delta_norm"]), float(m["success_rate"])
    if not norm > 0:  # nan (no rows) as well as 0
        raise AttackDidNotWork(f"{what}: the attack moved no pixel (mean perturbation norm {norm:g}); "
                               "give eps and step_size finite positive values and check steps >= 1")
    if not success >= 2 * chance:
        raise AttackDidNotWork(f"{what}: the attack reached its target on {100 * success:.1f}% of images, under "
                               f"twice chance ({100 * 2 * chance:.0f}%); raise eps or steps, or check that the "
                               "source model is trained (its test accuracy)")


def _unperturbed(x, labels, y_true, pred, success) -> ErrorSet:
    return ErrorSet(x=to_float(x), y=labels.long(), y_true=y_true.long().cpu(), source_pred=pred,
                    success=success, delta_norm=torch.zeros(len(x)))


def wrong_label_set(teacher: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                    pred: Optional[torch.Tensor] = None) -> ErrorSet:
    """Wallace's D_wrong: the images ``teacher`` misclassifies, labelled with its wrong prediction.

    ``pred``: the teacher's predictions on ``x`` ``(N,)`` if already computed
    (e.g. loaded from the cache); ``teacher`` is then not run.
    """
    pred = predict(teacher, x) if pred is None else pred.long().cpu()
    wrong = pred != y.cpu()
    return _unperturbed(x[wrong], pred[wrong], y[wrong], pred[wrong], torch.ones(int(wrong.sum()), dtype=torch.bool))


def relabel_set(teacher: nn.Module, x: torch.Tensor, y_own: torch.Tensor, *,
                pred: Optional[torch.Tensor] = None) -> ErrorSet:
    """Cross-domain relabelling: every image gets the teacher's prediction as its label.

    ``y_own`` are the images' labels in their own dataset (e.g. Fashion-MNIST
    classes); they are kept as ``y_true`` for plots, not for training.
    ``success`` is all True (every label is the teacher's invention).
    ``pred``: the teacher's predictions on ``x`` if already computed.
    """
    pred = predict(teacher, x) if pred is None else pred.long().cpu()
    return _unperturbed(x, pred, y_own, pred, torch.ones(len(x), dtype=torch.bool))


def random_label_set(x: torch.Tensor, y: torch.Tensor, *, rule: str = "all", num_classes: int = 10,
                     seed: int = 0) -> ErrorSet:
    """Control: unperturbed images with labels drawn by a target rule (no model involved)."""
    labels = make_targets(y, rule, num_classes, seed=seed)
    return _unperturbed(x, labels, y, labels, labels != y.cpu())
