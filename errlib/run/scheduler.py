"""The course's scheduler: notebooks and :mod:`~errlib.run.ahead` jobs by their dependencies, sharing the cores.

Each piece of :class:`Work` (a notebook, or an ahead job) waits for the work
named in its ``after``; ready work starts lowest :data:`~errlib.run.ahead.RANK`
first, at most ``jobs`` at a time, each in a worker of the executor. At every
start and end the cores are re-shared among the running work through threads
files (:func:`errlib.run.sweep.share_threads`), which each process re-reads at
every training epoch and attacked batch. A failed notebook skips the work that
waits for it; a failed ahead job skips nothing (its notebook builds what it
needs). Outcomes land in the results document: ``doc["notebooks"]`` and
``doc["ahead"]``.
"""
from __future__ import annotations

import concurrent.futures as cf
import functools
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, NamedTuple, Sequence, Tuple

from .ahead import RANK
from .runner import failure_text, run_job
from .sweep import kernel_env, share_threads


class Work(NamedTuple):
    """A notebook or an :mod:`~errlib.run.ahead` job, as the scheduler sees it: ``run(env)`` in a worker."""

    name: str  # the notebook's stem, or the ahead job's name
    rank: int  # lower starts first among ready work
    after: Tuple[str, ...]  # the work it waits for
    run: Callable[[Dict[str, str]], Dict[str, Any]]
    notebook: bool


def plan_works(pending, deps, shares, out, timeout, html, ahead_jobs) -> Dict[str, Work]:
    """Every pending notebook and ahead job as :class:`Work`; a notebook also waits for its ahead jobs."""
    stems = {nb.name[:2]: nb.stem for nb in pending}
    names = set(stems.values()) | {j.name for j in ahead_jobs}
    works = {}
    for nb in pending:
        mine = tuple(j.name for j in ahead_jobs if j.before == nb.name[:2])
        waits = tuple(d.stem for d in deps[nb] if d in pending) + mine  # up-to-date notebooks are done
        works[nb.stem] = Work(nb.stem, RANK.get(nb.name[:2], 50), waits,
                               functools.partial(run_job, nb, out / nb.name, shares[nb], timeout=timeout,
                                                 html=html), True)
    for j in ahead_jobs:
        after = tuple(n for n in (stems.get(a, a) for a in j.after) if n in names)
        works[j.name] = Work(j.name, j.rank, after, j.run, False)
    return works


def _share(running: Sequence[Work], files: Dict[str, Path]) -> Dict[str, int]:
    """The cores shared among the running work, the lowest ranks first (:func:`~errlib.run.sweep.share_threads`)."""
    return share_threads([w.name for w in sorted(running, key=lambda w: w.rank)], files)


def schedule(ex, works: Dict[str, Work], doc, out, jobs, save: Callable[[Path, Dict[str, Any]], None]) -> None:
    """Start ready work, lowest rank first, ``jobs`` at a time; the cores are re-shared at every start
    and end. A failed notebook skips the work that waits for it; a failed ahead job skips nothing."""
    pending, running = dict(works), {}
    thread_dir = out / "threads"
    thread_dir.mkdir(parents=True, exist_ok=True)
    files = {name: thread_dir / f"{i}.txt" for i, name in enumerate(works)}
    status = {}  # finished work: "ok", "failed" or "skipped"

    def entry(w: Work) -> Dict[str, Any]:
        return doc["notebooks"][w.name] if w.notebook else doc.setdefault("ahead", {})[w.name]

    while pending or running:
        for w in [w for w in pending.values() if any(works[a].notebook and status.get(a) in ("failed", "skipped")
                                                     for a in w.after)]:
            pending.pop(w.name)
            status[w.name] = "skipped"
            entry(w).update(status="skipped", error="a notebook it waits for failed")
            print(f"{_label(w):<40} skipped: a notebook it waits for failed", flush=True)
        ready = sorted((w for w in pending.values() if all(a in status for a in w.after)), key=lambda w: w.rank)
        start = ready[:max(0, jobs - len(running))]
        counts = _share(list(running.values()) + start, files) if start else {}
        for w in start:
            env = kernel_env(out / "results", doc["profile"], threads_file=files[w.name])
            shown = os.environ.get("ERRLIB_THREADS") or counts[w.name]
            print(f"{_label(w):<40} start ({shown} threads)", flush=True)
            running[ex.submit(w.run, env)] = pending.pop(w.name)
            entry(w).update(status="running")
        if not running:
            if pending:
                raise RuntimeError(f"{sorted(pending)} wait on each other: fix DEPENDS or errlib.run.ahead")
            break
        done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for f in done:
            w = running.pop(f)
            status[w.name] = _record(w, f, entry(w), out)
        if running:
            _share(list(running.values()), files)
        save(out, doc)
    shutil.rmtree(thread_dir, ignore_errors=True)


def _label(w: Work) -> str:
    return f"{w.name}.ipynb" if w.notebook else f"ahead: {w.name}"


def _record(w: Work, future: cf.Future, entry: Dict[str, Any], out: Path) -> str:
    """Store finished work's outcome in its results entry and print it; return its status."""
    try:
        result = future.result()
    except Exception as exc:  # the worker process itself died
        result = {"status": "failed", "seconds": 0.0, "ename": type(exc).__name__, "evalue": str(exc)}
    label = _label(w)
    if result["status"] != "ok":
        entry.update(status="failed", seconds=result["seconds"],
                     error=f"{result['ename']}: {result['evalue']}"[-2000:], cell=result.get("cell"))
        if w.notebook:
            print(failure_text(label, result, out / label), flush=True)
        else:
            print(f"{label:<40} FAILED: {entry['error']} (log: {result.get('log', '—')}); "
                  "the notebook that wanted it builds what it needs", flush=True)
        return "failed"
    results = result.get("results", {})
    entry.update(status="ok", seconds=result["seconds"])
    if w.notebook:
        entry.update(executed=str(out / f"{w.name}.ipynb"), peak_memory_mb=results.get("peak_memory_mb"),
                     values=results.get("values", {}), kinds=results.get("kinds", {}),
                     settings=results.get("settings", {}))
    print(f"{label:<40} done {result['seconds']:6.1f} s", flush=True)
    return "ok"
