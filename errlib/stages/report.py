"""What a notebook publishes: its headline numbers, saved as ``<results dir>/<notebook>.json``.

A notebook ends with::

    report.save_results("04_measure", cfg, {"D_rand": report.fraction(0.87, reference=0.633)})

which writes the values, the settings and environment that produced them, the kernel's peak
memory and a timestamp. The results dir is ``$ERRLIB_RESULTS`` (set by the course runner) or
``<runs root>/results/<profile>``.

This side lives in :mod:`errlib.stages` so that notebooks, which import only core, stages and
teach, can publish; turning the saved files into a report, an index page or the repository's
``docs/results.md`` is the course machinery's work (:mod:`errlib.run.render`,
:mod:`errlib.run.results_page`).

Every value carries the kind it was made with (:mod:`errlib.stages.kinds`, re-exported here:
``report.fraction(0.87, reference=0.633, source=...)``, ``report.count(n)``, ``report.norm(r)``,
...): nothing guesses a kind from a name, and a value without one is refused when saved. The
results file holds each value as ``{"value": v, "kind": k, ...}`` (and a ``"kinds"`` summary),
with the environment the numbers came from (:func:`errlib.core.environment.environment`).
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
from .cache import runs_root
from .kinds import (KINDS, count, fraction, headline, kind_of, norm, number, record, seconds,  # noqa: F401
                    table, value)


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def core_seconds() -> float:
    """CPU seconds (user + system, every thread) this process and the children it waited for used so far."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def results_dir(profile: str) -> Path:
    """Where this process saves results: ``$ERRLIB_RESULTS``, else ``<runs root>/results/<profile>``."""
    env = os.environ.get("ERRLIB_RESULTS")
    return Path(env) if env else runs_root() / "results" / profile


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
           "peak_memory_mb": round(peak_memory_mb(), 1), "core_seconds": round(core_seconds(), 1), "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = out / f"{notebook}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    os.replace(tmp, path)
    print(f"results saved to {path}")
    return path
