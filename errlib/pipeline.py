"""The course's stages as cached functions: ``get_source``, ``get_errset``, ``get_student``.

Each ``get_*`` returns the object (a model in eval mode on ``cfg``'s device,
or an :class:`~errlib.errsets.ErrorSet`) and its :class:`~errlib.cache.StageResult`
(key, path, manifest with metrics). A missing upstream stage is built first,
so any notebook can run alone; equal settings load from the cache in seconds.

Stage graph (the key of each stage includes the keys above it)::

    source --> errset(rule) --> student(rule)

Part II (Wallace, notebook 05) adds, at the end of this module::

    teacher (weak, few steps) --> labels --> wrong_student(teacher labels | random wrong labels)
    source (MNIST)            --> labels (Fashion-MNIST, raw | normalised) --> cross_student
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from . import data as D
from .cache import StageResult, run_stage
from .config import Config
from .errsets import ErrorSet, adversarial_set, random_label_set, relabel_set, wrong_label_set
from .models import make_model
from .train import evaluate, fit, pick_device, predict

RULE_NAMES = {"all": "D_rand", "shift": "D_det", "other": "D_other"}


def load_splits(dataset: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(X_train, y_train, X_test, y_test)``, uint8 images and int64 labels."""
    X, y = D.load_dataset(dataset, train=True)
    Xt, yt = D.load_dataset(dataset, train=False)
    return X, y, Xt, yt


def model_from_payload(payload: Dict[str, Any], settings: Dict[str, Any],
                       device: Optional[str] = None) -> nn.Module:
    """Rebuild a model stored by :func:`train_stage` (architecture and normalisation from settings)."""
    model = make_model(settings["arch"], settings["dataset"], mean=settings.get("mean"),
                       std=settings.get("std"))
    model.load_state_dict(payload)
    return model.to(pick_device(device)).eval()


def train_stage(stage: str, settings: Dict[str, Any], X: torch.Tensor, y: torch.Tensor, *,
                X_test: torch.Tensor, y_test: torch.Tensor, upstream: Sequence[str] = (),
                device: Optional[str] = None, force: bool = False,
                extra_metrics=None) -> Tuple[nn.Module, StageResult]:
    """Train (or load) a model on ``(X, y)`` and score it on ``(X_test, y_test)``.

    ``settings`` must hold ``arch``, ``dataset``, ``epochs``, ``batch_size``,
    ``lr``, ``optimizer``, ``schedule``, ``augment``, ``seed`` and may hold
    ``mean``/``std`` (the normalisation layer's statistics) and ``max_steps``
    (an optimiser-step budget, see :func:`~errlib.train.fit`). Anything else in
    it only distinguishes the cache key (e.g. how ``X`` was made).
    ``extra_metrics(model)`` may add metrics computed after training.
    """

    def build():
        model = make_model(settings["arch"], settings["dataset"], mean=settings.get("mean"),
                           std=settings.get("std"), seed=settings["seed"])
        history = fit(model, X, y, epochs=settings["epochs"], batch_size=settings["batch_size"],
                      lr=settings["lr"], optimizer=settings["optimizer"],
                      schedule=settings["schedule"], augment=settings["augment"],
                      seed=settings["seed"], device=device, X_test=X_test, y_test=y_test,
                      desc=stage, max_steps=settings.get("max_steps"))
        metrics = {"history": history, "test_acc": history[-1]["test_acc"],
                   "train_acc": history[-1]["train_acc"], "n_train": len(X)}
        if extra_metrics is not None:
            metrics.update(extra_metrics(model))
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}, metrics

    res = run_stage(stage, settings, build, upstream=upstream, force=force)
    return model_from_payload(res.payload, settings, device), res


def _fit_settings(cfg: Config, student: bool) -> Dict[str, Any]:
    if student:
        return dict(arch=cfg.student_model, epochs=cfg.student_epochs, lr=cfg.student_lr,
                    optimizer=cfg.student_optimizer, schedule=cfg.student_schedule,
                    batch_size=cfg.batch_size, augment=False, dataset=cfg.dataset)
    return dict(arch=cfg.model, epochs=cfg.epochs, lr=cfg.lr, optimizer=cfg.optimizer,
                schedule=cfg.schedule, batch_size=cfg.batch_size, augment=cfg.augment,
                dataset=cfg.dataset)


def get_source(cfg: Config, *, untrained: bool = False, force: bool = False) -> Tuple[nn.Module, StageResult]:
    """The standard source model trained on clean data D (``n_train`` images).

    ``untrained=True`` gives the same architecture with its random initial
    weights (a control: attacking it tests whether the signal needs a trained model).
    """
    X, y, Xt, yt = load_splits(cfg.dataset)
    settings = dict(_fit_settings(cfg, student=False), n_train=cfg.n_train, seed=cfg.seed)
    if untrained:
        settings = dict(arch=cfg.model, dataset=cfg.dataset, seed=cfg.seed, untrained=True)

        def build():
            model = make_model(cfg.model, cfg.dataset, seed=cfg.seed)
            return ({k: v.detach().cpu() for k, v in model.state_dict().items()},
                    {"test_acc": evaluate(model, Xt, yt)})

        res = run_stage("source", settings, build, force=force)
        return model_from_payload(res.payload, settings, cfg.device), res
    Xs, ys = D.subset(X, y, cfg.n_train, seed=cfg.seed)
    return train_stage("source", settings, Xs, ys, X_test=Xt, y_test=yt, device=cfg.device,
                       force=force)


def attack_settings(cfg: Config, rule: str) -> Dict[str, Any]:
    return dict(rule=rule, norm=cfg.norm, eps=cfg.eps, steps=cfg.steps,
                step_size=cfg.resolved_step_size, n_attack=cfg.n_attack, seed=cfg.seed,
                dataset=cfg.dataset)


def attacked_images(cfg: Config) -> Tuple[torch.Tensor, torch.Tensor]:
    """The clean training images (uint8) and labels that every error set of ``cfg`` attacks, in order."""
    X, y, _, _ = load_splits(cfg.dataset)
    return D.subset(X, y, cfg.n_attack, seed=cfg.seed + 1)


def get_errset(cfg: Config, rule: str, *, source: Optional[Tuple[nn.Module, StageResult]] = None,
               force: bool = False) -> Tuple[ErrorSet, StageResult]:
    """The error set for a target ``rule`` ("all" = D_rand, "shift" = D_det, "other" = D_other).

    Attacks ``n_attack`` training images (a seeded subset, the same for every
    rule) with targeted PGD against the source model and labels each with its
    target. ``source`` defaults to :func:`get_source` ``(cfg)``.
    """
    model, src = source if source is not None else get_source(cfg)
    settings = attack_settings(cfg, rule)

    def build():
        Xa, ya = attacked_images(cfg)
        es = adversarial_set(model, Xa, ya, rule=rule, eps=cfg.eps, steps=cfg.steps,
                             step_size=cfg.resolved_step_size, norm=cfg.norm,
                             num_classes=cfg.num_classes, seed=cfg.seed + 2,
                             batch_size=cfg.attack_batch_size)
        return es.to_dict(), dict(es.summary(), source_test_acc=src.metrics.get("test_acc"))

    res = run_stage("errset", settings, build, upstream=[src.key], force=force)
    return ErrorSet.from_dict(res.payload), res


def get_student(cfg: Config, rule: str, *, errset: Optional[Tuple[ErrorSet, StageResult]] = None,
                limit: Optional[int] = None, quantize: bool = False,
                force: bool = False) -> Tuple[nn.Module, StageResult]:
    """A fresh ``student_model`` trained only on the error set for ``rule``, scored on clean test data.

    With ``keep="successful"`` only the images whose attack reached its target
    are used; ``limit`` keeps the first ``limit`` rows; ``quantize`` rounds the
    images to 256 grey levels first (as if shared as PNG files). ``errset``
    defaults to :func:`get_errset` ``(cfg, rule)``; pass any (ErrorSet,
    StageResult) pair to train on another set (e.g. a control).
    Metrics include ``test_acc`` (clean test set, true labels),
    ``test_acc_shifted`` (share of test images predicted as ``(y+1) mod C``)
    and ``errset_train_acc`` (fit to its own labels).
    """
    es, es_res = errset if errset is not None else get_errset(cfg, rule)
    if cfg.keep == "successful":
        es = es[es.success]
    if limit is not None:
        es = es[:limit]
    if quantize:
        es = es.quantized()
    _, _, Xt, yt = load_splits(cfg.dataset)
    settings = dict(_fit_settings(cfg, student=True), keep=cfg.keep, seed=cfg.seed + 3)
    if limit is not None:
        settings["limit"] = limit
    if quantize:
        settings["quantize"] = True

    def extra(model):
        return {"test_acc_shifted": evaluate(model, Xt, (yt + 1) % cfg.num_classes),
                "errset_train_acc": evaluate(model, es.x, es.y)}

    return train_stage("student", settings, es.x, es.y, X_test=Xt, y_test=yt,
                       upstream=[es_res.key], device=cfg.device, force=force, extra_metrics=extra)


# --- Part II: Wallace, "Learning from Incorrectly Labeled Data" (notebook 05) -------------
#
#   teacher(weak) --> labels(pool) --> wrong_student(labels = "teacher" | "random")
#   source(MNIST) --> labels(Fashion-MNIST, raw | normalised) --> cross_student
#
# A "labels" stage stores only the teacher's predictions on its image pool (N,); the
# pixels are never changed, so the ErrorSet is rebuilt from the dataset on load.

WRONG_LABELS = {
    "teacher": "D_wrong: the images the weak teacher gets wrong, labelled with its wrong answer",
    "random": "control: the same images, each with a wrong label drawn uniformly (rule 'other')",
}


def test_split(cfg: Config, dataset: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The test images (uint8) and labels Part II scores on: all, or ``n_test`` seeded ones."""
    _, _, Xt, yt = load_splits(dataset)
    if cfg.n_test is None or cfg.n_test >= len(Xt):
        return Xt, yt
    return D.subset(Xt, yt, cfg.n_test, seed=cfg.seed + 6)


def _weak_settings(cfg: Config) -> Dict[str, Any]:
    return dict(arch=cfg.model, dataset=cfg.weak_dataset, batch_size=cfg.batch_size, lr=cfg.lr,
                optimizer=cfg.optimizer, schedule="constant", augment=cfg.augment)


def weak_pool(cfg: Config) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``weak_dataset`` training images (uint8) and labels the weak teacher trains on and relabels.

    ``n_train`` of them (a seeded subset; all when ``None``), the same subset as
    :func:`get_source` draws for that dataset.
    """
    X, y, _, _ = load_splits(cfg.weak_dataset)
    return D.subset(X, y, cfg.n_train, seed=cfg.seed)


def get_weak_teacher(cfg: Config, *, steps: Optional[int] = None,
                     force: bool = False) -> Tuple[nn.Module, StageResult]:
    """Wallace's deliberately weak teacher: ``model`` trained for only ``teacher_steps`` optimiser steps.

    Trained on :func:`weak_pool` with the source recipe (``lr``, ``optimizer``,
    ``batch_size``) at a constant learning rate; ``steps`` overrides the budget
    (for the calibration curve). Metrics: ``test_acc`` on the clean test set.
    """
    steps = steps if steps is not None else cfg.resolved_teacher_steps
    X, y = weak_pool(cfg)
    Xt, yt = test_split(cfg, cfg.weak_dataset)
    per_epoch = -(-len(X) // cfg.batch_size)
    settings = dict(_weak_settings(cfg), epochs=-(-steps // per_epoch), max_steps=steps,
                    n_train=cfg.n_train, n_test=cfg.n_test, seed=cfg.seed, role="weak_teacher")
    return train_stage("teacher", settings, X, y, X_test=Xt, y_test=yt, device=cfg.device, force=force)


def teacher_budgets(cfg: Config) -> Tuple[int, ...]:
    """Step budgets for the calibration curve: 1/4 to 3 times ``teacher_steps``."""
    t = cfg.resolved_teacher_steps
    return tuple(sorted({max(1, round(f * t)) for f in (0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3)}))


def get_teacher_curve(cfg: Config, budgets: Optional[Sequence[int]] = None, *,
                      n_probe: Optional[int] = None, force: bool = False) -> Tuple[list, StageResult]:
    """How accurate is a teacher after ``b`` optimiser steps? One fresh teacher per budget.

    Returns rows ``{"steps", "train_acc", "test_acc"}``, accuracies measured on
    ``n_probe`` seeded images of the training pool and of the test set (default:
    2,000, or a tenth of a smaller pool); the whole curve is one cached stage.
    Used to choose ``teacher_steps``; ``budgets`` default to :func:`teacher_budgets`.
    """
    budgets = tuple(budgets) if budgets is not None else teacher_budgets(cfg)
    if n_probe is None:
        n_probe = min(2000, max(1, len(weak_pool(cfg)[0]) // 10))
    settings = dict(_weak_settings(cfg), budgets=list(budgets), n_probe=n_probe,
                    n_train=cfg.n_train, seed=cfg.seed)

    def build():
        X, y = weak_pool(cfg)
        _, _, Xt, yt = load_splits(cfg.weak_dataset)
        Xp, yp = D.subset(X, y, min(n_probe, len(X)), seed=cfg.seed + 5)
        Xq, yq = D.subset(Xt, yt, min(n_probe, len(Xt)), seed=cfg.seed + 5)
        rows = []
        for b in budgets:
            model = make_model(cfg.model, cfg.weak_dataset, seed=cfg.seed)
            fit(model, X, y, epochs=-(-b // -(-len(X) // cfg.batch_size)), max_steps=b,
                batch_size=cfg.batch_size, lr=cfg.lr, optimizer=cfg.optimizer, schedule="constant",
                augment=cfg.augment, seed=cfg.seed, device=cfg.device, progress=False)
            rows.append({"steps": b, "train_acc": evaluate(model, Xp, yp), "test_acc": evaluate(model, Xq, yq)})
        return {}, {"rows": rows}

    res = run_stage("teacher_curve", settings, build, force=force)
    return res.metrics["rows"], res


def _labels_stage(name: str, settings: Dict[str, Any], teacher: Tuple[nn.Module, StageResult],
                  X: torch.Tensor, y: torch.Tensor, X_test: torch.Tensor, num_classes: int,
                  force: bool) -> Tuple[torch.Tensor, StageResult]:
    """The teacher's predictions on ``X`` (cached), with agreement and a label histogram as metrics.

    The payload also keeps the teacher's predictions on ``X_test`` (``"test_pred"``),
    which the students' agreement metric compares against.
    """
    model, t_res = teacher

    def build():
        pred = predict(model, X)
        return ({"pred": pred, "test_pred": predict(model, X_test)},
                {"n": len(X), "agree_with_own_labels": (pred == y).float().mean().item(),
                 "label_counts": torch.bincount(pred, minlength=num_classes).tolist(),
                 "teacher_test_acc": t_res.metrics.get("test_acc")})

    res = run_stage("labels", dict(settings, name=name, n_test=len(X_test)), build, upstream=[t_res.key],
                    force=force)
    return res.payload["pred"], res


def get_wrong_label_set(cfg: Config, *, teacher: Optional[Tuple[nn.Module, StageResult]] = None,
                        force: bool = False) -> Tuple[ErrorSet, StageResult]:
    """Wallace's D_wrong (:func:`errlib.errsets.wrong_label_set`) from the weak teacher.

    Metrics of the returned stage: ``n`` (pool size), ``agree_with_own_labels``
    (the teacher's accuracy on the whole pool: Wallace's "train" accuracy),
    ``label_counts`` and ``teacher_test_acc``; ``len`` of the set is the number
    of training images the teacher gets wrong.
    """
    teacher = teacher if teacher is not None else get_weak_teacher(cfg)
    X, y = weak_pool(cfg)
    settings = dict(pool=cfg.weak_dataset, n_train=cfg.n_train, seed=cfg.seed)
    pred, res = _labels_stage("weak_pool", settings, teacher, X, y, test_split(cfg, cfg.weak_dataset)[0],
                              D.dataset_info(cfg.weak_dataset).num_classes, force)
    return wrong_label_set(teacher[0], X, y, pred=pred), res


def _agreement(model: nn.Module, X_test: torch.Tensor, labels_res: StageResult, teacher: nn.Module) -> float:
    """Share of ``X_test`` where ``model`` answers as the teacher (the labels stage's cached
    ``test_pred`` when it matches ``X_test``, else the teacher is run)."""
    t_pred = labels_res.payload.get("test_pred")
    if t_pred is None or len(t_pred) != len(X_test):
        t_pred = predict(teacher, X_test)
    return (predict(model, X_test) == t_pred).float().mean().item()


def _distilled_student(stage, cfg, settings, es, es_res, teacher, Xt, yt, force):
    """Train a student on ``es`` (a teacher's labels) and record how often it answers as the teacher."""

    def extra(model):
        return {"errset_train_acc": evaluate(model, es.x, es.y),
                "test_agrees_with_teacher": _agreement(model, Xt, es_res, teacher[0])}

    return train_stage(stage, settings, es.x, es.y, X_test=Xt, y_test=yt,
                       upstream=[es_res.key], device=cfg.device, force=force, extra_metrics=extra)


def get_wrong_label_student(cfg: Config, labels: str = "teacher", *,
                            teacher: Optional[Tuple[nn.Module, StageResult]] = None,
                            errset: Optional[Tuple[ErrorSet, StageResult]] = None,
                            force: bool = False) -> Tuple[nn.Module, StageResult]:
    """A fresh ``student_model`` trained only on D_wrong's images, for ``wrong_epochs``.

    ``labels="teacher"``: the weak teacher's wrong labels (Wallace's experiment);
    ``labels="random"``: the control, a wrong label drawn uniformly per image
    (:func:`errlib.errsets.random_label_set`, rule ``"other"``), no teacher in it.
    Metrics: ``test_acc`` (clean test set, true labels), ``errset_train_acc``
    (fit to its own labels) and ``test_agrees_with_teacher`` (share of test
    images where it answers as the weak teacher does).
    """
    if labels not in WRONG_LABELS:
        raise ValueError(f"labels must be one of {', '.join(WRONG_LABELS)}, got {labels!r}")
    teacher = teacher if teacher is not None else get_weak_teacher(cfg)
    es, es_res = errset if errset is not None else get_wrong_label_set(cfg, teacher=teacher)
    if labels == "random":
        es = random_label_set(es.x, es.y_true, rule="other",
                              num_classes=D.dataset_info(cfg.weak_dataset).num_classes, seed=cfg.seed + 4)
    Xt, yt = test_split(cfg, cfg.weak_dataset)
    settings = dict(_fit_settings(cfg, student=True), dataset=cfg.weak_dataset, epochs=cfg.wrong_epochs,
                    labels=labels, n_test=cfg.n_test, seed=cfg.seed + 3)
    return _distilled_student("wrong_student", cfg, settings, es, es_res, teacher, Xt, yt, force)


def cross_domain_config(cfg: Config) -> Config:
    """The settings of the MNIST teacher: ``cfg`` itself when it is on MNIST (so Part I's
    source model is the teacher, cached), else the profile's MNIST settings (the CPU
    ``default`` ones on the ``full`` profile: Wallace's teacher is a simple CNN)."""
    from .config import resolve

    if cfg.dataset == "mnist":
        return cfg
    profile = "default" if cfg.profile == "full" else cfg.profile
    return resolve(profile, dataset="mnist", seed=cfg.seed, device=cfg.device)


def get_cross_domain_teacher(cfg: Config, *, force: bool = False) -> Tuple[nn.Module, StageResult]:
    """Wallace's MNIST teacher: the source model of :func:`cross_domain_config` (``get_source``)."""
    return get_source(cross_domain_config(cfg), force=force)


def cross_domain_images(cfg: Config, normalise: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST training images for the MNIST teacher to label, and their own labels.

    ``n_train`` of them (seeded; all 60,000 when ``None``). ``normalise=False``:
    uint8 pixels as they are. ``normalise=True``: float32 images rescaled in pixel
    space to MNIST's pixel mean and standard deviation (:func:`errlib.data.match_stats`,
    one affine map for the whole set, clamped to [0, 1]).
    """
    X, y, _, _ = load_splits("fashion_mnist")
    X, y = D.subset(X, y, cfg.n_train, seed=cfg.seed)
    if normalise:
        info = D.dataset_info("mnist")
        X = D.match_stats(X, info.mean[0], info.std[0])
    return X, y


def get_cross_domain_set(cfg: Config, normalise: bool = False, *,
                         teacher: Optional[Tuple[nn.Module, StageResult]] = None,
                         force: bool = False) -> Tuple[ErrorSet, StageResult]:
    """Fashion-MNIST images labelled by the MNIST teacher (:func:`errlib.errsets.relabel_set`).

    ``y`` holds the teacher's digits, ``y_true`` the images' Fashion-MNIST
    classes. Metrics: ``label_counts`` (how often each digit was given).
    """
    teacher = teacher if teacher is not None else get_cross_domain_teacher(cfg)
    X, y = cross_domain_images(cfg, normalise)
    settings = dict(pool="fashion_mnist", normalise=normalise, n_train=cfg.n_train, seed=cfg.seed)
    pred, res = _labels_stage("cross_domain", settings, teacher, X, y, test_split(cfg, "mnist")[0], 10, force)
    return relabel_set(teacher[0], X, y, pred=pred), res


def get_cross_domain_student(cfg: Config, normalise: bool = False, *,
                             teacher: Optional[Tuple[nn.Module, StageResult]] = None,
                             errset: Optional[Tuple[ErrorSet, StageResult]] = None,
                             force: bool = False) -> Tuple[nn.Module, StageResult]:
    """A fresh ``student_model`` (an MNIST model) trained only on the teacher-labelled
    Fashion-MNIST images, for ``cross_epochs``, and tested on the real MNIST test set.

    Metrics: ``test_acc`` (MNIST test), ``errset_train_acc`` and
    ``test_agrees_with_teacher`` (share of MNIST test digits where it answers as
    the teacher does).
    """
    teacher = teacher if teacher is not None else get_cross_domain_teacher(cfg)
    es, es_res = errset if errset is not None else get_cross_domain_set(cfg, normalise, teacher=teacher)
    Xt, yt = test_split(cfg, "mnist")
    settings = dict(_fit_settings(cfg, student=True), dataset="mnist", epochs=cfg.cross_epochs,
                    normalise=normalise, n_test=cfg.n_test, seed=cfg.seed + 3)
    return _distilled_student("cross_student", cfg, settings, es, es_res, teacher, Xt, yt, force)
