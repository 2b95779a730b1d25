"""Shared fixtures for errlib's unit tests.

* Every unit test (``pytestmark = pytest.mark.usefixtures("isolated_env")``)
  runs with a private run cache (``ERRLIB_RUNS`` in ``tmp_path``),
  downloads switched off and progress bars silenced, so nothing is written
  into the repository's ``data/`` and nothing touches the network.
* Real datasets are reached through the project's data-root setting
  ``ERRLIB_DATA``; when it is unset we fall back to ``<repo>/../shared/data``
  and skip (with the folders searched) when neither holds the data.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `pytest` (not `python -m pytest`) from anywhere
    sys.path.insert(0, str(REPO))


def pytest_configure(config):
    # One intra-op thread: these tests use tiny tensors, and on a small shared
    # CPU (2 cores, a training job beside us) OpenMP's thread hand-offs made
    # them 10x slower. ERRLIB_TEST_THREADS overrides.
    torch.set_num_threads(int(os.environ.get("ERRLIB_TEST_THREADS", "1")))


# The raw file torchvision's MNIST-family classes need, per errlib dataset name.
_MARKER = {
    "mnist": Path("MNIST") / "raw" / "train-images-idx3-ubyte",
    "fashion_mnist": Path("FashionMNIST") / "raw" / "train-images-idx3-ubyte",
}


def _candidate_roots():
    env = os.environ.get("ERRLIB_DATA")
    if env:
        # As errlib reads it (relative to the working directory), then relative
        # to the repository (CI sets ERRLIB_DATA=../shared/data "relative to the repo").
        yield Path(env)
        if not Path(env).is_absolute():
            yield REPO / env
    yield REPO.parent / "shared" / "data"


def find_data_root(dataset: str):
    """(root holding ``dataset`` or None, the folders searched)."""
    searched = []
    for root in _candidate_roots():
        searched.append(str(root))
        if (root / _MARKER[dataset]).is_file():
            return root.resolve(), searched
    return None, searched


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """Private run cache, offline, quiet, no device override from the caller's shell.

    The unit-test modules use it for every test (``pytestmark``); it is not
    autouse so that tests managing their own environment (the notebook runs)
    are left alone.
    """
    monkeypatch.setenv("ERRLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ERRLIB_DOWNLOAD", "0")
    monkeypatch.setenv("ERRLIB_PROGRESS", "0")
    monkeypatch.delenv("ERRLIB_DEVICE", raising=False)
    monkeypatch.delenv("ERRLIB_PROFILE", raising=False)
    yield


def _data_fixture(dataset: str, monkeypatch) -> Path:
    root, searched = find_data_root(dataset)
    if root is None:
        pytest.skip(f"{dataset} data not found (torchvision raw layout, {_MARKER[dataset]}) "
                    f"under ERRLIB_DATA or <repo>/../shared/data; searched: {searched}")
    monkeypatch.setenv("ERRLIB_DATA", str(root))
    return root


@pytest.fixture
def mnist_root(monkeypatch) -> Path:
    """The data root holding MNIST; ERRLIB_DATA points at it for the test."""
    return _data_fixture("mnist", monkeypatch)


@pytest.fixture
def fashion_root(monkeypatch) -> Path:
    """The data root holding Fashion-MNIST; ERRLIB_DATA points at it for the test."""
    return _data_fixture("fashion_mnist", monkeypatch)


@pytest.fixture(scope="session")
def smoke_env(tmp_path_factory):
    """One smoke-profile run cache for every notebook run of the session (test_notebooks.py, then
    test_solutions_run.py, which reuses its cached stages); the kernels read the data where the unit
    tests do (ERRLIB_DATA, else ../shared/data), offline."""
    roots = {name: find_data_root(name) for name in ("mnist", "fashion_mnist")}
    missing = {name: searched for name, (root, searched) in roots.items() if root is None}
    if missing:
        pytest.skip(f"notebooks need MNIST and Fashion-MNIST; not found, searched: {missing}")
    if len({root for root, _ in roots.values()}) != 1:
        pytest.skip(f"MNIST and Fashion-MNIST must share one data root; found {roots}")
    runs = tmp_path_factory.mktemp("runs")
    keys = ("ERRLIB_PROFILE", "ERRLIB_RUNS", "ERRLIB_RESULTS", "ERRLIB_PROGRESS", "ERRLIB_DATA", "ERRLIB_DOWNLOAD")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(ERRLIB_PROFILE="smoke", ERRLIB_RUNS=str(runs),
                      ERRLIB_RESULTS=str(runs / "results"), ERRLIB_PROGRESS="0",
                      ERRLIB_DATA=str(roots["mnist"][0]), ERRLIB_DOWNLOAD="0")
    yield runs
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
