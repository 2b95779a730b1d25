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
    judge ---+--------------------------+--> cset(rule) --> student
    grader (a judge with grader_seed, grader_eps, grader_model)

Row counts: a constrained set re-attacks the first ``n_constrained`` images of
the plain set (same images, same targets); its students are compared with a
plain student on those same rows (``same_rows``), never with the 20,000-row one.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from ..core.data import to_float
from ..core.train import predict
from .cache import StageResult, run_stage
from .config import Config
from .errsets import ErrorSet
from .kinds import count, fraction, norm, value
from .leakage import controlled_students, get_judge, get_reading, headline_row, reading_shares
from .pipeline import RULE_NAMES, Stage, attacked_images, get_errset, get_source, get_student

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

def n_rows(cfg: Config) -> int:
    """Rows of each constrained set: ``n_constrained``, at most ``n_attack``; ``None``: every attacked row
    (the default: the verdict needs the power of the whole set); 0: no constrained set."""
    return cfg.n_attack if cfg.n_constrained is None else min(cfg.n_constrained, cfg.n_attack)


def plain_set(cfg: Config, rule: str, *, source=None) -> Stage:
    """The plain error set whose first :func:`n_rows` rows a constrained set re-attacks.

    D_rand and D_det: the headline set (``n_attack`` rows). D_other, which the
    headline does not build: the same images, attacked for ``n_attack = n_rows(cfg)``
    (its targets are drawn for those rows).
    """
    if rule == "other":
        return get_errset(cfg.replace(n_attack=n_rows(cfg)), rule, source=source)
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
    n = n_rows(cfg)
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
    return Stage(ErrorSet.from_dict(res.payload), res)


def _set_row(cfg: Config, rule: str, source, judge, grader) -> Dict[str, Any]:
    """One rule's constrained numbers for ``cfg.seed`` (see :func:`constrained_row`)."""
    name = RULE_NAMES[rule]
    cset = get_constrained_set(cfg, rule, source=source, judge=judge)
    plain = plain_set(cfg, rule, source=source)
    c_cfg = cfg.replace(n_attack=n_rows(cfg)) if rule == "other" else cfg
    student = get_student(cfg, rule, errset=cset).result.metrics
    same = get_student(c_cfg, rule, errset=plain, limit=None if rule == "other" else n_rows(cfg)).result.metrics
    es, m = cset.value, cset.result.metrics
    graded = reading_shares(predict(grader[0], es.x), es)
    graded_plain = reading_shares(predict(grader[0], plain.value[: n_rows(cfg)].x), plain.value[: n_rows(cfg)])
    judged = reading_shares(predict(judge[0], es.x), es)
    row = {f"{name}_constrained_attack_success": fraction(m["success_rate"]),
           f"{name}_constrained_mean_delta_norm": norm(m["mean_delta_norm"]),
           f"{name}_constrained_judge_reads_original": fraction(judged["reads_original"]),
           f"{name}_constrained_student_clean_test_acc": fraction(student["test_acc"]),
           f"{name}_constrained_student_predicts_y_plus_1": fraction(student["test_acc_shifted"]),
           f"{name}_same_rows_attack_success": fraction(m["plain_success_rate"]),
           f"{name}_same_rows_mean_delta_norm": norm(m["plain_mean_delta_norm"]),
           f"{name}_same_rows_student_clean_test_acc": fraction(same["test_acc"]),
           f"{name}_same_rows_student_predicts_y_plus_1": fraction(same["test_acc_shifted"])}
    for k in ("reads_target", "reads_original", "reads_other"):
        row[f"{name}_constrained_grader_{k}"] = fraction(graded[k])
        row[f"{name}_same_rows_grader_{k}"] = fraction(graded_plain[k])
    return row


def constrained_row(cfg: Config, judge=None, grader=None, *, other: bool = False) -> Dict[str, Any]:
    """Every constrained-set number of one seed (``cfg.seed``), built or loaded through the cache.

    Per set name (D_rand, D_det, and D_other when ``other``): ``<set>_constrained_*``
    (attack success on the source, mean perturbation norm, the constraining
    judge's and the grader's reading, the student's clean test accuracy and its
    ``y + 1`` share) and ``<set>_same_rows_*`` (the same for the plain set's
    rows it re-attacked, and a plain student on them); ``constrained_rows``.
    """
    source = get_source(cfg)
    judge = judge if judge is not None else get_judge(cfg)
    grader = grader if grader is not None else get_grader(cfg)
    row: Dict[str, Any] = {"constrained_rows": count(n_rows(cfg))}
    for rule in ("all", "shift") + (("other",) if other else ()):
        row.update(_set_row(cfg, rule, source, judge, grader))
    return row


GRADED_FILTER = ("all", "shift")  # sets whose filtered students the grader also trains (first seed only)


def grader_row(cfg: Config, grader=None, rules=GRADED_FILTER) -> Dict[str, Any]:
    """The grader's own accuracies, its reading of the plain D_rand / D_det sets, and the leakage-filtered
    students under it for the sets in ``rules`` (``<set>_grader_filtered_student_clean_test_acc``,
    ``..._random_subset_...``, ``<set>_grader_filtered_rows``) for ``cfg.seed``.

    Both sets by default, so the filter's answer to both of notebook 04's questions is read by two
    judges; the course does it for the first seed only (each filtered student and its random-subset
    control train on most of a 20,000-row set, about 30 CPU-s each)."""
    grader = grader if grader is not None else get_grader(cfg)
    gm = grader[1].metrics
    row: Dict[str, Any] = {"grader_clean_acc": fraction(gm["test_acc"]),
                           "grader_robust_acc": value(dict(gm["robust_acc"]), "number")}  # fraction per radius
    for rule in ("all", "shift"):
        name = RULE_NAMES[rule]
        reading = get_reading(cfg, rule, judge=grader)[1].metrics
        row.update({f"{name}_grader_{k}": fraction(reading[k]) for k in ("reads_target", "reads_original", "reads_other")})
        if rule not in rules:
            continue
        controlled = controlled_students(cfg, rule, judge=grader)
        row[f"{name}_grader_filtered_student_clean_test_acc"] = fraction(controlled["filtered"]["test_acc"])
        row[f"{name}_grader_filtered_student_predicts_y_plus_1"] = value(
            controlled["filtered"].get("test_acc_shifted"), "fraction")
        row[f"{name}_grader_random_subset_student_clean_test_acc"] = fraction(controlled["random"]["test_acc"])
        row[f"{name}_grader_filtered_rows"] = count(controlled["filtered"]["n_train"])
    return row


# --- what the course runner starts early (rows of errlib.run.tasks.course_table) ---

def seed_row(cfg: Config, judge=None, grader=None) -> Dict[str, Any]:
    """:func:`errlib.stages.leakage.headline_row` and :func:`constrained_row` of one seed, merged."""
    judge = judge if judge is not None else get_judge(cfg)
    row = headline_row(cfg, judge=judge)
    return dict(row, **constrained_row(cfg, judge=judge, grader=grader)) if n_rows(cfg) else row


def build_first_seed(cfg: Config) -> None:
    """Build (or load) the first seed's constrained sets (D_other included), their students and the
    grader's filtered students: what notebook 04 reads for ``cfg.seed`` besides its headline."""
    if not n_rows(cfg):
        return
    grader = get_grader(cfg)
    constrained_row(cfg, grader=grader, other=True)
    grader_row(cfg, grader=grader)
