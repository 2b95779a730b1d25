"""errlib.stages.verdict: the paired margin kept, its interval over seeds, and the three-way rule."""
from __future__ import annotations

import math

import pytest
import torch

from errlib.stages import verdict as V


def test_margin_kept_is_the_share_of_the_plain_margin_above_chance():
    assert V.margin_kept(0.30, 0.50, 0.10) == pytest.approx(0.5)
    assert V.margin_kept(0.10, 0.50, 0.10) == 0.0 and V.margin_kept(0.5, 0.5, 0.1) == pytest.approx(1.0)
    assert V.margin_kept(0.05, 0.50, 0.10) < 0  # below chance: less than nothing kept
    assert math.isnan(V.margin_kept(0.3, 0.10, 0.10)) and math.isnan(V.margin_kept(0.3, 0.08, 0.10))


def test_t_quantiles_match_the_table():
    for df, q in ((1, 12.706), (2, 4.303), (3, 3.182), (10, 2.228), (30, 2.042)):
        assert V.t_quantile(0.975, df) == pytest.approx(q, abs=1e-3)
    assert V.t_quantile(0.95, 2) == pytest.approx(2.920, abs=1e-3)
    with pytest.raises(ValueError):
        V.t_quantile(0.3, 2)


def test_mean_interval_against_a_hand_computation():
    # values 0.8, 1.0, 1.2: mean 1.0, sd 0.2, half-width 4.3027 * 0.2 / sqrt(3) = 0.49683
    mean, low, high = V.mean_interval([0.8, 1.0, 1.2])
    assert mean == pytest.approx(1.0)
    assert low == pytest.approx(1.0 - 0.49683, abs=1e-4) and high == pytest.approx(1.0 + 0.49683, abs=1e-4)
    assert V.mean_interval([0.7]) == (0.7, -math.inf, math.inf), "one seed cannot bound its own spread"
    assert all(math.isnan(v) for v in V.mean_interval([0.5, float("nan"), 0.6]))


def test_the_rule_says_survives_for_a_strong_effect_and_does_not_survive_for_none():
    plain = [0.40, 0.45, 0.42]
    strong = V.decide([0.38, 0.44, 0.41], plain, 0.10)
    assert strong["verdict"] == "survives" and strong["low"] > V.SURVIVES_LOW
    none = V.decide([0.10, 0.105, 0.098], plain, 0.10)
    assert none["verdict"] == "does_not_survive" and none["high"] < V.FAILS_HIGH
    assert none["per_seed"] == pytest.approx([0.0, 0.0142857, -0.00625], abs=1e-6)


def test_the_rule_cannot_tell_when_the_test_lacks_power():
    weak_plain = V.decide([0.12, 0.30, 0.31], [0.19, 0.40, 0.41], 0.10)  # a plain student under twice chance
    assert weak_plain["verdict"] == "cannot_tell" and "twice chance" in weak_plain["reason"]
    noisy = V.decide([0.15, 0.35, 0.25], [0.40, 0.42, 0.41], 0.10)  # seeds disagree: a wide interval
    assert noisy["verdict"] == "cannot_tell" and noisy["low"] < V.SURVIVES_LOW < noisy["high"]
    one_seed = V.decide([0.40], [0.42], 0.10)  # a perfect keep on one seed decides nothing
    assert one_seed["verdict"] == "cannot_tell"
    low_student = V.decide([0.19, 0.191, 0.1905], [0.25, 0.252, 0.251], 0.10)  # kept, but under twice chance
    assert low_student["low"] > V.SURVIVES_LOW and low_student["verdict"] == "cannot_tell"
    with pytest.raises(ValueError):
        V.decide([0.3], [0.4, 0.5], 0.1)


def test_the_bootstrap_over_test_images_brackets_the_measured_margin_and_keeps_the_pairing():
    g = torch.Generator().manual_seed(0)
    plain = torch.rand(4000, generator=g) < 0.5
    constrained = plain & (torch.rand(4000, generator=g) < 0.8)  # right on a subset of the plain's rights
    measured = V.margin_kept(constrained.float().mean().item(), plain.float().mean().item(), 0.1)
    low, high = V.bootstrap_margin_kept(constrained, plain, 0.1, n_boot=300)
    assert low < measured < high and high - low < 0.1
    assert V.bootstrap_margin_kept(constrained, plain, 0.1, n_boot=300) == (low, high), "seeded"
    with pytest.raises(ValueError):
        V.bootstrap_margin_kept(constrained[:10], plain, 0.1)


def test_seeds_to_decide_is_the_smallest_count_whose_interval_clears_the_nearer_bound():
    per = [1.24, 0.74, 0.81]  # mean 0.93, sd 0.27: three seeds cannot clear 0.5
    n = V.seeds_to_decide(per)
    mean = sum(per) / 3
    sd = (sum((x - mean) ** 2 for x in per) / 2) ** 0.5
    assert V.t_quantile(0.975, n - 1) * sd / n ** 0.5 < mean - V.SURVIVES_LOW
    assert V.t_quantile(0.975, n - 2) * sd / (n - 1) ** 0.5 >= mean - V.SURVIVES_LOW
    assert V.seeds_to_decide([0.05, 0.0, 0.1]) == 3  # below 0.25 already at three
    assert V.seeds_to_decide([0.3, 0.4, 0.35]) is None, "a mean between the bounds: more seeds decide nothing"
    assert V.seeds_to_decide([0.9]) is None and V.seeds_to_decide([0.9, float("nan")]) is None
