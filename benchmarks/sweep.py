#!/usr/bin/env python
"""A smoke-profile sweep of notebook 04 over 5 eps values at ``--jobs 2`` against ``--jobs 1``.

    ERRLIB_DATA=/path/to/data python benchmarks/sweep.py [--quick] [--rounds 2] [--out FILE]

Each run is ``python -m errlib.run.course sweep 04 --profile smoke --grid eps 4 4.5 5 5.5 6
--jobs N --out <tmp> --force`` in a fresh process with a fresh, empty run cache
(``ERRLIB_RUNS``), so both pay for the stages the grid points share, as a new
sweep does; the two job counts alternate, their order rotated each round, and
``sweep_jobs_speedup`` is the median of the paired ratios (jobs-1 seconds /
jobs-2 seconds). ``--quick`` sweeps 2 points once.

``sweep_jobs_ceiling`` bounds what any scheduler could get from processes on
these cores: with ``--jobs 1`` one point uses every core through torch's own
threads, so N processes of one thread each can beat it by at most
``cores x (seconds of a point with every core) / (seconds of a point on one
thread)``, read from the points after the first (which builds the shared
stages) in each run's ``sweep.json``. ``ERRLIB_THREADS`` is passed
on only where ``--threads`` sets it; otherwise the sweep chooses. If the CLI
rejects ``--jobs`` (or a run fails), the reason is recorded and nothing is timed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

from common import TREE, fmt, log, main, median, target, verdict

# eps from the MNIST default (4.0) up: below it the smoke profile's own check that the students
# beat chance fails (D_det at eps 1: 0.018, at eps 2: 0.088 test accuracy), and the sweep stops
SIZES = {"full": dict(grid=["4", "4.5", "5", "5.5", "6"], rounds=2), "quick": dict(grid=["4", "5"], rounds=1)}
JOBS = (1, 2)
TARGET = 1.3  # sweep_jobs_speedup on 2 cores (issue 15)


def command(grid, jobs: int, out: Path) -> list:
    return [sys.executable, "-m", "errlib.run.course", "sweep", "04", "--profile", "smoke", "--grid", "eps", *grid,
            "--jobs", str(jobs), "--out", str(out), "--force"]


def env_for(runs: Path, threads: Optional[int]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(TREE), ERRLIB_RUNS=str(runs), ERRLIB_PROGRESS="0")
    env.pop("ERRLIB_THREADS", None)
    if threads:
        env["ERRLIB_THREADS"] = str(threads)
    return env


def unsupported(threads: Optional[int]) -> Optional[str]:
    """Why this errlib's sweep cannot be timed with ``--jobs`` (None: it can)."""
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run([sys.executable, "-m", "errlib.run.course", "sweep", "--help"], capture_output=True,
                             text=True, env=env_for(Path(tmp), threads), cwd=tmp)
    if got.returncode != 0:
        return f"`python -m errlib.run.course sweep --help` failed: {got.stderr.strip()[-300:]}"
    if "--jobs" not in got.stdout:
        return "errlib.run.course sweep has no --jobs option (not in its --help)"
    return None


def one_sweep(grid, jobs: int, threads: Optional[int]) -> Tuple[float, List[float]]:
    """Seconds of one cold sweep and of each point after the first (``sweep.json``); raises
    RuntimeError with the CLI's error when it fails."""
    with tempfile.TemporaryDirectory(prefix="errlib-bench-sweep-") as tmp:
        t0 = time.perf_counter()
        got = subprocess.run(command(grid, jobs, Path(tmp) / "out"), capture_output=True, text=True,
                             env=env_for(Path(tmp) / "runs", threads), cwd=tmp)  # (not here: -m imports ./errlib)
        seconds = time.perf_counter() - t0
        summary = Path(tmp) / "out" / "sweep.json"
        points = json.loads(summary.read_text())["points"] if summary.exists() else []
    if got.returncode != 0:
        raise RuntimeError(f"sweep --jobs {jobs} exited {got.returncode}: {got.stderr.strip()[-500:]}")
    return seconds, [p["seconds"] for p in points[1:] if p.get("seconds")]


def measure(args) -> dict:
    sz = SIZES["quick" if args.quick else "full"]
    rounds = args.rounds or sz["rounds"]
    res = {"notebook": "04", "profile": "smoke", "grid": {"eps": sz["grid"]}, "jobs": list(JOBS),
           "rounds": rounds, "cpu_count": os.cpu_count(), "measured": False}
    why = unsupported(args.threads)
    times, per_point = {j: [] for j in JOBS}, {j: [] for j in JOBS}
    for r in range(rounds):
        for jobs in (JOBS if r % 2 == 0 else JOBS[::-1]):
            if why:
                break
            log(f"  sweep: {len(sz['grid'])} smoke points, --jobs {jobs} (round {r + 1}/{rounds})")
            try:
                seconds, points = one_sweep(sz["grid"], jobs, args.threads)
                times[jobs].append(seconds)
                per_point[jobs] += points
            except RuntimeError as err:
                why = str(err)
    if why:
        log(f"  sweep not timed: {why}")
        res["skipped"] = why
        return res
    res.update(measured=True, seconds={str(j): t for j, t in times.items()},
               sweep_jobs_speedup=median([a / b for a, b in zip(times[1], times[2])]))
    if per_point[1] and per_point[2]:
        res.update(point_seconds={str(j): per_point[j] for j in JOBS},
                   sweep_jobs_ceiling=(os.cpu_count() or 1) * median(per_point[1]) / median(per_point[2]))
    return res


def targets(res: dict) -> dict:
    return {"sweep_jobs_speedup": target(res.get("sweep_jobs_speedup"), TARGET)}


def rows(res: dict) -> list:
    what = f"smoke sweep of 04, {len(res['grid']['eps'])} points, cold cache, seconds"
    if not res["measured"]:
        return [f"| {what} | — | --jobs 1 | — | not measured: {res['skipped']} |"]
    s = res["seconds"]
    return [f"| {what} | --jobs 2: {median(s['2']):.0f} | --jobs 1: {median(s['1']):.0f} | "
            f"{fmt(res['sweep_jobs_speedup'])} | {verdict(targets(res)['sweep_jobs_speedup'])} "
            f"({res['cpu_count']} cores) |"] + ([
        f"| the most processes could give: {res['cpu_count']} x a point with every core "
        f"({median(res['point_seconds']['1']):.1f} s) / a point on one thread "
        f"({median(res['point_seconds']['2']):.1f} s) | | | {fmt(res['sweep_jobs_ceiling'])} | |"]
        if res.get("sweep_jobs_ceiling") else [])


if __name__ == "__main__":
    main(__doc__, measure, rows, targets)
