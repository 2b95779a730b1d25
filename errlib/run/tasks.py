"""One task graph for the course and the sweep: a table of rows, run by their dependencies.

A :class:`Task` is one row: its ``name``, the tasks it waits for (``after``),
the notebook that waits for it (``before``, optional) and ``run()``, which
returns ``{"status": "ok"|"failed", "seconds", ...}``. :func:`run_tasks` hands
the table to :class:`graphlib.TopologicalSorter` and starts ready tasks in
list order (the table's order is the priority), at most ``jobs`` at once, in a
thread pool: each task's work runs in a process of its own, started with its
settings fixed (a notebook's kernel, a stage call's ``python -m
errlib.run.tasks``), one thread each (:func:`errlib.core.parallel.process_env`),
so a task computes the same numbers whatever runs beside it. No cores are
re-shared at run time. A failed task skips every task that waits for it, and
the skip says which task failed.

The course's table is :func:`course_table`: the notebooks (by number), and the
stage calls that run ahead of the notebook that needs them, on cores that would
otherwise idle: the chain 01 -> 02 -> 03 -> 04 -> 07 sets the course's length,
while 04's other seeds need only the judge and 07's eps sweep (points of the
sweep, :mod:`errlib.run.sweep`) only 01 and the judge. A stage call runs the
function its notebook calls with the settings the notebook resolves, so its
notebook then loads it from the stage cache. Adding a task is one row.
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
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from ..core.parallel import process_env


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


def course_table(t: "CourseTable") -> List[Task]:
    """The course's task table, most urgent first; a row that does not apply to the run is empty.

    The chain 01 -> 02 -> 03 -> 04 -> 07 sets the course's length, so it and the
    stage calls it waits for lead; the judge starts at once (02, 04 and 07 read
    it), the grader too when 04 builds judge-constrained sets; 04's other seeds and 07's sweep
    points fill the other cores; 05 (with Part II's other seeds), 06 and 08 last.
    """
    c4, c5 = t.cfg("04"), t.cfg("05")
    first, other_seeds = (c4.seed, range(c4.seed + 1, c4.seed + c4.n_seeds)) if c4 else (0, ())
    part2_seeds = range(c5.seed + 1, c5.seed + c5.n_seeds) if c5 else ()
    graded = ("grader",) if c4 and c4.n_constrained else ()  # the second judge and the constrained sets
    row = "errlib.stages.constrained_sets:seed_row" if graded else "errlib.stages.leakage:headline_row"
    return [*t.notebook("01"),
            *t.call("judge", (), "errlib.stages.leakage:get_judge", ("02", "04", "07")),
            *(t.call("grader", (), "errlib.stages.constrained_sets:get_grader", ("04",)) if graded else ()),
            *t.notebook("02", "01", "judge"),
            *t.notebook("03", "02"),
            *t.call(f"04 seed {first} leakage", ("02", "judge"),
                    "errlib.stages.leakage:build_controlled_students", ("04",)),
            *(t.call(f"04 seed {first} constrained", ("02", "judge", "grader"),
                     "errlib.stages.constrained_sets:build_first_seed", ("04",)) if graded else ()),
            *t.notebook("04", "03", "judge"),
            *t.notebook("07", "01", "02", "03", "04", "judge"),
            *(task for s in other_seeds for task in t.call(
                f"04 seed {s}", ("judge",) + graded, row, ("04",), seed=s)),
            *t.eps_sweep_points("07", ("01", "judge")),
            *(task for s in part2_seeds for task in t.call(
                f"05 seed {s}", (), "errlib.stages.wallace:seed_row", ("05",), seed=s)),
            *t.notebook("05", "01"),
            *t.notebook("06"),
            *t.notebook("08")]


class CourseTable:
    """What :func:`course_table`'s rows are made of, for one run.

    ``notebooks``: the notebooks about to run, by number: ``(stem, run)``;
    ``shares``: each course notebook's parameters in the run (by number);
    stage calls and sweep points are rows only for a notebook about to run
    (``ahead=False``: none). Rows name notebooks by number; tasks by stem.
    """

    def __init__(self, profile: str, notebooks: Dict[str, Tuple[str, Callable[[], Dict[str, Any]]]],
                 shares: Dict[str, Dict[str, Any]], out: Path, ahead: bool = True):
        self.profile, self.notebooks, self.shares, self.out, self.ahead = profile, notebooks, shares, out, ahead

    def cfg(self, number: str):
        """The settings notebook ``number`` resolves in this run (``None``: not a course notebook here)."""
        from ..stages.config import resolve

        if number not in self.shares:
            return None
        return resolve(self.profile, **{k: tuple(v) if isinstance(v, list) else v
                                        for k, v in self.shares[number].items() if k != "profile"})

    def _names(self, after: Sequence[str]) -> Tuple[str, ...]:
        return tuple(self.notebooks[a][0] if a in self.notebooks else a for a in after)

    def notebook(self, number: str, *after: str) -> List[Task]:
        if number not in self.notebooks:
            return []
        stem, run = self.notebooks[number]
        return [Task(stem, self._names(after), run)]

    def _for(self, numbers: Sequence[str]) -> Tuple[str, ...]:
        """Which of ``numbers`` are course notebooks about to run (none without ``ahead``)."""
        return tuple(n for n in numbers if self.ahead and n in self.notebooks and n in self.shares)

    def call(self, name: str, after: Sequence[str], target: str, numbers: Sequence[str], **changes) -> List[Task]:
        """``target(cfg)`` before the first of ``numbers`` in the run, with that notebook's settings."""
        users = self._for(numbers)
        if not users:
            return []
        cfg = self.cfg(users[0]).replace(**changes).to_dict()
        env, log = task_env(self.out / "results", self.profile), self.out / "ahead" / (name.replace(" ", "_") + ".log")
        run = functools.partial(run_call, target, cfg, env, log)
        return [Task(name, self._names(after), run, self._names(users))]

    def eps_sweep_points(self, number: str, after: Sequence[str]) -> List[Task]:
        """Notebook ``number``'s eps sweep (:func:`errlib.stages.controls.eps_sweep_plan`), one task per
        point not yet up to date, stored where that notebook's sweep finds it."""
        from ..stages.controls import eps_sweep_plan
        from .sweep import point_task, sweep_points, up_to_date

        if not self._for([number]):
            return []
        grid, fixed = eps_sweep_plan(self.cfg(number))
        nb, points, fingerprint = sweep_points("04", grid, self.profile, fixed)
        return [point_task(f"{number} " + "__".join(f"{k}={v}" for k, v in p["grid"].items()), nb, p,
                           fingerprint, self.profile)._replace(after=self._names(after), before=self._names([number]))
                for p in points if up_to_date(p, fingerprint) is None]


def run_call(target: str, cfg: Dict[str, Any], env: Dict[str, str], log: Path) -> Dict[str, Any]:
    """``target(cfg)`` (``"module:function"``) in a fresh Python process with ``env`` added, its
    output in ``log``; ``{"status", "seconds", "log"}`` plus ``ename``/``evalue`` on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.run([sys.executable, "-m", "errlib.run.tasks", target, json.dumps(cfg, default=list)],
                              env=dict(os.environ, **env), stdout=f, stderr=subprocess.STDOUT).returncode
    seconds = round(time.perf_counter() - t0, 1)
    if code == 0:
        return {"status": "ok", "seconds": seconds, "log": str(log)}
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit status {code}"
    ename, _, evalue = last.partition(": ")
    return {"status": "failed", "seconds": seconds, "ename": ename if evalue else "ProcessError",
            "evalue": evalue or last, "log": str(log)}


def task_env(results: Path, profile: str) -> Dict[str, str]:
    """The variables a process the course starts gets on top of the caller's environment: where its
    notebook saves results, the profile, and :func:`errlib.core.parallel.process_env` (one thread)."""
    # idle OpenMP threads sleep instead of spinning (measured by the Wallace chapter on a shared CPU)
    return dict(process_env(1), ERRLIB_RESULTS=str(results), ERRLIB_PROFILE=profile,
                OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))


def main(argv: List[str]) -> None:
    """``python -m errlib.run.tasks module:function '<config as JSON>'``: what :func:`run_call` runs."""
    from ..stages.config import Config

    target, blob = argv
    module, _, fn = target.partition(":")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(blob).items()}
    getattr(importlib.import_module(module), fn)(Config(**fields).replace())  # replace() validates


if __name__ == "__main__":
    main(sys.argv[1:])
