"""errlib.stages.leakage: the robust judge, its reading of an error set, and the leakage-controlled students."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import errlib.stages.config
import errlib.stages.leakage as L
import errlib.stages.pipeline as P
from errlib import data as D
from errlib.stages.cache import run_stage
from errlib.stages.errsets import ErrorSet

pytestmark = pytest.mark.usefixtures("isolated_env")


class PixelJudge(nn.Module):
    """A stand-in judge whose answer is written into each image: class ``round(9 * x[0, 0, 0])``."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives predict() a device

    def forward(self, x):
        cls = (x[:, 0, 0, 0] * 9).round().long().clamp(0, 9)
        return nn.functional.one_hot(cls, 10).float() * 10


def _stamp(x: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """Images whose top-left pixel makes :class:`PixelJudge` answer ``cls``."""
    x = x.clone()
    x[:, 0, 0, 0] = cls.float() / 9
    return x


def _errset(n=40, seed=0):
    """Half the rows read as their target t, a quarter as y, a quarter as another class; t == y on 4 rows."""
    g = torch.Generator().manual_seed(seed)
    y_true = torch.randint(0, 10, (n,), generator=g)
    y = (y_true + 1) % 10
    y[:4] = y_true[:4]  # correctly labelled rows (as in D_rand): never errors
    reads = y.clone()
    reads[n // 2: 3 * n // 4] = y_true[n // 2: 3 * n // 4]
    reads[3 * n // 4:] = (y_true[3 * n // 4:] + 5) % 10
    x = _stamp(torch.rand(n, 1, 28, 28, generator=g), reads)
    success = torch.ones(n, dtype=torch.bool)
    success[-2:] = False
    return ErrorSet(x=x, y=y, y_true=y_true, source_pred=y, success=success, delta_norm=torch.ones(n)), reads


def test_typical_norm_is_the_rms_norm_of_real_images(mnist_root):
    X, _ = D.load_dataset("mnist", train=True)
    rms = D.to_float(X[:20000]).flatten(1).pow(2).sum(1).mean().sqrt().item()
    assert L.typical_norm("mnist") == pytest.approx(rms, rel=0.02)
    assert L.eps_ratio(4.0, "mnist") == pytest.approx(4.0 / L.typical_norm("mnist"))
    # CIFAR-10 from its published channel statistics: about 29.7 (the paper's eps 0.5 is ~1.7%).
    assert L.typical_norm("cifar10") == pytest.approx(math.sqrt(1024 * 0.8621), rel=0.01)


def test_reading_shares_count_error_rows_only():
    es, reads = _errset()
    shares = L.reading_shares(PixelJudge()(es.x).argmax(1), es)
    err = es.y != es.y_true
    assert shares["n_error_rows"] == int(err.sum()) == 36
    assert shares["reads_target"] == pytest.approx((reads[err] == es.y[err]).float().mean().item())
    assert shares["reads_original"] == pytest.approx((reads[err] == es.y_true[err]).float().mean().item())
    assert shares["reads_target"] + shares["reads_original"] + shares["reads_other"] == pytest.approx(1.0)


@pytest.mark.parametrize("keep", ["all", "successful"])
def test_filter_drops_every_row_the_judge_reads_as_its_target(keep):
    cfg = errlib.stages.config.resolve("smoke", keep=keep)
    es, reads = _errset()
    pred = PixelJudge()(es.x).argmax(1)
    mask = L.filtered_mask(cfg, es, pred)
    assert not (mask & (reads == es.y)).any()  # read as t: filtered out
    assert not (mask & (es.y == es.y_true)).any()  # correctly labelled rows: filtered out
    assert (mask == (L.keep_mask(cfg, es) & (es.y != es.y_true) & (reads == es.y_true))).all()
    if keep == "successful":
        assert not (mask & ~es.success).any()
    rand = L.random_subset_mask(cfg, es, int(mask.sum()), "shift")
    assert int(rand.sum()) == int(mask.sum())
    assert not (rand & ~L.keep_mask(cfg, es)).any()
    assert torch.equal(rand, L.random_subset_mask(cfg, es, int(mask.sum()), "shift"))  # seeded


def _stub_judge():
    res = run_stage("judge", {"stub": "PixelJudge"}, lambda: ({}, {"test_acc": float("nan")}))
    return P.Stage(PixelJudge(), res)


def test_filtered_and_random_subset_students_train_on_their_rows(mnist_root):
    cfg = errlib.stages.config.resolve("smoke", n_train=1000, epochs=1, n_attack=120, steps=2, student_epochs=1)
    es, es_res = P.get_errset(cfg, "shift")
    # Overwrite the images' top-left pixel so the stub judge reads a known half as the target.
    reads = es.y_true.clone()
    reads[::2] = es.y[::2]
    stamped = ErrorSet(**dict(es.to_dict(), x=_stamp(es.x, reads)))
    errset = (stamped, es_res)
    judge = _stub_judge()
    pred, reading = L.get_reading(cfg, "shift", errset=errset, judge=judge)
    assert reading.metrics["reads_target"] == pytest.approx(0.5)
    assert reading.manifest["upstream"] == [judge.result.key, es_res.key]
    sub, sub_res = L.get_subset(cfg, "shift", "filtered", errset=errset, judge=judge)
    assert len(sub) == 60 and (sub.x[:, 0, 0, 0] * 9).round().long().eq(sub.y_true).all()
    rnd, rnd_res = L.get_subset(cfg, "shift", "random", errset=errset, judge=judge)
    assert len(rnd) == len(sub) and rnd_res.key != sub_res.key
    _, stu = L.get_filtered_student(cfg, "shift", "filtered", errset=errset, judge=judge)
    assert stu.metrics["n_train"] == 60 and stu.manifest["upstream"] == [sub_res.key]
    _, stu_again = L.get_filtered_student(cfg, "shift", "filtered", errset=errset, judge=judge)
    assert stu_again.cached and stu_again.key == stu.key
    with pytest.raises(ValueError, match="Unknown|kind"):
        L.get_subset(cfg, "shift", "everything", errset=errset, judge=judge)


def test_judge_is_trained_once_per_dataset_and_reports_its_robustness(mnist_root):
    cfg = errlib.stages.config.resolve("smoke", judge_n_train=600, judge_epochs=1, judge_n_eval=50,
                                judge_eval_steps=5)
    model, res = L.get_judge(cfg)
    assert set(res.metrics["robust_acc"]) == {f"{e:g}" for e in cfg.judge_eval_eps}
    assert all(0.0 <= a <= 1.0 for a in res.metrics["robust_acc"].values())
    assert res.metrics["n_train"] == 600 and not model.training
    # The judge does not depend on the run's seed: another seed loads the same model.
    _, again = L.get_judge(cfg.replace(seed=7))
    assert again.cached and again.key == res.key
