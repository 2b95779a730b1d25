"""errlib.stages.constrained_sets: judge-constrained error sets, the grader, and the judge's own training."""
from __future__ import annotations

import pytest
import torch

import errlib.stages.config
import errlib.stages.constrained_sets as C
import errlib.stages.leakage as L
import errlib.stages.pipeline as P
from errlib import data as D
from errlib.stages.controls import robust_accuracy
from errlib.core.seeds import derive

pytestmark = pytest.mark.usefixtures("isolated_env")


def _tiny(**changes):
    """A smoke config small enough for a unit test (seconds on one core)."""
    return errlib.stages.config.resolve("smoke", **dict(dict(
        n_train=800, epochs=1, n_attack=80, steps=4, student_epochs=1, judge_n_train=300, judge_epochs=1,
        judge_n_eval=40, judge_eval_steps=5, n_constrained=40), **changes))


def test_grader_is_an_independent_judge_never_the_constraining_one(mnist_root):
    cfg = _tiny()
    judge, grader = L.get_judge(cfg), C.get_grader(cfg)
    assert grader.result.key != judge.result.key
    js, gs = judge.result.manifest["settings"], grader.result.manifest["settings"]
    assert js["init_seed"] != gs["init_seed"] and js["subset_seed"] != gs["subset_seed"]  # its own seed
    assert gs["adv_eps"] == cfg.grader_eps != cfg.judge_eps == js["adv_eps"]  # another radius
    cset = C.get_constrained_set(cfg, "shift", judge=judge)
    assert judge.result.key in cset.result.manifest["upstream"]  # the judge constrains ...
    assert grader.result.key not in cset.result.manifest["upstream"]  # ... the grader never does
    with pytest.raises(ValueError, match="grader_seed"):
        cfg.replace(grader_seed=cfg.judge_seed)


def test_constrained_set_keeps_the_plain_rows_targets_and_stays_in_its_eps_ball(mnist_root):
    cfg = _tiny()
    for rule in ("all", "shift", "other"):
        es, res = C.get_constrained_set(cfg, rule)
        plain = C.plain_set(cfg, rule).value[: cfg.n_constrained]
        X, y = P.attacked_images(cfg)
        assert len(es) == cfg.n_constrained and torch.equal(es.y, plain.y) and torch.equal(es.y_true, plain.y_true)
        if rule != "all":
            assert not (es.y == es.y_true).any()  # D_other and D_det: never the true class
        x0 = D.to_float(X[: cfg.n_constrained])
        norms = (es.x - x0).flatten(1).norm(dim=1)
        assert (norms <= cfg.eps * (1 + 1e-4)).all(), f"{rule}: a row left its eps-ball ({norms.max():.4f})"
        assert torch.allclose(norms, es.delta_norm, atol=1e-4)
        assert es.x.min() >= 0 and es.x.max() <= 1
        assert 0 <= res.metrics["judge_kept"] <= 1 and res.metrics["n"] == cfg.n_constrained


def test_constrained_stages_cache_and_reload(mnist_root):
    cfg = _tiny()
    first = C.constrained_row(cfg, other=True)
    es, res = C.get_constrained_set(cfg, "shift")
    again, res2 = C.get_constrained_set(cfg, "shift")
    assert res2.cached and res2.key == res.key and torch.equal(es.x, again.x)
    assert C.constrained_row(cfg, other=True) == first  # every stage of the row loads, nothing moves
    assert first["constrained_rows"] == cfg.n_constrained
    for name in ("D_rand", "D_det", "D_other"):
        for k in ("constrained_attack_success", "constrained_grader_reads_target", "constrained_student_clean_test_acc",
                  "same_rows_student_clean_test_acc"):
            assert 0 <= first[f"{name}_{k}"] <= 1
    other = C.get_constrained_set(cfg.replace(constrain_lam=0.0), "shift")
    assert other.result.key != res.key  # the constraint's weight is part of the key


def test_grader_filters_both_sets_by_default(mnist_root):
    """Deliver 3: the filtered students of both plain sets are read by a second judge, not D_det's alone."""
    cfg = _tiny()
    row = C.grader_row(cfg)
    for name in ("D_rand", "D_det"):
        assert 0 <= row[f"{name}_grader_filtered_student_clean_test_acc"] <= 1
        assert 0 <= row[f"{name}_grader_random_subset_student_clean_test_acc"] <= 1
        assert 0 < row[f"{name}_grader_filtered_rows"] <= cfg.n_attack


def test_no_constrained_work_when_n_constrained_is_zero(mnist_root):
    cfg = _tiny(n_constrained=0)
    with pytest.raises(ValueError, match="n_constrained"):
        C.get_constrained_set(cfg, "shift")
    assert C.build_first_seed(cfg) is None


def test_judge_is_trained_on_its_adversarial_perturbation(mnist_root):
    """Fails if get_judge trains without its attack: at its own radius it must beat a standard model
    trained by the same recipe on the same images (same initial weights and order, no perturbation)."""
    cfg = errlib.stages.config.resolve("smoke", judge_n_train=2000, judge_epochs=2, judge_n_eval=100,
                                       judge_eval_steps=5, judge_eval_eps=(2.0,))
    judge, _ = L.get_judge(cfg)
    X, y, Xt, yt = P.load_splits(cfg.dataset)
    Xs, ys = D.subset(X, y, cfg.judge_n_train, seed=derive(cfg.judge_seed, "judge_subset"))
    recipe = L.judge_recipe(cfg)
    standard = recipe.make_model()
    recipe.fit(standard, Xs, ys, device="cpu")
    standard.eval()
    Xe, ye = Xt[:200], yt[:200]
    robust_judge = robust_accuracy(judge, Xe, ye, [cfg.judge_eps], steps=10, progress=False)[cfg.judge_eps]
    robust_standard = robust_accuracy(standard, Xe, ye, [cfg.judge_eps], steps=10, progress=False)[cfg.judge_eps]
    assert robust_judge > robust_standard + 0.1, (robust_judge, robust_standard)
