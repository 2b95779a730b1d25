"""Where a course run's time went: core-seconds per stage kind, from the run's stage manifests.

    python -m errlib.run.time_table <runs folder> [--course <results.json>]

Each cached stage's manifest records the seconds its build took (one thread per process in a
course run, so wall seconds are core-seconds when the machine is not oversubscribed). Rows
group the stages by kind (``student``, ``errset`` for plain attacks, ``cset`` for constrained
attacks, ``judge`` for the judge and the grader, ...) and by dataset, so Part II's
Fashion-MNIST work shows apart from Part I's MNIST work. With the course's ``results.json``,
the rest of its measured core-seconds (process starts, kernels, loading, scoring, figures) is a
row of its own. Only stages built in the run count: a cold run, in an empty runs folder.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

NAMES = {"student": "students", "errset": "plain attacks (error sets)", "cset": "constrained attacks",
         "judge": "judge and grader", "source": "source, transfer and teacher models", "reading": "judge readings",
         "subset": "leakage-filter subsets"}


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


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m errlib.run.time_table", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="the runs folder of a cold course run (ERRLIB_RUNS)")
    parser.add_argument("--course", type=Path, help="the run's results.json (adds the time outside the stages)")
    args = parser.parse_args(argv)
    print(table(args.runs, args.course))


if __name__ == "__main__":
    main()
