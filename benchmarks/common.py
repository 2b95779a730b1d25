"""What every benchmark file shares: which errlib it measures, timing by interleaved medians, the setup.

Which errlib: the first ``PYTHONPATH`` entry that holds an ``errlib`` package (the
driver puts a baseline revision's tree there, the way asv does), else this
checkout. Timing: contenders run in one process, interleaved, their order rotated
every round; each round gives a paired ratio and the reports quote medians
(benchmarks/README.md, "Method").
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent


def _errlib_tree() -> Path:
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry and (Path(entry) / "errlib" / "__init__.py").is_file():
            return Path(entry).resolve()
    sys.path.insert(0, str(REPO))
    return REPO


TREE = _errlib_tree()  # before anything imports errlib

import torch  # noqa: E402

TORCH_DEFAULT_THREADS = torch.get_num_threads()  # before --threads changes it


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def median(xs: List[float]) -> float:
    return float(statistics.median(xs))


def interleave(contenders: Dict[str, Callable[[], object]], rounds: int) -> Dict[str, List[float]]:
    """Run every contender once per round, the order rotated each round; seconds per call."""
    names = list(contenders)
    times: Dict[str, List[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            t0 = time.perf_counter()
            contenders[k]()
            times[k].append(time.perf_counter() - t0)
        log(f"    round {r + 1}/{rounds}: " + ", ".join(f"{k} {times[k][-1]:.2f}s" for k in names))
    return times


def paired_ratio(times: Dict[str, List[float]], fast: str, slow: str) -> Optional[float]:
    """Median over rounds of time[slow] / time[fast]: how many times faster ``fast`` is."""
    if fast not in times or slow not in times:
        return None
    return median([s / f for f, s in zip(times[fast], times[slow])])


def pick(contenders: Dict[str, Callable[[], object]], only: Optional[List[str]]) -> Dict[str, Callable]:
    """The contenders named in ``--only`` (all without it); an unknown name is an error."""
    if not only:
        return contenders
    unknown = sorted(set(only) - set(contenders))
    if unknown:
        sys.exit(f"--only {' '.join(unknown)}: no such contender; choose from {', '.join(contenders)}")
    return {k: v for k, v in contenders.items() if k in only}


def parser(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark file takes (its docstring's first line is the description)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the benchmark")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default: by size)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run only these contenders")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    return ap


def malloc_env_or_restart() -> None:
    """Restart this script with errlib's glibc thresholds in its environment, unless they are there
    (glibc reads them at process start; the course's processes get them the same way)."""
    try:
        from errlib.core.parallel import MALLOC_ENV
    except ImportError:  # a baseline from before the setting moved to the environment
        return
    if not any(k in os.environ for k in MALLOC_ENV):
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, **MALLOC_ENV))


def setup(args: argparse.Namespace) -> dict:
    """Same threads and allocator for every contender; returns the run's description (meta)."""
    malloc_env_or_restart()
    if args.threads:
        torch.set_num_threads(args.threads)
    ignored = os.environ.pop("ERRLIB_THREADS", None)  # errlib gets no private thread count
    os.environ.setdefault("ERRLIB_PROGRESS", "0")
    os.environ.setdefault("ERRLIB_DOWNLOAD", "0")
    # glibc's thresholds as the course sets them (errlib.core.parallel.MALLOC_ENV; its own figure:
    # allocator.py), read at process start (malloc_env_or_restart)
    reuse = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    return {"date": _dt.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
            "errlib_tree": str(TREE), "commit": tree_commit(), "torch": torch.__version__, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(), "ignored_ERRLIB_THREADS": ignored,
            "malloc_env": reuse, "loadavg_start": loadavg()}


def tree_commit() -> Optional[str]:
    """The git commit of the errlib tree measured (``+dirty`` with changes; None outside a checkout,
    or for a baseline tree from before errlib recorded commits)."""
    try:
        from errlib.run.course import provenance
    except ImportError:
        return None
    return provenance()["commit"]


def loadavg() -> Optional[List[float]]:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def finish(res: dict, meta: dict, args: argparse.Namespace, rows: List[str]) -> dict:
    """Record the end of the run, print ``rows`` (a markdown table), write ``--out``."""
    meta["loadavg_end"] = loadavg()
    res["meta"] = meta
    print("\n".join(TABLE_HEAD + rows))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    return res


def main(doc: str, measure: Callable, rows: Callable, targets: Optional[Callable] = None,
         options: Optional[Dict[str, str]] = None) -> dict:
    """A benchmark file's command line: parse (``options``: extra ``--name: help``), set up, measure, report."""
    ap = parser(doc)
    for name, help_text in (options or {}).items():
        ap.add_argument(name, help=help_text)
    args = ap.parse_args()
    meta = setup(args)
    res = measure(args)
    if targets is not None:
        res["targets"] = targets(res)
    return finish(res, meta, args, rows(res))


TABLE_HEAD = ["| measure | errlib | against | ratio | target |", "|---|---|---|---|---|"]


def target(value: Optional[float], goal: float, op: str = ">=", *, ok: bool = True) -> dict:
    """A target's record: value, goal, direction and whether it is met (None: not measured)."""
    met = None if value is None else bool(ok and (value >= goal if op == ">=" else value <= goal))
    return {"value": value, "target": goal, "op": op, "met": met}


def verdict(t: dict, goal: str = "") -> str:
    """``>= 0.95 met``: the target as the table shows it (``goal`` overrides how the goal is written)."""
    state = {None: "not measured", True: "met", False: "NOT met"}[t["met"]]
    return f"{t['op']} {goal or format(t['target'], 'g')} {state}"


def fmt(x: Optional[float], spec: str = ".2f", suffix: str = "x") -> str:
    return "—" if x is None else f"{x:{spec}}{suffix}"


# ----------------------------------------------------------------------------- the course CNN on MNIST

def mnist():
    """MNIST's training and test sets as uint8 tensors (from ``$ERRLIB_DATA``)."""
    from errlib.core.data import load_dataset

    return load_dataset("mnist", train=True), load_dataset("mnist", train=False)


def source_model(X: torch.Tensor, y: torch.Tensor, n: int) -> torch.nn.Module:
    """The course CNN trained for one epoch on ``n`` MNIST images (so attacks are meaningful)."""
    from errlib.core.models import make_model
    from errlib.core.train import fit

    model = make_model("cnn", "mnist", seed=0)
    t0 = time.perf_counter()
    hist = fit(model, X[:n], y[:n], epochs=1, seed=0, progress=False)
    log(f"  source model: 1 epoch on {n} images in {time.perf_counter() - t0:.1f}s, "
        f"train acc {hist[-1]['train_acc']:.3f}")
    return model


def attack_inputs(Xt: torch.Tensor, yt: torch.Tensor, n: int):
    """``n`` test images in [0, 1] and a uniformly random wrong class for each (seed 0)."""
    from errlib.core.data import to_float
    from errlib.stages.errsets import make_targets

    return to_float(Xt[:n]), make_targets(yt[:n], "other", 10, seed=0)
