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

Files already in torchvision's layout are read here, without importing
torchvision (:func:`read_local`): the idx files of the MNIST family and CIFAR-10's
pickled batches are simple formats, while ``import torchvision`` costs about 3.4 s
of CPU (it imports ``torch._dynamo``), paid by every stage process a course or a
notebook starts (benchmarks/README.md, "Process starts"). torchvision remains the
downloader, and the reader of anything else (a legacy ``processed/`` folder).
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
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


def local_files(info: DatasetInfo, root: Path, train: bool) -> List[Path]:
    """The files of one split in torchvision's layout under ``root`` (they may not exist):
    ``<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` for the MNIST family,
    ``cifar-10-batches-py/{data_batch_1..5,test_batch}`` for CIFAR-10."""
    folder = root / info.folder
    if info.name == "cifar10":
        names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        return [folder / n for n in names]
    split = "train" if train else "t10k"
    return [folder / "raw" / f"{split}-images-idx3-ubyte", folder / "raw" / f"{split}-labels-idx1-ubyte"]


class DamagedDataError(ValueError):
    """A data file is there but cannot be what torchvision's layout says it is."""


def _damaged(path: Path, why: str) -> DamagedDataError:
    return DamagedDataError(f"{path} is not a readable dataset file ({why}). Delete its folder "
                            f"({path.parent}) and load the dataset again to download a fresh copy.")


def _read_idx(path: Path, dims: int) -> torch.Tensor:
    """An idx file of unsigned bytes (magic ``0 0 8 dims``, then ``dims`` big-endian int32 sizes)."""
    raw = path.read_bytes()
    head = 4 + 4 * dims
    if len(raw) < head or raw[:4] != bytes([0, 0, 8, dims]):
        raise _damaged(path, f"expected an idx file of uint8 with {dims} dimension(s)")
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    if len(raw) - head != int(np.prod(shape)):
        raise _damaged(path, f"{len(raw) - head} bytes of data for shape {tuple(shape)}")
    return torch.frombuffer(bytearray(raw[head:]), dtype=torch.uint8).view(*shape)


def _read_cifar_batch(path: Path) -> Tuple[np.ndarray, list]:
    """One pickled CIFAR-10 batch: ``data`` (n, 3072) uint8 with channel-planar rows, and ``labels``."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")  # Python 2 pickles, as torchvision reads them
        data, labels = np.asarray(entry["data"], dtype=np.uint8), list(entry["labels"])
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from exc
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise _damaged(path, f"data of shape {data.shape} with {len(labels)} labels")
    return data, labels


def read_local(info: DatasetInfo, files: List[Path]) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(X uint8 (N, C, H, W), y int64 (N,))`` from :func:`local_files`, decoded as torchvision
    decodes them (tests/test_data.py checks both give the same tensors). A damaged file raises
    :class:`DamagedDataError` naming it."""
    if info.name == "cifar10":
        batches = [_read_cifar_batch(p) for p in files]
        X = torch.from_numpy(np.concatenate([d for d, _ in batches]).reshape(-1, 3, 32, 32))
        y = torch.tensor([lab for _, labels in batches for lab in labels], dtype=torch.int64)
    else:
        X, y = _read_idx(files[0], 3).unsqueeze(1), _read_idx(files[1], 1).to(torch.int64)
    if len(X) != len(y):
        raise _damaged(files[-1], f"{len(y)} labels for {len(X)} images")
    return X.contiguous(), y


def _read_torchvision(info: DatasetInfo, root: Path, train: bool, download: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """One split through torchvision's dataset class, downloading it if allowed."""
    import torchvision

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
    return data.contiguous().to(torch.uint8), torch.as_tensor(ds.targets, dtype=torch.int64)


def load_dataset(name: str, train: bool = True, *, root: Optional[os.PathLike] = None,
                 download: Optional[bool] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Load a whole split as ``(X uint8 (N, C, H, W), y int64 (N,))``.

    Files already under ``root`` in torchvision's layout are read directly (:func:`read_local`);
    otherwise torchvision loads them, downloading when ``download`` (default ``$ERRLIB_DOWNLOAD``,
    on). Decoded once per process and memoised; callers get the same tensors back, so treat them
    as read-only (index or ``.clone()`` before writing).
    """
    info = dataset_info(name)
    root = data_root(root)
    download = _download_default() if download is None else download
    memo_key = (info.name, bool(train), str(root.resolve()))
    if memo_key not in _MEMO:
        files = local_files(info, root, train)
        _MEMO[memo_key] = (read_local(info, files) if all(f.is_file() for f in files)
                           else _read_torchvision(info, root, train, download))
    return _MEMO[memo_key]


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
