"""Part I's verdict as a paired estimate: how much of a plain student's margin a control keeps.

Per seed, on the same images and targets, a control (the judge-constrained attack) is set beside
the plain set it re-attacked::

    margin kept = (constrained student - chance) / (plain student - chance)

1 means the control kept the whole margin above chance, 0 that it sent the student to chance.
The course averages the per-seed ratios and puts a Student-t interval on that mean
(:func:`mean_interval`), because the seed is the unit that replicates the whole experiment (a new
source model, attacked images, targets and students); each ratio is paired inside its seed, so
the interval carries every source of training noise and none of the pairing is lost. The ratio
of the means would mix seeds whose plain margins differ and has no simple interval. With three
seeds the t quantile is 4.30 (2 degrees of freedom): the interval is wide on purpose, because
three replicates know little about their own spread.
A bootstrap over test images inside one seed (:func:`bootstrap_margin_kept`) shows how much of
the spread is the test set's: usually far less than the seeds'.

The decision rule (:func:`decide`), fixed before any run and printed in notebook 07's
pre-registered table (bounds :data:`SURVIVES_LOW` and :data:`FAILS_HIGH`):

* ``survives``: the interval's lower end is above 0.5, and the constrained student (mean over
  seeds) is at least twice chance;
* ``does_not_survive``: the interval's upper end is below 0.25;
* ``cannot_tell``: anything else, including any seed whose plain student is under twice chance
  (no margin to keep: a ratio over a margin near zero says nothing).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import torch

SURVIVES_LOW = 0.5  # "survives": the interval's lower end is above this
FAILS_HIGH = 0.25  # "does not survive": the interval's upper end is below this
VERDICTS = ("survives", "does_not_survive", "cannot_tell")
LEVEL = 0.95


def margin_kept(constrained: float, plain: float, chance: float) -> float:
    """``(constrained - chance) / (plain - chance)``; NaN when the plain student is not above chance."""
    margin = float(plain) - chance
    return (float(constrained) - chance) / margin if margin > 0 else float("nan")


def _t_cdf(t: float, df: int) -> float:
    """Student-t CDF at ``t >= 0`` by Simpson's rule on its density (accurate to ~1e-9 for t <= 100)."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    pdf = lambda x: c * (1 + x * x / df) ** (-(df + 1) / 2)
    n = 4000
    h = t / n
    s = pdf(0) + pdf(t) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, n))
    return 0.5 + s * h / 3


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (``0.5 <= p < 1``) of Student's t with ``df`` degrees of freedom, by bisection."""
    if not (0.5 <= p < 1) or df < 1:
        raise ValueError(f"need 0.5 <= p < 1 and df >= 1, got p={p!r}, df={df!r}")
    lo, hi = 0.0, 100.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def _mean_sd(v: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of two or more values."""
    mean = sum(v) / len(v)
    return mean, math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))


def mean_interval(values: Sequence[float], level: float = LEVEL) -> Tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its two-sided Student-t interval (n - 1 degrees
    of freedom). One value gives an interval of (-inf, inf): one seed cannot bound its own spread;
    any NaN gives NaNs."""
    v = [float(x) for x in values]
    if not v:
        raise ValueError("no values to average")
    if any(math.isnan(x) for x in v):
        return float("nan"), float("nan"), float("nan")
    if len(v) == 1:
        return v[0], float("-inf"), float("inf")
    mean, sd = _mean_sd(v)
    half = t_quantile(0.5 + level / 2, len(v) - 1) * sd / math.sqrt(len(v))
    return mean, mean - half, mean + half


def bootstrap_margin_kept(correct_constrained: torch.Tensor, correct_plain: torch.Tensor, chance: float, *,
                          n_boot: int = 1000, level: float = LEVEL, seed: int = 0) -> Tuple[float, float]:
    """A percentile interval for one seed's margin kept over resampled test images.

    ``correct_*``: ``(N,)`` bool, each student right on each clean test image (the same images,
    resampled together, so the pairing holds). Test-set noise only: training noise is the seeds'."""
    if correct_constrained.shape != correct_plain.shape or correct_plain.dim() != 1:
        raise ValueError("the two students must be scored on the same test images, (N,) each")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(correct_plain), (n_boot, len(correct_plain)), generator=g)
    c = correct_constrained.float()[idx].mean(1)
    p = correct_plain.float()[idx].mean(1)
    ratio = (c - chance) / (p - chance)
    ratio = ratio[(p - chance) > 0]
    if len(ratio) < n_boot // 2:
        return float("nan"), float("nan")
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=ratio.dtype)
    lo, hi = torch.quantile(ratio, q).tolist()
    return lo, hi


def seeds_to_decide(per_seed: Sequence[float], level: float = LEVEL, most: int = 100) -> Optional[int]:
    """How many seeds the interval would need to clear the nearer bound of the rule, if the mean and
    the spread stayed as measured: the smallest ``n`` with ``t(n-1) * sd / sqrt(n)`` under the
    mean's distance to :data:`SURVIVES_LOW` (mean above it) or :data:`FAILS_HIGH` (mean below it).
    None when the mean lies between the bounds (more seeds of the same spread decide nothing), for
    fewer than two finite values, or beyond ``most``. A planning figure, not a result."""
    v = [float(x) for x in per_seed if math.isfinite(float(x))]
    if len(v) < 2:
        return None
    mean, sd = _mean_sd(v)
    room = mean - SURVIVES_LOW if mean > SURVIVES_LOW else FAILS_HIGH - mean if mean < FAILS_HIGH else 0.0
    if room <= 0:
        return None
    if sd == 0:
        return 2
    return next((n for n in range(2, most + 1) if t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n) < room), None)


def decide(constrained: Sequence[float], plain: Sequence[float], chance: float,
           level: float = LEVEL) -> Dict[str, object]:
    """The rule of the module docstring on per-seed student accuracies (same seeds, same order).

    Returns ``verdict`` (one of :data:`VERDICTS`), ``per_seed`` (margins kept), ``mean``, ``low``,
    ``high``, ``seeds_needed`` (:func:`seeds_to_decide`) and ``reason`` (one sentence, the rule's
    branch, for rendering)."""
    if len(constrained) != len(plain) or not plain:
        raise ValueError("need one constrained and one plain accuracy per seed")
    per_seed = [margin_kept(c, p, chance) for c, p in zip(constrained, plain)]
    weak = [i for i, p in enumerate(plain) if p < 2 * chance]
    mean, low, high = mean_interval(per_seed, level)  # NaN where a seed has no margin
    c_mean = sum(constrained) / len(constrained)
    out = dict(per_seed=per_seed, mean=mean, low=low, high=high, level=level, constrained_mean=c_mean,
               seeds_needed=seeds_to_decide(per_seed, level))
    if weak:
        return dict(out, verdict="cannot_tell", reason=f"{len(weak)} of {len(plain)} plain students are under "
                    "twice chance, so there is no margin to keep")
    if low > SURVIVES_LOW and c_mean >= 2 * chance:
        return dict(out, verdict="survives", reason=f"the interval's lower end is above {SURVIVES_LOW:g} and the "
                    "constrained student is at least twice chance")
    if high < FAILS_HIGH:
        return dict(out, verdict="does_not_survive", reason=f"the interval's upper end is below {FAILS_HIGH:g}")
    return dict(out, verdict="cannot_tell", reason=f"the interval reaches from {low:.2f} to {high:.2f}: neither "
                f"above {SURVIVES_LOW:g} nor below {FAILS_HIGH:g}" + ("" if c_mean >= 2 * chance else
                                                                       ", and the constrained student is under twice chance"))


def describe_rule(chance: Optional[float] = None) -> str:
    """The rule in one line, for notebook 07's pre-registered table."""
    twice = f" ({100 * 2 * chance:.0f}%)" if chance else ""
    return (f"survives: the {100 * LEVEL:.0f}% interval of the mean margin kept over seeds is above {SURVIVES_LOW:g} and "
            f"the constrained student at least twice chance{twice}; does not survive: its upper end below "
            f"{FAILS_HIGH:g}; otherwise, or if any seed's plain student is under twice chance, cannot tell")
