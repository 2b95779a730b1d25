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


def notebook_cost(stem: str, profile: str, record: Optional[Path] = None) -> Optional[Dict[str, Any]]:
    """``{"core_seconds", "longest", "machine", "precision", "cores"}`` of notebook ``stem`` run alone,
    cold, from ``record`` (default :data:`RECORD`) if it holds a run of ``profile``; else None.
    ``longest``: its longest single piece (no number of cores makes it shorter)."""
    path = Path(record) if record else RECORD
    try:
        doc = json.loads(path.read_text())
        entry = doc["notebooks"][stem]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(doc, dict) or doc.get("profile") != profile or entry.get("status") != "ok":
        return None
    calls = [a for a in doc.get("ahead", {}).values() if stem in a.get("for", ())]
    env = doc.get("environment") if isinstance(doc.get("environment"), dict) else {}
    return {"core_seconds": _cpu(entry) + sum(_cpu(a) for a in calls),
            "longest": max([_cpu(entry)] + [_cpu(a) for a in calls]),
            "machine": f"a {doc.get('cores', '?')}-core {env.get('cpu_capability', '')} {env.get('device', 'cpu')}".replace("  ", " "),
            "precision": doc.get("precision", "?"), "cores": doc.get("cores")}


def expected(stem: str, profile: str, record: Optional[Path] = None) -> str:
    """One line: about how long notebook ``stem`` takes alone and cold on this machine's cores."""
    cost = notebook_cost(stem, profile, record)
    if cost is None:
        return f"no recorded {profile!r} run to estimate its time from (docs/results.json); seconds once cached"
    cores = os.cpu_count() or 1
    minutes = max(cost["core_seconds"] / cores, cost["longest"]) / 60
    return (f"about {max(1, round(minutes))} min alone and cold on this machine's {cores} core(s) "
            f"({cost['core_seconds']:,.0f} core-seconds recorded on {cost['machine']}, {cost['precision']}); "
            "seconds once cached")
