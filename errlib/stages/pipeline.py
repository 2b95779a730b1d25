"""Part I's stages as cached functions: ``get_source``, ``get_errset``, ``get_student``.

Each ``get_*`` returns a :class:`Stage`: ``value`` is the object (a model in
eval mode on ``cfg``'s device, or an :class:`~errlib.stages.errsets.ErrorSet`) and
``result`` its :class:`~errlib.stages.cache.StageResult` (key, path, manifest with
metrics); ``model, res = get_source(cfg)`` unpacks it. A missing upstream stage
is built first, so any notebook can run alone; equal settings load from the
cache in seconds.

Stage graph (the key of each stage includes the keys above it)::

    source --> errset(rule) --> student(rule)

Part II (Wallace) builds on these in :mod:`errlib.stages.wallace`. Every seed comes from
``cfg.seed`` and a name (:mod:`errlib.core.seeds`).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from ..core import data as D
from .cache import StageResult, run_stage
from .config import Config
from .errsets import ErrorSet, adversarial_set, check_attack_worked
from ..core.seeds import derive
from ..core.train import TrainRecipe, evaluate, pick_device, predict

RULE_NAMES = {"all": "D_rand", "shift": "D_det", "other": "D_other"}

# About how many test images each training curve's per-epoch point is measured on
# (:func:`curve_sample`); a stage's reported ``test_acc`` always uses the whole test set.
CURVE_TEST_IMAGES = 2000


class Stage(NamedTuple):
    """What a ``get_*`` stage returns: the built or loaded ``value`` and its cache ``result``."""

    value: Any
    result: StageResult


def load_splits(dataset: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(X_train, y_train, X_test, y_test)``, uint8 images and int64 labels."""
    X, y = D.load_dataset(dataset, train=True)
    Xt, yt = D.load_dataset(dataset, train=False)
    return X, y, Xt, yt


def _state(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def _loaded(recipe: TrainRecipe, payload: Dict[str, torch.Tensor], device: Optional[str]) -> nn.Module:
    """The recipe's model with the stored weights, in eval mode on ``device``."""
    model = recipe.make_model()
    model.load_state_dict(payload)
    return model.to(pick_device(device)).eval()


def curve_sample(X_test: torch.Tensor, y_test: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Every k-th test image and label, about :data:`CURVE_TEST_IMAGES` of them (all of a smaller set).

    A strided sample rather than the first images: MNIST's test set puts its
    cleaner half first.
    """
    stride = max(1, len(X_test) // CURVE_TEST_IMAGES)
    return X_test[::stride], y_test[::stride]


def train_stage(stage: str, recipe: TrainRecipe, X: torch.Tensor, y: torch.Tensor, *,
                X_test: torch.Tensor, y_test: torch.Tensor, upstream: Sequence[str] = (),
                key: Optional[Dict[str, Any]] = None, device: Optional[str] = None, force: bool = False,
                extra_metrics: Optional[Callable[[nn.Module, torch.Tensor], Dict[str, Any]]] = None,
                perturb: Optional[Callable] = None) -> Stage:
    """Train (or load) ``recipe``'s model on ``(X, y)`` and score it on ``(X_test, y_test)``.

    The cache key is the recipe's fields plus ``key`` (what else tells this
    stage apart, e.g. how ``X`` was made) and the ``upstream`` keys.
    ``extra_metrics(model, test_pred)`` may add metrics computed after training
    (``test_pred``: the model's classes for ``X_test``, computed once);
    ``perturb`` goes to :func:`~errlib.core.train.fit` (its settings belong in ``key``).
    Metrics: ``history`` (:func:`~errlib.core.train.fit`'s; its per-epoch ``test_acc``
    is on :func:`curve_sample`, ``curve_n_test`` images, enough for the shape of
    a learning curve at a fifth of the cost on MNIST), ``test_acc`` (the whole
    ``X_test``, after training), ``train_acc`` and ``n_train``.
    """

    def build():
        model = recipe.make_model()
        X_curve, y_curve = curve_sample(X_test, y_test)
        history = recipe.fit(model, X, y, device=device, X_test=X_curve, y_test=y_curve, desc=stage,
                             perturb=perturb)
        test_pred = predict(model, X_test)
        metrics = {"history": history, "test_acc": (test_pred == y_test).float().mean().item(),
                   "curve_n_test": len(X_curve), "train_acc": history[-1]["train_acc"], "n_train": len(X)}
        if extra_metrics is not None:
            metrics.update(extra_metrics(model, test_pred))
        return _state(model), metrics

    settings = dict(recipe.to_dict(), **(key or {}))
    res = run_stage(stage, settings, build, upstream=upstream, force=force)
    return Stage(_loaded(recipe, res.payload, device), res)


def source_recipe(cfg: Config, dataset: Optional[str] = None, **changes) -> TrainRecipe:
    """How the source model (and the weak teacher, with ``steps``) is trained: ``cfg``'s source section."""
    return TrainRecipe(arch=cfg.model, dataset=dataset or cfg.dataset, epochs=cfg.epochs,
                       batch_size=cfg.batch_size, lr=cfg.lr, optimizer=cfg.optimizer, schedule=cfg.schedule,
                       augment=cfg.augment, init_seed=derive(cfg.seed, "source_init"),
                       order_seed=derive(cfg.seed, "train_order"),
                       precision=cfg.resolved_precision).replace(**changes)


def student_recipe(cfg: Config, dataset: Optional[str] = None, **changes) -> TrainRecipe:
    """How every student is trained: ``cfg``'s students section (no augmentation)."""
    return TrainRecipe(arch=cfg.student_model, dataset=dataset or cfg.dataset, epochs=cfg.student_epochs,
                       batch_size=cfg.batch_size, lr=cfg.student_lr, optimizer=cfg.student_optimizer,
                       schedule=cfg.student_schedule, augment=False,
                       init_seed=derive(cfg.seed, "student_init"),
                       order_seed=derive(cfg.seed, "train_order"),
                       precision=cfg.resolved_precision).replace(**changes)


def train_subset(cfg: Config, dataset: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``n_train`` training images (uint8) and labels drawn from ``dataset`` (all, shuffled, when ``None``)."""
    X, y, _, _ = load_splits(dataset)
    return D.subset(X, y, cfg.n_train, seed=derive(cfg.seed, "train_subset"))


def get_source(cfg: Config, *, untrained: bool = False, force: bool = False) -> Stage:
    """The standard source model trained on clean data D (``n_train`` images).

    ``untrained=True`` gives the same architecture with its random initial
    weights (a control: attacking it tests whether the signal needs a trained model).
    """
    _, _, Xt, yt = load_splits(cfg.dataset)
    recipe = source_recipe(cfg)
    if untrained:

        def build():
            model = recipe.make_model()
            return _state(model), {"test_acc": evaluate(model, Xt, yt)}

        settings = dict(arch=recipe.arch, dataset=recipe.dataset, init_seed=recipe.init_seed, untrained=True,
                        precision=recipe.precision)
        res = run_stage("source", settings, build, force=force)
        return Stage(_loaded(recipe, res.payload, cfg.device), res)
    Xs, ys = train_subset(cfg, cfg.dataset)
    key = dict(n_train=cfg.n_train, subset_seed=derive(cfg.seed, "train_subset"))
    return train_stage("source", recipe, Xs, ys, X_test=Xt, y_test=yt, key=key,
                       device=cfg.device, force=force)


def attacked_images(cfg: Config) -> Tuple[torch.Tensor, torch.Tensor]:
    """The clean training images (uint8) and labels that every error set of ``cfg`` attacks, in order."""
    X, y, _, _ = load_splits(cfg.dataset)
    return D.subset(X, y, cfg.n_attack, seed=derive(cfg.seed, "attack_subset"))


def get_errset(cfg: Config, rule: str, *, source: Optional[Tuple[nn.Module, StageResult]] = None,
               force: bool = False, guard: bool = True) -> Stage:
    """The error set for a target ``rule`` ("all" = D_rand, "shift" = D_det, "other" = D_other).

    Attacks ``n_attack`` training images (a seeded subset, the same for every
    rule) with targeted PGD against the source model and labels each with its
    target. ``source`` defaults to :func:`get_source` ``(cfg)``. ``guard``: stop
    if the attack did not work (:func:`~errlib.stages.errsets.check_attack_worked`);
    the eps sweep, weak at some radii on purpose, turns it off.
    """
    model, src = source if source is not None else get_source(cfg)
    settings = dict(rule=rule, norm=cfg.norm, eps=cfg.eps, steps=cfg.steps, step_size=cfg.resolved_step_size,
                    n_attack=cfg.n_attack, targets_seed=derive(cfg.seed, "targets"),
                    subset_seed=derive(cfg.seed, "attack_subset"), dataset=cfg.dataset,
                    precision=getattr(model, "precision", "fp32"))  # the attack runs in the model's precision

    def build():
        Xa, ya = attacked_images(cfg)
        es = adversarial_set(model, Xa, ya, rule=rule, eps=cfg.eps, steps=cfg.steps,
                             step_size=cfg.resolved_step_size, norm=cfg.norm, num_classes=cfg.num_classes,
                             seed=settings["targets_seed"], batch_size=cfg.attack_batch_size)
        return es.to_dict(), dict(es.summary(), source_test_acc=src.metrics.get("test_acc"))

    res = run_stage("errset", settings, build, upstream=[src.key], force=force)
    if guard:
        check_attack_worked(res.metrics, cfg.chance, f"{RULE_NAMES.get(rule, rule)} (eps {cfg.eps:g}, {cfg.dataset})")
    return Stage(ErrorSet.from_dict(res.payload), res)


def get_student(cfg: Config, rule: str, *, errset: Optional[Tuple[ErrorSet, StageResult]] = None,
                limit: Optional[int] = None, quantize: bool = False, force: bool = False) -> Stage:
    """A fresh ``student_model`` trained only on the error set for ``rule``, scored on clean test data.

    With ``keep="successful"`` only the images whose attack reached its target
    are used; ``limit`` keeps the first ``limit`` rows (a limit at or above the set's size is no
    limit: the same cache entry as the whole set's student); ``quantize`` rounds the
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
    if limit is not None and limit >= len(es):
        limit = None
    if limit is not None:
        es = es[:limit]
    if quantize:
        es = es.quantized()
    _, _, Xt, yt = load_splits(cfg.dataset)
    key = dict(keep=cfg.keep, **({"limit": limit} if limit is not None else {}),
               **({"quantize": True} if quantize else {}))

    def extra(model, test_pred):
        return {"test_acc_shifted": (test_pred == (yt + 1) % cfg.num_classes).float().mean().item(),
                "errset_train_acc": evaluate(model, es.x, es.y)}

    return train_stage("student", student_recipe(cfg), es.x, es.y, X_test=Xt, y_test=yt, key=key,
                       upstream=[es_res.key], device=cfg.device, force=force, extra_metrics=extra)
