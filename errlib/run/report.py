"""Results that notebooks publish, for ``results.json`` and ``report.md``.

A notebook ends with::

    report.save_results("04_measure", cfg, {"D_rand": report.fraction(0.87, reference=0.633)})

which writes ``<results dir>/04_measure.json`` holding the values, the
settings and environment that produced them, the kernel's peak memory and a timestamp. The
results dir is ``$ERRLIB_RESULTS`` (set by the course runner) or
``<runs root>/results/<profile>``.

Every value carries the kind it was made with (:mod:`errlib.stages.kinds`, re-exported here:
``report.fraction(0.87, reference=0.633, source=...)``, ``report.count(n)``, ``report.norm(r)``,
...): nothing guesses a kind from a name, and a value without one is refused when saved. The
results file holds each value as ``{"value": v, "kind": k, ...}`` (and a ``"kinds"`` summary),
with the environment the numbers came from (:func:`errlib.core.environment.environment`);
:func:`format_value` and :func:`render_report` format by kind, never by range: a norm of 0.48
prints 0.48, not 48%.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from ..core.environment import environment
from ..stages.cache import runs_root
from ..stages.kinds import (KINDS, count, fraction, headline, kind_of, norm, number, record, seconds,  # noqa: F401
                            table, value)


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def results_dir(profile: str) -> Path:
    env = os.environ.get("ERRLIB_RESULTS")
    return Path(env) if env else runs_root() / "results" / profile


def format_value(v: Any, kind: str) -> str:
    """``v`` as a report prints it: a fraction as a percentage, a count with thousands separators,
    seconds with a unit, a norm or number with 3-4 significant digits."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):  # e.g. per-seed values; rows of a table stay in results.json
        if any(isinstance(x, dict) for x in v):
            return f"{len(v)} rows (in results.json)"
        return ", ".join(format_value(x, kind) for x in v)
    if not isinstance(v, (int, float)):
        return str(v)
    if kind == "fraction":
        return f"{100 * v:.1f}%"
    if kind == "count":
        return f"{v:,}" if float(v).is_integer() else f"{v:,.1f}"
    if kind == "seconds":
        return f"{v:.1f} s"
    return f"{v:.3g}" if kind == "norm" else f"{v:.4g}"


def save_results(notebook: str, cfg, values: Dict[str, Any], *, settings: Optional[Dict[str, Any]] = None) -> Path:
    """Write this notebook's headline numbers, each made with its kind (:func:`fraction`, ...), with
    the config and environment that produced them, as JSON; a value without a kind raises
    ``TypeError`` before anything is written."""
    values = {k: record(k, v) for k, v in values.items()}
    out = results_dir(cfg.profile)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"notebook": notebook, "profile": cfg.profile, "settings": settings or cfg.to_dict(),
           "values": values, "kinds": {k: v["kind"] for k, v in values.items()},
           "environment": environment(getattr(cfg, "resolved_precision", getattr(cfg, "precision", "fp32"))),
           "peak_memory_mb": round(peak_memory_mb(), 1), "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = out / f"{notebook}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    os.replace(tmp, path)
    print(f"results saved to {path}")
    return path


def render_report(doc: Dict[str, Any]) -> str:
    """The course's ``report.md``: one row per headline number (formatted by its kind) with its
    reference and notebook, then each notebook's status, seconds and peak memory."""
    lines = [f"# errlib course report — profile `{doc['profile']}`", "",
             "| notebook | quantity | ours | reference | reference source |",
             "|---|---|---|---|---|"]
    for nb, entry in doc["notebooks"].items():
        for name, val in entry.get("values", {}).items():
            kind = kind_of(f"{nb}: {name}", val)
            lines.append(f"| {nb} | {name} | {format_value(val.get('value'), kind)} | "
                         f"{format_value(val.get('reference'), kind)} | {val.get('source', '')} |")
    lines += ["", "| notebook | status | seconds | peak memory (MiB) |", "|---|---|---|---|"]
    for nb, entry in doc["notebooks"].items():
        lines.append(f"| {nb} | {entry.get('status')} | {entry.get('seconds', '—')} | "
                     f"{entry.get('peak_memory_mb', '—')} |")
    for name, entry in doc.get("ahead", {}).items():
        lines.append(f"| ahead: {name} | {entry.get('status')} | {entry.get('seconds', '—')} | |")
    lines += ["", f"Course wall clock: {format_value(doc.get('course_seconds'), 'seconds')}; CPU busy "
              f"{format_value(doc.get('cpu_utilisation'), 'fraction')} of {doc.get('cores', '—')} cores.", ""]
    return "\n".join(lines)
