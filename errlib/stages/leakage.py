"""Robust-feature leakage: does a robust reader see the *target* in an error set?

Goh's Distill response ("Robust Feature Leakage") asks whether a student trained
on D_det generalises only because the attack drew human-visible, robust features
of the target class ``t`` into the images. A robust model can tell: it ignores
small non-robust patterns, so it reads an image as ``t`` only where the
perturbation drew ``t`` for real. This module

* trains that reader, the *judge* (:func:`get_judge`): the course CNN trained
  with L2 PGD adversarial training at ``judge_eps``, one per dataset, with its
  own seed (independent of every source model and of ``cfg.seed``);
* reads an error set with it (:func:`get_reading`): the share of rows it calls
  the training label ``t``, the original class ``y``, or something else;
* trains *leakage-controlled* students (:func:`get_filtered_student`): on the
  rows the judge still reads as ``y`` alone, beside a student on a random subset
  of the same size (so that fewer rows is not mistaken for less leakage).

Radii are in [0, 1] pixel units, like every ``eps`` in the course; see
:func:`typical_norm` for how large they are relative to an image.

Stage graph (cached; keys chain)::

    judge (dataset) ----------+
    errset(rule) -------------+--> reading(rule) --> subset(rule, filtered | random) --> student
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from ..core import data as D
from ..core.attacks import pgd
from .cache import StageResult, run_stage
from .config import Config
from .controls import robust_accuracy
from .errsets import ErrorSet
from .kinds import count, fraction, number, value
from .pipeline import Stage, attacked_images, get_errset, get_student, load_splits, source_recipe, train_stage
from ..core.seeds import derive, generator
from ..core.train import TrainRecipe, predict

PAPER_EPS = {"cifar10": 0.5}  # Ilyas et al.'s L2 radius for the D_rand / D_det sets


def typical_norm(dataset: str) -> float:
    """The root-mean-square L2 norm of an image of ``dataset`` in [0, 1] pixels.

    Computed from the dataset's per-channel pixel mean and standard deviation
    (``E||x||^2 = H W sum_c (mean_c^2 + std_c^2)``), so it needs no data on disk:
    about 9.4 for MNIST, 12.7 for Fashion-MNIST, 29.7 for CIFAR-10.
    """
    info = D.dataset_info(dataset)
    c, h, w = info.shape
    return math.sqrt(h * w * sum(m * m + s * s for m, s in zip(info.mean, info.std)))


def eps_ratio(eps: float, dataset: str) -> float:
    """``eps / typical_norm(dataset)``: how large an L2 radius is beside the image itself."""
    return float(eps) / typical_norm(dataset)


# --- the judge -------------------------------------------------------------------------

def judge_recipe(cfg: Config) -> TrainRecipe:
    """The judge's training recipe: the source model's, with ``judge_model``, ``judge_epochs`` and its own seeds."""
    return source_recipe(cfg, arch=cfg.judge_model, epochs=cfg.judge_epochs,
                         init_seed=derive(cfg.judge_seed, "judge_init"),
                         order_seed=derive(cfg.judge_seed, "judge_order"))


def _adversarial_batch(eps: float, steps: int, gen: torch.Generator):
    """``perturb`` for :func:`errlib.core.train.fit`: untargeted L2 PGD from a random start in the ball."""

    def perturb(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return pgd(model, xb, yb, eps=eps, steps=steps, targeted=False, random_start=True,
                   use_best=False, progress=False, generator=gen).x_adv

    return perturb


def get_judge(cfg: Config, *, force: bool = False) -> Stage:
    """The robust judge for ``cfg.dataset``: adversarially trained, cached, independent of the source.

    :func:`judge_recipe` on ``judge_n_train`` seeded training images, each batch
    replaced by an untargeted L2 PGD attack (``judge_steps`` steps of
    ``2.5 * judge_eps / judge_steps`` from a random start in the ``judge_eps``
    ball; Madry et al. 2018). No setting depends on ``cfg.seed``: one judge per
    dataset. Metrics: ``test_acc`` (whole clean test set) and ``robust_acc``
    (``{"<eps>": acc}`` on ``judge_n_eval`` test images under a stronger attack:
    ``judge_eval_steps`` steps, best iterate, at each radius of ``judge_eval_eps``).
    """
    X, y, Xt, yt = load_splits(cfg.dataset)
    subset_seed = derive(cfg.judge_seed, "judge_subset")
    Xs, ys = D.subset(X, y, cfg.judge_n_train, seed=subset_seed)
    key = dict(adv_eps=cfg.judge_eps, adv_steps=cfg.judge_steps, n_train=cfg.judge_n_train,
               subset_seed=subset_seed, eval_eps=list(cfg.judge_eval_eps), eval_steps=cfg.judge_eval_steps,
               n_eval=cfg.judge_n_eval)

    def extra(model, test_pred):
        Xe, ye = D.subset(Xt, yt, cfg.judge_n_eval, seed=derive(cfg.judge_seed, "judge_eval"))
        acc = robust_accuracy(model, Xe, ye, cfg.judge_eval_eps, steps=cfg.judge_eval_steps, progress=False)
        return {"robust_acc": {f"{eps:g}": a for eps, a in acc.items() if eps > 0}}

    perturb = _adversarial_batch(cfg.judge_eps, cfg.judge_steps, generator(cfg.judge_seed, "judge_random_start"))
    return train_stage("judge", judge_recipe(cfg), Xs, ys, X_test=Xt, y_test=yt, key=key, device=cfg.device,
                       force=force, extra_metrics=extra, perturb=perturb)


# --- reading an error set ----------------------------------------------------------------

def reading_shares(pred: torch.Tensor, es: ErrorSet) -> Dict[str, float]:
    """What the judge's answers ``pred`` (N,) say about ``es``, over its *error* rows (``y != y_true``).

    ``reads_target``: share it calls the training label ``t`` (leakage: the
    perturbation drew ``t`` for a robust reader); ``reads_original``: share it
    still calls the true class ``y``; ``reads_other``: neither. Rows whose target
    equals their true class (a tenth of D_rand) are no errors and are left out;
    ``n_error_rows`` counts the rest.
    """
    err = es.y != es.y_true
    p, t, y = pred[err], es.y[err], es.y_true[err]
    n = int(err.sum())
    share = (lambda m: m.float().mean().item()) if n else (lambda m: float("nan"))
    return {"reads_target": share(p == t), "reads_original": share(p == y),
            "reads_other": share((p != t) & (p != y)), "n_error_rows": n}


def get_reading(cfg: Config, rule: str, *, errset: Optional[Tuple[ErrorSet, StageResult]] = None,
                judge: Optional[Tuple[nn.Module, StageResult]] = None) -> Stage:
    """The judge's prediction (N,) on every row of the error set for ``rule``, cached; shares as metrics.

    Metrics: :func:`reading_shares` of the error set, and the same shares on the
    clean images before the attack (``clean_reads_target`` ...): the judge's base
    rate of reading ``t`` where no perturbation drew anything.
    """
    es, es_res = errset if errset is not None else get_errset(cfg, rule)
    model, j_res = judge if judge is not None else get_judge(cfg)

    def build():
        pred = predict(model, es.x)
        metrics = reading_shares(pred, es)
        X_clean, _ = attacked_images(cfg)  # the same images before the attack, same order
        clean = reading_shares(predict(model, X_clean), es)
        metrics.update({f"clean_{k}": v for k, v in clean.items() if k != "n_error_rows"})
        return {"pred": pred}, metrics

    res = run_stage("reading", {"rule": rule}, build, upstream=[j_res.key, es_res.key])
    return Stage(res.payload["pred"], res)


def keep_mask(cfg: Config, es: ErrorSet) -> torch.Tensor:
    """The rows an unfiltered student of ``cfg`` trains on (all, or the successful ones)."""
    return es.success.clone() if cfg.keep == "successful" else torch.ones(len(es), dtype=torch.bool)


def filtered_mask(cfg: Config, es: ErrorSet, pred: torch.Tensor) -> torch.Tensor:
    """Rows an unfiltered student would see that are errors (``t != y``) the judge still reads as ``y``."""
    return keep_mask(cfg, es) & (es.y != es.y_true) & (pred == es.y_true)


def random_subset_mask(cfg: Config, es: ErrorSet, n: int, rule: str) -> torch.Tensor:
    """``n`` rows drawn uniformly (seeded) from those an unfiltered student would see."""
    rows = keep_mask(cfg, es).nonzero().flatten()
    pick = rows[torch.randperm(len(rows), generator=generator(cfg.seed, f"leakage_control_{rule}"))[:n]]
    mask = torch.zeros(len(es), dtype=torch.bool)
    mask[pick] = True
    return mask


SUBSETS = ("filtered", "random")


class EmptySubsetError(ValueError):
    """A leakage-controlled subset with no row to train on."""


def get_subset(cfg: Config, rule: str, kind: str, *, errset=None, judge=None) -> Stage:
    """The rows of a leakage-controlled student: ``kind="filtered"`` (judge reads ``y``) or
    ``"random"`` (as many rows, drawn at random); cached as a mask."""
    if kind not in SUBSETS:
        raise ValueError(f"kind must be one of {SUBSETS}, got {kind!r}")
    es, es_res = errset if errset is not None else get_errset(cfg, rule)
    pred, r_res = get_reading(cfg, rule, errset=(es, es_res), judge=judge)

    def build():
        mask = filtered_mask(cfg, es, pred)
        if kind == "random":
            mask = random_subset_mask(cfg, es, int(mask.sum()), rule)
        sub = es[mask]
        return {"mask": mask}, dict(sub.summary(), judge_reads_original=(pred[mask] == sub.y_true).float().mean().item()
                                    if len(sub) else float("nan"))

    settings = {"kind": kind, "keep": cfg.keep, "control_seed": derive(cfg.seed, f"leakage_control_{rule}")}
    res = run_stage("subset", settings, build, upstream=[r_res.key])
    return Stage(es[res.payload["mask"]], res)


def get_filtered_student(cfg: Config, rule: str, kind: str = "filtered", *, errset=None,
                         judge=None) -> Stage:
    """A fresh student trained only on :func:`get_subset` ``(cfg, rule, kind)``, scored on clean test data.

    Same recipe and metrics as :func:`errlib.stages.pipeline.get_student` (``n_train``:
    the rows kept). An empty subset raises :class:`EmptySubsetError` (the judge
    read no row as its original class).
    """
    sub = get_subset(cfg, rule, kind, errset=errset, judge=judge)
    if len(sub.value) == 0:
        raise EmptySubsetError(f"no row of {rule!r} is read as its original class by the judge; nothing to train on")
    return get_student(cfg, rule, errset=sub)


# --- the headline over seeds --------------------------------------------------------------

def headline_row(cfg: Config, judge: Optional[Tuple[nn.Module, StageResult]] = None, *,
                 leakage_filter: bool = False) -> Dict[str, Any]:
    """Every headline number of Part I for one seed (``cfg.seed``), built or loaded through the cache,
    each made with its kind (:mod:`errlib.stages.kinds`: fractions, the ``seed`` a number, the rows a count).

    Keys: ``seed``, ``source_clean_test_acc``, ``judge_*`` (the judge's own
    accuracies), and per set name ``D_rand`` / ``D_det``: ``<set>_attack_success``,
    ``<set>_judge_reads_target|original|other``, ``<set>_student_clean_test_acc``,
    ``<set>_student_predicts_y_plus_1``; with ``leakage_filter`` also
    ``<set>_filtered_student_clean_test_acc``, ``<set>_random_subset_student_clean_test_acc``,
    ``<set>_filtered_rows`` (rows kept by the filter, also the random subset's size) and
    :func:`filter_selection`'s ``<set>_filter_kept_*`` / ``<set>_filter_dropped_*``.
    """
    from .pipeline import RULE_NAMES, get_source

    judge = judge if judge is not None else get_judge(cfg)
    source = get_source(cfg)
    row: Dict[str, Any] = {"seed": number(cfg.seed), "source_clean_test_acc": fraction(source[1].metrics["test_acc"]),
                           "judge_clean_acc": fraction(judge[1].metrics["test_acc"])}
    for rule in ("all", "shift"):
        name = RULE_NAMES[rule]
        errset = get_errset(cfg, rule, source=source)
        reading = get_reading(cfg, rule, errset=errset, judge=judge)[1].metrics
        student = get_student(cfg, rule, errset=errset)[1].metrics
        row.update({f"{name}_attack_success": fraction(errset[1].metrics["success_rate"]),
                    f"{name}_student_clean_test_acc": fraction(student["test_acc"]),
                    f"{name}_student_predicts_y_plus_1": fraction(student["test_acc_shifted"])})
        row.update({f"{name}_judge_{k}": fraction(reading[k]) for k in ("reads_target", "reads_original", "reads_other")})
        if not leakage_filter:
            continue
        row.update({f"{name}_filter_{k}": fraction(v) for k, v in filter_selection(cfg, rule, errset, judge).items()})
        controlled = controlled_students(cfg, rule, errset=errset, judge=judge)
        for kind, label in (("filtered", "filtered"), ("random", "random_subset")):
            row[f"{name}_{label}_student_clean_test_acc"] = fraction(controlled[kind]["test_acc"])
        row[f"{name}_filtered_rows"] = count(controlled["filtered"]["n_train"])  # the random subset is as large
    return row


def filter_selection(cfg: Config, rule: str, errset, judge) -> Dict[str, float]:
    """What the leakage filter selects: the judge's mean probability of the true class ``y`` on the
    *clean* images of the error rows it keeps (``kept_clean_conf_y``) and of those it drops
    (``dropped_clean_conf_y``), and the share of error rows it keeps (``kept_share``).

    A filter that only removed leakage would keep rows as typical of their class as those it
    drops; a gap says it keeps the images whose class was plainest before any attack, which in
    D_det are the rows that pair a plain ``y`` with the label ``y + 1`` (a bias of the filter
    itself, reference §10)."""
    es, _ = errset
    pred, _ = get_reading(cfg, rule, errset=errset, judge=judge)
    X_clean, _ = attacked_images(cfg)
    with torch.no_grad():
        probs = torch.cat([torch.softmax(judge[0](D.to_float(X_clean[i:i + 1000]).to(next(judge[0].parameters()).device))
                                         .float(), 1).cpu() for i in range(0, len(X_clean), 1000)])
    conf_y = probs.gather(1, es.y_true[:, None])[:, 0]
    errors = es.y != es.y_true
    kept = filtered_mask(cfg, es, pred)
    dropped = errors & ~kept
    mean = lambda m: conf_y[m].mean().item() if m.any() else float("nan")
    return {"kept_clean_conf_y": mean(kept), "dropped_clean_conf_y": mean(dropped),
            "kept_share": kept.sum().item() / max(1, int(errors.sum()))}


def controlled_students(cfg: Config, rule: str, *, errset=None, judge=None) -> Dict[str, Dict[str, Any]]:
    """The metrics of ``rule``'s leakage-controlled students, ``{"filtered": ..., "random": ...}``
    (:func:`get_filtered_student`); an empty subset gives ``test_acc`` NaN and ``n_train`` 0."""
    out = {}
    for kind in ("filtered", "random"):
        try:
            out[kind] = get_filtered_student(cfg, rule, kind, errset=errset, judge=judge).result.metrics
        except EmptySubsetError:
            out[kind] = {"test_acc": float("nan"), "n_train": 0}
    return out


def build_controlled_students(cfg: Config) -> None:
    """Build (or load) both rules' leakage-controlled students for ``cfg.seed``: what the course
    runner starts ahead of notebook 04, beside notebook 03 (:mod:`errlib.run.tasks`)."""
    for rule in ("all", "shift"):
        controlled_students(cfg, rule)


def eps_point(cfg: Config, judge=None) -> Dict[str, Any]:
    """One point of notebook 07's eps sweep (a config of :func:`errlib.stages.controls.eps_configs`):
    ``eps``, each set's attack success, student accuracy and the judge's reading of ``t``, and the
    D_det student on the rows the judge still reads as ``y`` (the filter, across radii)."""
    from .pipeline import RULE_NAMES, get_source

    judge = judge if judge is not None else get_judge(cfg)
    source = get_source(cfg)
    row: Dict[str, Any] = {"eps": number(cfg.eps)}
    sets = {}
    for rule in ("all", "shift"):  # weak radii on purpose: no guard on the attack's success
        name, errset = RULE_NAMES[rule], sets.setdefault(rule, get_errset(cfg, rule, source=source, guard=False))
        reading = get_reading(cfg, rule, errset=errset, judge=judge)[1].metrics
        row.update({f"{name}_attack_success": fraction(errset[1].metrics["success_rate"]),
                    f"{name}_clean_test_acc": fraction(get_student(cfg, rule, errset=errset)[1].metrics["test_acc"]),
                    f"{name}_judge_reads_target": fraction(reading["reads_target"])})
    try:
        filtered = get_filtered_student(cfg, "shift", "filtered", errset=sets["shift"],
                                        judge=judge).result.metrics["test_acc"]
    except EmptySubsetError:
        filtered = float("nan")
    row["D_det_filtered_student_clean_test_acc"] = fraction(filtered)
    return row


def mean_sd(rows, key: str) -> Tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of ``row[key]`` over ``rows`` (sd 0 for one row),
    of the kind the rows' values were made with (plain numbers for plain values)."""
    vals = torch.tensor([float(r[key]) for r in rows], dtype=torch.float64)
    sd = vals.std().item() if len(vals) > 1 else 0.0
    kind = getattr(rows[0][key], "kind", None)
    if kind is None:
        return vals.mean().item(), sd
    return value(vals.mean().item(), kind), value(sd, kind)


EVIDENCE = D.REPO_ROOT / "docs" / "evidence" / "leakage_sweep.jsonl"


def load_evidence(path=None) -> list:
    """The committed rows of ``docs/evidence/leakage_sweep.py`` (one dict per regime; ``[]`` if absent)."""
    import json

    path = EVIDENCE if path is None else path
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
