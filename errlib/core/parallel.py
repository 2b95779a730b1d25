"""CPU threads, splitting an attack's batch across them, and reusing freed memory.

torch parallelises each operation over its intra-op threads, which for PGD on
the course's small CNN means every small operation and its backward is cut and
re-joined dozens of times per step. :func:`errlib.core.attacks.pgd` instead splits
the *batch*: one contiguous chunk per thread, each attacked start to finish in
its own worker on one intra-op thread (:func:`split_map`), so the cores meet
once per batch. In eval mode every example is computed independently, so the
results equal the unsplit attack's up to float rounding (tests/test_parallel.py).
Training and prediction are not split (it did not pay). Speed-ups and their
history: ``benchmarks/README.md``.

``ERRLIB_THREADS=N`` sets the thread count (unset: torch's, one per core);
``ERRLIB_THREADS=1`` turns the split off. Off the CPU nothing is split.
``ERRLIB_THREADS_FILE=PATH`` names a file holding the count instead, read again
at each training epoch and each attacked batch (:func:`refresh_threads`): the
course runner rewrites it as notebooks start and finish, so a notebook left
running alone takes the freed cores without a restart.

The same entry points (:func:`errlib.core.train.fit`, :func:`errlib.core.train.predict`,
:func:`errlib.core.attacks.pgd`) first call :func:`reuse_freed_memory`, which stops
glibc from handing large freed tensors back to the operating system, to be
page-faulted in again on the next step. ``ERRLIB_REUSE_MEMORY=0`` turns that off.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import os
import platform
import threading
from typing import Callable, Dict, List, Optional, TypeVar

import torch

T = TypeVar("T")


def _env_threads() -> Optional[int]:
    """The thread count asked for: ``$ERRLIB_THREADS_FILE``'s number when that file holds one,
    else ``$ERRLIB_THREADS``, else ``None`` (torch's own)."""
    path = os.environ.get("ERRLIB_THREADS_FILE")
    if path:
        try:
            value = open(path).read().strip()
        except OSError:  # not written yet, or being replaced: fall back to the variable
            value = ""
        if value.isdigit() and int(value) >= 1:
            return int(value)
    value = os.environ.get("ERRLIB_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"ERRLIB_THREADS must be a positive integer (CPU threads), got {value!r}")
    return int(value)


_pinned = 0  # how many explicit num_threads(n) blocks are open: inside one, the environment is not applied


@contextlib.contextmanager
def num_threads(n: Optional[int] = None):
    """Run the block with ``n`` CPU threads (default ``$ERRLIB_THREADS``; neither: unchanged).

    ``n`` is torch's intra-op thread count inside the block, and the number of
    workers :func:`cpu_workers` grants. An explicit ``n`` wins over the
    environment for the whole block: the calls inside it that would read
    ``$ERRLIB_THREADS`` or its file (every ``fit``, ``predict`` and ``pgd``)
    keep ``n``; the toy's attack needs that, since its model must see the whole
    batch. On a CPU shared with other jobs, torch's own parallel operations wait
    for all their threads to be scheduled, so ``ERRLIB_THREADS=1`` can be faster
    there (``benchmarks/README.md``). The count is restored afterwards.
    """
    global _pinned
    explicit = n is not None
    n = n if explicit else (None if _pinned else _env_threads())
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    _pinned += explicit
    try:
        yield
    finally:
        _pinned -= explicit
        torch.set_num_threads(old)


# glibc's mallopt parameters (malloc.h) and errlib's values for them
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 64 << 20
TRIM_THRESHOLD_BYTES = 512 << 20
_reuse_lock = threading.Lock()
_reuse_state: Optional[bool] = None


def on_glibc() -> bool:
    """Whether this process runs on Linux with glibc, the C library :func:`reuse_freed_memory` tunes."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _env_reuse_memory() -> bool:
    value = os.environ.get("ERRLIB_REUSE_MEMORY", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"ERRLIB_REUSE_MEMORY must be 1 (reuse freed memory, the default) or 0 "
                         f"(leave the C allocator's settings alone), got {value!r}")
    return value != "0"


def reuse_freed_memory() -> bool:
    """Keep freed tensor memory in the process for reuse; True if that is in force.

    glibc's ``malloc`` maps fresh pages for a block above its mmap threshold
    and unmaps them on ``free``; it also gives the top of its heap back to the
    system once more than its trim threshold is free. Both thresholds start at
    128 KiB and rise with the largest block freed so far, so how often a tensor
    library that allocates and frees tens of megabytes every step pays for
    fresh pages (the kernel zero-fills each one on first touch) depends on what
    the process happened to free before, and so how fast a step runs.

    This fixes glibc's mmap threshold at ``MMAP_THRESHOLD_BYTES`` (64 MiB) and
    its trim threshold at ``TRIM_THRESHOLD_BYTES`` (512 MiB) with ``mallopt``:
    freed blocks stay in the heap and the next step reuses them. Computed
    values do not change, only where their memory comes from (its effect on speed:
    ``benchmarks/README.md``, "The allocator setting"). The cost: up to 512 MiB of
    freed memory stays with the process instead of going back
    to the system. Applied once per process, the first time an errlib entry
    point runs; a no-op (False) where the C library is not glibc (macOS,
    Windows, musl) or with ``ERRLIB_REUSE_MEMORY=0``.
    """
    global _reuse_state
    with _reuse_lock:
        if _reuse_state is None:
            wanted = _env_reuse_memory()  # a bad value raises here, and is read again next call
            _reuse_state = False
            if wanted and on_glibc():
                mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
                if mallopt is not None:
                    _reuse_state = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                                        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
        return _reuse_state


def refresh_threads() -> int:
    """Apply the current thread count (:func:`_env_threads`, re-read) inside a running
    :func:`num_threads` block, for long loops (not inside an explicit ``num_threads(n)``);
    return torch's thread count."""
    n = None if _pinned else _env_threads()
    if n and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()


def cpu_settings(fn):
    """Decorator for errlib's heavy entry points: :func:`reuse_freed_memory`
    once, then ``fn`` inside :func:`num_threads` (so ``$ERRLIB_THREADS`` applies)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        reuse_freed_memory()
        with num_threads():
            return fn(*args, **kwargs)
    return wrapper


def cpu_workers(device: torch.device) -> int:
    """Worker threads for :func:`split_map` on ``device``: torch's thread count on the CPU
    (after :func:`refresh_threads`), else 1.

    1 (no split) also when torch has one thread: ``ERRLIB_THREADS=1``, or
    inside a worker.
    """
    return refresh_threads() if torch.device(device).type == "cpu" else 1


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
