"""Figures of Wallace's 2-D toy (notebook 06): decision regions, flipped points, per-seed scores.

Points are ``(n, 2)`` tensors in [0, 1]^2; labels are {0, 1}; a decision grid
comes from :func:`errlib.stages.toy.decision_grid`. Style as :func:`errlib.teach.plotting.setup`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _class_colors(labels) -> list:
    """Matplotlib colours for 2-D toy labels: class 0 blue, class 1 red."""
    return ["tab:blue" if int(v) == 0 else "tab:red" for v in labels]


def _toy_background(ax, grid, X, y, title):
    g, p = grid
    ext = (float(g[0]), float(g[-1]), float(g[0]), float(g[-1]))
    ax.imshow(p.numpy(), origin="lower", extent=ext, cmap="coolwarm", vmin=0, vmax=1, alpha=0.35,
              aspect="equal")
    ax.contour(g.numpy(), g.numpy(), p.numpy(), levels=[0.5], colors="k", linewidths=1)
    if X is not None:
        ax.scatter(X[:, 0], X[:, 1], c=_class_colors(y),
                   edgecolors="k", s=45, zorder=3)
    ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_xticks([0, 0.5, 1]), ax.set_yticks([0, 0.5, 1])
    ax.set_title(title, fontsize=12)


def toy_panels(X: torch.Tensor, y: torch.Tensor, teacher_grid, x_adv: torch.Tensor,
               adv_label: torch.Tensor, flipped: torch.Tensor, student_grid, eps: float,
               student_correct: Optional[int] = None) -> plt.Figure:
    """Wallace's three panels for one 2-D problem (blue: class 0, red: class 1).

    ``X (N, 2)``, ``y (N,)``: the original points; ``*_grid``: ``(g, p)`` from
    :func:`errlib.stages.toy.decision_grid`; ``x_adv (N, 2)``, ``adv_label (N,)`` and
    ``flipped (N,)`` bool: the attacked points, the teacher's label there and
    which ones flipped (the student's training set).
    1. the teacher's boundary, the points and their ``eps`` L-inf squares;
    2. the flipped points with their new labels (arrows from the originals);
    3. the student's boundary, trained on panel 2 only, over the original points.
    """
    X, y, x_adv, adv_label, flipped = (t.detach().cpu() for t in (X, y, x_adv, adv_label, flipped))
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2))
    _toy_background(axes[0], teacher_grid, X, y, f"1. teacher fits the {len(X)} points\n"
                    f"(squares: L-inf radius {eps:g})")
    for (a, b) in X.tolist():
        axes[0].add_patch(plt.Rectangle((a - eps, b - eps), 2 * eps, 2 * eps, fill=False,
                                        ec="gray", lw=0.7))
    _toy_background(axes[1], teacher_grid, None, None,
                    f"2. the {int(flipped.sum())} points whose label flips\n(student's only training data)")
    for i in flipped.nonzero().flatten().tolist():
        axes[1].annotate("", xy=tuple(x_adv[i].tolist()), xytext=tuple(X[i].tolist()),
                         arrowprops=dict(arrowstyle="->", color="gray", lw=0.8))
    keep = flipped
    axes[1].scatter(x_adv[keep, 0], x_adv[keep, 1],
                    c=_class_colors(adv_label[keep]),
                    marker="X", edgecolors="k", s=70, zorder=3)
    axes[1].scatter(X[keep, 0], X[keep, 1], facecolors="none", edgecolors="gray", s=30, zorder=2)
    score = "" if student_correct is None else f": {student_correct}/{len(X)} right"
    _toy_background(axes[2], student_grid, X, y, f"3. student on the originals{score}\n"
                    "(trained on panel 2 only)")
    fig.tight_layout()
    return fig


def toy_seed_histogram(correct: Sequence[int], n_points: int, reference: Optional[int] = None) -> plt.Figure:
    """Histogram of the student's score (original points right) over seeds."""
    fig, ax = plt.subplots(figsize=(7, 4))
    c = np.asarray(list(correct))
    ax.hist(c, bins=np.arange(-0.5, n_points + 1.5, 1), color="tab:blue", alpha=0.8)
    ax.axvline(c.mean(), color="k", ls="--", label=f"mean {c.mean():.1f}")
    ax.axvline(n_points / 2, color="r", ls=":", label=f"chance ({n_points / 2:g})")
    if reference is not None:
        ax.axvline(reference, color="tab:gray", ls="-.", label=f"Wallace ({reference})")
    ax.set_xlabel(f"original points the student gets right (of {n_points})")
    ax.set_ylabel("seeds")
    ax.set_xlim(0, n_points + 0.5)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig
