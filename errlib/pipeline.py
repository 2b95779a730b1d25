"""The course's stages as cached functions: ``get_source``, ``get_errset``, ``get_student``.

Each ``get_*`` returns the object (a model in eval mode on ``cfg``'s device,
or an :class:`~errlib.errsets.ErrorSet`) and its :class:`~errlib.cache.StageResult`
(key, path, manifest with metrics). A missing upstream stage is built first,
so any notebook can run alone; equal settings load from the cache in seconds.

Stage graph (the key of each stage includes the keys above it)::

    source --> errset(rule) --> student(rule)
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from . import data as D
from .cache import StageResult, run_stage
from .config import Config
from .errsets import ErrorSet, adversarial_set
from .models import make_model
from .train import evaluate, fit, pick_device

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
    ``mean``/``std`` (the normalisation layer's statistics). Anything else in it
    only distinguishes the cache key (e.g. how ``X`` was made).
    ``extra_metrics(model)`` may add metrics computed after training.
    """

    def build():
        model = make_model(settings["arch"], settings["dataset"], mean=settings.get("mean"),
                           std=settings.get("std"), seed=settings["seed"])
        history = fit(model, X, y, epochs=settings["epochs"], batch_size=settings["batch_size"],
                      lr=settings["lr"], optimizer=settings["optimizer"],
                      schedule=settings["schedule"], augment=settings["augment"],
                      seed=settings["seed"], device=device, X_test=X_test, y_test=y_test,
                      desc=stage)
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


def get_source(cfg: Config, *, force: bool = False) -> Tuple[nn.Module, StageResult]:
    """The standard source model trained on clean data D (``n_train`` images)."""
    X, y, Xt, yt = load_splits(cfg.dataset)
    settings = dict(_fit_settings(cfg, student=False), n_train=cfg.n_train, seed=cfg.seed)
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
                force: bool = False) -> Tuple[nn.Module, StageResult]:
    """A fresh ``student_model`` trained only on the error set for ``rule``, scored on clean test data.

    With ``keep="successful"`` only the images whose attack reached its target
    are used. Metrics include ``test_acc`` (clean test set, true labels) and
    ``test_acc_shifted`` (the share of test images predicted as ``(y+1) mod C``).
    """
    es, es_res = errset if errset is not None else get_errset(cfg, rule)
    if cfg.keep == "successful":
        es = es[es.success]
    _, _, Xt, yt = load_splits(cfg.dataset)
    settings = dict(_fit_settings(cfg, student=True), keep=cfg.keep, seed=cfg.seed + 3)

    def extra(model):
        return {"test_acc_shifted": evaluate(model, Xt, (yt + 1) % cfg.num_classes),
                "errset_train_acc": evaluate(model, es.x, es.y)}

    return train_stage("student", settings, es.x, es.y, X_test=Xt, y_test=yt,
                       upstream=[es_res.key], device=cfg.device, force=force, extra_metrics=extra)
