"""The CPU settings a process computes with, fixed when it starts.

A stage's numbers depend on the thread count torch computes with (a sum cut
over more threads is rounded differently), so errlib never changes it while a
process runs: ``ERRLIB_THREADS=N`` (read from the environment the process
started with) is the count every :func:`errlib.core.train.fit`,
:func:`errlib.core.train.predict` and :func:`errlib.core.attacks.pgd` runs with;
unset, torch's own (one thread per core). The course runner starts every
notebook kernel and stage process with ``ERRLIB_THREADS=1`` (one process per
core, :func:`process_env`; a user's own ``ERRLIB_THREADS`` wins), so a stage
computes the same numbers whichever tasks run beside it.

Memory: glibc's ``malloc`` maps fresh pages for large blocks and hands freed
ones back to the system, so a tensor library that allocates and frees tens of
megabytes per step pays the kernel's zero-filling again and again.
:data:`MALLOC_ENV` raises glibc's mmap and trim thresholds for the processes the
course starts (glibc reads them at process start; ``ERRLIB_REUSE_MEMORY=0``
leaves glibc's defaults). Computed values do not change, only where their
memory comes from (its effect on speed: ``benchmarks/README.md``).
"""
from __future__ import annotations

import contextlib
import functools
import os
from typing import Dict, Optional

import torch

# glibc's mmap threshold is capped at 32 MiB on 64-bit Linux; the trim threshold is not.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(512 << 20)}


def env_threads() -> Optional[int]:
    """``$ERRLIB_THREADS`` as a positive int, or ``None`` (unset: torch's own count)."""
    value = os.environ.get("ERRLIB_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"ERRLIB_THREADS must be a positive integer (CPU threads), got {value!r}")
    return int(value)


def process_env(threads: Optional[int] = 1) -> Dict[str, str]:
    """The variables the course adds to a process it starts: its thread count (the caller's
    ``$ERRLIB_THREADS`` wins over ``threads``; ``None``: torch's own) and :data:`MALLOC_ENV`
    (unless ``ERRLIB_REUSE_MEMORY=0``, or the caller set a ``MALLOC_*`` value itself)."""
    n = env_threads() or threads
    env = {"ERRLIB_THREADS": str(n), "OMP_NUM_THREADS": str(n)} if n else {}
    reuse = os.environ.get("ERRLIB_REUSE_MEMORY", "").strip()
    if reuse not in ("", "0", "1"):
        raise ValueError(f"ERRLIB_REUSE_MEMORY must be 1 (reuse freed memory, the default) or 0 "
                         f"(glibc's defaults), got {reuse!r}")
    if reuse != "0":
        env.update({k: v for k, v in MALLOC_ENV.items() if k not in os.environ})
    return env


@contextlib.contextmanager
def num_threads(n: Optional[int] = None):
    """Run the block with ``n`` CPU threads (default ``$ERRLIB_THREADS``; neither: unchanged);
    the count is restored afterwards."""
    n = n or env_threads()
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def cpu_settings(fn):
    """Decorator for errlib's heavy entry points: ``fn`` runs with ``$ERRLIB_THREADS`` threads."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with num_threads():
            return fn(*args, **kwargs)
    return wrapper
