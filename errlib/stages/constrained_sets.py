"""Judge-constrained error sets: leakage removed in the attack, graded by a second judge.

The leakage filter (:mod:`errlib.stages.leakage`) drops the rows a robust judge
reads as their target, which *selects* rows (in D_det, those whose original
class stayed most visible, pushing the student toward ``y + 1``). Here nothing
is dropped: every image of the plain set is attacked again, toward the same
target ``t`` with the same ``eps`` and steps, by
:func:`errlib.core.constrained.constrained_pgd`, which keeps the judge's output
where it was on the clean image (a KL term, weight ``constrain_lam``; the best
iterate the judge still reads as it read ``x``). The perturbation is thus, by
construction, invisible to that robust reader.

By construction the constraining judge reads ``y`` on these rows, so it cannot
grade them. A second judge, the *grader* (:func:`get_grader`), trained with its
own seed and another radius by the same code as the judge, reads both the
plain and the constrained sets and filters the plain ones a second time.

Stage graph (cached; keys chain)::

    source --+-- errset(rule) (plain) --+
    judge ---+--------------------------+--> cset(rule) --> student --+
    grader (a judge with grader_seed, grader_eps, grader_model) -------+--> setrow(rule)

``setrow`` holds one set's published numbers (the readings, the margin kept and its bootstrap
interval), so that they are computed once, where the set was built.

Row counts: a constrained set re-attacks the first ``n_constrained`` images of
the plain set (same images, same targets; by default every row), and its
student is compared with a plain student on those same rows (``same_rows``):
with every row re-attacked, that is the headline student, one cache entry.
The paired comparison is :mod:`errlib.stages.verdict`'s margin kept.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..core.data import to_float
from ..core.train import predict
from .cache import StageResult, run_stage
from .config import Config
from .errsets import ErrorSet, check_attack_worked
from ..core.seeds import derive
from .kinds import count, fraction, norm, number, record, restore, value
from .leakage import get_judge, get_reading, headline_row, reading_shares
from .pipeline import RULE_NAMES, Stage, attacked_images, get_errset, get_source, get_student, load_splits
from .verdict import bootstrap_margin_kept, margin_kept

CONSTRAINT = {"method": "kl", "keep": "best"}  # the neutral constraint and the paper-like iterate (reference §10)


# --- the grader --------------------------------------------------------------------------

def grader_config(cfg: Config) -> Config:
    """``cfg`` with the judge's and the grader's settings (model, radius, seed) swapped: the grader is the
    judge of this config."""
    return cfg.replace(judge_model=cfg.grader_model, judge_eps=cfg.grader_eps, judge_seed=cfg.grader_seed,
                       grader_model=cfg.judge_model, grader_eps=cfg.judge_eps, grader_seed=cfg.judge_seed)


def get_grader(cfg: Config, *, force: bool = False) -> Stage:
    """The second, independently trained robust judge (:func:`errlib.stages.leakage.get_judge` of
    :func:`grader_config`): its own seeds, radius ``grader_eps``; same metrics as the judge."""
    return get_judge(grader_config(cfg), force=force)


# --- constrained sets -------------------------------------------------------------------------

def n_rows(cfg: Config, rule: str = "all") -> int:
    """Rows of each constrained set: ``n_constrained``, at most ``n_attack``; ``None``: every attacked row
    (the default: the verdict needs the power of the whole set); 0: no constrained set. D_other, a
    control of D_rand's correctly labelled tenth that the headline does not build, stays at
    ``n_control`` rows (notebook 07's control size)."""
    n = cfg.n_attack if cfg.n_constrained is None else min(cfg.n_constrained, cfg.n_attack)
    return min(n, cfg.n_control) if rule == "other" else n


def plain_set(cfg: Config, rule: str, *, source=None) -> Stage:
    """The plain error set whose first :func:`n_rows` rows a constrained set re-attacks.

    D_rand and D_det: the headline set (``n_attack`` rows). D_other, which the
    headline does not build: the same images, attacked for ``n_attack = n_rows(cfg)``
    (its targets are drawn for those rows).
    """
    if rule == "other":
        return get_errset(cfg.replace(n_attack=n_rows(cfg, rule)), rule, source=source)
    return get_errset(cfg, rule, source=source)


def get_constrained_set(cfg: Config, rule: str, *, source=None, judge=None) -> Stage:
    """The judge-constrained error set for ``rule`` (``"all"``, ``"shift"``, ``"other"``), cached.

    ``x`` (n, C, H, W) in [0, 1]: the plain set's first :func:`n_rows` images,
    attacked toward the same targets with ``cfg``'s eps, steps and step size;
    ``success``: the source model reads the target (the attack's ``fooled``);
    ``delta_norm``: the L2 norm of the perturbation. Metrics: the set's summary,
    ``judge_kept`` (share of rows the constraining judge reads as on the clean
    image) and the plain set's ``plain_success_rate`` / ``plain_mean_delta_norm``
    on the same rows.
    """
    if cfg.norm != "l2" or n_rows(cfg) == 0:
        raise ValueError(f"a constrained set needs the L2 attack and n_constrained >= 1, got norm {cfg.norm!r} "
                         f"and n_constrained {cfg.n_constrained}")
    model, src = source if source is not None else get_source(cfg)
    jmodel, jres = judge if judge is not None else get_judge(cfg)
    plain, p_res = plain_set(cfg, rule, source=(model, src))
    n = n_rows(cfg, rule)
    settings = dict(rule=rule, eps=cfg.eps, steps=cfg.steps, step_size=cfg.resolved_step_size, n=n,
                    lam=cfg.constrain_lam, batch_size=cfg.attack_batch_size, **CONSTRAINT)

    def build():
        from ..core.constrained import constrained_pgd  # the attack (errlib.core)

        base = plain[:n]
        X, y = attacked_images(cfg)
        if not torch.equal(y[:n].long(), base.y_true):
            raise RuntimeError("the plain set's rows are not the attacked images in order; refusing to pair them")
        x = to_float(X[:n])
        parts = [constrained_pgd(model, jmodel, x[i:i + cfg.attack_batch_size], base.y[i:i + cfg.attack_batch_size],
                                 eps=cfg.eps, steps=cfg.steps, step_size=cfg.resolved_step_size,
                                 lam=cfg.constrain_lam, **CONSTRAINT)
                 for i in range(0, n, cfg.attack_batch_size)]
        x_adv = torch.cat([p[0].detach().cpu() for p in parts])
        info = {k: torch.cat([p[1][k].detach().cpu() for p in parts]) for k in ("fooled", "judge_kept", "norm")}
        es = ErrorSet(x=x_adv, y=base.y, y_true=base.y_true, source_pred=predict(model, x_adv),
                      success=info["fooled"].bool(), delta_norm=info["norm"].float())
        return es.to_dict(), dict(es.summary(), judge_kept=info["judge_kept"].float().mean().item(),
                                  plain_success_rate=base.success_rate,
                                  plain_mean_delta_norm=base.delta_norm.mean().item())

    res = run_stage("cset", settings, build, upstream=[src.key, jres.key, p_res.key])
    check_attack_worked(res.metrics, cfg.chance, f"constrained {RULE_NAMES.get(rule, rule)} (lam {cfg.constrain_lam:g})")
    return Stage(ErrorSet.from_dict(res.payload), res)


def _correct(model: nn.Module, cfg: Config) -> torch.Tensor:
    """``(N,)`` bool: ``model`` right on each clean test image (for the paired bootstrap)."""
    _, _, Xt, yt = load_splits(cfg.dataset)
    return predict(model, Xt) == yt


def _set_row(cfg: Config, rule: str, source, judge, grader) -> Dict[str, Any]:
    """One rule's constrained numbers for ``cfg.seed`` (see :func:`constrained_row`), cached as the
    stage ``setrow`` (its manifest's metrics, each with its kind): the readings and the bootstrap
    are computed once, by the stage process that built the set, and a notebook reading them
    afterwards loads them (:func:`errlib.stages.executor.run_steps`)."""
    name, n = RULE_NAMES[rule], n_rows(cfg, rule)
    cset = get_constrained_set(cfg, rule, source=source, judge=judge)
    plain = plain_set(cfg, rule, source=source)
    c_cfg = cfg.replace(n_attack=n) if rule == "other" else cfg
    student = get_student(cfg, rule, errset=cset)
    same = get_student(c_cfg, rule, errset=plain, limit=n)  # every row: the headline student itself
    grader = grader if grader is not None else get_grader(cfg)
    boot_seed = derive(cfg.seed, f"bootstrap_{rule}")

    def build():
        es, m, p_rows = cset.value, cset.result.metrics, plain.value[:n]
        graded = reading_shares(predict(grader[0], es.x), es)
        graded_plain = reading_shares(predict(grader[0], p_rows.x), p_rows)
        judged = reading_shares(predict(judge[0], es.x), es)
        c_acc, p_acc = student.result.metrics["test_acc"], same.result.metrics["test_acc"]
        boot = bootstrap_margin_kept(_correct(student.value, cfg), _correct(same.value, cfg), cfg.chance,
                                     seed=boot_seed)
        row = {f"{name}_constrained_attack_success": fraction(m["success_rate"]),
               f"{name}_constrained_mean_delta_norm": norm(m["mean_delta_norm"]),
               f"{name}_constrained_judge_reads_original": fraction(judged["reads_original"]),
               f"{name}_constrained_student_clean_test_acc": fraction(c_acc),
               f"{name}_constrained_student_predicts_y_plus_1": fraction(student.result.metrics["test_acc_shifted"]),
               f"{name}_constrained_margin_kept": number(margin_kept(c_acc, p_acc, cfg.chance)),
               f"{name}_constrained_margin_kept_test_low": number(boot[0]),
               f"{name}_constrained_margin_kept_test_high": number(boot[1]),
               f"{name}_same_rows_attack_success": fraction(m["plain_success_rate"]),
               f"{name}_same_rows_mean_delta_norm": norm(m["plain_mean_delta_norm"]),
               f"{name}_same_rows_student_clean_test_acc": fraction(p_acc),
               f"{name}_same_rows_student_predicts_y_plus_1": fraction(same.result.metrics["test_acc_shifted"])}
        for k in ("reads_target", "reads_original", "reads_other"):
            row[f"{name}_constrained_grader_{k}"] = fraction(graded[k])
            row[f"{name}_same_rows_grader_{k}"] = fraction(graded_plain[k])
        return {}, {k: record(k, v) for k, v in row.items()}

    res = run_stage("setrow", {"rule": rule, "n": n, "bootstrap_seed": boot_seed}, build,
                    upstream=[r[1].key for r in (cset, plain, student, same, judge, grader)])
    return {k: restore(r) for k, r in res.metrics.items()}


def constrained_row(cfg: Config, judge=None, grader=None, *, other: bool = False) -> Dict[str, Any]:
    """Every constrained-set number of one seed (``cfg.seed``), built or loaded through the cache.

    Per set name (D_rand, D_det, and D_other when ``other``): ``<set>_constrained_*``
    (attack success on the source, mean perturbation norm, the constraining
    judge's and the grader's reading, the student's clean test accuracy, its
    ``y + 1`` share, and its margin kept over the plain student on the same rows,
    with a bootstrap interval over test images) and ``<set>_same_rows_*`` (the
    same for the plain set's rows it re-attacked, and the plain student on them:
    with every row constrained, the headline student); ``constrained_rows``.
    """
    source = get_source(cfg)
    judge = judge if judge is not None else get_judge(cfg)
    grader = grader if grader is not None else get_grader(cfg)
    row: Dict[str, Any] = {"constrained_rows": count(n_rows(cfg))}
    for rule in ("all", "shift") + (("other",) if other else ()):
        row.update(_set_row(cfg, rule, source, judge, grader))
    return row


def grader_row(cfg: Config, grader=None) -> Dict[str, Any]:
    """The grader's own accuracies and its reading of the plain D_rand / D_det sets for ``cfg.seed``.

    The grader reads; it trains no filtered students: the filter is a naive control
    (:func:`errlib.stages.leakage.filter_selection` measures what it selects), and
    the verdict rests on the constrained sets, which the grader grades."""
    grader = grader if grader is not None else get_grader(cfg)
    gm = grader[1].metrics
    row: Dict[str, Any] = {"grader_clean_acc": fraction(gm["test_acc"]),
                           "grader_robust_acc": value(dict(gm["robust_acc"]), "number")}  # fraction per radius
    for rule in ("all", "shift"):
        name = RULE_NAMES[rule]
        reading = get_reading(cfg, rule, judge=grader)[1].metrics
        row.update({f"{name}_grader_{k}": fraction(reading[k]) for k in ("reads_target", "reads_original", "reads_other")})
    return row


def rows_curve(cfg: Config, rule: str = "shift", judge=None, fractions=(0.125, 0.25, 0.5, 1.0)) -> List[Dict[str, Any]]:
    """The constrained and the plain student of ``rule`` on the first ``f * n_rows`` rows of one set,
    seed ``cfg.seed``: how the paired test's power grows with the rows (default 2,500 / 5,000 /
    10,000 / 20,000). The constrained rows are prefixes of one constrained set, so only students
    are trained; the last point is the headline pair."""
    judge = judge if judge is not None else get_judge(cfg)
    source = get_source(cfg)
    cset = get_constrained_set(cfg, rule, source=source, judge=judge)
    plain = plain_set(cfg, rule, source=source)
    out = []
    for f in fractions:
        k = max(1, int(round(f * n_rows(cfg, rule))))
        c = get_student(cfg, rule, errset=cset, limit=k).result.metrics["test_acc"]
        p = get_student(cfg, rule, errset=plain, limit=k).result.metrics["test_acc"]
        out.append({"rows": count(k), "constrained": fraction(c), "plain": fraction(p),
                    "margin_kept": number(margin_kept(c, p, cfg.chance))})
    return out


# --- one seed's row, and its parts as stage calls (errlib.stages.course_plan) ---

def seed_row(cfg: Config, judge=None, grader=None, *, leakage_filter: bool = False) -> Dict[str, Any]:
    """:func:`errlib.stages.leakage.headline_row` and :func:`constrained_row` of one seed, merged
    (``leakage_filter``: the judge-filtered and random-subset students too, notebook 04's first seed)."""
    judge = judge if judge is not None else get_judge(cfg)
    row = headline_row(cfg, judge=judge, leakage_filter=leakage_filter)
    return dict(row, **constrained_row(cfg, judge=judge, grader=grader)) if n_rows(cfg) else row


def set_row(cfg: Config, rule: str, judge=None, grader=None) -> Dict[str, Any]:
    """One set's constrained-set numbers for ``cfg.seed`` (``rule``: "all", "shift" or "other"; see
    :func:`constrained_row`): a stage call of its own, so that a seed's sets build side by side."""
    judge = judge if judge is not None else get_judge(cfg)
    grader = grader if grader is not None else get_grader(cfg)
    return _set_row(cfg, rule, get_source(cfg), judge, grader)


def other_row(cfg: Config, judge=None, grader=None) -> Dict[str, Any]:
    """D_other's constrained-set numbers for ``cfg.seed`` (``n_control`` rows; see :func:`constrained_row`)."""
    return set_row(cfg, "other", judge, grader)
