"""Run the course's notebooks with papermill: ``python -m errlib.run.course run``.

    python -m errlib.run.course run                      # default profile, every notebook
    python -m errlib.run.course run --profile smoke      # CI-sized
    python -m errlib.run.course run --only 01 04 -p eps 3.0
    python -m errlib.run.course run --jobs 1             # one notebook at a time
    python -m errlib.run.course sweep 04 --grid eps 1 2 3 4 5 -p n_attack 5000 [--jobs 2]

The run is one task table (:func:`errlib.run.tasks.course_table`): the
notebooks by their dependencies (02 needs 01's source model, 05 needs 01's MNIST
teacher, 06 and 08 need nothing, 07 needs 01-04), and the stage calls that
start before the notebook that needs them (the judge and the grader, 04's
constrained sets and seeds, 05's seeds, 07's eps sweep points; ``--no-ahead`` leaves them to their notebooks). Ready tasks start in
the table's order, at most ``--jobs`` at once (default: one per core), each in a
process of its own computing with one thread (a user's ``ERRLIB_THREADS`` wins),
fixed when it starts, so its numbers do not depend on what runs beside it. The
stage cache makes each notebook standalone, and its per-stage lock keeps two
processes from building the same stage at once. ``sweep`` is :mod:`errlib.run.sweep`.

Each notebook runs in a fresh kernel into ``data/runs/course/<profile>/``
(executed ``.ipynb`` plus ``.html``); the console shows each notebook's start,
its sections as they run, and its end; a failure prints the exception, its
cell's first line and the executed copy's path, the notebooks that depend on
it are skipped, and the run exits non-zero. ``results.json`` holds every
headline number with its kind, settings and reference, seconds per notebook
and per stage call, peak memory, ``course_seconds`` (the run's wall clock) and
``cpu_utilisation`` (CPU time of this process and its children over wall clock
times cores), and the run's ``commit``, ``date`` and ``machine`` (:func:`provenance`);
``report.md`` renders it. A notebook whose source, parameters
and errlib code are unchanged since its last successful run is not executed
again; ``--force`` executes it anyway. Parameters are checked against the notebooks'
``parameters`` cells before anything runs; the caller's environment is never
changed (kernels get theirs at start). Before anything runs, the runs folder, the output folder and
the data root are checked usable (one line naming the path and ``ERRLIB_RUNS``, ``--out`` or
``ERRLIB_DATA`` otherwise), and a previous ``results.json`` that cannot be read is set aside, named,
and none of its numbers reported.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import site
from ..core.data import data_root
from ..stages.cache import UnwritableLocation, read_record, runs_root, writable_folder
from ..stages.config import add_profile_argument
from .render import render_report
from .runner import errlib_fingerprint, failure_text, list_notebooks, run_job, share_parameters
from .sweep import SweepFailed, sweep
from ..stages.executor import Task, make_executor, run_tasks
from .tasks import course_table, task_env

__all__ = ["run_course", "sweep", "list_notebooks", "main"]

def default_jobs() -> int:
    """One task per core (each computes with one thread)."""
    return max(1, os.cpu_count() or 1)


def provenance() -> Dict[str, Any]:
    """Where and from what a run's numbers came, for whoever reads its ``results.json`` later:
    the git commit (``+dirty`` when the work tree had changes; None outside a checkout), the
    date it started (UTC) and the machine (platform, processor, Python)."""
    def git(*args: str) -> str:
        here = Path(__file__).resolve().parent  # inside the checkout errlib runs from
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD") or None
        commit = commit and commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        commit = None
    machine = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
               "python": platform.python_version()}
    return {"commit": commit, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine}


def _parse_value(v: str) -> Any:
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(v.lower(), v)


class CpuMeter:
    """CPU seconds used by this process and all its descendants (workers, kernels) while running.

    ``getrusage(RUSAGE_CHILDREN)`` misses kernels that are never waited for, so
    a thread samples the process tree with psutil (an ipykernel dependency) twice
    a second and keeps each process's last reading; a process's final half
    second may be missed. Without psutil, rusage is the fallback.
    """

    def __init__(self, interval: float = 0.5):
        self.interval, self.seen, self._stop = interval, {}, threading.Event()
        self._thread = threading.Thread(target=self._sample_forever, daemon=True)
        self._rusage0 = self._rusage()

    @staticmethod
    def _rusage() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        for proc in [me] + me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                self.seen[(proc.pid, proc.create_time())] = t.user + t.system

    def _sample_forever(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "CpuMeter":
        try:
            self._sample()
            self.base = sum(self.seen.values())
            self._thread.start()
        except ImportError:
            self.base = None
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def seconds(self) -> float:
        if self.base is None:
            return self._rusage() - self._rusage0
        self._sample()
        return sum(self.seen.values()) - self.base


def _fingerprint(nb: Path, params: Dict[str, Any], code: str) -> str:
    return hashlib.sha256(nb.read_bytes() + json.dumps(params, sort_keys=True).encode()
                          + code.encode()).hexdigest()[:16]


def run_course(profile: str = "default", only: Optional[Sequence[str]] = None,
               parameters: Optional[Dict[str, Any]] = None, out: Optional[Path] = None,
               force: bool = False, html: bool = True, timeout: Optional[int] = None,
               jobs: Optional[int] = None, ahead: bool = True) -> Dict[str, Any]:
    """Execute notebooks by their dependencies; return (and write) the results document.

    ``ahead``: also run the stage calls of :func:`errlib.run.tasks.course_table` ahead of the
    notebooks that need them.

    Raises SystemExit(1) after writing the results if a notebook failed.
    """
    nbs = list_notebooks(only)
    shares = share_parameters(dict(parameters or {}, profile=profile), nbs)  # before anything runs
    jobs = jobs or default_jobs()
    out = check_places(Path(out) if out else None, profile)
    previous = read_record(out / "results.json", "the course's results file", _record_problem) or {}
    doc: Dict[str, Any] = {"profile": profile, "parameters": dict(parameters or {}),
                           "notebooks": dict(previous.get("notebooks", {})),
                           "ahead": dict(previous.get("ahead", {})), "jobs": jobs,
                           "cores": os.cpu_count(), **provenance()}
    t0 = time.perf_counter()
    tasks = _tasks(profile, nbs, shares, out, doc, force, ahead, functools.partial(
        run_job, timeout=timeout, html=html))
    with CpuMeter() as cpu, make_executor(min(jobs, max(1, len(tasks)))) as ex:
        run_tasks(tasks, ex, jobs, on_start=functools.partial(_started, doc), on_end=functools.partial(_ended, doc, out))
    wall = time.perf_counter() - t0
    doc["course_seconds"] = round(wall, 1)
    doc["core_seconds"] = round(cpu.seconds(), 1)
    doc["cpu_utilisation"] = round(cpu.seconds() / (wall * (os.cpu_count() or 1)), 3)
    doc["seconds_all_notebooks"] = round(sum(v.get("seconds") or 0 for v in doc["notebooks"].values()), 1)
    envs = {json.dumps(v["environment"], sort_keys=True) for v in doc["notebooks"].values() if v.get("environment")}
    distinct = [json.loads(e) for e in sorted(envs)]  # what the numbers depend on (errlib.core.environment)
    doc["environment"] = distinct[0] if len(distinct) == 1 else distinct
    doc["precision"] = ",".join(sorted({e["precision"] for e in distinct}))
    _write(out, doc)
    failed = [k for k, v in doc["notebooks"].items() if v.get("status") != "ok"]
    print(f"course {wall:.1f} s wall clock, CPU {100 * doc['cpu_utilisation']:.0f}% busy; "
          f"results in {out / 'results.json'}, report in {out / 'report.md'}", flush=True)
    if failed:
        print(f"FAILED or skipped: {', '.join(failed)}", flush=True)
        raise SystemExit(1)
    return doc


def check_places(out: Optional[Path], profile: str) -> Path:
    """The course's output folder, once it, the runs folder and the data root are known usable;
    else :class:`~errlib.stages.cache.UnwritableLocation` naming the path and what moves it."""
    writable_folder(runs_root(), "the runs folder", "ERRLIB_RUNS")
    default = runs_root() / "course" / profile
    writable_folder(out or default, "the course output folder", "--out" if out else "--out (or ERRLIB_RUNS)")
    data = data_root()
    if data.exists() and not data.is_dir():
        raise UnwritableLocation(f"the data root {data} is not a folder; set ERRLIB_DATA to the folder "
                                 "holding the datasets")
    if not data.exists():  # nothing to read there: it must at least take a download
        writable_folder(data, "the data root", "ERRLIB_DATA")
    return out or default


def _record_problem(doc: Dict[str, Any]) -> Optional[str]:
    """What makes a previous results document unusable (an entry, fingerprint or values of the wrong
    type), or None; :func:`run_course` then sets it aside and reruns rather than trust it."""
    for part in ("notebooks", "ahead"):
        entries = doc.get(part, {})
        if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
            return f"has {part!r} entries that are not JSON objects"
        for name, e in entries.items():
            if not isinstance(e.get("fingerprint", ""), str) or not isinstance(e.get("values", {}), dict):
                return f"has an unreadable fingerprint or values for {name!r}"
    return None


def _tasks(profile, nbs, shares, out, doc, force, ahead, run_job) -> List[Task]:
    """The run's task table (:func:`errlib.run.tasks.course_table`): the notebooks that are not up to
    date, and the stage calls ahead of them; a notebook without a row waits for every earlier one."""
    code, runs, course_shares = errlib_fingerprint(), {}, {}
    course = {p.resolve() for p in list_notebooks()}  # stage calls run ahead of the course's own notebooks
    env = task_env(out / "results", profile)
    for nb in nbs:
        fp = _fingerprint(nb, shares[nb], code)
        prev = doc["notebooks"].get(nb.stem, {})
        if not force and prev.get("fingerprint") == fp and prev.get("status") == "ok" and (out / nb.name).exists():
            print(f"{nb.name:<40} up to date ({prev.get('seconds', 0):6.1f} s when run)", flush=True)
            continue
        doc["notebooks"][nb.stem] = {"status": "pending", "fingerprint": fp}
        runs[nb.name[:2]] = (nb.stem, functools.partial(run_job, nb, out / nb.name, shares[nb], env))
        if nb.resolve() in course:
            course_shares[nb.name[:2]] = shares[nb]
    tasks = course_table(profile, runs, course_shares, out, ahead)
    listed = {t.name for t in tasks}
    stems = [stem for _, (stem, _) in sorted(runs.items())]
    tasks += [Task(stem, tuple(s for s in stems if s < stem), run) for stem, run in sorted(runs.values())
              if stem not in listed]
    doc["ahead"].update({t.name: {"status": "pending", "for": list(t.before)} for t in tasks if t.name not in stems})
    return tasks


def _label(doc: Dict[str, Any], task: Task) -> str:
    return f"{task.name}.ipynb" if task.name in doc["notebooks"] else f"ahead: {task.name}"


def _started(doc: Dict[str, Any], task: Task) -> None:
    label, threads = _label(doc, task), task_env(Path(), "")["ERRLIB_THREADS"]
    doc["notebooks" if label.endswith(".ipynb") else "ahead"][task.name]["status"] = "running"
    print(f"{label:<40} start ({threads} thread{'s' * (threads != '1')})", flush=True)


def _ended(doc: Dict[str, Any], out: Path, task: Task, result: Dict[str, Any]) -> None:
    """Store a finished task's outcome in the results document, print it, save the document."""
    label = _label(doc, task)
    entry = doc["notebooks" if label.endswith(".ipynb") else "ahead"].setdefault(task.name, {})
    if result["status"] == "skipped":
        entry.update(status="skipped", error=result["error"])
        print(f"{label:<40} skipped: {result['error']}", flush=True)
    elif result["status"] != "ok":
        entry.update(status="failed", seconds=result["seconds"],
                     error=f"{result['ename']}: {result['evalue']}"[-2000:], cell=result.get("cell"))
        print(failure_text(label, result, out / label) if label.endswith(".ipynb") else
              f"{label:<40} FAILED: {entry['error']} (log: {result.get('log', '—')})", flush=True)
    else:
        entry.update(status="ok", seconds=result["seconds"], core_seconds=result.get("core_seconds"))
        if label.endswith(".ipynb"):
            results = result.get("results", {})
            entry.update(executed=str(out / label), peak_memory_mb=results.get("peak_memory_mb"),
                         core_seconds=results.get("core_seconds"),
                         values=results.get("values", {}), kinds=results.get("kinds", {}),
                         settings=results.get("settings", {}), environment=results.get("environment"))
        print(f"{label:<40} done {result['seconds']:6.1f} s", flush=True)
    _write(out, doc)


def _write(out: Path, doc: Dict[str, Any]) -> None:
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    os.replace(tmp, out / "results.json")
    (out / "report.md").write_text(render_report(doc))
    site.write_index(out, doc)


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m errlib.run.course", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute the notebooks, by their dependencies")
    add_profile_argument(r)
    r.add_argument("--only", nargs="*", help="notebook numbers or names, e.g. 01 04")
    r.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="papermill parameter for the notebooks that declare it, e.g. -p eps 3.0")
    r.add_argument("--out", type=Path, help="output folder (default data/runs/course/<profile>)")
    r.add_argument("--force", action="store_true", help="re-execute notebooks even if up to date")
    r.add_argument("--no-html", action="store_true", help="skip the HTML copies")
    r.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    r.add_argument("--no-ahead", action="store_true",
                   help="run no stage call ahead of the notebook that needs it (errlib.run.tasks)")
    r.add_argument("--jobs", type=int, default=None,
                   help=f"tasks at once (notebooks and stage calls), one thread each, by their dependencies "
                        f"(default {default_jobs()} here)")
    sw = sub.add_parser("sweep", help="rerun one notebook over a grid of parameters")
    sw.add_argument("notebook", help="notebook number or name, e.g. 04")
    add_profile_argument(sw)
    sw.add_argument("--grid", nargs="+", action="append", required=True, metavar="NAME VALUE",
                    help="a parameter and its values, e.g. --grid eps 1 2 3 (repeat for a product)")
    sw.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="fixed papermill parameter for every grid point")
    sw.add_argument("--out", type=Path, help="output folder (default data/runs/sweeps/<notebook>/<profile>)")
    sw.add_argument("--force", action="store_true", help="rerun grid points that already have results")
    sw.add_argument("--jobs", type=int, default=1, help="grid points at once, in local processes (default 1)")
    sw.add_argument("--scheduler", help="run the points on this Dask cluster, e.g. tcp://host:8786 "
                    "(pip install -r requirements-sweep.txt)")
    args = ap.parse_args(argv)
    params = {k: _parse_value(v) for k, v in args.param}
    try:
        if args.cmd == "run":
            run_course(args.profile, args.only, params, args.out, args.force, not args.no_html, args.timeout,
                       args.jobs, not args.no_ahead)
        else:
            grid = {}
            for name, *values in args.grid:
                if not values:
                    ap.error(f"--grid {name} needs at least one value")
                grid[name] = [_parse_value(v) for v in values]
            sweep(args.notebook, grid, args.profile, params, args.out, args.force, jobs=args.jobs,
                  scheduler=args.scheduler)
    except ValueError as exc:  # bad parameters: nothing has run
        ap.exit(2, f"error: {exc}\n")
    except SweepFailed as exc:
        ap.exit(1, f"error: {exc}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
