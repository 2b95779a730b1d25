"""Run a benchmark file in a subprocess against one errlib tree, and a baseline revision's tree.

The baseline is compared the way asv does: its ``errlib/`` is checked out with
``git archive`` into a temporary folder, and the same benchmark file runs in a
fresh process with that folder first on ``PYTHONPATH``. Before/after figures
come from processes alternated with this checkout's, their order rotated each
round, as paired ratios of each process's median time.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import List, Optional

from common import REPO, log, median

HERE = Path(__file__).resolve().parent


def checkout(rev: str, into: Path) -> Path:
    """A tree whose ``errlib/`` is the one at git revision ``rev`` (or ``rev`` itself, a folder holding errlib/)."""
    if Path(rev).is_dir():
        if not (Path(rev) / "errlib" / "__init__.py").is_file():
            sys.exit(f"--baseline {rev}: a folder must hold an errlib/ package (errlib/__init__.py)")
        return Path(rev).resolve()
    got = subprocess.run(["git", "archive", "--format=tar", rev, "errlib"], cwd=REPO, capture_output=True)
    if got.returncode != 0:
        sys.exit(f"--baseline {rev}: `git archive {rev} errlib` failed ({got.stderr.decode().strip()}); "
                 "give a git revision of this repository or a folder holding errlib/")
    with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_file(name: str, tree: Path, args: List[str], out: Path) -> dict:
    """Run benchmarks/<name>.py with ``tree``'s errlib; its JSON results (RuntimeError if it fails)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    got = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args, "--out", str(out)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if got.returncode != 0:
        raise RuntimeError(f"benchmarks/{name}.py (errlib from {tree}) exited {got.returncode}: "
                           f"{got.stderr.strip()[-800:]}")
    return json.loads(out.read_text())


def before_after(name: str, base: Path, args: List[str], rounds: int, tmp: Path) -> dict:
    """errlib's contender of benchmarks/<name>.py, this checkout vs ``base``, in alternated processes."""
    trees = {"errlib": REPO, "baseline": base}
    times = {k: [] for k in trees}
    rates = {k: [] for k in trees}
    for r in range(rounds):
        for k in (("errlib", "baseline") if r % 2 == 0 else ("baseline", "errlib")):
            log(f"  {name}: errlib from {trees[k]} (process pair {r + 1}/{rounds})")
            try:
                res = run_file(name, trees[k], [*args, "--only", "errlib"], tmp / f"{name}-{k}-{r}.json")
            except RuntimeError as err:
                return {"error": str(err)}
            times[k].append(median(res["seconds"]["errlib"]))
            rates[k].append(res["errlib"])
    return {"rounds": rounds, "seconds": times, "errlib": rates["errlib"], "baseline": rates["baseline"],
            "ratio_errlib_vs_baseline": median([b / a for a, b in zip(times["errlib"], times["baseline"])])}


def baseline(rev: Optional[str], args: List[str], rounds: int, tmp: Path) -> Optional[dict]:
    """The attack and training before/after figures against revision ``rev`` (None without one)."""
    if not rev:
        return None
    base = checkout(rev, Path(tempfile.mkdtemp(prefix="errlib-baseline-", dir=tmp)))
    return {"rev": rev, "tree": str(base),
            "attack": before_after("attack", base, args, rounds, tmp),
            "train": before_after("train", base, args, rounds, tmp)}


def rows(res: Optional[dict]) -> List[str]:
    if res is None:
        return []
    out = []
    for name, unit in (("attack", "image_steps_per_s"), ("train", "images_per_s")):
        r = res[name]
        what = f"{name} vs errlib@{res['rev']} (separate processes)"
        if "error" in r:
            out.append(f"| {what} | — | — | — | failed: {r['error'][-200:]} |")
            continue
        now, then = (median([x[unit] for x in r[k]]) for k in ("errlib", "baseline"))
        out.append(f"| {what}, {unit.replace('_per_s', '/s').replace('_', '-')} | {now:.0f} | {then:.0f} | "
                   f"{r['ratio_errlib_vs_baseline']:.2f}x | before/after |")
    return out
