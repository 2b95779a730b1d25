"""Controls that make the error-learning claim falsifiable (notebook 07).

* :func:`get_random_label_set` -- unperturbed images, labels from a target rule,
  no model involved (is it the perturbation or the label noise?);
* :func:`get_transfer_model` -- an independent clean model of another architecture;
* :func:`transfer_rate` -- how often a source's adversarial examples fool
  *another* model into the target class (Ilyas Fig. 3: learnability tracks it);
* :func:`robust_accuracy` -- accuracy under an untargeted attack, per radius;
* :func:`eps_configs` -- the eps sweep's points (notebook 07 and the course runner, which
  starts them early, read each with :func:`errlib.stages.leakage.eps_point`);
  :func:`eps_sweep_plan` -- the same sweep as papermill reruns of notebook 04, for a researcher.

The untrained-source, D_other, architecture and quantisation controls reuse
:mod:`errlib.stages.pipeline` (``get_source(untrained=True)``, rule ``"other"``,
``cfg.replace(student_model=...)``, ``get_student(quantize=True)``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..core.attacks import pgd
from ..core import data as D
from .cache import run_stage
from .config import PARAMETERS, Config
from .errsets import ErrorSet, random_label_set
from .pipeline import Stage, attacked_images, load_splits, source_recipe, train_stage
from ..core.seeds import derive
from ..core.train import predict


def get_random_label_set(cfg: Config, rule: str = "all", n: Optional[int] = None) -> Stage:
    """The first ``n`` (default ``cfg.n_control``) attacked images, *unperturbed*, labelled by ``rule``.

    The labels come from the seed the error sets' targets use, so with rule
    ``"all"`` each image gets the very label D_rand gave it: the one difference
    from D_rand is the perturbation.
    """
    n = n or cfg.n_control
    settings = dict(control="random_labels", rule=rule, n=n, n_attack=cfg.n_attack,
                    subset_seed=derive(cfg.seed, "attack_subset"), labels_seed=derive(cfg.seed, "targets"),
                    dataset=cfg.dataset)

    def build():
        X, y = attacked_images(cfg)
        es = random_label_set(X[:n], y[:n], rule=rule, num_classes=cfg.num_classes, seed=settings["labels_seed"])
        return es.to_dict(), es.summary()

    res = run_stage("errset", settings, build)
    return Stage(ErrorSet.from_dict(res.payload), res)


def get_transfer_model(cfg: Config, arch: str, *, force: bool = False) -> Stage:
    """A clean ``arch`` model trained with the source recipe on ``transfer_n_train`` images,
    independent of the source model (its own subset, initial weights and batch order)."""
    X, y, Xt, yt = load_splits(cfg.dataset)
    subset_seed = derive(cfg.seed, "transfer_subset")
    Xs, ys = D.subset(X, y, cfg.transfer_n_train, seed=subset_seed)
    recipe = source_recipe(cfg, arch=arch, init_seed=derive(cfg.seed, "transfer_init"),
                           order_seed=derive(cfg.seed, "transfer_order"))
    return train_stage("source", recipe, Xs, ys, X_test=Xt, y_test=yt, device=cfg.device, force=force,
                       key=dict(n_train=cfg.transfer_n_train, subset_seed=subset_seed))


def transfer_rate(model: nn.Module, es: ErrorSet) -> float:
    """Share of ``es``'s *successful* adversarial images that ``model`` also assigns to the target."""
    ok = es.success & (es.y != es.y_true)
    if not ok.any():
        return float("nan")
    return (predict(model, es.x[ok]) == es.y[ok]).float().mean().item()


def robust_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps_list: Sequence[float], *,
                    steps: int = 20, norm: str = "l2", progress: bool = True) -> Dict[float, float]:
    """Accuracy under an untargeted PGD attack of each radius (``0.0``: clean accuracy)."""
    out = {0.0: (predict(model, X) == y).float().mean().item()}
    for eps in eps_list:
        res = pgd(model, X, y, eps=float(eps), steps=steps, norm=norm, targeted=False, progress=progress,
                  desc=f"untargeted PGD eps={eps:g}")
        out[float(eps)] = 1.0 - res.success_rate
    return out


def eps_configs(cfg: Config) -> List[Config]:
    """Notebook 07's eps sweep as one config per radius of ``sweep_eps``: ``cfg``'s settings with
    ``sweep_n_attack`` attacked images, one seed, no constrained sets, and the step size
    following each radius unless ``cfg`` sets one (:func:`errlib.stages.leakage.eps_point` reads each)."""
    return [cfg.replace(eps=float(e), n_attack=cfg.sweep_n_attack, n_seeds=1, n_constrained=0) for e in cfg.sweep_eps]


def eps_sweep_plan(cfg: Config) -> Tuple[Dict[str, List[float]], Dict[str, Any]]:
    """Notebook 07's eps sweep as ``(grid, parameters)`` for :func:`errlib.run.sweep.sweep` of notebook 04.

    Every grid point gets all of ``cfg``'s resolved shared settings (so a sweep
    never falls back to another profile's), ``sweep_n_attack`` attacked images
    and one seed; the step size follows each radius unless ``cfg`` sets one. No
    judge-constrained sets (``n_constrained=0``): the sweep reads the plain sets.
    """
    fixed = {k: getattr(cfg, k) for k in PARAMETERS if k not in ("profile", "eps", "device")}
    fixed.update(n_attack=cfg.sweep_n_attack, n_seeds=1, step_size=cfg.step_size, n_constrained=0)
    return {"eps": [float(e) for e in cfg.sweep_eps]}, fixed
