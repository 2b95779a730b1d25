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
from errlib.core.train import predict

pytestmark = pytest.mark.usefixtures("isolated_env")


def _tiny(**changes):
    """A smoke config small enough for a unit test (seconds on one core)."""
    return errlib.stages.config.resolve("smoke", **dict(dict(
        n_train=800, epochs=1, n_attack=80, steps=4, student_epochs=1, judge_n_train=300, judge_epochs=1,
        judge_n_eval=40, judge_eval_steps=5, n_control=40), **changes))


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
        n = C.n_rows(cfg, rule)
        plain = C.plain_set(cfg, rule).value[:n]
        X, y = P.attacked_images(cfg)
        assert len(es) == n and torch.equal(es.y, plain.y) and torch.equal(es.y_true, plain.y_true)
        if rule != "all":
            assert not (es.y == es.y_true).any()  # D_other and D_det: never the true class
        x0 = D.to_float(X[:n])
        norms = (es.x - x0).flatten(1).norm(dim=1)
        assert (norms <= cfg.eps * (1 + 1e-4)).all(), f"{rule}: a row left its eps-ball ({norms.max():.4f})"
        assert torch.allclose(norms, es.delta_norm, atol=1e-4)
        assert es.x.min() >= 0 and es.x.max() <= 1
        assert 0 <= res.metrics["judge_kept"] <= 1 and res.metrics["n"] == n


def test_every_attacked_row_is_constrained_by_default_and_d_other_stays_at_n_control():
    cfg = errlib.stages.config.resolve("default")
    assert cfg.n_constrained is None and C.n_rows(cfg) == cfg.n_attack
    assert C.n_rows(cfg, "other") == min(cfg.n_control, cfg.n_attack)
    assert C.n_rows(cfg.replace(n_constrained=5000)) == 5000
    assert C.n_rows(cfg.replace(n_constrained=10 ** 6)) == cfg.n_attack  # more than the set: all rows
    assert C.n_rows(cfg.replace(n_constrained=0)) == 0
    for profile in errlib.stages.config.PROFILES:
        c = errlib.stages.config.resolve(profile)
        assert C.n_rows(c) == c.n_attack, profile


def test_the_constrained_set_is_attacked_toward_its_own_labels(mnist_root):
    """Recomputed from the images, not read from the attack's own flag: the source predicts each
    constrained row's label t about as often as on the plain set, and not y."""
    cfg = _tiny(n_attack=120, steps=10)
    source, _ = P.get_source(cfg)
    for rule in ("all", "shift"):
        es = C.get_constrained_set(cfg, rule).value
        plain = C.plain_set(cfg, rule).value
        pred, pred_plain = predict(source, es.x), predict(source, plain.x)
        err = es.y != es.y_true
        to_t, plain_to_t = (pred == es.y)[err].float().mean().item(), (pred_plain == plain.y)[err].float().mean().item()
        to_y = (pred == es.y_true)[err].float().mean().item()
        assert to_t > 3 * cfg.chance and to_t >= plain_to_t - 0.25, (rule, to_t, plain_to_t)
        assert to_y < to_t / 2, (rule, to_y, to_t)


def test_the_plain_student_on_every_row_is_the_headline_student_one_cache_entry(mnist_root):
    cfg = _tiny()
    headline = P.get_student(cfg, "shift").result
    same = P.get_student(cfg, "shift", limit=cfg.n_attack).result
    bigger = P.get_student(cfg, "shift", limit=10 * cfg.n_attack).result
    assert same.key == bigger.key == headline.key and same.cached
    assert P.get_student(cfg, "shift", limit=cfg.n_attack // 2).result.key != headline.key


def test_constrained_stages_cache_and_reload(mnist_root):
    cfg = _tiny()
    first = C.constrained_row(cfg, other=True)
    es, res = C.get_constrained_set(cfg, "shift")
    again, res2 = C.get_constrained_set(cfg, "shift")
    assert res2.cached and res2.key == res.key and torch.equal(es.x, again.x)
    same = lambda row: {k: "nan" if v != v else v for k, v in row.items()}  # NaN: a plain student at chance
    assert same(C.constrained_row(cfg, other=True)) == same(first)  # every stage of the row loads, nothing moves
    assert first["constrained_rows"] == cfg.n_attack
    for name in ("D_rand", "D_det", "D_other"):
        for k in ("constrained_attack_success", "constrained_grader_reads_target", "constrained_student_clean_test_acc",
                  "same_rows_student_clean_test_acc"):
            assert 0 <= first[f"{name}_{k}"] <= 1
        low, high = first[f"{name}_constrained_margin_kept_test_low"], first[f"{name}_constrained_margin_kept_test_high"]
        assert low != low or low <= high  # NaN where the plain student has no margin
    other = C.get_constrained_set(cfg.replace(constrain_lam=0.0), "shift")
    assert other.result.key != res.key  # the constraint's weight is part of the key


def test_a_set_row_is_computed_once_and_loads_with_its_kinds(mnist_root, monkeypatch):
    """The readings and the bootstrap are a stage: a notebook that reads a row a stage process built
    computes nothing again, and the row it loads carries the kinds the process made."""
    cfg = _tiny()
    first = C.set_row(cfg, "shift")
    monkeypatch.setattr(C, "bootstrap_margin_kept", lambda *a, **k: pytest.fail("bootstrap recomputed"))
    monkeypatch.setattr(C, "reading_shares", lambda *a, **k: pytest.fail("reading recomputed"))
    again = C.set_row(cfg, "shift")
    same = lambda row: {k: "nan" if v != v else v for k, v in row.items()}
    assert same(again) == same(first)
    assert {k: v.kind for k, v in again.items()} == {k: v.kind for k, v in first.items()}
    assert again["D_det_constrained_grader_reads_target"].kind == "fraction"
    assert again["D_det_constrained_margin_kept"].kind == "number"


def test_rows_curve_trains_students_on_prefixes_and_ends_at_the_headline_pair(mnist_root):
    cfg = _tiny()
    curve = C.rows_curve(cfg, fractions=(0.5, 1.0))
    assert [p["rows"] for p in curve] == [cfg.n_attack // 2, cfg.n_attack]
    row = C.constrained_row(cfg)
    assert curve[-1]["plain"] == row["D_det_same_rows_student_clean_test_acc"]
    assert curve[-1]["constrained"] == row["D_det_constrained_student_clean_test_acc"]


def test_the_grader_reads_and_trains_no_filtered_students(mnist_root):
    cfg = _tiny()
    row = C.grader_row(cfg)
    assert 0 <= row["D_det_grader_reads_target"] <= 1 and 0 <= row["grader_clean_acc"] <= 1
    assert not [k for k in row if "filtered" in k or "random_subset" in k]


def test_no_constrained_work_when_n_constrained_is_zero(mnist_root):
    cfg = _tiny(n_constrained=0)
    with pytest.raises(ValueError, match="n_constrained"):
        C.get_constrained_set(cfg, "shift")
    assert "D_det_constrained_student_clean_test_acc" not in C.seed_row(cfg)


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
