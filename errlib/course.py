"""Run the course's notebooks with papermill: ``python -m errlib.course run``.

    python -m errlib.course run                      # default profile, every notebook
    python -m errlib.course run --profile smoke      # CI-sized
    python -m errlib.course run --only 01 04 -p eps 3.0
    python -m errlib.course sweep 04 --grid eps 1 2 3 4 5 -p n_attack 5000

``sweep`` reruns one notebook over the cartesian product of ``--grid`` values
(papermill parameters), keeps every executed copy, and collects the values
each run recorded into ``sweep.csv`` (one row per grid point) and
``sweep.png``, under ``data/runs/sweeps/<notebook>/<profile>/``. Cached
stages are shared across grid points (a source model that does not depend on
eps is trained once).

Each notebook runs in a fresh kernel into ``data/runs/course/<profile>/``
(executed ``.ipynb`` plus ``.html``); the runner prints one line per
notebook with its time and writes ``results.json`` (every headline number with
its settings and reference, seconds per notebook, peak memory) and
``report.md``. A notebook whose source, parameters and errlib code are
unchanged since its last successful run is not executed again (``--force``
reruns); the pipeline stages inside the notebooks are cached as well.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import site
from .cache import runs_root
from .data import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"


def list_notebooks(only: Optional[Sequence[str]] = None) -> List[Path]:
    nbs = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        nbs = [p for p in nbs if any(p.name.startswith(o) or p.stem == o for o in only)]
        if not nbs:
            raise SystemExit(f"no notebook matches {list(only)}; have: {[p.name for p in sorted(NOTEBOOKS.glob('*.ipynb'))]}")
    return nbs


def _code_hash() -> str:
    h = hashlib.sha256()
    for p in sorted((REPO_ROOT / "errlib").glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _parse_value(v: str) -> Any:
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(v.lower(), v)


def _to_html(nb_path: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb_path, as_version=4))
    out = nb_path.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def run_course(profile: str = "default", only: Optional[Sequence[str]] = None,
               parameters: Optional[Dict[str, Any]] = None, out: Optional[Path] = None,
               force: bool = False, html: bool = True, timeout: Optional[int] = None) -> Dict[str, Any]:
    """Execute notebooks in order; return (and write) the results document."""
    import papermill as pm

    parameters = dict(parameters or {})
    out = Path(out) if out else runs_root() / "course" / profile
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}
    prev_nbs = previous.get("notebooks", {})
    env_results = out / "results"
    os.environ["ERRLIB_RESULTS"] = str(env_results)
    os.environ["ERRLIB_PROFILE"] = profile
    # Kernels inherit this: idle OpenMP threads sleep instead of spinning, which kept torch
    # 5-15x faster on a 2-core machine shared with another job (measured by the Wallace chapter).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    code = _code_hash()
    doc: Dict[str, Any] = {"profile": profile, "parameters": parameters, "notebooks": dict(prev_nbs)}
    total = 0.0
    for nb in list_notebooks(only):
        params = dict(parameters, profile=profile)
        fingerprint = hashlib.sha256(nb.read_bytes() + json.dumps(params, sort_keys=True).encode()
                                     + code.encode()).hexdigest()[:16]
        target = out / nb.name
        prev = prev_nbs.get(nb.stem, {})
        if not force and prev.get("fingerprint") == fingerprint and target.exists():
            print(f"{nb.name:<40} up to date ({prev.get('seconds', 0):6.1f} s when run)", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(target), parameters=params, kernel_name="python3",
                                cwd=str(NOTEBOOKS), progress_bar=False, execution_timeout=timeout)
        except Exception as exc:
            print(f"{nb.name:<40} FAILED after {time.perf_counter() - t0:.1f} s: see {target}", flush=True)
            doc["notebooks"][nb.stem] = {"status": "failed", "error": str(exc)[-2000:]}
            _write(out, doc)
            raise SystemExit(1) from exc
        seconds = time.perf_counter() - t0
        total += seconds
        if html:
            _to_html(target)
        res_file = env_results / f"{nb.stem}.json"
        results = json.loads(res_file.read_text()) if res_file.exists() else {}
        doc["notebooks"][nb.stem] = {"status": "ok", "seconds": round(seconds, 1),
                                     "fingerprint": fingerprint, "executed": str(target),
                                     "peak_memory_mb": results.get("peak_memory_mb"),
                                     "values": results.get("values", {}),
                                     "settings": results.get("settings", {})}
        print(f"{nb.name:<40} {seconds:6.1f} s", flush=True)
    doc["seconds_this_run"] = round(total, 1)
    doc["seconds_all_notebooks"] = round(sum(v.get("seconds", 0) for v in doc["notebooks"].values()), 1)
    _write(out, doc)
    print(f"total this run {total:.1f} s; results in {results_path}, report in {out / 'report.md'}")
    return doc


def _flat_values(values: Dict[str, Any]) -> Dict[str, Any]:
    """``{"a": {"value": 0.9, "reference": ...}, "b": 0.3}`` -> ``{"a": 0.9, "b": 0.3}`` (scalars only)."""
    out = {}
    for k, v in values.items():
        if isinstance(v, dict):
            v = v.get("value")
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
    return out


def sweep(notebook: str, grid: Dict[str, Sequence[Any]], profile: str = "default",
          parameters: Optional[Dict[str, Any]] = None, out: Optional[Path] = None,
          force: bool = False, plot: bool = True) -> Path:
    """Run ``notebook`` once per point of ``grid`` (cartesian product); return the CSV path.

    Each grid point's executed notebook is kept as ``<stem>__<name>=<value>....ipynb``;
    a point whose executed copy and results exist is not rerun unless ``force``.
    """
    import csv
    import itertools

    import papermill as pm

    nb = list_notebooks([notebook])[0]
    names = list(grid)
    if not names or any(len(grid[n]) == 0 for n in names):
        raise ValueError(f"sweep needs at least one value per grid parameter, got {grid}")
    out = Path(out) if out else runs_root() / "sweeps" / nb.stem / profile
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for combo in itertools.product(*(grid[n] for n in names)):
        point = dict(zip(names, combo))
        tag = "__".join(f"{k}={v}" for k, v in point.items())
        target = out / f"{nb.stem}__{tag}.ipynb"
        res_dir = out / "results" / tag
        res_file = res_dir / f"{nb.stem}.json"
        params = dict(parameters or {}, **point, profile=profile)
        t0 = time.perf_counter()
        if force or not (target.exists() and res_file.exists()):
            old = os.environ.get("ERRLIB_RESULTS")
            os.environ["ERRLIB_RESULTS"] = str(res_dir)
            try:
                pm.execute_notebook(str(nb), str(target), parameters=params, kernel_name="python3",
                                    cwd=str(NOTEBOOKS), progress_bar=False)
            finally:
                if old is None:
                    os.environ.pop("ERRLIB_RESULTS", None)
                else:
                    os.environ["ERRLIB_RESULTS"] = old
            status = f"{time.perf_counter() - t0:6.1f} s"
        else:
            status = "up to date"
        values = _flat_values(json.loads(res_file.read_text())["values"])
        rows.append(dict(point, **values))
        print(f"{nb.stem} {tag:<30} {status}", flush=True)
    columns = names + sorted({k for r in rows for k in r} - set(names))
    csv_path = out / "sweep.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    if plot:
        _plot_sweep(rows, names[0], out / "sweep.png")
    print(f"{len(rows)} grid points -> {csv_path}")
    return csv_path


def _plot_sweep(rows: List[Dict[str, Any]], x: str, path: Path) -> None:
    from .plotting import plt, sweep_curves

    keys = [k for k in rows[0] if k != x and all(isinstance(r.get(k), float) and 0 <= r[k] <= 1 for r in rows)]
    fig = sweep_curves(rows, x, keys)
    fig.savefig(path)
    plt.close(fig)


def _write(out: Path, doc: Dict[str, Any]) -> None:
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    os.replace(tmp, out / "results.json")
    (out / "report.md").write_text(render_report(doc))
    site.write_index(out, doc)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{100 * v:.1f}%" if 0 <= v <= 1 else f"{v:.3g}"
    return "—" if v is None else str(v)


def render_report(doc: Dict[str, Any]) -> str:
    """A Markdown table: one row per headline number, with its reference and notebook."""
    lines = [f"# errlib course report — profile `{doc['profile']}`", "",
             "| notebook | quantity | ours | reference | reference source |",
             "|---|---|---|---|---|"]
    for nb, entry in doc["notebooks"].items():
        for name, val in entry.get("values", {}).items():
            if isinstance(val, dict):
                lines.append(f"| {nb} | {name} | {_fmt(val.get('value'))} | {_fmt(val.get('reference'))} | {val.get('source', '')} |")
            else:
                lines.append(f"| {nb} | {name} | {_fmt(val)} | | |")
    lines += ["", "| notebook | status | seconds | peak memory (MiB) |", "|---|---|---|---|"]
    for nb, entry in doc["notebooks"].items():
        lines.append(f"| {nb} | {entry.get('status')} | {entry.get('seconds', '—')} | {entry.get('peak_memory_mb', '—')} |")
    lines += ["", f"Total notebook time: {doc.get('seconds_all_notebooks')} s.", ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m errlib.course", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute the notebooks in order")
    r.add_argument("--profile", default=os.environ.get("ERRLIB_PROFILE", "default"),
                   choices=["smoke", "default", "full"])
    r.add_argument("--only", nargs="*", help="notebook numbers or names, e.g. 01 04")
    r.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="papermill parameter for every notebook, e.g. -p eps 3.0")
    r.add_argument("--out", type=Path, help="output folder (default data/runs/course/<profile>)")
    r.add_argument("--force", action="store_true", help="re-execute notebooks even if up to date")
    r.add_argument("--no-html", action="store_true", help="skip the HTML copies")
    r.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    sw = sub.add_parser("sweep", help="rerun one notebook over a grid of parameters")
    sw.add_argument("notebook", help="notebook number or name, e.g. 04")
    sw.add_argument("--profile", default=os.environ.get("ERRLIB_PROFILE", "default"),
                    choices=["smoke", "default", "full"])
    sw.add_argument("--grid", nargs="+", action="append", required=True, metavar="NAME VALUE",
                    help="a parameter and its values, e.g. --grid eps 1 2 3 (repeat for a product)")
    sw.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="fixed papermill parameter for every grid point")
    sw.add_argument("--out", type=Path, help="output folder (default data/runs/sweeps/<notebook>/<profile>)")
    sw.add_argument("--force", action="store_true", help="rerun grid points that already have results")
    args = ap.parse_args(argv)
    params = {k: _parse_value(v) for k, v in args.param}
    if args.cmd == "run":
        run_course(args.profile, args.only, params, args.out, args.force, not args.no_html, args.timeout)
    elif args.cmd == "sweep":
        grid = {}
        for name, *values in args.grid:
            if not values:
                ap.error(f"--grid {name} needs at least one value")
            grid[name] = [_parse_value(v) for v in values]
        sweep(args.notebook, grid, args.profile, params, args.out, args.force)


if __name__ == "__main__":
    main(sys.argv[1:])
