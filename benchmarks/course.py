#!/usr/bin/env python
"""The whole course's time and CPU use, read from a course run's results.json (nothing is run here).

    python benchmarks/course.py --course-results data/runs/course/default/results.json [--out FILE]

Reads ``course_seconds``, ``core_seconds`` and ``cpu_utilisation`` (top-level keys of the runner's
results.json), each notebook's ``seconds`` (``notebooks[stem]["seconds"]``) and
each ahead job's (``ahead[name]["seconds"]``, work started before its notebook).
A file from a runner that predates ``course_seconds`` gives the sum of the
notebooks' seconds instead, marked as such; a missing key is reported as not
measured. ``cpu_utilisation`` is a fraction of all cores (a value above 1.5 is
read as a percentage).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from common import fmt, main, target, verdict

TARGETS = {"course_seconds": 1700.0, "course_core_seconds": 3400.0, "cpu_utilisation": 0.90}  # default, cold, 2 cores (issue 29)


def read(path: Optional[str]) -> dict:
    if not path:
        return {"measured": False, "note": "not measured (pass --course-results)"}
    doc = json.loads(Path(path).read_text())
    nbs = {k: v.get("seconds") for k, v in sorted(doc.get("notebooks", {}).items())}
    res = {"measured": True, "source": str(path), "profile": doc.get("profile"), "notebook_seconds": nbs,
           "ahead_seconds": {k: v.get("seconds") for k, v in doc.get("ahead", {}).items()}}
    if doc.get("course_seconds") is not None:
        res["course_seconds"] = doc["course_seconds"]
    else:
        res["course_seconds"] = sum(v for v in nbs.values() if isinstance(v, (int, float))) or None
        res["course_seconds_note"] = "no course_seconds key: the sum of the notebooks' seconds"
    res["course_core_seconds"] = doc.get("core_seconds")
    util = doc.get("cpu_utilisation")
    res["cpu_utilisation"] = None if util is None else (util / 100 if util > 1.5 else util)
    if res["profile"] not in (None, "default"):
        res["note"] = f"profile {res['profile']!r}: the targets are for the default profile"
    return res


OPTIONS = {"--course-results": "results.json of `python -m errlib.run.course run --profile default`"}


def measure(args) -> dict:
    return read(args.course_results)


def targets(res: dict) -> dict:
    return {"course_seconds": target(res.get("course_seconds"), TARGETS["course_seconds"], "<="),
            "course_core_seconds": target(res.get("course_core_seconds"), TARGETS["course_core_seconds"], "<="),
            "cpu_utilisation": target(res.get("cpu_utilisation"), TARGETS["cpu_utilisation"])}


def rows(res: dict) -> list:
    if not res["measured"]:
        return [f"| whole course (default profile), seconds | — | | | {res['note']} |"]
    tg = targets(res)
    per = ", ".join(f"{k[:2]} {v}" for k, v in res["notebook_seconds"].items())
    if res.get("ahead_seconds"):
        per += "; ahead: " + ", ".join(f"{k} {v}" for k, v in res["ahead_seconds"].items())
    return [f"| whole course ({res['profile']} profile), seconds ({per}) | {fmt(res['course_seconds'], '.0f', ' s')}"
            f" | | | {verdict(tg['course_seconds'])} |",
            f"| core-seconds over the course run (user + system) | {fmt(res['course_core_seconds'], ',.0f', '')} | | | "
            f"{verdict(tg['course_core_seconds'])} |",
            f"| CPU busy over the course run | {fmt(res['cpu_utilisation'], '.0%', '')} | | | "
            f"{verdict(tg['cpu_utilisation'], '90%')} |"]


if __name__ == "__main__":
    main(__doc__, measure, rows, targets, OPTIONS)
