#!/usr/bin/env python
"""Notebook 04 run alone in a kernel, after 01-03, cold: its stage calls on every core vs in the kernel.

    ERRLIB_DATA=... python benchmarks/alone.py [--profile default] [--n-attack N] [--precision P] [--rounds R] [--out FILE]

What a learner does in JupyterLab: 01, 02 and 03 have run, then 04 runs in one kernel with
torch's default threads. Before the course's executor moved into errlib.stages, 04 built its
other seeds, constrained sets and controls one after another in that kernel
(``ERRLIB_CALL_JOBS=1`` does the same today); now ``executor.run_steps`` builds them first as
one-thread processes, one per core. Both runs start from copies of one cache holding 01-03's
stages, run the same papermill command with the same parameters, and do the same work; the
figure is the ratio of their wall seconds (``nb04_alone_speedup`` = in-kernel / every core).
``--rounds R`` (default 1) runs the pair R times from the same 01-03 cache, the order of its two
runs alternating, and reports the median ratio with its range (``ratios``) and each run's
seconds (``round_seconds``); ``seconds`` holds the medians.
By default both do the profile's whole work (the default profile: 20,000 rows per set, about 40
minutes for the pair on 2 cores); ``--n-attack`` shrinks it the same way for both, which makes
each stage call shorter, so process starts (about 4 CPU-s each: torch, and ``torch._dynamo``,
which torch's optimizers import on first use) weigh more against the packing gain.
``--precision fp32`` runs all four notebooks in float32 where ``auto`` would pick bf16: on a CPU
with AMX-BF16 it measures the executor on the arithmetic of a CPU without it (the fp32 machines
the course also runs on), with the same CPU's cores and memory.

A learner's whole path, every notebook alone in order, is ``benchmarks/learner_path.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, TREE, fmt, log, main, median, target, verdict

TARGET = 1 / 0.75  # 04 alone in at most 0.75x the in-kernel time (issue 29)
PAIR = (("in_kernel", {"ERRLIB_CALL_JOBS": "1"}), ("every_core", {}))  # the kernel builds every call / run_steps


def _papermill(nb: str, runs: Path, out: Path, params: dict, env_extra: dict) -> float:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ERRLIB_RUNS=str(runs), ERRLIB_RESULTS=str(out / "results"), **env_extra)
    env.pop("ERRLIB_THREADS", None)  # a learner's kernel: torch's default threads
    env["PYTHONPATH"] = os.pathsep.join([str(TREE), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "papermill", str(REPO / "notebooks" / f"{nb}.ipynb"), str(out / f"{nb}.ipynb"),
            "--no-progress-bar"] + [a for k, v in params.items() for a in ("-p", k, str(v))]
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def in_order(stems, runs: Path, out: Path, params: dict) -> dict:
    """Each notebook in ``stems`` alone in its own kernel, in order, on the cache ``runs``: seconds each."""
    seconds = {}
    for nb in stems:
        log(f"  {nb}, alone")
        seconds[nb] = round(_papermill(nb, runs, out, params, {}), 1)
        log(f"    {seconds[nb]:.1f} s")
    return seconds


def measure(args) -> dict:
    profile = args.profile or ("smoke" if args.quick else "default")
    if args.precision:
        from errlib.core.precision import check
        check(args.precision)  # a bad name stops here, before 01-03 run
    n_attack = args.n_attack  # None: the profile's own size
    params = {"profile": profile, **({"n_attack": int(n_attack)} if n_attack else {}),
              **({"precision": args.precision} if args.precision else {})}
    with tempfile.TemporaryDirectory(prefix="errlib-alone-") as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        prep = in_order(("01_source_model", "02_craft_errors", "03_train_on_errors"), base, tmp / "prep", params)
        runs = {name: [] for name, _ in PAIR}
        for r in range(args.rounds or 1):
            for name, extra in (PAIR if r % 2 == 0 else PAIR[::-1]):  # alternate: drift hits both
                cache = tmp / f"{name}-{r}"
                shutil.copytree(base, cache)
                log(f"  04 alone, {name}, round {r + 1}")
                runs[name].append(round(_papermill("04_measure", cache, tmp / f"out-{name}-{r}", params, extra), 1))
                log(f"    {runs[name][-1]:.1f} s")
                shutil.rmtree(cache)
    ratios = [k / e for k, e in zip(runs["in_kernel"], runs["every_core"])]
    return {"params": params, "seconds": {name: median(v) for name, v in runs.items()}, "round_seconds": runs,
            "ratios": ratios, "cores": os.cpu_count(), "prep_seconds": prep, "nb04_alone_speedup": median(ratios)}


OPTIONS = {"--profile": "the profile (default: default; --quick: smoke)",
           "--n-attack": "attacked images per set, for both runs (default: the profile's)",
           "--precision": "auto | fp32 | bf16, for every notebook of both runs (default: the notebooks' auto)"}


def targets(res: dict) -> dict:
    return {"nb04_alone_speedup": target(res.get("nb04_alone_speedup"), TARGET)}


def rows(res: dict) -> list:
    s, ratios = res["seconds"], res.get("ratios") or []
    spread = f", {len(ratios)} rounds, range {fmt(min(ratios))}-{fmt(max(ratios))}" if len(ratios) > 1 else ""
    return [f"| 04 alone after 01-03, cold ({res['params']}): in the kernel {s['in_kernel']:.0f} s, every core "
            f"{s['every_core']:.0f} s ({res['cores']} cores{spread}) | {fmt(res['nb04_alone_speedup'])} | | | "
            f"{verdict(targets(res)['nb04_alone_speedup'], '1.33x (0.75x the time)')} |"]


def readme_block(res: dict) -> list:
    """The pair's rounds as benchmarks/README.md shows them (``run.py`` writes it between the
    section's markers there): each round's seconds and ratio, then the median, range and verdict."""
    rs, ratios = res["round_seconds"], res["ratios"]
    lines = ["| round | in the kernel | on every core | ratio (time) |", "|---|---|---|---|"]
    for r, (k, e, q) in enumerate(zip(rs["in_kernel"], rs["every_core"], ratios)):
        first = "in the kernel" if r % 2 == 0 else "on every core"  # measure() alternates the order
        lines.append(f"| {r + 1} ({first} first) | {k:,.0f} s | {e:,.0f} s | {fmt(q)} ({1 / q:.2f}x) |")
    prep = ", ".join(f"{nb[:2]} {sec:.0f} s" for nb, sec in res["prep_seconds"].items())
    m = res.get("meta") or {}
    return lines + ["", f"Median {fmt(res['nb04_alone_speedup'])}, range {fmt(min(ratios))}-{fmt(max(ratios))}, "
                        f"{len(ratios)} round(s): {verdict(targets(res)['nb04_alone_speedup'], '1.33x')}. Before the "
                        f"pair, 01-03 took {prep} ({res['params']}, commit {m.get('commit')}, {m.get('date')})."]


if __name__ == "__main__":
    main(__doc__, measure, rows, targets, OPTIONS)
