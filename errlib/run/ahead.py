"""Work the course runner starts before the notebook that needs it, on cores that would idle.

The course's longest chain is 01 -> 02 -> 03 -> 04 -> 07, and most of 04's and
07's work does not need the notebook before them: 04's other seeds need only
the judge, 07's eps sweep only 01's source model and the judge. Every notebook
builds what it needs through the stage cache, so such work can start early, in
another process, and the notebook then loads it. :func:`plan` lists these jobs
for the notebooks of a run:

* ``judge``: the robust judge that 02, 04 and 07 read, at once;
* ``04 seed 0 leakage``: the first seed's leakage-controlled students
  (:func:`errlib.stages.leakage.build_controlled_students`), once 02 has built the
  error sets, beside 03;
* ``grader``: the second judge (:func:`errlib.stages.constrained_sets.get_grader`), at once;
* ``04 seed 0 constrained``: the first seed's judge-constrained sets, their students
  and the grader's filtered students (:func:`errlib.stages.constrained_sets.build_first_seed`),
  once 02, the judge and the grader are done (none when ``n_constrained`` is 0);
* ``04 seed s``: each further seed's whole headline row with its constrained sets
  (:func:`errlib.stages.constrained_sets.seed_row`), once the judge and the grader exist;
* ``07 eps=e``: each point of 07's eps sweep (:func:`errlib.stages.controls.eps_sweep_plan`),
  a run of notebook 04 stored where 07's sweep finds it up to date
  (:func:`errlib.run.sweep.run_point`), once 01 and the judge are done.

A job only starts work early: it calls the functions the notebook calls, with
the settings the notebook resolves, so nothing it computes differs from what the
notebook would compute. If its settings ever differed, the notebook would simply
build its own stages. A failed job is reported, and the notebook that wanted it
still runs and builds what it needs (failing loudly if that fails). Each call
runs in a fresh Python process with the kernels' environment, its output in
``<out>/ahead/<name>.log``.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

# Which ready work starts first, lowest first. The chain 01 -> 02 -> 03 -> 04 -> 07 sets the course's
# length, so it and the jobs it waits for lead; 05 and 06 fill the cores that are left.
RANK = {"01": 0, "judge": 1, "grader": 1, "02": 2, "03": 3, "04 leakage": 4, "04 constrained": 5, "04": 5, "07": 6,
        "04 seed": 10, "07 eps": 20, "05": 30, "06": 40}


class AheadJob(NamedTuple):
    """One piece of early work: ``run(env)`` returns ``{"status": "ok"|"failed", "seconds", ...}``."""

    name: str
    rank: int
    after: Tuple[str, ...]  # notebook numbers and job names it waits for (those in the run)
    before: Optional[str]  # the notebook number that waits for it (None: nobody waits)
    run: Callable[[Dict[str, str]], Dict[str, Any]]


def _config(profile: str, params: Dict[str, Any]):
    from ..stages.config import resolve

    return resolve(profile, **{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()
                               if k != "profile"})


def plan(profile: str, shares: Dict[str, Dict[str, Any]], out: Path) -> List[AheadJob]:
    """The early jobs for a run whose notebooks (by number) get the parameters ``shares``."""
    from ..stages.controls import eps_sweep_plan
    from .sweep import sweep_points, up_to_date

    jobs: List[AheadJob] = []
    logs = out / "ahead"
    first = next((n for n in ("02", "04", "07") if n in shares), None)
    if first is None:
        return jobs
    call = functools.partial(run_call, log_dir=logs)
    cfg = _config(profile, shares[first])
    jobs.append(AheadJob("judge", RANK["judge"], (), None, functools.partial(call, "errlib.stages.leakage:get_judge",
                                                                             cfg.to_dict(), "judge")))
    if "04" in shares and _config(profile, shares["04"]).n_constrained:
        jobs.append(AheadJob("grader", RANK["grader"], (), None, functools.partial(
            call, "errlib.stages.constrained_sets:get_grader", _config(profile, shares["04"]).to_dict(), "grader")))
    if "04" in shares:
        cfg = _config(profile, shares["04"])
        name = f"04 seed {cfg.seed} leakage"
        jobs.append(AheadJob(name, RANK["04 leakage"], ("02", "judge"), "04", functools.partial(
            call, "errlib.stages.leakage:build_controlled_students", cfg.to_dict(), name)))
        graded = ("grader",) if cfg.n_constrained else ()
        if cfg.n_constrained:
            name = f"04 seed {cfg.seed} constrained"
            jobs.append(AheadJob(name, RANK["04 constrained"], ("02", "judge", "grader"), "04", functools.partial(
                call, "errlib.stages.constrained_sets:build_first_seed", cfg.to_dict(), name)))
        for s in range(cfg.seed + 1, cfg.seed + cfg.n_seeds):
            name = f"04 seed {s}"
            jobs.append(AheadJob(name, RANK["04 seed"] + s - cfg.seed, ("judge",) + graded, "04", functools.partial(
                call, "errlib.stages.constrained_sets:seed_row", cfg.replace(seed=s).to_dict(), name)))
    if "07" in shares:
        cfg = _config(profile, shares["07"])
        grid, fixed = eps_sweep_plan(cfg)
        nb, points, fingerprint = sweep_points("04", grid, profile, fixed)
        for i, p in enumerate(points):
            if up_to_date(p, fingerprint) is None:
                name = "07 " + "__".join(f"{k}={v}" for k, v in p["grid"].items())
                jobs.append(AheadJob(name, RANK["07 eps"] + i, ("01", "judge"), "07",
                                     functools.partial(run_sweep_point, nb, p, fingerprint)))
    return jobs


def run_sweep_point(nb: Path, point: Dict[str, Any], fingerprint: str, env: Dict[str, str]) -> Dict[str, Any]:
    """One sweep point, as :func:`errlib.run.sweep.sweep` runs it, in the runner's kernel environment
    with the point's own results folder."""
    from .sweep import run_point

    return run_point(nb, point, fingerprint, dict(env, ERRLIB_RESULTS=str(point["dir"] / "results")))


def run_call(target: str, cfg: Dict[str, Any], name: str, env: Dict[str, str], *,
             log_dir: Path) -> Dict[str, Any]:
    """``target(cfg)`` (``"module:function"``) in a fresh Python process with ``env`` added."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / (name.replace(" ", "_") + ".log")
    t0 = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.run([sys.executable, "-m", "errlib.run.ahead", target, json.dumps(cfg, default=list)],
                              env=dict(os.environ, **env), stdout=f, stderr=subprocess.STDOUT).returncode
    seconds = round(time.perf_counter() - t0, 1)
    if code == 0:
        return {"status": "ok", "seconds": seconds, "log": str(log)}
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit status {code}"
    ename, _, evalue = last.partition(": ")
    return {"status": "failed", "seconds": seconds, "ename": ename if evalue else "ProcessError",
            "evalue": evalue or last, "log": str(log)}


def main(argv: List[str]) -> None:
    """``python -m errlib.run.ahead module:function '<config as JSON>'``: what :func:`run_call` runs."""
    from ..stages.config import Config

    target, blob = argv
    module, _, fn = target.partition(":")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(blob).items()}
    cfg = Config(**fields).replace()  # replace() validates
    getattr(importlib.import_module(module), fn)(cfg)


if __name__ == "__main__":
    main(sys.argv[1:])
