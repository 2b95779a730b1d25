"""errlib.core.data: real MNIST / Fashion-MNIST, the missing-data error, a synthetic CIFAR-10, subset."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import errlib.core.data as D
from errlib.core.data import DataNotFoundError, dataset_info, load_dataset, subset

pytestmark = pytest.mark.usefixtures("isolated_env")

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def _check_split(X, y, n):
    assert X.dtype == torch.uint8 and X.shape == (n, 1, 28, 28)
    assert y.dtype == torch.int64 and y.shape == (n,)
    assert int(y.min()) == 0 and int(y.max()) == 9
    assert int(X.max()) > 200  # real pixels, not an empty buffer


def test_mnist_loads_as_uint8_with_known_class_counts(mnist_root):
    X, y = load_dataset("mnist", train=True)  # through ERRLIB_DATA, as every caller does
    _check_split(X, y, 60000)
    assert torch.bincount(y, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    Xt, yt = load_dataset("mnist", train=False)
    _check_split(Xt, yt, 10000)
    assert D.data_root() == mnist_root


def test_fashion_mnist_loads_as_uint8_with_balanced_classes(fashion_root):
    X, y = load_dataset("fashion_mnist", train=True)
    _check_split(X, y, 60000)
    assert torch.bincount(y, minlength=10).tolist() == [6000] * 10
    Xt, yt = load_dataset("fmnist", train=False)  # an alias
    _check_split(Xt, yt, 10000)
    assert torch.bincount(yt, minlength=10).tolist() == [1000] * 10


def test_missing_data_error_names_dataset_folder_and_both_fixes(tmp_path):
    with pytest.raises(DataNotFoundError) as exc:
        load_dataset("mnist", root=tmp_path, download=False)
    assert isinstance(exc.value, FileNotFoundError)
    msg = str(exc.value)
    assert "mnist" in msg
    assert str(tmp_path.resolve()) in msg
    assert "download=True" in msg  # fix 1
    assert "ERRLIB_DATA" in msg  # fix 2
    assert not list(tmp_path.iterdir()), "download=False must not create anything"


def test_missing_data_respects_errlib_download_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ERRLIB_DATA", str(tmp_path))
    monkeypatch.setenv("ERRLIB_DOWNLOAD", "0")
    with pytest.raises(DataNotFoundError, match="fashion_mnist"):
        load_dataset("fashion_mnist")


# ---- CIFAR-10 through torchvision's own reader, on a tiny fake folder -------------------

def _write_fake_cifar(root: Path, n_per_batch=(2, 3, 1, 2, 2), n_test=3, seed=0):
    """torchvision's layout: pickled dicts with 'data' uint8 (n, 3072) (channel-planar rows) and 'labels'.

    The real files are Python 2 pickles whose keys read back as ``str`` under
    torchvision's ``encoding="latin1"``, so the keys here are ``str`` too.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, n in zip(names, list(n_per_batch) + [n_test]):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, f, protocol=2)
        batches[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(dataset_info("cifar10").classes)}, f, protocol=2)
    return batches


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    batches = _write_fake_cifar(tmp_path)
    # The files are not the real ones, so their md5 sums differ: accept any file
    # that exists. _check_integrity covers the batches; _load_meta calls the
    # module-level check_integrity on batches.meta, so patch that as well.
    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity",
                        lambda self: all(os.path.isfile(os.path.join(self.root, self.base_folder, f))
                                         for f, _ in self.train_list + self.test_list))
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
    return tmp_path, batches


def test_cifar10_loads_channel_first_uint8(fake_cifar):
    root, batches = fake_cifar
    X, y = load_dataset("cifar10", train=True, root=root, download=False)
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    data = np.concatenate([d for d, _ in train])
    labels = sum((lab for _, lab in train), [])
    n = len(data)
    assert X.dtype == torch.uint8 and X.shape == (n, 3, 32, 32)
    assert y.dtype == torch.int64 and y.tolist() == labels
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, each row-major 32x32.
    expected = torch.from_numpy(data.reshape(n, 3, 32, 32))
    assert torch.equal(X, expected)
    assert int(X[1, 2, 5, 7]) == int(data[1, 2 * 1024 + 5 * 32 + 7])
    assert X.is_contiguous()

    Xt, yt = load_dataset("cifar-10", train=False, root=root, download=False)
    d_test, l_test = batches["test_batch"]
    assert Xt.shape == (len(d_test), 3, 32, 32) and yt.tolist() == l_test
    assert torch.equal(Xt, torch.from_numpy(d_test.reshape(-1, 3, 32, 32)))


def test_cifar10_missing_folder_raises_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError) as exc:
        load_dataset("cifar10", root=tmp_path, download=False)
    assert "cifar-10-batches-py" in str(exc.value)


# ---- bad names -------------------------------------------------------------------------

@pytest.mark.parametrize("call", [lambda: dataset_info("imagenet"),
                                  lambda: load_dataset("imagenet", download=False)],
                         ids=["dataset_info", "load_dataset"])
def test_unknown_dataset_names_value_and_allowed(call):
    with pytest.raises(ValueError) as exc:
        call()
    msg = str(exc.value)
    assert "'imagenet'" in msg
    for name in ("mnist", "fashion_mnist", "cifar10"):
        assert name in msg


def test_dataset_info_aliases_and_shapes():
    assert dataset_info("Fashion-MNIST").name == "fashion_mnist"
    assert dataset_info("cifar").shape == (3, 32, 32)
    assert dataset_info("mnist").num_classes == 10


# ---- subset ------------------------------------------------------------------------------

def _imbalanced(n=1000):
    # Class 0 holds half the examples; classes 1..9 share the rest.
    y = torch.cat([torch.zeros(n // 2, dtype=torch.long), torch.arange(n // 2) % 9 + 1])
    X = torch.arange(n).view(n, 1, 1, 1).to(torch.int64)  # each image is its own index
    return X, y


def test_subset_is_seeded_and_samples_without_replacement():
    X, y = _imbalanced()
    a = subset(X, y, 100, seed=3)
    b = subset(X, y, 100, seed=3)
    c = subset(X, y, 100, seed=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    idx = a[0].flatten()
    assert len(idx.unique()) == 100
    assert torch.equal(a[1], y[idx]), "images and labels must stay paired"
    Xa, ya = subset(X, y, None, seed=0)  # None: everything, shuffled
    assert sorted(Xa.flatten().tolist()) == list(range(len(X)))


def test_subset_keeps_the_data_class_shares():
    X, y = _imbalanced()
    _, yr = subset(X, y, 100, seed=0)
    assert torch.bincount(yr, minlength=10)[0] > 30  # class 0 dominates, as in the data


@pytest.mark.parametrize("n, shown", [(0, "got 0"), (-5, "got -5"), (1001, "1001")])
def test_subset_rejects_bad_sizes(n, shown):
    X, y = _imbalanced()
    with pytest.raises(ValueError) as exc:
        subset(X, y, n)
    assert shown in str(exc.value)
    if n > 0:
        assert "1000" in str(exc.value)  # says how many are available


def test_check_pixels_and_to_float():
    D.check_pixels(torch.zeros(2, 1, 3, 3, dtype=torch.uint8))
    D.check_pixels(torch.rand(2, 1, 3, 3))
    with pytest.raises(ValueError, match="dtype"):
        D.check_pixels(torch.zeros(2, 3, dtype=torch.int32))
    x = torch.tensor([[0, 51, 255]], dtype=torch.uint8)
    assert torch.allclose(D.to_float(x), torch.tensor([[0.0, 0.2, 1.0]]))
