"""Figures for the course. Every function returns a ``matplotlib`` Figure.

Images are ``(N, C, H, W)`` tensors in [0, 1]; labels are int tensors; class
names come from :func:`errlib.core.data.dataset_info`. :func:`setup` sets a style
readable on a classroom projector.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..core.data import to_float


def setup() -> None:
    """Large fonts and clean axes, for projectors and notebooks alike."""
    plt.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 120, "font.size": 13, "axes.titlesize": 14,
        "axes.labelsize": 13, "legend.fontsize": 11, "axes.spines.top": False,
        "axes.spines.right": False, "image.cmap": "gray"})


def _img(ax, x: torch.Tensor, cmap="gray", vmin=0.0, vmax=1.0):
    """Show one ``(C, H, W)`` image, uint8 or float in [0, 1]."""
    x = to_float(x.detach()).cpu()
    if x.shape[0] == 1:
        ax.imshow(x[0].numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
    else:
        ax.imshow(x.permute(1, 2, 0).clamp(0, 1).numpy())
    ax.set_xticks([]), ax.set_yticks([])


def image_grid(X: torch.Tensor, titles: Optional[Sequence[str]] = None, ncols: int = 8,
               title: Optional[str] = None, size: float = 1.5) -> plt.Figure:
    """A grid of images with an optional title under each."""
    n = len(X)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * 1.25 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            _img(ax, X[i])
            if titles is not None:
                ax.set_title(titles[i], fontsize=10)
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def adversarial_triplets(x: torch.Tensor, x_adv: torch.Tensor, y_true, target, pred,
                         classes: Sequence[str], n: int = 5, amplify: Optional[float] = None) -> plt.Figure:
    """Rows of (clean, adversarial, perturbation) with the true label, target and prediction.

    The perturbation is shown centred on grey, scaled so its largest pixel
    fills the range (or by ``amplify``).
    """
    n = min(n, len(x))
    fig, axes = plt.subplots(n, 3, figsize=(7.5, 2.4 * n), squeeze=False)
    for i in range(n):
        d = (x_adv[i] - x[i]).float()
        scale = amplify or 0.5 / max(d.abs().max().item(), 1e-8)
        _img(axes[i, 0], x[i])
        axes[i, 0].set_title(f"clean: true {classes[int(y_true[i])]}", fontsize=11)
        _img(axes[i, 1], x_adv[i])
        ok = int(pred[i]) == int(target[i])
        axes[i, 1].set_title(f"target {classes[int(target[i])]}\nmodel says {classes[int(pred[i])]}"
                             + (" ✓" if ok else " ✗"), fontsize=11)
        _img(axes[i, 2], 0.5 + scale * d, cmap="seismic" if x.shape[1] == 1 else "gray")
        axes[i, 2].set_title(f"perturbation x{scale:.1f}\n‖δ‖₂ = {d.norm():.2f}", fontsize=11)
    fig.tight_layout()
    return fig


def attack_summary(sets: Mapping[str, "object"], eps: float) -> plt.Figure:
    """Success rate per error set (bars) and the histogram of perturbation norms."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(sets)
    rates = [100 * sets[k].success_rate for k in names]
    bars = a.bar(names, rates, color=["tab:blue", "tab:orange", "tab:green"][: len(names)])
    a.bar_label(bars, fmt="%.1f%%")
    a.set_ylim(0, 105)
    a.set_ylabel("attack reached its target (%)")
    a.set_title("targeted attack success")
    for k in names:
        b.hist(sets[k].delta_norm.numpy(), bins=40, alpha=0.6, label=k)
    b.axvline(eps, color="k", ls="--", label=f"eps = {eps:g}")
    b.set_xlabel("perturbation norm ‖x_adv − x‖")
    b.set_ylabel("images")
    b.set_title("how much of the budget is used")
    b.legend()
    fig.tight_layout()
    return fig


def training_curves(histories: Mapping[str, Sequence[Dict[str, float]]], chance: Optional[float] = None) -> plt.Figure:
    """Train accuracy (dashed, on each model's own training set) and clean test accuracy (solid).

    The test points are the history's: measured each epoch on a sample of the
    test set (:func:`errlib.stages.pipeline.curve_sample`), not the whole of it.
    """
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, hist) in enumerate(histories.items()):
        c = f"C{i}"
        ep = [h["epoch"] for h in hist]
        ax.plot(ep, [100 * h["train_acc"] for h in hist], ls="--", color=c, label=f"{name}: train (its own labels)")
        if "test_acc" in hist[0]:
            ax.plot(ep, [100 * h["test_acc"] for h in hist], marker="o", color=c, label=f"{name}: clean test (sample)")
    if chance is not None:
        ax.axhline(100 * chance, color="gray", ls=":", label="chance")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 101)
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


def accuracy_bars(ours: Mapping[str, float], reference: Optional[Mapping[str, float]] = None,
                  chance: Optional[float] = None, ours_label: str = "ours",
                  reference_label: str = "paper", title: str = "",
                  legend_below: bool = False) -> plt.Figure:
    """Side-by-side bars of our accuracies and reference ones (fractions in [0, 1]).

    ``legend_below=True`` puts the legend under the axes, clear of bars near 100%.
    """
    names = list(ours)
    xs = np.arange(len(names))
    w = 0.38 if reference else 0.6
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(names)), 4.5))
    b1 = ax.bar(xs - (w / 2 if reference else 0), [100 * ours[k] for k in names], w, label=ours_label)
    ax.bar_label(b1, fmt="%.1f")
    if reference:
        vals = [100 * reference.get(k, np.nan) for k in names]
        b2 = ax.bar(xs + w / 2, vals, w, label=reference_label, color="tab:gray", alpha=0.6)
        ax.bar_label(b2, labels=["" if np.isnan(v) else f"{v:.1f}" for v in vals])
    if chance is not None:
        ax.axhline(100 * chance, color="r", ls="--", label=f"chance ({100 * chance:.0f}%)")
    ax.set_xticks(xs, names)
    ax.set_ylabel("clean test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    if legend_below:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    else:
        ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``(C, C)``: row = true class, column = predicted class."""
    idx = y_true.long() * num_classes + y_pred.long()
    return torch.bincount(idx, minlength=num_classes ** 2).view(num_classes, num_classes)


def plot_confusion(cm: torch.Tensor, classes: Sequence[str], title: str = "") -> plt.Figure:
    """Row-normalised confusion matrix, with the diagonal (y) and the shifted diagonal (y+1) outlined."""
    c = len(classes)
    frac = (cm.float() / cm.sum(1, keepdim=True).clamp_min(1)).numpy()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(c):
        for j in range(c):
            if frac[i, j] >= 0.1:
                ax.text(j, i, f"{100 * frac[i, j]:.0f}", ha="center", va="center",
                        color="white" if frac[i, j] > 0.5 else "black", fontsize=9)
        ax.add_patch(plt.Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, ec="tab:green", lw=1.5))
        j = (i + 1) % c
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="tab:red", lw=1.5, ls="--"))
    short = [s[:7] for s in classes]
    ax.set_xticks(range(c), short, rotation=60)
    ax.set_yticks(range(c), short)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title + "\n(green: y, red dashed: y+1)", fontsize=12)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the row")
    fig.tight_layout()
    return fig


def sweep_curves(rows: Sequence[Mapping[str, float]], x: str, keys: Sequence[str],
                 chance: Optional[float] = None, title: str = "") -> plt.Figure:
    """One line per ``key`` (fractions in [0, 1], drawn as %) against grid parameter ``x``.

    Keys with "success" in their name are dashed (attack success), others solid.
    """
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = [r[x] for r in rows]
    for k in keys:
        ax.plot(xs, [100 * r[k] for r in rows], marker="o", ls="--" if "success" in k else "-", label=k)
    if chance is not None:
        ax.axhline(100 * chance, color="gray", ls=":", label="chance")
    ax.set_xlabel(x)
    ax.set_ylabel("%")
    ax.set_ylim(0, 101)
    ax.set_title(title)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def transfer_scatter(rows: Sequence[Mapping[str, float]]) -> plt.Figure:
    """Ilyas Fig. 3 style: D_det student accuracy (x) vs transfer success (y), one point per architecture."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for row in rows:
        ax.scatter(100 * row["D_det"], 100 * row["transfer_rate"], s=80)
        ax.annotate(row["student"], (100 * row["D_det"], 100 * row["transfer_rate"]),
                    textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel("accuracy of a student trained on D_det (%)")
    ax.set_ylabel("transfer success of the source's D_det attacks (%)")
    ax.set_title("learnability tracks transferability (cf. Ilyas Fig. 3)")
    fig.tight_layout()
    return fig


# --- Part II: Wallace (notebooks 05-06) -------------------------------------------------

def images_by_label(X: torch.Tensor, labels: torch.Tensor, label_names: Sequence[str],
                    captions: Optional[Sequence[str]] = None, per_label: int = 8,
                    row_prefix: str = "labelled", title: str = "", size: float = 1.2) -> plt.Figure:
    """One row per label value: the first ``per_label`` images that received it.

    ``labels`` (N,) are the labels given (e.g. an MNIST teacher's digits for
    Fashion-MNIST images); ``captions`` (N strings) go under each image (e.g.
    the image's own class). Rows are named ``f"{row_prefix} {label_names[r]}"``.
    """
    n_rows = len(label_names)
    fig, axes = plt.subplots(n_rows, per_label, figsize=(size * per_label + 1.2, size * 1.2 * n_rows),
                             squeeze=False)
    for r in range(n_rows):
        idx = (labels == r).nonzero().flatten()[:per_label].tolist()
        for j, ax in enumerate(axes[r]):
            if j < len(idx):
                i = idx[j]
                _img(ax, X[i])
                if captions is not None:
                    ax.set_xlabel(captions[i], fontsize=8, labelpad=1)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(f"{row_prefix} {label_names[r]}", fontsize=10, rotation=0,
                              ha="right", va="center")
        if not idx:
            axes[r, 0].axis("on"), axes[r, 0].set_xticks([]), axes[r, 0].set_yticks([])
            axes[r, 0].text(0.5, 0.5, "none", ha="center", va="center", transform=axes[r, 0].transAxes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def teacher_budget_curve(rows: Sequence[Mapping[str, float]], chosen: Optional[int] = None,
                         target: Optional[float] = None, target_label: str = "reference",
                         chance: Optional[float] = None, title: str = "") -> plt.Figure:
    """Teacher accuracy (train and test, fractions) against its optimiser-step budget.

    ``rows`` hold ``steps``, ``train_acc``, ``test_acc``; ``chosen`` marks the
    budget used, ``target`` a reference accuracy (e.g. Wallace's 62.5%).
    """
    fig, ax = plt.subplots(figsize=(8, 4.5))
    steps = [r["steps"] for r in rows]
    ax.plot(steps, [100 * r["train_acc"] for r in rows], marker="o", label="train (pool probe)")
    ax.plot(steps, [100 * r["test_acc"] for r in rows], marker="s", ls="--", label="test (probe)")
    if target is not None:
        ax.axhline(100 * target, color="tab:gray", ls="-.", label=target_label)
    if chance is not None:
        ax.axhline(100 * chance, color="r", ls=":", label="chance")
    if chosen is not None:
        ax.axvline(chosen, color="k", ls=":", label=f"chosen: {chosen} steps")
    ax.set_xlabel("optimiser steps (batches seen)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 101)
    ax.set_title(title)
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


def judge_readings(readings: Mapping[str, Mapping[str, float]]) -> plt.Figure:
    """Stacked bars: the share of each set's error rows a robust judge reads as t, as y, or other.

    ``readings[name]`` holds ``reads_target``, ``reads_original``, ``reads_other``
    (fractions of error rows) and optionally ``clean_reads_target`` (drawn as a tick:
    the judge's base rate of answering t on the clean originals).
    """
    names = list(readings)
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.8 * len(names)))
    left = np.zeros(len(names))
    for key, label, color in (("reads_target", "reads the target t (leakage)", "tab:red"),
                              ("reads_original", "reads the original y", "tab:green"),
                              ("reads_other", "another class", "tab:gray")):
        vals = np.array([100 * readings[n][key] for n in names])
        bars = ax.barh(names, vals, left=left, color=color, label=label)
        ax.bar_label(bars, labels=[f"{v:.0f}%" if v >= 6 else "" for v in vals], label_type="center")
        left += vals
    for i, n in enumerate(names):
        if "clean_reads_target" in readings[n]:
            x = 100 * readings[n]["clean_reads_target"]
            ax.plot([x, x], [i - 0.4, i + 0.4], color="k", lw=2)
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of error rows (%); black tick: t read on the clean originals")
    ax.set_title("what the robust judge reads in each error set")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False, fontsize=10)
    fig.tight_layout()
    return fig


def seed_spread(rows: Sequence[Mapping[str, float]], keys: Mapping[str, str], chance: float,
                reference: Optional[Mapping[str, float]] = None,
                reference_label: str = "Ilyas et al., CIFAR-10") -> plt.Figure:
    """One column per student: every seed's accuracy as a dot, the mean as a bar (fractions in [0, 1]).

    ``keys`` maps a column label to the row key holding that student's accuracy;
    ``reference`` maps column labels to published numbers (diamonds, named ``reference_label``).
    """
    labels = list(keys)
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(labels)), 4.5))
    ref_label = reference_label
    for i, lab in enumerate(labels):
        vals = np.array([100 * r[keys[lab]] for r in rows], dtype=float)
        ax.bar(i, np.nanmean(vals), 0.6, color="tab:blue", alpha=0.35)
        ax.scatter(np.full(len(vals), i), vals, color="tab:blue", zorder=3)
        ax.text(i, np.nanmean(vals) + 2, f"{np.nanmean(vals):.1f}", ha="center")
        if reference and lab in reference:
            ax.scatter([i + 0.2], [100 * reference[lab]], marker="D", color="tab:gray", zorder=3,
                       label=ref_label)
            ref_label = None  # one legend entry
    ax.axhline(100 * chance, color="r", ls="--", label=f"chance ({100 * chance:.0f}%)")
    ax.set_xticks(range(len(labels)), labels, fontsize=10)
    ax.set_ylabel("clean test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"students over {len(rows)} seeds (dots: seeds, bars: mean)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig
