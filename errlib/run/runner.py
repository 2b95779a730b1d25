"""Execute one notebook with papermill, as the course runner and the sweep need it.

* **Its own environment.** The kernel gets ``os.environ`` plus the runner's
  variables (``ERRLIB_RESULTS``, ``ERRLIB_PROFILE``, ``ERRLIB_THREADS``, ...)
  passed to the kernel process alone, so the calling process's environment is
  never changed (and concurrent notebooks cannot see each other's).
* **Progress.** Each markdown heading is printed as the first code cell under
  it starts, tagged with the notebook and the seconds so far.
* **Loud failures.** :func:`execute` never raises for a failing notebook: it
  returns the exception's type and message and the failing cell's first line,
  which :func:`failure_text` prints.
* **No transport warning.** The kernel talks over IPC sockets in a private
  temporary folder, not unencrypted TCP on localhost, which is what ipykernel's
  "Kernel is running over TCP without encryption" warning asks for.

Everything here is importable by a worker process (a process pool or a Dask
worker), so a notebook runs the same wherever it is sent.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError


def list_notebooks(only: Optional[Sequence[str]] = None, folder: Optional[Path] = None) -> List[Path]:
    """The course notebooks ``NN_*.ipynb`` (those matching ``only``: numbers, names, or paths)."""
    from ..core.data import REPO_ROOT

    folder = folder or REPO_ROOT / "notebooks"
    nbs = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [Path(o) for o in only if str(o).endswith(".ipynb") and Path(o).is_file()]
        nbs = paths + [p for p in nbs if any(p.name.startswith(str(o)) or p.stem == o for o in only)]
        if not nbs:
            raise SystemExit(f"no notebook matches {list(only)}; have: {[p.name for p in sorted(folder.glob('*.ipynb'))]}")
    return nbs


def _headings(cells) -> Dict[int, str]:
    """For each code cell's index, the last markdown heading above it."""
    out, current = {}, ""
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            lines = [ln.strip("# ").strip() for ln in cell.source.splitlines() if ln.startswith("#")]
            current = lines[-1] if lines else current
        elif cell.cell_type == "code":
            out[i] = current
    return out


class ErrlibEngine(NBClientEngine):
    """papermill's nbclient engine, with a kernel environment, IPC transport and heading progress."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, kernel_env=None, label="", log_output=False,
                                 stdout_file=None, stderr_file=None, start_timeout=60,
                                 execution_timeout=None, **kwargs):
        from jupyter_client.manager import AsyncKernelManager
        from papermill.log import logger

        headings, t0, shown = _headings(nb_man.nb.cells), time.perf_counter(), [None]
        cell_start = nb_man.cell_start

        def announce(cell, cell_index=None, **kw):
            heading = headings.get(cell_index)
            if heading and heading != shown[0]:
                shown[0] = heading
                print(f"  {label} · {heading} ({time.perf_counter() - t0:.0f} s)", flush=True)
            return cell_start(cell, cell_index, **kw)

        nb_man.cell_start = announce
        with tempfile.TemporaryDirectory(prefix="errlib-kernel-") as sockets:
            km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc", ip=os.path.join(sockets, "k"))
            client = PapermillNotebookClient(
                nb_man, km=km, kernel_name=kernel_name, timeout=execution_timeout,
                startup_timeout=start_timeout, log=logger, log_output=log_output,
                stdout_file=stdout_file, stderr_file=stderr_file)
            return client.execute(env=dict(os.environ, **(kernel_env or {})), cleanup_kc=True)


papermill_engines.register("errlib", ErrlibEngine)


def declared_parameters(nb: Path) -> Dict[str, Any]:
    """The notebook's ``parameters`` cell, as papermill reads it (name -> type, default, help)."""
    import papermill as pm

    return pm.inspect_notebook(str(nb))


def share_parameters(parameters: Dict[str, Any], notebooks: Sequence[Path]) -> Dict[Path, Dict[str, Any]]:
    """Each notebook's share of ``parameters``; ValueError (valid names listed) before anything runs.

    A name must be declared by at least one of ``notebooks``; each notebook
    receives only the names it declares. Types are checked against
    :class:`errlib.stages.config.Config` (:func:`errlib.stages.params.check_parameters`).
    """
    from ..stages.params import check_parameters as check

    declared = {nb: declared_parameters(nb) for nb in notebooks}
    names = list(dict.fromkeys(n for d in declared.values() for n in d))
    check(parameters, names)
    _check_together(parameters)
    return {nb: {k: v for k, v in parameters.items() if k in d} for nb, d in declared.items()}


def _check_together(parameters: Dict[str, Any]) -> None:
    """The settings among ``parameters`` resolved with their profile into one config, so a bound that
    depends on another setting (a radius beyond the dataset's largest distance, more images than the
    dataset holds) stops the run here rather than in a kernel."""
    import dataclasses

    from ..stages.config import Config, resolve

    fields = {f.name for f in dataclasses.fields(Config)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in parameters.items() if k in fields}
    resolve(values.pop("profile", None), **values)


def _raising_line(traceback: Sequence[str]) -> str:
    """The cell's own line marked ``---->`` in an IPython traceback (colours stripped), or ''."""
    from papermill.exceptions import strip_color

    for frame in traceback or ():
        for ln in strip_color(frame).splitlines():
            if ln.lstrip().startswith("---->"):
                return ln.split("---->", 1)[1].strip().split(" ", 1)[-1].strip()
    return ""


def _first_line(source: str) -> str:
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return lines[0] if lines else source.strip()[:80]


def execute(nb: Path, target: Path, parameters: Dict[str, Any], *, env: Optional[Dict[str, str]] = None,
            cwd: Optional[Path] = None, timeout: Optional[int] = None, label: str = "") -> Dict[str, Any]:
    """Run ``nb`` into ``target``; return ``{"status": "ok"|"failed", "seconds", ...}`` (never raises
    for a failing notebook: a failure carries ``ename``, ``evalue``, ``cell`` and ``line``)."""
    import papermill as pm

    target.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(nb), str(target), parameters=parameters, kernel_name="python3",
                            engine_name="errlib", cwd=str(cwd or nb.parent), progress_bar=False,
                            execution_timeout=timeout, kernel_env=env or {}, label=label or nb.stem)
        return {"status": "ok", "seconds": round(time.perf_counter() - t0, 1)}
    except PapermillExecutionError as exc:
        return {"status": "failed", "seconds": round(time.perf_counter() - t0, 1), "ename": exc.ename,
                "evalue": str(exc.evalue), "cell": exc.exec_count, "line": _first_line(exc.source or ""),
                "raised_at": _raising_line(exc.traceback)}
    except Exception as exc:  # the kernel died, timed out or never started
        return {"status": "failed", "seconds": round(time.perf_counter() - t0, 1),
                "ename": type(exc).__name__, "evalue": str(exc), "cell": None, "line": ""}


def failure_text(name: str, result: Dict[str, Any], target: Path) -> str:
    """What a failed run prints: the error, the cell it came from, where the executed copy is."""
    where = f" in cell [{result['cell']}]: {result['line']}" if result.get("line") else ""
    if result.get("raised_at") and result["raised_at"] != result.get("line"):
        where += f"\n  at: {result['raised_at']}"
    return (f"{name} FAILED after {result['seconds']:.1f} s{where}\n"
            f"  {result['ename']}: {result['evalue']}\n  executed notebook: {target}")


def errlib_fingerprint() -> str:
    """The code part of a notebook run's fingerprint: :func:`errlib.stages.identity.code_identity`
    over everything a notebook imports (core, stages, teach), the one "unchanged" test."""
    from ..stages.identity import NOTEBOOK_CODE, code_identity

    return code_identity(packages=NOTEBOOK_CODE)


def run_job(nb: Path, target: Path, parameters: Dict[str, Any], env: Dict[str, str],
            timeout: Optional[int] = None, html: bool = False) -> Dict[str, Any]:
    """One notebook run as a worker process does it: :func:`execute`, then (if it succeeded) an HTML
    copy and the results the notebook saved to ``$ERRLIB_RESULTS/<stem>.json`` (``results``).

    A previous run's results file is removed first, so only this run's numbers are read back; one
    that cannot be read is set aside (:func:`errlib.stages.cache.read_record`) and the run counts as
    failed, naming the file, rather than reporting no numbers or stale ones as a success.
    """
    res_file = Path(env["ERRLIB_RESULTS"]) / f"{nb.stem}.json"
    res_file.unlink(missing_ok=True)
    result = execute(nb, target, parameters, env=env, timeout=timeout, label=nb.stem)
    if result["status"] == "ok":
        if html:
            _to_html(target)
        result.update(_read_results(res_file))
    return result


def _results_problem(doc: Dict[str, Any]) -> Optional[str]:
    """What makes a notebook's results document unreadable (see report.save_results), or None."""
    if not isinstance(doc.get("values", {}), dict) or not isinstance(doc.get("kinds", {}), dict):
        return "holds values or kinds that are not JSON objects"
    if not all(isinstance(v, dict) for v in doc.get("values", {}).values()):
        return "holds a value that is not a JSON object with its kind"
    return None


def _read_results(res_file: Path) -> Dict[str, Any]:
    """``{"results": ...}`` read from a notebook's results file ({} when it wrote none), or a failure."""
    from ..stages.cache import read_record

    there = res_file.exists()
    results = read_record(res_file, "the notebook's results file", _results_problem)
    if there and results is None:
        return {"status": "failed", "ename": "UnreadableResults", "cell": None, "line": "",
                "evalue": f"{res_file} could not be read; set aside beside it, no numbers reported"}
    return {"results": results or {}}


def _to_html(nb_path: Path) -> Path:
    """``<nb>.html`` beside the executed notebook; equations typeset by a local MathJax when installed."""
    import nbformat

    from .site import html_exporter

    body, _ = html_exporter(nb_path.parent).from_notebook_node(nbformat.read(nb_path, as_version=4))
    out = nb_path.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out
