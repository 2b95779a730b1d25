"""Part II, Wallace's "Learning from Incorrectly Labeled Data" (notebook 05), as cached stages.

Every ``get_*`` returns a :class:`~errlib.stages.pipeline.Stage` (``value``, ``result``)::

    teacher (weak, few steps) --> labels --> wrong_student(teacher labels | random wrong labels)
    source (MNIST)            --> labels (Fashion-MNIST, raw | normalised) --> cross_student

A "labels" stage stores only the teacher's predictions on its image pool (N,);
the pixels are never changed, so the ErrorSet is rebuilt from the dataset on load.
The weak teacher trains with Part I's source recipe for a few optimiser steps,
the students with Part I's student recipe (:mod:`errlib.stages.pipeline`).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..core import data as D
from . import pipeline as P
from .cache import StageResult, run_stage
from .config import Config
from .errsets import ErrorSet, random_label_set, relabel_set, wrong_label_set
from .pipeline import Stage
from ..core.seeds import derive
from ..core.train import TrainRecipe, evaluate, predict

WRONG_LABELS = {
    "teacher": "D_wrong: the images the weak teacher gets wrong, labelled with its wrong answer",
    "random": "control: the same images, each with a wrong label drawn uniformly (rule 'other')",
}


def test_split(cfg: Config, dataset: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The test images (uint8) and labels Part II scores on: all, or ``n_test`` seeded ones."""
    _, _, Xt, yt = P.load_splits(dataset)
    if cfg.n_test is None or cfg.n_test >= len(Xt):
        return Xt, yt
    return D.subset(Xt, yt, cfg.n_test, seed=derive(cfg.seed, "test_subset"))


def weak_pool(cfg: Config) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``weak_dataset`` training images (uint8) and labels the weak teacher trains on and relabels.

    ``n_train`` of them, the subset :func:`errlib.stages.pipeline.get_source` draws for that dataset.
    """
    return P.train_subset(cfg, cfg.weak_dataset)


def teacher_recipe(cfg: Config, steps: Optional[int] = None) -> TrainRecipe:
    """The weak teacher: the source recipe on ``weak_dataset`` for ``steps`` optimiser steps
    (default ``teacher_steps``) at a constant learning rate."""
    steps = steps if steps is not None else cfg.resolved_teacher_steps
    return P.source_recipe(cfg, cfg.weak_dataset, epochs=None, steps=steps, schedule="constant",
                           init_seed=derive(cfg.seed, "teacher_init"))


def get_weak_teacher(cfg: Config, *, steps: Optional[int] = None, force: bool = False) -> Stage:
    """Wallace's deliberately weak teacher: :func:`teacher_recipe` trained on :func:`weak_pool`;
    ``steps`` overrides the budget. Metrics: ``test_acc`` on the clean test set."""
    X, y = weak_pool(cfg)
    Xt, yt = test_split(cfg, cfg.weak_dataset)
    return P.train_stage("teacher", teacher_recipe(cfg, steps), X, y, X_test=Xt, y_test=yt,
                         key=dict(n_train=cfg.n_train, n_test=cfg.n_test, role="weak_teacher"),
                         device=cfg.device, force=force)


def teacher_budgets(cfg: Config) -> Tuple[int, ...]:
    """Step budgets for the calibration curve: 1/4 to 3 times ``teacher_steps``."""
    t = cfg.resolved_teacher_steps
    return tuple(sorted({max(1, round(f * t)) for f in (0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3)}))


def get_teacher_curve(cfg: Config, budgets: Optional[Sequence[int]] = None, *,
                      n_probe: Optional[int] = None, force: bool = False) -> Stage:
    """How accurate is a teacher after ``b`` optimiser steps? One fresh teacher per budget.

    ``value``: rows ``{"steps", "train_acc", "test_acc"}``, accuracies on ``n_probe`` seeded images
    of the training pool and of the test set (default: 2,000, or a tenth of a smaller pool); one
    cached stage. Used to choose ``teacher_steps``; ``budgets`` default to :func:`teacher_budgets`.
    """
    budgets = tuple(budgets) if budgets is not None else teacher_budgets(cfg)
    if n_probe is None:
        n_probe = min(2000, max(1, len(weak_pool(cfg)[0]) // 10))
    settings = dict(teacher_recipe(cfg).to_dict(), steps=list(budgets), n_probe=n_probe,
                    n_train=cfg.n_train, probe_seed=derive(cfg.seed, "probe_subset"))

    def build():
        X, y = weak_pool(cfg)
        _, _, Xt, yt = P.load_splits(cfg.weak_dataset)
        Xp, yp = D.subset(X, y, min(n_probe, len(X)), seed=settings["probe_seed"])
        Xq, yq = D.subset(Xt, yt, min(n_probe, len(Xt)), seed=settings["probe_seed"])
        rows = []
        for b in budgets:
            recipe = teacher_recipe(cfg, steps=b)
            model = recipe.make_model()
            recipe.fit(model, X, y, device=cfg.device, progress=False)
            rows.append({"steps": b, "train_acc": evaluate(model, Xp, yp), "test_acc": evaluate(model, Xq, yq)})
        return {}, {"rows": rows}

    res = run_stage("teacher_curve", settings, build, force=force)
    return Stage(res.metrics["rows"], res)


def _labels_stage(name: str, settings: Dict[str, Any], teacher: Tuple[nn.Module, StageResult],
                  X: torch.Tensor, y: torch.Tensor, X_test: torch.Tensor, num_classes: int,
                  force: bool) -> Stage:
    """The teacher's predictions on ``X`` (cached), with agreement and a label histogram as metrics;
    the payload also keeps its predictions on ``X_test`` (``"test_pred"``) for the students' agreement."""
    model, t_res = teacher

    def build():
        pred = predict(model, X)
        return ({"pred": pred, "test_pred": predict(model, X_test)},
                {"n": len(X), "agree_with_own_labels": (pred == y).float().mean().item(),
                 "label_counts": torch.bincount(pred, minlength=num_classes).tolist(),
                 "teacher_test_acc": t_res.metrics.get("test_acc")})

    res = run_stage("labels", dict(settings, name=name, n_test=len(X_test)), build, upstream=[t_res.key],
                    force=force)
    return Stage(res.payload["pred"], res)


def get_wrong_label_set(cfg: Config, *, teacher: Optional[Tuple[nn.Module, StageResult]] = None,
                        force: bool = False) -> Stage:
    """Wallace's D_wrong (:func:`errlib.stages.errsets.wrong_label_set`) from the weak teacher.

    Metrics: ``n`` (pool size), ``agree_with_own_labels`` (the teacher's accuracy on the pool:
    Wallace's "train" accuracy), ``label_counts``, ``teacher_test_acc``; ``len`` of the set is the
    number of training images the teacher gets wrong.
    """
    model, t_res = teacher if teacher is not None else get_weak_teacher(cfg)
    X, y = weak_pool(cfg)
    settings = dict(pool=cfg.weak_dataset, n_train=cfg.n_train, subset_seed=derive(cfg.seed, "train_subset"))
    pred, res = _labels_stage("weak_pool", settings, (model, t_res), X, y, test_split(cfg, cfg.weak_dataset)[0],
                              D.dataset_info(cfg.weak_dataset).num_classes, force)
    return Stage(wrong_label_set(model, X, y, pred=pred), res)


def _agreement(pred: torch.Tensor, X_test: torch.Tensor, labels_res: StageResult, teacher: nn.Module) -> float:
    """Share of ``X_test`` where a student, with classes ``pred``, answers as the teacher (the
    labels stage's cached ``test_pred`` when it matches ``X_test``, else the teacher is run)."""
    t_pred = labels_res.payload.get("test_pred")
    if t_pred is None or len(t_pred) != len(X_test):
        t_pred = predict(teacher, X_test)
    return (pred == t_pred).float().mean().item()


def _distilled_student(stage: str, cfg: Config, recipe: TrainRecipe, key: Dict[str, Any], es: ErrorSet,
                       es_res: StageResult, teacher: nn.Module, dataset: str, force: bool) -> Stage:
    """Train a student on ``es`` (a teacher's labels) and record how often it answers as the teacher,
    and its test accuracy per true class (``test_acc_per_class``, a list of fractions)."""
    Xt, yt = test_split(cfg, dataset)

    def extra(model, test_pred):
        c = D.dataset_info(dataset).num_classes
        per_class = torch.bincount(yt[test_pred == yt], minlength=c) / torch.bincount(yt, minlength=c).clamp(min=1)
        return {"errset_train_acc": evaluate(model, es.x, es.y), "test_acc_per_class": per_class.tolist(),
                "test_agrees_with_teacher": _agreement(test_pred, Xt, es_res, teacher)}

    return P.train_stage(stage, recipe, es.x, es.y, X_test=Xt, y_test=yt, key=dict(key, n_test=cfg.n_test),
                         upstream=[es_res.key], device=cfg.device, force=force, extra_metrics=extra)


def get_wrong_label_student(cfg: Config, labels: str = "teacher", *,
                            teacher: Optional[Tuple[nn.Module, StageResult]] = None,
                            errset: Optional[Tuple[ErrorSet, StageResult]] = None,
                            force: bool = False) -> Stage:
    """A fresh ``student_model`` trained only on D_wrong's images, for ``wrong_epochs``.

    ``labels="teacher"``: the weak teacher's wrong labels (Wallace's experiment);
    ``labels="random"``: the control, a wrong label drawn uniformly per image
    (:func:`errlib.stages.errsets.random_label_set`, rule ``"other"``), no teacher in it.
    Metrics: ``test_acc`` (clean test set, true labels), ``errset_train_acc`` (fit to its own
    labels), ``test_agrees_with_teacher`` (share of test images answered as the weak teacher does).
    """
    if labels not in WRONG_LABELS:
        raise ValueError(f"labels must be one of {', '.join(WRONG_LABELS)}, got {labels!r}")
    t_model, t_res = teacher if teacher is not None else get_weak_teacher(cfg)
    es, es_res = errset if errset is not None else get_wrong_label_set(cfg, teacher=(t_model, t_res))
    if labels == "random":
        es = random_label_set(es.x, es.y_true, rule="other", num_classes=D.dataset_info(cfg.weak_dataset).num_classes,
                              seed=derive(cfg.seed, "random_labels"))
    recipe = P.student_recipe(cfg, cfg.weak_dataset, epochs=cfg.wrong_epochs)
    return _distilled_student("wrong_student", cfg, recipe, dict(labels=labels), es, es_res, t_model,
                              cfg.weak_dataset, force)


def cross_domain_config(cfg: Config) -> Config:
    """The settings of the MNIST teacher: ``cfg`` itself when it is on MNIST (so Part I's
    source model is the teacher, cached), else the profile's MNIST settings (the CPU
    ``default`` ones on the ``full`` profile: Wallace's teacher is a simple CNN)."""
    from .config import resolve

    if cfg.dataset == "mnist":
        return cfg
    profile = "default" if cfg.profile == "full" else cfg.profile
    return resolve(profile, dataset="mnist", seed=cfg.seed, device=cfg.device)


def get_cross_domain_teacher(cfg: Config, *, force: bool = False) -> Stage:
    """Wallace's MNIST teacher: the source model of :func:`cross_domain_config` (``get_source``)."""
    return P.get_source(cross_domain_config(cfg), force=force)


def match_stats(X: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Rescale images so their pixels have a given mean and standard deviation, staying in [0, 1].

    ``X``: ``(N, C, H, W)`` uint8 or float in [0, 1]; statistics over all pixels of the set, as
    MNIST's 0.1307 / 0.3081 are. Returns float32 ``clamp(a * X + b, 0, 1)``, one map for the whole
    set, ``a > 0``, such that the *clamped* result has ``mean`` and ``std`` (to about 1e-6 for
    uint8; a plain rescale then clamp misses both). Wallace's "Fashion-MNIST normalised with MNIST
    statistics". Fitted on the 256-level pixel histogram by bisection: ``b`` for the mean at each
    ``a``, then ``a`` for the standard deviation.
    """
    if not 0 < mean < 1:
        raise ValueError(f"mean must lie strictly between 0 and 1, got {mean!r}")
    limit = (mean * (1 - mean)) ** 0.5  # a 0/1 image set with this mean has the largest spread
    if not 0 < std < limit:
        raise ValueError(f"std must lie in (0, {limit:.4f}) for mean {mean}: a clamped image set "
                         f"cannot spread more than sqrt(mean * (1 - mean)); got {std!r}")
    D.check_pixels(X, "match_stats input")
    levels = X.flatten() if X.dtype == torch.uint8 else (X.flatten() * 255).round().to(torch.uint8)
    w = torch.bincount(levels, minlength=256).double() / levels.numel()
    v = torch.arange(256, dtype=torch.float64) / 255
    if (w > 0).sum() < 2:
        raise ValueError("match_stats: the images are constant; there is no spread to rescale")

    def moments(a, b):
        z = (a * v + b).clamp(0, 1)
        m = (w * z).sum().item()
        return m, max((w * z * z).sum().item() - m * m, 0.0) ** 0.5

    def b_for(a):  # the mean rises with b: bisect on [-a, 1]
        lo, hi = -a, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if moments(a, mid)[0] < mean else (lo, mid)
        return (lo + hi) / 2

    lo, hi = 1e-3, 1e4  # the spread at fixed mean rises with a: bisect in log space
    for _ in range(60):
        a = (lo * hi) ** 0.5
        lo, hi = (a, hi) if moments(a, b_for(a))[1] < std else (lo, a)
    a = (lo * hi) ** 0.5
    b = b_for(a)
    x = D.to_float(X)
    x = x * a if x is X else x.mul_(a)  # in place only on our own copy, never the caller's tensor
    return x.add_(b).clamp_(0, 1)


def cross_domain_images(cfg: Config, normalise: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST training images for the MNIST teacher to label, and their own labels.

    ``n_train`` of them (seeded; all 60,000 when ``None``). ``normalise=False``: uint8 pixels as
    they are; ``True``: float32, rescaled to MNIST's pixel mean and sd (:func:`match_stats`).
    """
    X, y = P.train_subset(cfg, "fashion_mnist")
    if normalise:
        info = D.dataset_info("mnist")
        X = match_stats(X, info.mean[0], info.std[0])
    return X, y


def get_cross_domain_set(cfg: Config, normalise: bool = False, *,
                         teacher: Optional[Tuple[nn.Module, StageResult]] = None,
                         force: bool = False) -> Stage:
    """Fashion-MNIST images labelled by the MNIST teacher (:func:`errlib.stages.errsets.relabel_set`).

    ``y`` holds the teacher's digits, ``y_true`` the images' Fashion-MNIST
    classes. Metrics: ``label_counts`` (how often each digit was given).
    """
    model, t_res = teacher if teacher is not None else get_cross_domain_teacher(cfg)
    X, y = cross_domain_images(cfg, normalise)
    settings = dict(pool="fashion_mnist", normalise=normalise, n_train=cfg.n_train,
                    subset_seed=derive(cfg.seed, "train_subset"))
    pred, res = _labels_stage("cross_domain", settings, (model, t_res), X, y, test_split(cfg, "mnist")[0], 10,
                              force)
    return Stage(relabel_set(model, X, y, pred=pred), res)


def get_cross_domain_student(cfg: Config, normalise: bool = False, *,
                             teacher: Optional[Tuple[nn.Module, StageResult]] = None,
                             errset: Optional[Tuple[ErrorSet, StageResult]] = None,
                             force: bool = False) -> Stage:
    """A fresh ``student_model`` (an MNIST model) trained only on the teacher-labelled
    Fashion-MNIST images, for ``cross_epochs``, and tested on the real MNIST test set.

    Metrics: ``test_acc`` (MNIST test), ``errset_train_acc`` and
    ``test_agrees_with_teacher`` (share of MNIST test digits where it answers as
    the teacher does).
    """
    t_model, t_res = teacher if teacher is not None else get_cross_domain_teacher(cfg)
    es, es_res = errset if errset is not None else get_cross_domain_set(cfg, normalise, teacher=(t_model, t_res))
    recipe = P.student_recipe(cfg, "mnist", epochs=cfg.cross_epochs)
    return _distilled_student("cross_student", cfg, recipe, dict(normalise=normalise), es, es_res, t_model,
                              "mnist", force)


# --- Part II over seeds: what is reported as a mean and sd (results.json names, fractions) ---
SEED_KEYS = ("D_wrong_student_clean_test_acc", "random_wrong_label_student_clean_test_acc",
             "cross_domain_student_mnist_test_acc", "cross_domain_student_normalised_mnist_test_acc",
             "weak_teacher_train_acc", "mnist_teacher_test_acc")


def seed_list(cfg: Config) -> List[int]:
    """Part II's seeds (notebook 05): ``seed, ..., seed + part2_seeds - 1``, numbered as Part I's, so
    seed ``s``'s MNIST teacher is Part I's source model of seed ``s``."""
    return list(range(cfg.seed, cfg.seed + cfg.part2_seeds))


def part2_row(cfg: Config) -> Dict[str, Any]:
    """Every Part II number for ``cfg.seed``, each stage built or loaded through the cache.

    Keys: ``seed``, :data:`SEED_KEYS`, ``weak_teacher_test_acc``, ``weak_teacher_n_wrong``,
    ``<student>_agrees_with_teacher`` and ``cross_domain_student[_normalised]_per_digit`` (MNIST
    test accuracy per digit, 10 fractions). On MNIST the cross-domain teacher is this seed's source model.
    """
    teacher = get_weak_teacher(cfg)
    errset = get_wrong_label_set(cfg, teacher=teacher)
    row: Dict[str, Any] = {"seed": cfg.seed, "weak_teacher_test_acc": teacher.result.metrics["test_acc"],
                           "weak_teacher_train_acc": errset.result.metrics["agree_with_own_labels"],
                           "weak_teacher_n_wrong": len(errset.value)}
    for labels, name in (("teacher", "D_wrong"), ("random", "random_wrong_label")):
        m = get_wrong_label_student(cfg, labels, teacher=teacher, errset=errset).result.metrics
        row[f"{name}_student_clean_test_acc"] = m["test_acc"]
        row[f"{name}_student_agrees_with_teacher"] = m["test_agrees_with_teacher"]
    mnist_teacher = get_cross_domain_teacher(cfg)
    row["mnist_teacher_test_acc"] = mnist_teacher.result.metrics["test_acc"]
    for norm, name in ((False, "cross_domain_student"), (True, "cross_domain_student_normalised")):
        m = get_cross_domain_student(cfg, norm, teacher=mnist_teacher).result.metrics
        row[f"{name}_mnist_test_acc"] = m["test_acc"]
        row[f"{name}_per_digit"] = m["test_acc_per_class"]
    return row


def over_seeds(rows: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """``<key>_mean`` and ``<key>_sd`` (sample sd, n - 1; 0 for one row) of each :data:`SEED_KEYS`
    over ``rows`` (:func:`part2_row`), and ``seeds``, each as results.json takes it: ``{"value", "kind"}``."""
    from .leakage import mean_sd
    if not rows:
        raise ValueError("over_seeds needs at least one seed's row")
    out: Dict[str, Dict[str, Any]] = {"seeds": {"value": [r["seed"] for r in rows], "kind": "count"}}
    for k in SEED_KEYS:
        m, sd = mean_sd(rows, k)
        out[f"{k}_mean"] = {"value": m, "kind": "fraction"}
        out[f"{k}_sd"] = {"value": sd, "kind": "fraction"}
    return out
