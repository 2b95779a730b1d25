"""errlib.core.parallel: an attack batch split across worker threads gives the same results (to
float rounding); freed memory is reused instead of being faulted in again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
import torch

from errlib.core.attacks import pgd
from errlib.core.models import make_model
from errlib import parallel
from errlib.core.parallel import chunk_slices, cpu_workers, num_threads, on_glibc, split_map
from conftest import REPO
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


FIELDS = ("x_adv", "pred", "loss", "success", "delta_norm")


def test_split_pgd_matches_the_unsplit_attack_random_starts_included():
    """Bitwise on the 2-core AVX2 machine this was written on; not on every CPU (a 16-core
    AVX-512 Xeon differed by up to 2.4e-7, also from each chunk attacked alone)."""
    model = make_model("cnn", "mnist", seed=0)
    x, t = _cnn_problem()
    runs = {}
    for n in (1, 2, 3):
        with num_threads(n):
            torch.manual_seed(0)  # random starts are drawn for the whole batch, before the split
            runs[n] = pgd(model, x, t, eps=2.0, steps=3, random_start=True, batch_size=64, progress=False)
    for n in (2, 3):  # 64-image batches cut into 32 + 32 and 22 + 21 + 21, the last 32 likewise
        for field in FIELDS:
            a, b = getattr(runs[n], field), getattr(runs[1], field)
            if a.is_floating_point():
                torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=field)
            else:
                assert torch.equal(a, b), field


GLIBC = on_glibc()

# A child process: after errlib's entry point (predict) has run, allocate, touch and free a
# 40 MB tensor six times; print the minor page faults of each round.
_FAULTS_CHILD = """
import json, resource, torch
from errlib import parallel
from errlib.core.models import make_model
from errlib.core.train import predict
predict(make_model("mlp", "mnist", seed=0), torch.rand(4, 1, 28, 28))
faults = []
for _ in range(6):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.empty(10 * 2**20).fill_(1.0)
    del t
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({"in_force": parallel._reuse_state, "faults": faults}))
"""


def _faults_in_child(flag: str) -> dict:
    env = dict(os.environ, ERRLIB_REUSE_MEMORY=flag, ERRLIB_THREADS="1")
    res = subprocess.run([sys.executable, "-c", _FAULTS_CHILD], env=env, capture_output=True, text=True,
                         check=True, cwd=REPO)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="the allocator setting applies to glibc only")
def test_entry_points_make_freed_tensor_memory_reusable_without_new_page_faults():
    block = (40 * 2**20) // os.sysconf("SC_PAGE_SIZE")  # pages of one 40 MB tensor

    def refaulted(run):  # rounds after the first that faulted at least half the tensor in afresh
        return sum(f > block // 2 for f in run["faults"][1:])

    reused = _faults_in_child("1")
    assert reused["in_force"] is True
    assert reused["faults"][0] > block // 2  # the first round maps it: the count is real
    assert refaulted(reused) <= 1, reused  # then the freed block is reused (one stray re-fault seen)
    control = _faults_in_child("0")  # glibc's defaults: a 40 MB block is mapped afresh every time
    assert control["in_force"] is False
    assert refaulted(control) == 5, control


def test_reuse_freed_memory_rejects_a_bad_setting_and_reads_it_again(monkeypatch):
    monkeypatch.setattr(parallel, "_reuse_state", None)
    monkeypatch.setenv("ERRLIB_REUSE_MEMORY", "yes")
    with pytest.raises(ValueError, match="ERRLIB_REUSE_MEMORY must be 1 .* or 0"):
        parallel.reuse_freed_memory()
    assert parallel._reuse_state is None  # nothing was decided; the next call reads the setting again
    monkeypatch.setenv("ERRLIB_REUSE_MEMORY", "0")
    assert parallel.reuse_freed_memory() is False
    monkeypatch.setenv("ERRLIB_REUSE_MEMORY", "1")
    assert parallel.reuse_freed_memory() is False  # decided once per process
    monkeypatch.setattr(parallel, "_reuse_state", None)
    assert parallel.reuse_freed_memory() is GLIBC
