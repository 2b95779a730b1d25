"""Part II (Wallace): the 2-D toy, fit's step budget, match_stats, the Part II config and stages, over seeds."""
from __future__ import annotations

import os

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

import errlib.stages.config
import errlib.stages.pipeline as P
import errlib.stages.wallace as W
from errlib import toy
from errlib.core.data import to_float
from errlib.stages.wallace import match_stats
from errlib.stages.errsets import relabel_set, wrong_label_set
from errlib.core.train import fit, predict
from helpers import tiny_images, tiny_labels, tiny_model

pytestmark = pytest.mark.usefixtures("isolated_env")


# --- the 2-D toy ---------------------------------------------------------------------------

def test_make_points_shapes_ranges_and_seeding():
    X, y = toy.make_points(32, seed=3)
    assert X.shape == (32, 2) and X.dtype == torch.float32 and y.shape == (32,) and y.dtype == torch.int64
    assert 0 <= X.min() and X.max() <= 1 and set(y.tolist()) <= {0, 1}
    X2, y2 = toy.make_points(32, seed=3)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    assert not torch.equal(X, toy.make_points(32, seed=4)[0])


def test_bank_member_matches_the_bank_and_depends_only_on_its_seed():
    X, _ = toy.make_bank([1, 3])
    bank = toy.MLPBank([1, 3])
    out = bank(X)
    assert out.shape == (2, 32, 2)
    assert torch.allclose(bank(X.reshape(64, 2)), out.reshape(64, 2))  # the flat form pgd uses
    assert torch.allclose(bank.member(1)(X[1]), out[1], atol=1e-6)
    alone = toy.MLPBank([3])
    assert torch.allclose(alone(X[1:]), out[1:], atol=1e-6)


def test_training_a_bank_equals_training_each_member_alone():
    X, y = toy.make_bank([0, 1])
    both, alone = toy.MLPBank([0, 1]), toy.MLPBank([1])
    toy.train_bank(both, X, y, steps=40)
    toy.train_bank(alone, X[1:], y[1:], steps=40)
    assert torch.allclose(both(X)[1], alone(X[1:])[0], atol=1e-4)


def test_teacher_fits_all_32_points():
    X, y = toy.make_bank([0])
    teacher = toy.MLPBank([0])
    toy.train_bank(teacher, X, y, steps=toy.TRAIN_STEPS)
    assert int((toy.predict_bank(teacher, X) == y).sum()) == 32


def test_flipped_points_stay_in_the_box_and_really_flip():
    X, y = toy.make_bank([0, 1])
    teacher = toy.MLPBank([0, 1])
    toy.train_bank(teacher, X, y, steps=300)
    x_adv, pred, flipped = toy.flip_attack(teacher, X, y, eps=toy.EPS)
    assert x_adv.shape == X.shape and flipped.dtype == torch.bool
    assert (x_adv - X).abs().max() <= toy.EPS + 1e-6
    assert 0 <= x_adv.min() and x_adv.max() <= 1
    assert flipped.sum() > 0
    right_before = toy.predict_bank(teacher, X) == y
    assert bool((right_before | ~flipped).all())          # only points the teacher had right
    assert torch.equal(pred[flipped], 1 - y[flipped])     # labelled with the other class
    assert torch.equal(toy.predict_bank(teacher, x_adv)[flipped], pred[flipped])


def test_toy_run_students_beat_chance_on_average():
    res = toy.run_problems(range(6), steps=400)
    s = res.summary()
    assert s["seeds"] == 6 and res.student_correct.shape == (6,)
    assert s["student_correct_mean"] > 16 + 1, res.student_correct.tolist()
    # a student with no training points stays untrained; here every problem has flips
    assert bool((res.n_flipped > 0).all())


def test_decision_grid_is_a_probability_map():
    g, p = toy.decision_grid(toy.MLPBank([0]).member(0), n=20)
    assert g.shape == (20,) and p.shape == (20, 20)
    assert 0 <= p.min() and p.max() <= 1


# --- fit's step budget ---------------------------------------------------------------------

def _count_steps(fn):
    n = [0]
    handle = register_optimizer_step_post_hook(lambda *a, **k: n.__setitem__(0, n[0] + 1))
    try:
        out = fn()
    finally:
        handle.remove()
    return out, n[0]


def test_fit_takes_a_step_budget_directly():
    X, y = tiny_images(100), tiny_labels(100)  # 10 batches of 10 per epoch
    m1, m2 = tiny_model(), tiny_model()
    hist, n = _count_steps(lambda: fit(m1, X, y, steps=23, batch_size=10, progress=False))
    assert n == 23 and [h["steps"] for h in hist] == [10, 20, 23] and [h["epoch"] for h in hist] == [1, 2, 3]
    assert 0 <= hist[-1]["train_acc"] <= 1
    h2, _ = _count_steps(lambda: fit(m2, X, y, steps=30, batch_size=10, progress=False))
    assert "steps" not in fit(tiny_model(), X, y, epochs=1, batch_size=10, progress=False)[0]
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert not torch.equal(a, b), "seven more steps change the weights"
    for bad in (dict(steps=0), dict(steps=5, epochs=2), dict(steps=2.5)):
        with pytest.raises(ValueError, match="steps"):
            fit(tiny_model(), X, y, progress=False, **bad)


# --- pixel statistics ------------------------------------------------------------------------

def _fashion_like(n=200, seed=0):
    """uint8 images, half background zeros, the rest spread over mid greys (like Fashion-MNIST)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(40, 256, (n, 1, 28, 28), generator=g)
    x[torch.rand(x.shape, generator=g) < 0.5] = 0
    return x.to(torch.uint8)


def test_match_stats_hits_the_target_after_clamping():
    X = _fashion_like()
    z = match_stats(X, 0.1307, 0.3081)
    assert z.dtype == torch.float32 and z.shape == X.shape
    assert 0 <= z.min() and z.max() <= 1
    assert z.mean().item() == pytest.approx(0.1307, abs=1e-4)
    assert z.std().item() == pytest.approx(0.3081, abs=1e-4)
    # one increasing affine map: pixel order is kept
    xf = to_float(X).flatten()
    order = torch.argsort(xf)
    assert bool((z.flatten()[order].diff() >= -1e-7).all())


def test_match_stats_rejects_an_unreachable_spread():
    with pytest.raises(ValueError, match="std"):
        match_stats(_fashion_like(), 0.1307, 0.40)  # > sqrt(0.1307 * 0.8693)


def test_fashion_mnist_normalised_to_mnist_statistics(fashion_root):
    cfg = errlib.stages.config.resolve("smoke", n_train=3000)
    X, y = W.cross_domain_images(cfg, normalise=True)
    assert X.shape == (3000, 1, 28, 28) and X.dtype == torch.float32
    assert X.mean().item() == pytest.approx(0.1307, abs=1e-3)
    assert X.std().item() == pytest.approx(0.3081, abs=1e-3)
    raw, y_raw = W.cross_domain_images(cfg, normalise=False)
    assert torch.equal(y, y_raw) and raw.dtype == torch.uint8


# --- config ------------------------------------------------------------------------------------

def test_part_two_settings_per_profile():
    d = errlib.stages.config.resolve("default")
    assert d.weak_dataset == "fashion_mnist" and d.resolved_teacher_steps == errlib.stages.config.TEACHER_STEPS["fashion_mnist"]
    assert errlib.stages.config.resolve("default", teacher_steps=7).resolved_teacher_steps == 7
    assert errlib.stages.config.resolve("default", weak_dataset="mnist").resolved_teacher_steps == errlib.stages.config.TEACHER_STEPS["mnist"]
    assert errlib.stages.config.resolve("smoke", weak_dataset="fmnist").weak_dataset == "fashion_mnist"
    full = errlib.stages.config.resolve("full")
    assert (full.weak_dataset, full.resolved_teacher_steps, full.wrong_epochs) == ("cifar10", 392, 50)
    assert errlib.stages.config.resolve("smoke").toy_seeds >= 20


@pytest.mark.parametrize("overrides", [dict(teacher_steps=0), dict(wrong_epochs=0), dict(cross_epochs=-1),
                                       dict(toy_seeds=0), dict(weak_dataset="svhn")])
def test_part_two_settings_are_validated(overrides):
    with pytest.raises(ValueError):
        errlib.stages.config.resolve("smoke", **overrides)


def test_from_notebook_reads_chapter_parameters():
    ns = {k: None for k in errlib.stages.config.PARAMETERS}
    ns.update(profile="smoke", seed=0, teacher_steps=9, toy_steps=50)
    cfg = errlib.stages.config.from_notebook(ns, extra=["teacher_steps", "toy_steps"])
    assert cfg.resolved_teacher_steps == 9 and cfg.toy_steps == 50


# --- errsets with precomputed predictions ------------------------------------------------------

def test_wrong_label_and_relabel_sets_accept_precomputed_predictions():
    model, x, y = tiny_model(), tiny_images(40), tiny_labels(40)
    pred = predict(model, x)
    a, b = wrong_label_set(model, x, y), wrong_label_set(None, x, y, pred=pred)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and bool((b.y != b.y_true).all())
    assert torch.equal(relabel_set(model, x, y).y, relabel_set(None, x, y, pred=pred).y)


# --- the cached Part II stages on real data (small) ------------------------------------------

N_TEST = int(os.environ.get("ERRLIB_TEST_N_TEST", "1000"))


@pytest.fixture
def small_splits(mnist_root, fashion_root, monkeypatch):
    real = P.load_splits

    def load_splits(dataset):
        X, y, Xt, yt = real(dataset)
        return X, y, Xt[:N_TEST], yt[:N_TEST]

    monkeypatch.setattr(P, "load_splits", load_splits)


def test_wrong_label_stages(small_splits):
    cfg = errlib.stages.config.resolve("smoke", n_train=800, teacher_steps=4, wrong_epochs=1, n_test=500)
    assert len(W.test_split(cfg, "fashion_mnist")[0]) == 500
    teacher, t_res = W.get_weak_teacher(cfg)
    assert t_res.manifest["settings"]["steps"] == 4
    assert t_res.metrics["history"][-1]["steps"] == 4
    es, es_res = W.get_wrong_label_set(cfg, teacher=(teacher, t_res))
    assert 0 < len(es) < 800 and es_res.metrics["n"] == 800
    assert len(es_res.payload["test_pred"]) == 500  # the teacher's test answers, kept for agreement
    assert bool((es.y != es.y_true).all())
    assert es_res.metrics["agree_with_own_labels"] == pytest.approx(1 - len(es) / 800)
    for labels in ("teacher", "random"):
        _, s_res = W.get_wrong_label_student(cfg, labels, teacher=(teacher, t_res), errset=(es, es_res))
        assert {"test_acc", "errset_train_acc", "test_agrees_with_teacher"} <= set(s_res.metrics)
        assert s_res.metrics["n_train"] == len(es)
    again, r2 = W.get_wrong_label_set(cfg)  # everything upstream now loads from the cache
    assert r2.cached and torch.equal(again.y, es.y)
    with pytest.raises(ValueError, match="labels"):
        W.get_wrong_label_student(cfg, "oracle", teacher=(teacher, t_res), errset=(es, es_res))


def test_cross_domain_stages(small_splits):
    cfg = errlib.stages.config.resolve("smoke", n_train=600, epochs=1, cross_epochs=1)
    assert W.cross_domain_config(cfg) is cfg  # on MNIST the teacher is Part I's source model
    teacher = W.get_cross_domain_teacher(cfg)
    for norm in (False, True):
        es, res = W.get_cross_domain_set(cfg, norm, teacher=teacher)
        assert len(es) == 600 and sum(res.metrics["label_counts"]) == 600
        assert torch.equal(es.y, predict(teacher.value, es.x))
        _, s_res = W.get_cross_domain_student(cfg, norm, teacher=teacher, errset=(es, res))
        assert s_res.manifest["settings"]["dataset"] == "mnist"
        assert 0 <= s_res.metrics["test_acc"] <= 1
    other = errlib.stages.config.resolve("smoke", dataset="fashion_mnist")
    assert W.cross_domain_config(other).dataset == "mnist"


# --- Part II over seeds ------------------------------------------------------------------------

def test_seed_list_is_part_ones():
    cfg = errlib.stages.config.resolve("smoke", seed=5, part2_seeds=3)
    assert W.seed_list(cfg) == [5, 6, 7]
    assert W.seed_list(cfg.replace(part2_seeds=1)) == [5]


def _row(seed, base):
    return {"seed": seed, **{k: base + 0.01 * i for i, k in enumerate(W.SEED_KEYS)}}


def test_over_seeds_computes_mean_and_sample_sd_with_kinds():
    rows = [_row(0, 0.2), _row(1, 0.4), _row(2, 0.6)]
    out = W.over_seeds(rows)
    assert out["seeds"] == {"value": [0, 1, 2], "kind": "count"}
    for i, k in enumerate(W.SEED_KEYS):
        assert out[f"{k}_mean"]["value"] == pytest.approx(0.4 + 0.01 * i)
        assert out[f"{k}_sd"]["value"] == pytest.approx(0.2)  # n - 1: sqrt((0.04 + 0 + 0.04) / 2)
        assert out[f"{k}_mean"]["kind"] == out[f"{k}_sd"]["kind"] == "fraction"
    for k in ("cross_domain_student_mnist_test_acc", "cross_domain_student_normalised_mnist_test_acc",
              "D_wrong_student_clean_test_acc", "random_wrong_label_student_clean_test_acc"):
        assert f"{k}_mean" in out and f"{k}_sd" in out  # the keys the checks read
    one = W.over_seeds(rows[:1])
    assert one["D_wrong_student_clean_test_acc_sd"]["value"] == 0.0
    with pytest.raises(ValueError, match="at least one"):
        W.over_seeds([])


def test_seed_rows_on_smoke_are_the_cached_stages_of_each_seed(small_splits):
    cfg = errlib.stages.config.resolve("smoke", n_train=600, epochs=1, teacher_steps=4, wrong_epochs=1,
                                       cross_epochs=1, n_test=500, part2_seeds=2)
    rows = [W.part2_row(cfg.replace(seed=s)) for s in W.seed_list(cfg)]
    assert [r["seed"] for r in rows] == [0, 1]
    for r in rows:
        c = cfg.replace(seed=r["seed"])
        assert set(W.SEED_KEYS) <= set(r)
        raw = W.get_cross_domain_student(c, False).result
        assert raw.cached and r["cross_domain_student_mnist_test_acc"] == raw.metrics["test_acc"]
        wrong = W.get_wrong_label_student(c, "random").result
        assert wrong.cached and r["random_wrong_label_student_clean_test_acc"] == wrong.metrics["test_acc"]
        assert len(r["cross_domain_student_per_digit"]) == 10
        # per-class accuracies, weighted by each class's share of the test set, give the accuracy
        _, yt = W.test_split(c, "mnist")
        share = torch.bincount(yt, minlength=10).double() / len(yt)
        per = torch.tensor(r["cross_domain_student_per_digit"], dtype=torch.float64)
        assert (share * per).sum().item() == pytest.approx(r["cross_domain_student_mnist_test_acc"], abs=1e-6)
    keys = [W.get_cross_domain_teacher(cfg.replace(seed=s)).result.key for s in (0, 1)]
    assert keys[0] != keys[1]  # a new MNIST teacher (and so new students) per seed
    agg = W.over_seeds(rows)
    k = "D_wrong_student_clean_test_acc"
    assert agg[f"{k}_mean"]["value"] == pytest.approx((rows[0][k] + rows[1][k]) / 2)
    assert agg[f"{k}_sd"]["value"] == pytest.approx(abs(rows[0][k] - rows[1][k]) / 2 ** 0.5)
