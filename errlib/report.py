"""Results that notebooks publish, for ``results.json`` and ``report.md``.

A notebook ends with::

    errlib.report.save_results("04_measure", cfg, {"D_rand": {"value": 0.87, "reference": 0.633}})

which writes ``<results dir>/04_measure.json`` holding the values, the
settings that produced them, the kernel's peak memory and a timestamp. The
results dir is ``$ERRLIB_RESULTS`` (set by the course runner) or
``<runs root>/results/<profile>``.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from .cache import runs_root


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def results_dir(profile: str) -> Path:
    env = os.environ.get("ERRLIB_RESULTS")
    return Path(env) if env else runs_root() / "results" / profile


def save_results(notebook: str, cfg, values: Dict[str, Any], *, settings: Optional[Dict[str, Any]] = None) -> Path:
    """Write this notebook's headline numbers (and the config that produced them) as JSON."""
    out = results_dir(cfg.profile)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"notebook": notebook, "profile": cfg.profile, "settings": settings or cfg.to_dict(),
           "values": values, "peak_memory_mb": round(peak_memory_mb(), 1),
           "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = out / f"{notebook}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    os.replace(tmp, path)
    print(f"results saved to {path}")
    return path


def fmt_pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"
