"""Training and evaluation on in-memory tensors (no DataLoader on the hot path).

    history = fit(model, X, y, epochs=3, X_test=Xt, y_test=yt, seed=0)
    acc = evaluate(model, Xt, yt)

``X`` is ``(N, C, H, W)``, uint8 in [0, 255] or float in [0, 1]; ``y`` is
``(N,)`` int64. Batches are cut from the tensors, moved to the device and
converted to float there. ``fit`` returns one dict of metrics per epoch.

``ERRLIB_THREADS=N`` runs ``fit``, ``predict`` and :func:`errlib.attacks.pgd`
with N CPU threads (unset: torch's default, one per core); see
:mod:`errlib.parallel`.
"""
from __future__ import annotations

import os
import random
import time
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .data import check_pixels, to_float
from .parallel import cpu_settings
from .progress import progress_bar


def pick_device(device: Optional[str] = None) -> torch.device:
    """``device`` if given (e.g. ``"cpu"``), else ``$ERRLIB_DEVICE``, else cuda, then mps, then cpu."""
    device = device or os.environ.get("ERRLIB_DEVICE") or None
    if device:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, torch (CPU and CUDA); returns a CPU generator seeded with ``seed``."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    return torch.Generator().manual_seed(int(seed))


def adam_kernel(device: torch.device) -> Dict[str, bool]:
    """Adam's implementation for ``device``: ``{"fused": True}`` on the CPU and CUDA, else foreach.

    The fused kernel updates every parameter in one pass. It computes Adam's
    update with a different rounding from the per-parameter loop (the same
    formula; weights differ in the last bits after a step, tests/test_train.py);
    a course-CNN epoch ran 1.02-1.08x (median 1.05x) the foreach kernel in six
    benchmark runs (2 cores, 2 threads; ``benchmarks/README.md``). foreach (one
    multi-tensor call per step) elsewhere, e.g. on Apple's ``mps``.
    """
    return {"fused": True} if device.type in ("cpu", "cuda") else {"foreach": True}


def _check_xy(X: torch.Tensor, y: torch.Tensor, what: str) -> None:
    if len(X) == 0:
        raise ValueError(f"{what}: got an empty set of images; pass at least one example")
    if len(X) != len(y):
        raise ValueError(f"{what}: {len(X)} images but {len(y)} labels")
    check_pixels(X, what)


def _augment(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop (pad 4, reflect) and horizontal flip, batched, for CIFAR-style data."""
    n, _, h, w = xb.shape
    flip = torch.rand(n, device=xb.device) < 0.5
    xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
    padded = F.pad(xb, (4, 4, 4, 4), mode="reflect")
    dx, dy = torch.randint(0, 9, (2,), generator=gen).tolist()  # one shift per batch: cheap, still effective
    return padded[:, :, dy:dy + h, dx:dx + w]


@cpu_settings
@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, *, batch_size: int = 512,
            device: Optional[torch.device] = None) -> torch.Tensor:
    """Predicted classes ``(N,)`` int64 on the CPU; the model is evaluated in eval mode.

    ``batch_size`` 512: on a CPU the course CNN's activations then stay in cache;
    2048 was 2.3x slower (1 thread; ``benchmarks/run.py --baseline``), with
    bitwise-identical predictions.
    """
    if len(X) == 0:
        raise ValueError("predict: got an empty set of images")
    check_pixels(X, "predict inputs")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for s in range(0, len(X), batch_size):
            out.append(model(to_float(X[s:s + batch_size].to(device))).argmax(1).cpu())
    finally:
        model.train(was_training)  # restored even if a batch raises
    return torch.cat(out)


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, **kwargs) -> float:
    """Accuracy in [0, 1] of ``model`` on ``(X, y)``."""
    _check_xy(X, y, "evaluate")
    return (predict(model, X, **kwargs) == y.cpu()).float().mean().item()


@cpu_settings
def fit(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int = 1,
        batch_size: int = 128, lr: float = 1e-3, optimizer: str = "adam",
        weight_decay: float = 0.0, schedule: str = "constant", augment: bool = False,
        X_test: Optional[torch.Tensor] = None, y_test: Optional[torch.Tensor] = None,
        seed: int = 0, device: Optional[str] = None, progress: bool = True,
        desc: str = "train", max_steps: Optional[int] = None,
        perturb: Optional[Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]] = None,
        ) -> List[Dict[str, float]]:
    """Train ``model`` in place with cross-entropy; return per-epoch metrics.

    optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9, Nesterov).
    schedule: ``"constant"`` or ``"onecycle"`` (linear warm-up to ``lr`` for the
    first 20% of steps, then linear decay to 0).
    Each history entry holds ``epoch``, ``train_loss``, ``train_acc`` (running,
    on the training batches), ``seconds`` and, when a test set is given,
    ``test_acc``. Deterministic on the CPU for a fixed ``seed``.

    max_steps: if given, stop after this many optimiser steps in all (a step
    budget, e.g. Wallace's deliberately under-trained teacher); ``epochs`` is
    then an upper bound, the last history row covers a partial epoch (its
    ``train_loss``/``train_acc`` average over the batches seen in it) and every
    row gains ``steps``, the optimiser steps taken so far. The ``onecycle``
    schedule spans the steps actually taken. ``None`` (default): whole epochs.

    perturb: if given, ``perturb(model, xb, yb)`` replaces each float batch in
    [0, 1] before the step (after augmentation): adversarial training, e.g.
    :func:`errlib.leakage.get_judge`. ``train_acc`` is then measured on the
    perturbed batches.
    """
    _check_xy(X, y, "fit")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if max_steps is not None and not (isinstance(max_steps, int) and max_steps >= 1):
        raise ValueError(f"max_steps must be None or an integer >= 1, got {max_steps!r}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: adam, sgd")
    if schedule not in ("constant", "onecycle"):
        raise ValueError(f"unknown schedule {schedule!r}; allowed: constant, onecycle")
    dev = pick_device(device)
    model.to(dev)
    gen = seed_everything(seed)
    if dev.type != "cpu":  # one host-to-device copy of the (uint8) data instead of one per batch
        X, y = X.to(dev), y.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **adam_kernel(dev))
    else:  # foreach: bitwise the weights of the per-parameter loop on the CPU (tests/test_train.py)
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay,
                              foreach=True)
    n = len(X)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total = steps_per_epoch * epochs
    if max_steps is not None:
        total = min(total, max_steps)
    if schedule == "onecycle":
        warm = max(1, int(0.2 * total))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda t: (t + 1) / warm if t < warm else max(0.0, (total - t) / max(1, total - warm)))
    else:
        sched = None
    history: List[Dict[str, float]] = []
    done = 0  # optimiser steps taken
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen).to(X.device)
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        n_batches = min(steps_per_epoch, total - done)
        seen = min(n, n_batches * batch_size)
        bar = progress_bar(range(n_batches), desc=f"{desc} epoch {epoch}/{epochs}",
                           disable=not progress, unit="batch")
        for b in bar:
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb = to_float(X[idx].to(dev, non_blocking=True))
            yb = y[idx].to(dev, non_blocking=True)
            if augment:
                xb = _augment(xb, gen)
            if perturb is not None:
                xb = perturb(model, xb, yb)
                model.train()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                correct += (logits.argmax(1) == yb).sum()
        done += n_batches
        row = {"epoch": epoch, "train_loss": loss_sum.item() / seen,
               "train_acc": correct.item() / seen}
        if max_steps is not None:
            row["steps"] = done
        if X_test is not None and y_test is not None:
            row["test_acc"] = evaluate(model, X_test, y_test)
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if progress:
            msg = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
            print(f"{desc}: {msg}", flush=True)
        if done >= total:
            break
    model.eval()
    return history
