"""errlib.stages.planted: the planted dataset, and the positive control's effect on the smoke profile."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from errlib.core.constrained import constrained_pgd
from errlib.stages import planted as P
from errlib.stages.verdict import margin_kept

pytestmark = pytest.mark.usefixtures("isolated_env")


def test_dataset_shapes_and_planted_means():
    X, y = P.sample(2000, 0, "train")
    assert X.shape == (2000, P.D_ROBUST + P.D_NONROBUST) and X.dtype == torch.float32
    assert y.shape == (2000,) and y.dtype == torch.int64 and set(y.tolist()) == set(range(P.K))
    u = P.directions(0)
    assert torch.allclose(u @ u.T, torch.eye(P.K), atol=1e-5), "non-robust directions not orthonormal"
    for k in range(P.K):
        rows = X[y == k]
        robust_mean = rows[:, :P.D_ROBUST].mean(0)
        assert abs(robust_mean[k].item() - P.DELTA_R) < 0.6 and robust_mean.abs().sort().values[-2] < 0.6
        proj = rows[:, P.D_ROBUST:] @ u.T  # (n_k, K): the class's own direction carries DELTA_N
        assert abs(proj[:, k].mean().item() - P.DELTA_N) < 0.1 and proj[:, k].std() < 2 * P.SIGMA_N
    # Splits are independent draws; the same split is reproducible.
    assert not torch.equal(P.sample(50, 0, "train")[0], P.sample(50, 0, "test")[0])
    assert torch.equal(P.sample(50, 0, "train")[0], P.sample(50, 0, "train")[0])


def test_the_attack_radius_sits_between_the_two_flip_distances():
    flip_n, flip_r = P.DELTA_N / 2 ** 0.5, P.DELTA_R / 2 ** 0.5
    assert flip_n < P.EPS < flip_r
    assert flip_n < P.JUDGE_EPS < flip_r and flip_n < P.GRADER_EPS < flip_r
    assert P.DELTA_N / P.SIGMA_N >= 5 and P.DELTA_R / P.SIGMA_R < P.DELTA_N / P.SIGMA_N


def test_the_grader_is_not_the_constraining_judge():
    X, y = P.sample(300, 3, "train")
    judge = P.judge(X, y, 3, "judge", P.JUDGE_EPS, epochs=1, steps=1)
    grader = P.judge(X, y, 3, "grader", P.GRADER_EPS, epochs=1, steps=1)
    assert P.JUDGE_EPS != P.GRADER_EPS
    assert not torch.equal(judge[1][0].weight, grader[1][0].weight), "grader and judge share their weights"


def test_replace_part_removes_one_signal_and_keeps_the_other():
    X, y = P.sample(1000, 1, "test")
    r = P.replace_part(X, "robust", 1)
    assert torch.equal(r[:, P.D_ROBUST:], X[:, P.D_ROBUST:])
    assert r[y == 0, 0].mean().abs() < 0.5  # class 0's robust coordinate no longer carries DELTA_R
    n = P.replace_part(X, "nonrobust", 1)
    assert torch.equal(n[:, :P.D_ROBUST], X[:, :P.D_ROBUST])
    assert ((n[:, P.D_ROBUST:] @ P.directions(1).T).argmax(1) == y).float().mean() < 0.3
    with pytest.raises(ValueError, match="part"):
        P.replace_part(X, "both", 0)


@pytest.mark.parametrize("call, match", [(lambda: P.sample(0, 0, "train"), "n must"),
                                         (lambda: P.run_seed(0, "tiny"), "unknown profile")])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.fixture(scope="module")
def smoke():
    torch.manual_seed(0)
    return P.run_seed(seed=0, profile="smoke")


def test_planted_D_det_student_uses_the_non_robust_features(smoke):
    row, chance = smoke["rows"]["D_det"], P.chance()
    assert row["attack_success"] > 0.9
    assert row["clean_acc"] >= 2 * chance, row
    # Robust dims replaced by noise: the non-robust features alone still give y.
    assert row["robust_noise_acc"] >= 0.8 * row["clean_acc"], row
    # Non-robust dims replaced by noise: what is left (robust features of y, learnt as y+1) answers y+1.
    assert row["nonrobust_noise_y_plus_1"] >= chance + 0.1, row


def test_the_judge_is_robust_and_reads_robust_features(smoke):
    m = smoke["models"]
    # A judge trained without its adversarial perturbation would be as fragile as the source.
    assert m["judge_robust_acc"] > m["source_robust_acc"] + 0.3, m
    assert m["judge_robust_noise_acc"] < m["source_robust_noise_acc"] - 0.3, m


def test_a_no_op_control_keeps_the_effect(smoke):
    rows = smoke["rows"]
    # The random subset of the filter's size selects nothing by content.
    assert margin_kept(rows["D_det random subset"]["clean_acc"], rows["D_det"]["clean_acc"], P.chance()) >= 0.5, rows
    # Every constrained set keeps the judge's reading on (nearly) every row.
    name = "D_det " + P.constraint_name(*P.DEFAULT_CONSTRAINT)
    assert rows[name]["judge_reads_y"] >= rows["D_det"]["judge_reads_y"] - 0.01
    assert rows[name]["rows"] == rows["D_det"]["rows"], "the constraint must not drop rows"


class _Blind(nn.Module):
    """A judge that reads nothing: the same logits for every input (a no-op constraint)."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.arange(P.K, dtype=torch.float32))

    def forward(self, x):
        return self.bias.expand(len(x), -1) + 0 * x.sum(1, keepdim=True)


def test_a_blind_judges_constraint_keeps_the_effect():
    X, y = P.sample(1000, 2, "train")
    Xt, yt = P.sample(1000, 2, "test")
    source = P.train(P.make_mlp(X, 2, "source"), X, y, epochs=10, seed=2, role="source")
    t = (y + 1) % P.K
    x_adv, info = constrained_pgd(source, _Blind(), X, t, eps=P.EPS, steps=P.STEPS, box=None)
    assert info["judge_kept"].all() and info["fooled"].float().mean() > 0.9
    student = P.train(P.make_mlp(x_adv, 2, "student"), x_adv, t, epochs=10, seed=2, role="student")
    acc = (P.predict(student, Xt) == yt).float().mean().item()
    assert acc >= 2 * P.chance(), acc
