"""Training and evaluation on in-memory tensors (no DataLoader on the hot path).

    history = fit(model, X, y, epochs=3, X_test=Xt, y_test=yt, seed=0)
    acc = evaluate(model, Xt, yt)

``X`` is ``(N, C, H, W)``, uint8 in [0, 255] or float in [0, 1]; ``y`` is
``(N,)`` int64. Batches are cut from the tensors, moved to the device and
converted to float there. ``fit`` returns one dict of metrics per epoch.
A :class:`TrainRecipe` names everything that decides a trained model's weights.

``ERRLIB_THREADS=N`` runs ``fit``, ``predict`` and :func:`errlib.core.attacks.pgd`
with N CPU threads, fixed for the process (unset: torch's default, one per core);
see :mod:`errlib.core.parallel`.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .data import check_pixels, to_float
from .models import make_model
from .parallel import cpu_settings
from .precision import RESOLVED
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


def adam_kernel(device: torch.device) -> Dict[str, bool]:
    """Adam's implementation for ``device``: ``{"fused": True}`` on the CPU and CUDA, else foreach.

    The fused kernel updates every parameter in one pass, a little faster
    (``benchmarks/README.md``); it rounds Adam's update differently from the
    per-parameter loop (the same formula; weights differ in the last bits,
    tests/test_train.py). foreach (one multi-tensor call per step) elsewhere,
    e.g. on Apple's ``mps``.
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
    flip = (torch.rand(n, generator=gen) < 0.5).to(xb.device)
    xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
    padded = F.pad(xb, (4, 4, 4, 4), mode="reflect")
    dx, dy = torch.randint(0, 9, (2,), generator=gen).tolist()  # one shift per batch: cheap, still effective
    return padded[:, :, dy:dy + h, dx:dx + w]


@cpu_settings
@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, *, batch_size: int = 512,
            device: Optional[torch.device] = None) -> torch.Tensor:
    """Predicted classes ``(N,)`` int64 on the CPU; the model is evaluated in eval mode.

    ``batch_size`` 512: on a CPU the course CNN's activations then stay in cache
    (larger batches were slower, with identical predictions; ``benchmarks/README.md``).
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


def _positive_int(name: str, value) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _check_fit_args(n: int, batch_size: int, epochs: Optional[int], steps: Optional[int],
                    optimizer: str, schedule: str) -> Tuple[int, int]:
    """Check :func:`fit`'s options; ``(epochs, total optimiser steps)`` for ``n`` examples."""
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: adam, sgd")
    if schedule not in ("constant", "onecycle"):
        raise ValueError(f"unknown schedule {schedule!r}; allowed: constant, onecycle")
    per_epoch = -(-n // _positive_int("batch_size", batch_size))
    if steps is not None:
        if epochs is not None:
            raise ValueError("fit: pass steps (an optimiser-step budget) or epochs, not both")
        return -(-_positive_int("steps", steps) // per_epoch), steps
    epochs = 1 if epochs is None else _positive_int("epochs", epochs)
    return epochs, per_epoch * epochs


def _optimizer(params, name: str, lr: float, weight_decay: float, dev: torch.device):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **adam_kernel(dev))
    # foreach: bitwise the weights of the per-parameter loop on the CPU (tests/test_train.py)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay,
                           foreach=True)


def _schedule(opt, name: str, total: int):
    """``None`` (constant) or onecycle: linear warm-up for 20% of ``total`` steps, then linear decay to 0."""
    if name == "constant":
        return None
    warm = max(1, int(0.2 * total))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: (t + 1) / warm if t < warm else max(0.0, (total - t) / max(1, total - warm)))


def _train_batches(model, X, y, batches, *, opt, sched, augment, perturb, gen, dev) -> Tuple[float, int]:
    """One pass over the index ``batches``; ``(summed loss, correct predictions)``."""
    loss_sum = torch.zeros((), device=dev)
    correct = torch.zeros((), device=dev, dtype=torch.long)
    model.train()
    for idx in batches:
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
    return loss_sum.item(), correct.item()


def _print_row(desc: str, row: Dict[str, float]) -> None:
    print(f"{desc}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in row.items()), flush=True)


@cpu_settings
def fit(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: Optional[int] = None,
        steps: Optional[int] = None, batch_size: int = 128, lr: float = 1e-3, optimizer: str = "adam",
        weight_decay: float = 0.0, schedule: str = "constant", augment: bool = False,
        X_test: Optional[torch.Tensor] = None, y_test: Optional[torch.Tensor] = None,
        seed: int = 0, device: Optional[str] = None, progress: bool = True,
        desc: str = "train", perturb: Optional[Callable] = None) -> List[Dict[str, float]]:
    """Train ``model`` in place with cross-entropy; return per-epoch metrics.

    Length: ``epochs`` whole epochs (default 1), or ``steps``, an optimiser-step
    budget (e.g. Wallace's deliberately under-trained teacher) run over as many
    epochs as it needs, the last one partial. With a step budget every history
    row gains ``steps`` (taken so far) and a partial epoch's
    ``train_loss``/``train_acc`` average over its batches.
    optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9, Nesterov).
    schedule: ``"constant"`` or ``"onecycle"`` (linear warm-up to ``lr`` for the
    first 20% of the steps taken, then linear decay to 0).
    Each history entry holds ``epoch``, ``train_loss``, ``train_acc`` (running,
    on the training batches), ``seconds`` and, with a test set, ``test_acc``.
    The batch order and augmentation come from a generator seeded with ``seed``
    (torch's global generator is not used); deterministic on the CPU at a given
    thread count. ``perturb(model, xb, yb)``, if given, replaces each batch
    before its step (adversarial training, :func:`errlib.stages.leakage.get_judge`).
    """
    _check_xy(X, y, "fit")
    epochs, total = _check_fit_args(len(X), batch_size, epochs, steps, optimizer, schedule)
    dev = pick_device(device)
    model.to(dev)
    gen = torch.Generator().manual_seed(int(seed))
    if dev.type != "cpu":  # one host-to-device copy of the (uint8) data instead of one per batch
        X, y = X.to(dev), y.to(dev)
    opt = _optimizer([p for p in model.parameters() if p.requires_grad], optimizer, lr, weight_decay, dev)
    sched = _schedule(opt, schedule, total)
    history: List[Dict[str, float]] = []
    n, done = len(X), 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen).to(X.device)
        n_batches = min(-(-n // batch_size), total - done)
        bar = progress_bar(range(n_batches), desc=f"{desc} epoch {epoch}/{epochs}", disable=not progress,
                           unit="batch")
        loss_sum, correct = _train_batches(model, X, y, (perm[b * batch_size:(b + 1) * batch_size] for b in bar),
                                           opt=opt, sched=sched, augment=augment, perturb=perturb, gen=gen, dev=dev)
        done += n_batches
        seen = min(n, n_batches * batch_size)
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen}
        row.update({"steps": done} if steps is not None else {})
        if X_test is not None and y_test is not None:
            row["test_acc"] = evaluate(model, X_test, y_test)
        history.append(dict(row, seconds=time.perf_counter() - t0))
        if progress:
            _print_row(desc, history[-1])
        if done >= total:
            break
    model.eval()
    return history


@dataclass(frozen=True)
class TrainRecipe:
    """Everything that decides a trained model's weights; its fields are a training stage's cache key.

    ``epochs`` whole epochs, or ``steps`` optimiser steps (see :func:`fit`).
    ``init_seed`` seeds the initial weights, ``order_seed`` the batch order and
    augmentation (derive both with :mod:`errlib.core.seeds`). ``mean``/``std``: the
    model's normalisation statistics (``None``: the dataset's own). ``precision``: the
    model's arithmetic, resolved (``"fp32"`` or ``"bf16"``, :mod:`errlib.core.precision`);
    it travels with the model, so its training, evaluation and the attacks on it all use it.
    """

    arch: str
    dataset: str
    epochs: Optional[int] = None
    steps: Optional[int] = None
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"
    augment: bool = False
    init_seed: int = 0
    order_seed: int = 0
    mean: Optional[Tuple[float, ...]] = None
    std: Optional[Tuple[float, ...]] = None
    precision: str = "fp32"

    def __post_init__(self):
        if self.precision not in RESOLVED:
            raise ValueError(f"TrainRecipe.precision must be resolved ({', '.join(RESOLVED)}), got {self.precision!r}")

    def replace(self, **changes) -> "TrainRecipe":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def make_model(self) -> nn.Module:
        """The recipe's freshly initialised model (on the CPU)."""
        return make_model(self.arch, self.dataset, mean=self.mean, std=self.std, seed=self.init_seed,
                          precision=self.precision)

    def fit(self, model: nn.Module, X: torch.Tensor, y: torch.Tensor, **kwargs) -> List[Dict[str, float]]:
        """:func:`fit` ``model`` on ``(X, y)`` with this recipe; ``kwargs`` add test data, device, progress."""
        return fit(model, X, y, epochs=self.epochs, steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                   optimizer=self.optimizer, schedule=self.schedule, augment=self.augment,
                   seed=self.order_seed, **kwargs)
