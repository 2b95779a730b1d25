#!/usr/bin/env python
"""A learner's whole path: every course notebook in order, each alone in a kernel of its own, cold.

    ERRLIB_DATA=... python benchmarks/learner_path.py [--profile default] [--out FILE]

What the README suggests a learner do in JupyterLab, timed: each notebook runs in a fresh kernel
(papermill, torch's default threads, its independent stage calls on every core through
``executor.run_steps``), one after another, on one stage cache that starts empty, at the
profile's own size. The README's learner line sets these seconds beside ``make course``'s and
beside the estimate the notebooks print (``errlib.stages.costs``, from the recorded course
run). No target: the figure is what a learner should expect, measured; ``--quick`` runs the
smoke profile. Default profile on 2 cores: about 25 minutes.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from alone import in_order
from common import REPO, main

OPTIONS = {"--profile": "the profile (default: default; --quick: smoke)"}


def measure(args) -> dict:
    params = {"profile": args.profile or ("smoke" if args.quick else "default")}
    stems = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="errlib-path-") as tmp:
        seconds = in_order(stems, Path(tmp) / "runs", Path(tmp) / "out", params)
    return {"params": params, "path_seconds": seconds, "path_total_seconds": round(sum(seconds.values()), 1),
            "cores": os.cpu_count()}


def rows(res: dict) -> list:
    each = ", ".join(f"{k[:2]} {v:.0f} s" for k, v in res["path_seconds"].items())
    return [f"| a learner's path, every notebook alone in order, cold ({res['params']}, {res['cores']} cores): "
            f"{each} | {res['path_total_seconds']:.0f} s | | | (no target) |"]


if __name__ == "__main__":
    main(__doc__, measure, rows, None, OPTIONS)
