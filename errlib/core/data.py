"""Datasets as in-memory uint8 tensors.

Every dataset is decoded once into a pair ``(X, y)``:

* ``X``: ``uint8`` tensor of shape ``(N, C, H, W)``, pixels in ``[0, 255]``
  (use :func:`to_float` for ``float32`` pixels in ``[0, 1]``);
* ``y``: ``int64`` tensor of shape ``(N,)`` with class indices in ``[0, C)``.

No ``DataLoader`` is involved: training and attacks slice these tensors
directly (the airbench approach), which is both simpler and faster on a CPU.

The data root is ``$ERRLIB_DATA`` if set, else ``data/`` at the repository
root. Real users get torchvision's download on first use; set
``ERRLIB_DOWNLOAD=0`` (or pass ``download=False``) to stay offline.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset: shape, classes and normalisation statistics."""

    name: str
    shape: Tuple[int, int, int]  # (C, H, W)
    classes: Tuple[str, ...]
    mean: Tuple[float, ...]  # per-channel mean of the training pixels in [0, 1]
    std: Tuple[float, ...]  # per-channel standard deviation
    tv_class: str  # torchvision.datasets class name
    folder: str  # sub-folder torchvision creates under the root

    @property
    def num_classes(self) -> int:
        return len(self.classes)


DATASETS = {
    "mnist": DatasetInfo(
        "mnist", (1, 28, 28), tuple(str(i) for i in range(10)),
        (0.1307,), (0.3081,), "MNIST", "MNIST"),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", (1, 28, 28),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        (0.2860,), (0.3530,), "FashionMNIST", "FashionMNIST"),
    "cifar10": DatasetInfo(
        "cifar10", (3, 32, 32),
        ("airplane", "automobile", "bird", "cat", "deer",
         "dog", "frog", "horse", "ship", "truck"),
        (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "CIFAR10",
        "cifar-10-batches-py"),
}
ALIASES = {"fmnist": "fashion_mnist", "fashion-mnist": "fashion_mnist",
           "fashionmnist": "fashion_mnist", "cifar": "cifar10", "cifar-10": "cifar10"}


def dataset_info(name: str) -> DatasetInfo:
    """Look up a dataset by name (``mnist``, ``fashion_mnist``, ``cifar10``)."""
    key = ALIASES.get(str(name).lower(), str(name).lower())
    if key not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; allowed: {', '.join(sorted(DATASETS))}")
    return DATASETS[key]


def data_root(root: Optional[os.PathLike] = None) -> Path:
    """The data root: ``root`` if given, else ``$ERRLIB_DATA``, else ``<repo>/data``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("ERRLIB_DATA")
    return Path(env) if env else REPO_ROOT / "data"


def _download_default() -> bool:
    return os.environ.get("ERRLIB_DOWNLOAD", "1").lower() not in ("0", "false", "no")


class DataNotFoundError(FileNotFoundError):
    """Raised when a dataset is neither on disk nor downloadable."""


def _missing_message(info: DatasetInfo, root: Path, reason: str) -> str:
    return (
        f"{info.name} ({info.tv_class}) was not found under {root.resolve()} "
        f"(torchvision looks in {root.resolve() / info.folder}). {reason}\n"
        f"Fix it in one of two ways:\n"
        f"  1. download it: connect to the internet and call "
        f"errlib.core.data.load_dataset({info.name!r}, download=True) "
        f"(or unset ERRLIB_DOWNLOAD=0);\n"
        f"  2. point errlib at a folder that already holds it: "
        f"export ERRLIB_DATA=/path/to/data (torchvision layout: "
        f"<ERRLIB_DATA>/{info.folder}/...).")


_MEMO: dict = {}


def load_dataset(name: str, train: bool = True, *, root: Optional[os.PathLike] = None,
                 download: Optional[bool] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Load a whole split as ``(X uint8 (N, C, H, W), y int64 (N,))``.

    Decoded once per process and memoised; callers get the same tensors back,
    so treat them as read-only (index or ``.clone()`` before writing).
    """
    import torchvision

    info = dataset_info(name)
    root = data_root(root)
    download = _download_default() if download is None else download
    memo_key = (info.name, bool(train), str(root.resolve()))
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    cls = getattr(torchvision.datasets, info.tv_class)
    try:
        ds = cls(root=str(root), train=train, download=False)
    except RuntimeError as exc:  # torchvision: "Dataset not found..."
        if not download:
            raise DataNotFoundError(_missing_message(
                info, root, "Downloading is switched off (download=False or ERRLIB_DOWNLOAD=0).")) from exc
        try:
            root.mkdir(parents=True, exist_ok=True)
            ds = cls(root=str(root), train=train, download=True)
        except Exception as exc2:  # network errors come in many types
            raise DataNotFoundError(_missing_message(
                info, root, f"The download failed: {exc2}")) from exc2
    data = ds.data
    if not isinstance(data, torch.Tensor):  # CIFAR: numpy (N, H, W, C)
        data = torch.from_numpy(data).permute(0, 3, 1, 2)
    if data.dim() == 3:  # MNIST family: (N, H, W)
        data = data.unsqueeze(1)
    X = data.contiguous().to(torch.uint8)
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    _MEMO[memo_key] = (X, y)
    return X, y


def to_float(X: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float32 in [0, 1]; float input is returned as float32."""
    if X.dtype == torch.uint8:
        return X.float().div_(255.0)
    return X.float()


def check_pixels(X: torch.Tensor, what: str = "images") -> None:
    """Raise ``ValueError`` unless ``X`` is uint8 or float with every value in [0, 1]."""
    if X.dtype == torch.uint8:
        return
    if not torch.is_floating_point(X):
        raise ValueError(f"{what} must be uint8 in [0, 255] or float in [0, 1], got dtype {X.dtype}")
    if X.numel() and (X.min() < 0 or X.max() > 1):
        raise ValueError(
            f"{what} must hold pixels in [0, 1] (normalisation lives inside the model); "
            f"got values in [{X.min().item():.3g}, {X.max().item():.3g}]. "
            f"Divide uint8 images by 255 (errlib.core.data.to_float) and do not normalise them.")


def subset(X: torch.Tensor, y: torch.Tensor, n: Optional[int], seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset of ``n`` examples, images and labels kept paired (all of them,
    shuffled, if ``n`` is None); class shares follow the data's."""
    N = len(X)
    if n is None:
        n = N
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"subset size must be a positive integer, got {n!r}")
    if n > N:
        raise ValueError(f"subset size {n} is larger than the {N} examples available")
    idx = torch.randperm(N, generator=torch.Generator().manual_seed(int(seed)))[:n]
    return X[idx], y[idx]
