"""Independent stage calls, one process and one thread each: the course's executor, and a notebook's.

A :class:`Task` is one row of a task table: its ``name``, the tasks it waits for (``after``), the
tasks that wait for it (``before``, optional) and ``run()``, which returns ``{"status":
"ok"|"failed", "seconds", ...}``. :func:`run_tasks` hands the table to
:class:`graphlib.TopologicalSorter` and starts ready tasks in list order (the order is the
priority), at most ``jobs`` at once, in a thread pool; each task's work runs in a process of its
own started with one thread (:func:`errlib.core.parallel.process_env`), so a stage computes the
same numbers whatever runs beside it. A failed task skips every task that waits for it.

:func:`step_task` makes a task of a declared :class:`Step`: ``fn`` is a real callable (a
module-level function of errlib.stages), run as ``fn(cfg, **kwargs)`` in a fresh
``python -m errlib.stages.executor`` process (:func:`run_call`). :func:`run_steps` is what a
notebook uses to build its independent stage calls (04's seeds and sets, 05's seeds, 07's eps
points, declared once in :mod:`errlib.stages.course_plan`) on every core when it runs alone,
with a progress bar; under the course runner (``ERRLIB_CALL_JOBS=1``, set by it) it leaves
them to the notebook's own calls, since the runner has built them ahead and they load from
the cache.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import graphlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from ..core.parallel import process_env
from ..core.progress import progress_bar


class Task(NamedTuple):
    """One row of a task table; ``run()`` is called in a worker thread (or a Dask worker)."""

    name: str
    after: Tuple[str, ...]  # names of the tasks it waits for (names not in the table are done)
    run: Callable[[], Dict[str, Any]]
    before: Tuple[str, ...] = ()  # tasks that wait for this one, named here instead of there


class InlineExecutor(cf.Executor):
    """Runs each submitted call at once, in the calling thread (``jobs=1``); Ctrl-C stops it at once."""

    def submit(self, fn, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def make_executor(jobs: int = 1, scheduler: Optional[str] = None) -> Iterator[cf.Executor]:
    """In the calling thread (``jobs=1``), ``jobs`` threads, or a Dask cluster's executor."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise SystemExit("--scheduler needs Dask: pip install -r requirements-sweep.txt") from exc
        with Client(scheduler) as client:
            yield client.get_executor(pure=False)
    elif jobs > 1:
        with cf.ThreadPoolExecutor(jobs, thread_name_prefix="errlib-task") as ex:
            yield ex
    elif jobs == 1:
        yield InlineExecutor()
    else:
        raise ValueError(f"jobs must be >= 1, got {jobs}")


def _graph(tasks: Sequence[Task]) -> graphlib.TopologicalSorter:
    names = {t.name for t in tasks}
    if len(names) != len(tasks):
        raise ValueError(f"task names repeat: {sorted(n for n in names if sum(t.name == n for t in tasks) > 1)}")
    deps = {t.name: {a for a in t.after if a in names} for t in tasks}
    for t in tasks:
        for b in set(t.before) & names:
            deps[b].add(t.name)
    graph = graphlib.TopologicalSorter(deps)
    graph.prepare()  # graphlib.CycleError names the tasks that wait on each other
    return graph


def _outcome(future: cf.Future) -> Dict[str, Any]:
    try:
        return future.result()
    except Exception as exc:  # the task itself raised: a failure like any other
        return {"status": "failed", "seconds": 0.0, "ename": type(exc).__name__, "evalue": str(exc)}


def run_tasks(tasks: Sequence[Task], ex: cf.Executor, jobs: int,
              on_start: Callable[[Task], None] = lambda t: None,
              on_end: Callable[[Task, Dict[str, Any]], None] = lambda t, r: None) -> Dict[str, Dict[str, Any]]:
    """Run ``tasks`` on ``ex`` by their dependencies, ready ones in list order, at most ``jobs`` at
    once; return each task's result. A task waiting for one that did not succeed is not run: its
    result is ``{"status": "skipped", "error": "waits for <name>, which failed|was skipped"}``."""
    by_name, order = {t.name: t for t in tasks}, {t.name: i for i, t in enumerate(tasks)}
    graph, results = _graph(tasks), {}
    waits = {n: [d for d, t in by_name.items() if n in t.before] + list(by_name[n].after) for n in by_name}
    ready: List[str] = []
    running: Dict[cf.Future, Task] = {}
    while graph.is_active():
        ready = sorted(ready + list(graph.get_ready()), key=order.__getitem__)
        for name in list(ready):
            bad = next((d for d in waits[name] if d in results and results[d]["status"] != "ok"), None)
            if bad is not None:
                ready.remove(name)
                why = "failed" if results[bad]["status"] == "failed" else "was skipped"
                results[name] = {"status": "skipped", "error": f"waits for {bad}, which {why}"}
                on_end(by_name[name], results[name])
                graph.done(name)
        while ready and len(running) < jobs:
            task = by_name[ready.pop(0)]
            on_start(task)
            running[ex.submit(task.run)] = task
        if not running:
            continue  # skips made more tasks ready
        done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: order[running[f].name]):
            task = running.pop(future)
            results[task.name] = _outcome(future)
            on_end(task, results[task.name])
            graph.done(task.name)
    return results


def target_of(fn: Callable) -> str:
    """``"module:qualname"`` of a module-level function (what the child process imports)."""
    target = f"{fn.__module__}:{fn.__qualname__}"
    if "<" in fn.__qualname__ or "." in fn.__qualname__ or not fn.__module__.startswith("errlib."):
        raise ValueError(f"a stage call must be a module-level function of errlib, got {target}")
    return target


def _run_measured(argv: List[str], env: Dict[str, str], out) -> Tuple[int, Optional[float]]:
    """Run ``argv`` to its end; its exit code and the CPU seconds (user + system) it and its
    children used (``os.wait4``; ``None`` where the platform has no such count)."""
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    if not hasattr(os, "wait4"):
        return proc.wait(), None
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, round(usage.ru_utime + usage.ru_stime, 1)


def run_call(fn: Callable, cfg: Dict[str, Any], env: Dict[str, str], log: Path,
             kwargs: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """``fn(Config(**cfg), **kwargs)`` in a fresh Python process with ``env`` added, its output in
    ``log``; ``{"status", "seconds", "core_seconds", "log"}`` plus ``ename``/``evalue`` on failure
    (``core_seconds``: CPU time, user + system, of the process). What it built
    is in the stage cache (its return value is not kept)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "errlib.stages.executor", target_of(fn), json.dumps(cfg, default=list),
            json.dumps(kwargs or {})]
    t0 = time.perf_counter()
    with open(log, "w") as f:
        code, cpu = _run_measured(argv, dict(os.environ, **env), f)
    seconds = round(time.perf_counter() - t0, 1)
    if code == 0:
        return {"status": "ok", "seconds": seconds, "core_seconds": cpu, "log": str(log)}
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit status {code}"
    ename, _, evalue = last.partition(": ")
    return {"status": "failed", "seconds": seconds, "ename": ename if evalue else "ProcessError",
            "evalue": evalue or last, "log": str(log)}


def call_env(**extra: str) -> Dict[str, str]:
    """What a stage process gets on top of the caller's environment: one thread
    (:func:`errlib.core.parallel.process_env`), idle OpenMP threads that sleep rather than spin,
    and ``ERRLIB_CALL_JOBS=1`` (its own stage calls run in it, one at a time)."""
    return dict(process_env(1), OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
                ERRLIB_CALL_JOBS="1", **extra)


def call_jobs() -> int:
    """Processes :func:`run_steps` runs at once: ``$ERRLIB_CALL_JOBS``, else one per core."""
    value = os.environ.get("ERRLIB_CALL_JOBS", "").strip()
    if value and (not value.isdigit() or int(value) < 1):
        raise ValueError(f"ERRLIB_CALL_JOBS must be a positive integer (processes), got {value!r}")
    return int(value) if value else (os.cpu_count() or 1)


class Step(NamedTuple):
    """A declared stage call, ``fn(cfg, **kwargs)``, or a notebook (``fn`` None), in a plan
    (:mod:`errlib.stages.course_plan`)."""

    name: str  # a notebook's number, or the call's name
    after: Tuple[str, ...]  # rows it waits for (names that are not in the plan are done)
    before: Tuple[str, ...] = ()  # notebooks that read what it builds
    fn: Optional[Callable[..., Any]] = None
    cfg: Any = None
    kwargs: Dict[str, Any] = {}


def step_task(step: Step, env: Dict[str, str], logs: Path) -> Task:
    """``step`` as a task: its call in a process of its own (:func:`run_call`), its log in ``logs``."""
    log = logs / (step.name.replace(" ", "_").replace("=", "") + ".log")
    return Task(step.name, step.after, functools.partial(run_call, step.fn, step.cfg.to_dict(), env, log,
                                                         dict(step.kwargs)), step.before)


def run_steps(steps: Sequence[Step], *, desc: str = "stage calls", jobs: Optional[int] = None) -> None:
    """Build what ``steps`` build, each in a one-thread process, ``jobs`` at once (default
    :func:`call_jobs`), by their dependencies, with a progress bar (calls done, elapsed, ETA).

    With one job there is nothing to gain from other processes: the steps are left to the
    notebook's own calls, which build (or load) the same stages in the kernel. A failed step
    raises ``RuntimeError`` naming it, with the end of its log."""
    jobs = min(call_jobs() if jobs is None else jobs, len(steps))
    if jobs <= 1:
        return
    with tempfile.TemporaryDirectory(prefix="errlib-calls-") as tmp:
        tasks = [step_task(s, call_env(), Path(tmp)) for s in steps]
        bar = progress_bar(total=len(tasks), desc=f"{desc} ({jobs} processes)", unit="call", leave=True)
        with make_executor(jobs) as ex:
            results = run_tasks(tasks, ex, jobs, on_end=lambda t, r: bar.update(1))
        bar.close()
        for t in tasks:
            r = results[t.name]
            if r["status"] != "ok":
                log = Path(r["log"]).read_text(errors="replace")[-2000:] if r.get("log") else ""
                raise RuntimeError(f"{t.name} {r['status']}: {r.get('ename', '')}: {r.get('evalue', r.get('error'))}\n{log}")


def main(argv: List[str]) -> None:
    """``python -m errlib.stages.executor module:function '<config>' ['<kwargs>']``: what :func:`run_call` runs."""
    from .config import Config

    target, blob, kwargs = (argv + ["{}"])[:3]
    module, _, name = target.partition(":")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(blob).items()}
    getattr(importlib.import_module(module), name)(Config(**fields).replace(), **json.loads(kwargs or "{}"))


if __name__ == "__main__":
    main(sys.argv[1:])
