"""Where a course run's time went: core-seconds per stage kind, from the run's stage manifests.

    python -m errlib.run.time_table <runs folder> [--course <results.json>]

Each cached stage's manifest records the seconds its build took (one thread per process in a
course run, so wall seconds are core-seconds when the machine is not oversubscribed). Rows
group the stages by kind (``student``, ``errset`` for plain attacks, ``cset`` for constrained
attacks, ``judge`` for the judge and the grader, ...) and by dataset, so Part II's
Fashion-MNIST work shows apart from Part I's MNIST work. With the course's ``results.json``,
the rest of its measured core-seconds (process starts, kernels, loading, scoring, figures) is a
row of its own, and :func:`packing` says what the same tasks would take on more cores: the
plan's list scheduling replayed with each task's recorded seconds, down to the critical path.
Only stages built in the run count: a cold run, in an empty runs folder.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

NAMES = {"student": "students", "errset": "plain attacks (error sets)", "cset": "constrained attacks",
         "judge": "judge and grader", "source": "source, transfer and teacher models", "reading": "judge readings",
         "setrow": "constrained-set readings and bootstrap",
         "subset": "leakage-filter subsets", "cross_student": "Part II students (cross-domain labels)",
         "wrong_student": "Part II students (wrong labels)", "teacher": "Part II weak teachers",
         "teacher_curve": "Part II teacher calibration curve", "labels": "Part II teacher labels"}


def stage_seconds(runs: Path) -> Dict[Tuple[str, str], List[float]]:
    """Build seconds of every cached stage under ``runs``, by (stage kind, dataset)."""
    out: Dict[Tuple[str, str], List[float]] = defaultdict(list)
    for manifest in sorted(runs.glob("*/*/manifest.json")):
        try:
            m = json.loads(manifest.read_text())
            kind, seconds = m["stage"], float(m["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a record that cannot be read counts nothing (the cache sets it aside on use)
        dataset = (m.get("settings") or {}).get("dataset", "")
        out[(kind, dataset)].append(seconds)
    return out


def table(runs: Path, course: Optional[Path] = None) -> str:
    """A markdown table: kind, dataset, stages built, core-seconds, share of the total."""
    rows = [(NAMES.get(k, k), d or "—", len(v), sum(v)) for (k, d), v in stage_seconds(runs).items()]
    rows.sort(key=lambda r: -r[3])
    total = sum(r[3] for r in rows)
    if course is not None:
        measured = float(json.loads(Path(course).read_text()).get("core_seconds") or 0.0)
        if measured > total:
            rows.append(("process starts, kernels, loading, scoring, figures", "—", 0, measured - total))
            total = measured
    lines = ["| what | dataset | stages built | core-seconds | share |", "|---|---|---|---|---|"]
    lines += [f"| {w} | {d} | {n or '—'} | {s:,.0f} | {100 * s / total:.1f}% |" for w, d, n, s in rows]
    return "\n".join(lines + [f"| **total** | | | **{total:,.0f}** | |"])




def simulate(durations: Dict[str, float], after: Dict[str, Sequence[str]], jobs: int) -> float:
    """Wall seconds of running tasks of ``durations`` (in priority order) on ``jobs`` workers by their
    dependencies ``after``, each starting as soon as it is ready and a worker is free, ready tasks in
    list order (as :func:`errlib.stages.executor.run_tasks` does), each task taking its recorded time."""
    order = list(durations)
    done: Dict[str, float] = {}
    running: List[Tuple[float, str]] = []
    now, waiting = 0.0, list(order)
    while waiting or running:
        ready = [t for t in waiting if all(a in done and done[a] <= now for a in after.get(t, ()) if a in durations)]
        while ready and len(running) < jobs:
            t = ready.pop(0)
            waiting.remove(t)
            running.append((now + durations[t], t))
        running.sort()
        now, t = running.pop(0)
        done[t] = now
    return now


def course_graph(doc: Dict) -> Tuple[Dict[str, float], Dict[str, Sequence[str]]]:
    """A recorded course run's tasks (by name, in the plan's order) with their seconds, and what each
    waits for, from :func:`errlib.stages.course_plan.course_plan` of the run's profile and parameters."""
    from ..stages.config import resolve
    from ..stages.course_plan import course_plan

    params = {k: tuple(v) if isinstance(v, list) else v for k, v in (doc.get("parameters") or {}).items()}
    stems = {stem[:2]: stem for stem in doc["notebooks"]}
    cfg = resolve(doc["profile"], **params)
    cfgs = {n: cfg for n in stems}
    name = lambda n: stems.get(n, n)  # noqa: E731
    durations, after = {}, {}
    for step in course_plan(cfgs):
        entry = doc["notebooks"].get(name(step.name)) if step.fn is None else doc.get("ahead", {}).get(step.name)
        if entry and entry.get("seconds") is not None:
            durations[name(step.name)] = float(entry["seconds"])
            after.setdefault(name(step.name), []).extend(name(a) for a in step.after)
            for b in step.before:
                after.setdefault(name(b), []).append(name(step.name))
    return durations, after


def packing(doc: Dict, jobs_list: Sequence[int] = (1, 2, 4, 8)) -> str:
    """What the recorded run's tasks would take on 1, 2, 4 and 8 cores (list scheduling by the plan,
    each task its recorded seconds), and the critical path: no number of cores goes below it."""
    durations, after = course_graph(doc)
    rows = [f"| {j} | {simulate(durations, after, j):,.0f} s |" for j in jobs_list]
    path = simulate(durations, after, len(durations))
    return "\n".join(["| cores (JOBS) | predicted wall clock |", "|---|---|"] + rows
                     + [f"| unlimited (the critical path) | {path:,.0f} s |"])


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m errlib.run.time_table", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="the runs folder of a cold course run (ERRLIB_RUNS)")
    parser.add_argument("--course", type=Path, help="the run's results.json (adds the time outside the stages, "
                        "and what 1, 2, 4 and 8 cores would take)")
    args = parser.parse_args(argv)
    print(table(args.runs, args.course))
    if args.course:
        print()
        print(packing(json.loads(args.course.read_text())))


if __name__ == "__main__":
    main()
