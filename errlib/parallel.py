"""CPU threads, and splitting an attack's batch across them.

torch parallelises each operation over its intra-op threads (one per core by
default). For PGD on the course's small CNN that scales poorly: every
convolution, pooling and ReLU of a 512-image batch, and above all their
backward passes, is cut in two and re-joined dozens of times per step.
:func:`errlib.attacks.pgd` instead splits the *batch*: one contiguous chunk per
thread, each chunk attacked start to finish in its own worker thread on one
intra-op thread (:func:`split_map`), so the cores meet once per batch, not once
per operation. In eval mode every example is computed independently, so the
results are bitwise those of the unsplit attack on one thread.

Measured on the 2-core machine this was written on (``benchmarks/run.py``,
quiet machine, 2 threads, six runs): the split attack ran 1.03-1.94x the
unsplit one and 1.14-1.90x torchattacks' ``PGDL2``; its own throughput was
steady, torch's 2-thread operations were not. Training and prediction are not
split: there the split measured 0.74x and 0.81x of torch's own 2-thread
operations.

``ERRLIB_THREADS=N`` sets the thread count (unset: torch's, one per core);
``ERRLIB_THREADS=1`` turns the split off. Off the CPU nothing is split.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
from typing import Callable, Dict, List, Optional, TypeVar

import torch

T = TypeVar("T")


def _env_threads() -> Optional[int]:
    value = os.environ.get("ERRLIB_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"ERRLIB_THREADS must be a positive integer (CPU threads), got {value!r}")
    return int(value)


@contextlib.contextmanager
def num_threads(n: Optional[int] = None):
    """Run the block with ``n`` CPU threads (default ``$ERRLIB_THREADS``; neither: unchanged).

    ``n`` is torch's intra-op thread count inside the block, and the number of
    workers :func:`cpu_workers` grants. On a CPU shared with other jobs, torch's
    own parallel operations wait for all their threads to be scheduled; there
    ``ERRLIB_THREADS=1`` can be several times faster (2 cores, load 3-5;
    ``benchmarks/README.md``). The count is restored afterwards.
    """
    n = _env_threads() if n is None else n
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def in_num_threads(fn):
    """Decorator: run ``fn`` inside :func:`num_threads` (so ``$ERRLIB_THREADS`` applies)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with num_threads():
            return fn(*args, **kwargs)
    return wrapper


def cpu_workers(device: torch.device) -> int:
    """Worker threads for :func:`split_map` on ``device``: ``torch.get_num_threads()`` on the CPU, else 1.

    1 (no split) also when torch has one thread: ``ERRLIB_THREADS=1``, or
    inside a worker.
    """
    return torch.get_num_threads() if torch.device(device).type == "cpu" else 1


_POOLS: Dict[int, concurrent.futures.ThreadPoolExecutor] = {}


def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    pool = _POOLS.get(workers)
    if pool is None:  # each worker runs its chunk's operations on a single intra-op thread
        pool = _POOLS[workers] = concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix="errlib-worker", initializer=torch.set_num_threads, initargs=(1,))
    return pool


def chunk_slices(n: int, workers: int) -> List[slice]:
    """``range(n)`` cut into at most ``workers`` contiguous, near-equal, non-empty slices."""
    k = max(1, min(int(workers), int(n)))
    bounds = [n * i // k for i in range(k + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def split_map(fn: Callable[[slice], T], n: int, workers: int) -> List[T]:
    """``[fn(s) for s in chunk_slices(n, workers)]``, the calls run concurrently.

    With one slice ``fn`` runs in the calling thread. Otherwise each call runs
    in a worker thread with one intra-op thread and the caller's grad mode
    (grad mode is per thread in torch). Results come back in slice order; if
    a call raises, the first error is re-raised after all calls have ended.
    ``fn`` must only read shared state (e.g. the model's parameters).
    """
    slices = chunk_slices(n, workers)
    if len(slices) == 1:
        return [fn(slices[0])]
    grad_enabled = torch.is_grad_enabled()

    def call(s: slice) -> T:
        with torch.set_grad_enabled(grad_enabled):
            return fn(s)

    futures = [_pool(len(slices)).submit(call, s) for s in slices]
    concurrent.futures.wait(futures)
    return [f.result() for f in futures]
