"""What a notebook costs to run alone, from a recorded course run rather than a constant.

The course's ``results.json`` records each notebook's core-seconds (user + system CPU of its
kernel) and each stage call's, with the notebooks it was built for (``for``). Run alone, a
notebook does its own work and its stage calls' (:mod:`errlib.stages.course_plan`), spread over
this machine's cores (:func:`errlib.stages.executor.run_steps`); :func:`expected` turns the
recorded core-seconds into minutes here, and names the machine and precision they were
recorded with, since another CPU computes at another speed. The record is the committed
``docs/results.json`` (the run the results page shows), or a run's own ``results.json``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

from ..core.data import REPO_ROOT

RECORD = REPO_ROOT / "docs" / "results.json"


def _cpu(entry: Dict[str, Any]) -> float:
    return float(entry.get("core_seconds") or entry.get("seconds") or 0.0)


def cost_in(doc: Dict[str, Any], stem: str) -> Optional[Dict[str, Any]]:
    """``{"core_seconds", "longest", "machine", "precision", "cores"}`` of notebook ``stem`` run alone,
    cold, from a course run's results document ``doc``; None if it did not run there.
    ``longest``: its longest single piece (no number of cores makes it shorter)."""
    entry = (doc.get("notebooks") or {}).get(stem) if isinstance(doc, dict) else None
    if not isinstance(entry, dict) or entry.get("status") != "ok":
        return None
    calls = [a for a in (doc.get("ahead") or {}).values() if isinstance(a, dict) and stem in a.get("for", ())]
    env = doc.get("environment") if isinstance(doc.get("environment"), dict) else {}
    return {"core_seconds": _cpu(entry) + sum(_cpu(a) for a in calls),
            "longest": max([_cpu(entry)] + [_cpu(a) for a in calls]),
            "machine": f"a {doc.get('cores', '?')}-core {env.get('cpu_capability', '')} {env.get('device', 'cpu')}".replace("  ", " "),
            "precision": doc.get("precision", "?"), "cores": doc.get("cores")}


def alone_minutes(cost: Dict[str, Any], cores: int) -> float:
    """Minutes a notebook of ``cost`` (:func:`cost_in`) takes alone on ``cores`` cores."""
    return max(cost["core_seconds"] / max(1, cores), cost["longest"]) / 60


def notebook_cost(stem: str, profile: str, record: Optional[Path] = None) -> Optional[Dict[str, Any]]:
    """:func:`cost_in` of the recorded run ``record`` (default :data:`RECORD`) if it is a run of ``profile``."""
    try:
        doc = json.loads(Path(record or RECORD).read_text())
    except (OSError, ValueError):
        return None
    return cost_in(doc, stem) if isinstance(doc, dict) and doc.get("profile") == profile else None


def expected(stem: str, profile: str, record: Optional[Path] = None) -> str:
    """One line: about how long notebook ``stem`` takes alone and cold on this machine's cores."""
    cost = notebook_cost(stem, profile, record)
    if cost is None:
        return f"no recorded {profile!r} run to estimate its time from (docs/results.json); seconds once cached"
    cores = os.cpu_count() or 1
    minutes = alone_minutes(cost, cores)
    return (f"about {max(1, round(minutes))} min alone and cold on this machine's {cores} core(s) "
            f"({cost['core_seconds']:,.0f} core-seconds recorded on {cost['machine']}, {cost['precision']}); "
            "seconds once cached")
