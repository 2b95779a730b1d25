"""Figures of Part I's paired verdict (notebook 04): the margin kept per seed with its interval and
the rule's bounds, and how the paired test's power grows with the rows."""
from __future__ import annotations

from typing import Mapping, Sequence, Tuple

import matplotlib.pyplot as plt


def margin_kept(decisions: Mapping[str, Mapping[str, object]], rule: Tuple[float, float]) -> plt.Figure:
    """Per set (``decisions``: :func:`errlib.stages.verdict.decide`'s results by set name) each seed's
    margin kept as a dot, the mean and its interval as a bar; shaded: the rule's bands (below
    ``rule[0]``: does not survive; above ``rule[1]``: survives)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.axhspan(-1e3, rule[0], color="tab:red", alpha=0.08, label=f"does not survive (upper end < {rule[0]:g})")
    ax.axhspan(rule[1], 1e3, color="tab:green", alpha=0.08, label=f"survives (lower end > {rule[1]:g})")
    values = [0.0, 1.0]
    for i, (name, d) in enumerate(decisions.items()):
        per = [float(v) for v in d["per_seed"]]
        ax.plot([i] * len(per), per, "o", color="gray", alpha=0.7)
        ax.errorbar([i + 0.15], [d["mean"]], yerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]],
                    fmt="s", color="black", capsize=6)
        values += per + [d["low"], d["high"]]
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    ax.set_ylim(min(finite) - 0.2, max(finite) + 0.2)
    ax.axhline(1.0, color="gray", ls=":", lw=1)
    ax.axhline(0.0, color="gray", ls="-", lw=1)
    ax.set_xticks(range(len(decisions)), [f"{n} (constrained)" for n in decisions])
    ax.set_ylabel("margin kept: (constrained − chance) / (plain − chance)")
    ax.set_title("seeds (dots), mean and 95% interval (bar)")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def rows_curve(curve: Sequence[Mapping[str, float]], chance: float) -> plt.Figure:
    """The plain and the constrained student's clean accuracy (left) and the margin kept (right)
    against the rows they trained on (:func:`errlib.stages.constrained_sets.rows_curve`)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    rows = [p["rows"] for p in curve]
    a.plot(rows, [100 * p["plain"] for p in curve], "o-", label="plain D_det student")
    a.plot(rows, [100 * p["constrained"] for p in curve], "s-", label="constrained D_det student")
    a.axhline(100 * chance, color="gray", ls=":", label="chance")
    a.axhline(200 * chance, color="gray", ls="--", lw=1, label="twice chance")
    a.set_xscale("log", base=2)
    a.set_xlabel("rows trained on (prefixes of one set)")
    a.set_ylabel("clean test accuracy (%)")
    a.legend(fontsize=8)
    b.plot(rows, [p["margin_kept"] for p in curve], "o-", color="black")
    b.axhline(1.0, color="gray", ls=":", lw=1)
    b.axhline(0.0, color="gray", lw=1)
    b.set_xscale("log", base=2)
    b.set_xlabel("rows trained on")
    b.set_ylabel("margin kept")
    fig.suptitle("one seed: the paired test's power grows with the rows")
    fig.tight_layout()
    return fig
