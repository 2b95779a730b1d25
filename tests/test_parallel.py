"""errlib.parallel: an attack batch split across worker threads gives bitwise the same results."""
from __future__ import annotations

import threading

import pytest
import torch

from errlib.attacks import pgd
from errlib.models import make_model
from errlib.parallel import chunk_slices, cpu_workers, num_threads, split_map
from helpers import tiny_images, tiny_labels

pytestmark = pytest.mark.usefixtures("isolated_env")


@pytest.mark.parametrize("n,workers", [(10, 2), (11, 3), (1, 4), (512, 2), (7, 1)])
def test_chunk_slices_cover_the_range_in_order_without_empties(n, workers):
    slices = chunk_slices(n, workers)
    assert len(slices) == min(n, workers)
    assert [i for s in slices for i in range(n)[s]] == list(range(n))
    sizes = [s.stop - s.start for s in slices]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_split_map_runs_chunks_concurrently_in_order_with_the_callers_grad_mode():
    barrier = threading.Barrier(2, timeout=60)  # deadlock guard: both chunks must be running at once

    def fn(s):
        barrier.wait()
        return s.start, torch.is_grad_enabled(), torch.get_num_threads(), threading.current_thread().name

    with torch.no_grad():
        out = split_map(fn, 10, 2)
    assert [o[0] for o in out] == [0, 5]
    assert all(o[1] is False and o[2] == 1 and o[3].startswith("errlib-worker") for o in out)
    out = split_map(fn, 10, 2)
    assert all(o[1] is True for o in out)
    assert split_map(lambda s: threading.current_thread().name, 10, 1) == [threading.current_thread().name]


def test_split_map_reraises_a_workers_error_after_all_chunks_end():
    done = []

    def fn(s):
        if s.start == 0:
            raise ValueError("chunk 0 failed")
        done.append(s.start)

    with pytest.raises(ValueError, match="chunk 0 failed"):
        split_map(fn, 4, 2)
    assert done == [2]


def test_cpu_workers_follows_threads_and_device():
    with num_threads(2):
        assert cpu_workers(torch.device("cpu")) == 2
        assert cpu_workers("meta") == 1  # only the CPU is split
    with num_threads(1):
        assert cpu_workers(torch.device("cpu")) == 1


def _cnn_problem(n=96, seed=0):
    x = tiny_images(n, shape=(1, 28, 28), seed=seed)
    return x, tiny_labels(n, 10, seed=seed + 1)


def test_pgd_is_bitwise_identical_with_and_without_the_split():
    model = make_model("cnn", "mnist", seed=0)
    x, t = _cnn_problem()
    runs = {}
    for n in (1, 2, 3):
        with num_threads(n):
            torch.manual_seed(0)
            res = pgd(model, x, t, eps=2.0, steps=3, random_start=True, batch_size=64, progress=False)
            runs[n] = res
    for n in (2, 3):  # 64-image batches cut into 32 + 32 and 22 + 21 + 21
        for field in ("x_adv", "pred", "loss", "success", "delta_norm"):
            assert torch.equal(getattr(runs[n], field), getattr(runs[1], field)), field
