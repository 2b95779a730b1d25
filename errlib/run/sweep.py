"""Rerun one notebook over a grid of parameters: ``python -m errlib.run.course sweep``.

    python -m errlib.run.course sweep 04 --grid eps 1 2 3 4 5 -p n_attack 5000
    python -m errlib.run.course sweep 04 --grid eps 1 2 3 --grid seed 0 1 --jobs 2
    python -m errlib.run.course sweep 04 --grid eps 1 2 3 --scheduler tcp://host:8786

Each grid point (the fixed ``-p`` parameters, the point's grid values and the
profile) is one papermill run of the notebook, kept in its own folder
``<out>/<tag>__<id>/`` (``tag``: the readable grid values; ``id``: a hash of
*every* parameter of the run, so a rerun with another seed or dataset never
reuses an earlier run's numbers). A point whose folder holds results from the
same parameters, notebook and errlib code is not rerun unless ``force``.
``sweep.csv`` (one row per grid point: its grid values and the values the
notebook recorded), ``sweep.png`` (the headline fractions against the first grid
parameter) and ``sweep.json`` (each point's full settings, status, seconds and
error) land in ``<out>``, by default ``data/runs/sweeps/<notebook>/<profile>/``.

Points are tasks of :mod:`errlib.run.tasks`, each a notebook kernel with one
thread: one at a time (``jobs=1``), ``jobs`` at once, or on a running Dask cluster
(``scheduler``, ``distributed.Client(address).get_executor()``; install
``requirements-sweep.txt``; the workers must see the same runs folder). Cached
stages shared by points are built once: the cache holds a per-stage lock, and
with more than one worker the first point runs alone, building them once. A failed point is reported with its error while the others finish, and
the sweep then raises :class:`SweepFailed`.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..stages.cache import read_record, runs_root
from ..stages.identity import canonical
from ..stages.kinds import kind_of
from .runner import errlib_fingerprint, failure_text, list_notebooks, run_job, share_parameters
from ..stages.executor import Task, make_executor, run_tasks
from .tasks import task_env


class SweepFailed(RuntimeError):
    """Some grid points failed; the others' rows are in the CSV."""


def point_id(parameters: Dict[str, Any]) -> str:
    """10 hex digits over every parameter of a run (sorted; eps=3 and eps=3.0 are one point)."""
    blob = json.dumps(canonical(parameters), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def _points(nb: Path, grid: Dict[str, Sequence[Any]], profile: str, parameters: Dict[str, Any],
            out: Path) -> List[Dict[str, Any]]:
    names = list(grid)
    if not names or any(len(grid[n]) == 0 for n in names):
        raise ValueError(f"sweep needs at least one value per grid parameter, got {grid}")
    if set(names) & set(parameters):
        raise ValueError(f"{sorted(set(names) & set(parameters))} both swept and fixed")
    points = []
    for combo in itertools.product(*(grid[n] for n in names)):
        params = dict(parameters, **dict(zip(names, combo)), profile=profile)
        share_parameters(params, [nb])  # every point, before anything runs
        tag = "__".join(f"{k}={v}" for k, v in zip(names, combo))
        points.append({"grid": dict(zip(names, combo)), "params": params,
                       "dir": out / f"{tag}__{point_id(params)}"})
    return points


def up_to_date(point: Dict[str, Any], fingerprint: str) -> Optional[Dict[str, Any]]:
    """The point's stored record if it succeeded with this fingerprint and saved results, else ``None``
    (an unreadable record is set aside, named, by :func:`errlib.stages.cache.read_record`: the point reruns)."""
    record = read_record(point["dir"] / "point.json", "sweep point record")
    if record is None:
        return None
    ok = record.get("status") == "ok" and record.get("fingerprint") == fingerprint
    return record if ok and record.get("results") else None


def sweep_points(notebook: str, grid: Dict[str, Sequence[Any]], profile: str = "default",
                 parameters: Optional[Dict[str, Any]] = None,
                 out: Optional[Path] = None) -> Tuple[Path, List[Dict[str, Any]], str]:
    """``(notebook path, points, fingerprint)`` of a sweep, every point's parameters checked.

    Each point holds its ``grid`` values, full ``params`` and its folder ``dir``;
    the fingerprint (errlib's code and the notebook's source) tells whether a
    point's stored results are current.
    """
    nb = list_notebooks([notebook])[0]
    points = _points(nb, grid, profile, dict(parameters or {}), Path(out) if out else
                     runs_root() / "sweeps" / nb.stem / profile)
    fingerprint = f"{errlib_fingerprint()}:{hashlib.sha256(nb.read_bytes()).hexdigest()[:16]}"
    return nb, points, fingerprint


def run_point(nb: Path, point: Dict[str, Any], fingerprint: str, env: Dict[str, str]) -> Dict[str, Any]:
    """Run one grid point (:func:`~errlib.run.runner.run_job`) and store its record in ``point.json``,
    where :func:`sweep` finds it; return the record. Runs wherever the executor puts it."""
    point["dir"].mkdir(parents=True, exist_ok=True)
    try:
        result = run_job(nb, point["dir"] / nb.name, point["params"], env)
    except Exception as exc:  # the job could not even start its kernel
        result = {"status": "failed", "seconds": 0.0, "ename": type(exc).__name__, "evalue": str(exc)}
    record = dict(result, params=point["params"], fingerprint=fingerprint)
    tmp = point["dir"] / "point.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=str))
    os.replace(tmp, point["dir"] / "point.json")
    return record


def point_task(name: str, nb: Path, point: Dict[str, Any], fingerprint: str, profile: str) -> Task:
    """One grid point as a :class:`~errlib.stages.executor.Task`: :func:`run_point` in a kernel of its own,
    its results in the point's folder."""
    env = task_env(point["dir"] / "results", profile)
    return Task(name, (), functools.partial(run_point, nb, point, fingerprint, env))


def sweep(notebook: str, grid: Dict[str, Sequence[Any]], profile: str = "default",
          parameters: Optional[Dict[str, Any]] = None, out: Optional[Path] = None,
          force: bool = False, plot: bool = True, jobs: int = 1,
          scheduler: Optional[str] = None) -> Path:
    """Run ``notebook`` once per point of ``grid`` (cartesian product); return the CSV path.

    With ``jobs > 1`` or a ``scheduler`` the first point to run goes alone, so the
    stages every point shares (for notebook 04: the source model, the judge) are
    built once instead of by one process while the others wait on the cache's
    lock; the rest then fan out (:func:`errlib.stages.executor.run_tasks`), one thread each.
    """
    nb, points, fingerprint = sweep_points(notebook, grid, profile, parameters, out)
    out = points[0]["dir"].parent
    out.mkdir(parents=True, exist_ok=True)
    records, tasks = {}, []
    for p in points:
        record = None if force else up_to_date(p, fingerprint)
        if record is None:
            tasks.append(point_task(p["dir"].name, nb, p, fingerprint, profile))
        else:
            records[p["dir"].name] = record
            print(f"{nb.stem} {p['dir'].name:<40} up to date", flush=True)
    width = len(points) if scheduler else jobs  # a cluster takes them all
    alone = 1 if (width > 1 and tasks and not records) else 0  # the first builds the shared stages
    with make_executor(jobs, scheduler) as ex:
        for part in (tasks[:alone], tasks[alone:]):
            records.update(run_tasks(part, ex, width, on_end=functools.partial(_finished, nb, out)))
    records = {i: records[p["dir"].name] for i, p in enumerate(points)}
    failed = [points[i]["dir"].name for i, r in sorted(records.items()) if r["status"] != "ok"]
    return _collect(nb, points, records, failed, out, plot)


def _finished(nb: Path, out: Path, task: Task, record: Dict[str, Any]) -> None:
    """Print a finished point: its seconds, or its failure."""
    if record["status"] == "ok":
        print(f"{nb.stem} {task.name:<40} {record['seconds']:6.1f} s", flush=True)
    else:
        print(failure_text(f"{nb.stem} {task.name}", record, out / task.name / nb.name), flush=True)


def _collect(nb: Path, points, records, failed, out: Path, plot: bool) -> Path:
    rows, kinds, shown, summary = [], {}, set(), []
    for i, p in enumerate(points):
        rec = records[i]
        results = rec.get("results") or {}
        summary.append({"point": p["dir"].name, "grid": p["grid"], "parameters": p["params"],
                        "settings": results.get("settings"), "status": rec["status"],
                        "seconds": rec.get("seconds"), "error": None if rec["status"] == "ok" else
                        f"{rec.get('ename')}: {rec.get('evalue')}"})
        if rec["status"] == "ok":
            values = results.get("values", {})
            kinds.update({k: kind_of(k, v) for k, v in values.items()})
            shown.update(k for k, v in values.items() if v.get("headline") or v.get("reference") is not None)
            rows.append(dict(p["grid"], **_flat_values(values)))
    (out / "sweep.json").write_text(json.dumps({"notebook": nb.stem, "points": summary}, indent=2, default=str))
    names = list(points[0]["grid"])
    csv_path = out / "sweep.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names + sorted({k for r in rows for k in r} - set(names)))
        w.writeheader()
        w.writerows(rows)
    if plot and rows:
        _plot_sweep(rows, names[0], {k: kind for k, kind in kinds.items() if k in shown}, out / "sweep.png")
    print(f"{len(rows)} of {len(points)} grid points -> {csv_path}", flush=True)
    if failed:
        raise SweepFailed(f"{len(failed)} grid point(s) failed: {', '.join(failed)} (see {out / 'sweep.json'})")
    return csv_path


def _flat_values(values: Dict[str, Any]) -> Dict[str, Any]:
    """``{"a": {"value": 0.9, "reference": ...}, "b": 0.3}`` -> ``{"a": 0.9, "b": 0.3}`` (scalars only)."""
    out = {}
    for k, v in values.items():
        if isinstance(v, dict):
            v = v.get("value")
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
    return out


def _plot_sweep(rows: List[Dict[str, Any]], x: str, kinds: Dict[str, str], path: Path) -> None:
    """The fractions among ``kinds`` (the values the notebook marked ``headline`` or published with a
    reference) against grid parameter ``x``; the rest stay in the CSV, so the figure stays readable."""
    from ..teach.plotting import plt, sweep_curves

    keys = [k for k, kind in kinds.items() if kind == "fraction" and k != x
            and all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) for r in rows)]
    fig = sweep_curves(rows, x, keys)
    fig.savefig(path)
    plt.close(fig)
