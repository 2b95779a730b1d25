"""The course's ``report.md``, and how every page formats a published value.

Notebooks save their values through :mod:`errlib.stages.report` (``from errlib import report``);
this module reads them back for the course machinery. :func:`format_value` and
:func:`render_report` format by the kind each value was made with, never by range: a norm of
0.48 prints 0.48, not 48%.
"""
from __future__ import annotations

from typing import Any, Dict

from ..stages.kinds import kind_of


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
