"""Publishing a course run: a browsable index page, and slides made from the notebooks.

* :func:`write_index` writes ``index.html`` beside the executed notebooks of a course run
  (``errlib.run.course`` calls it after every run): the course map, each notebook's time,
  status, verdicts and headline numbers in words (mean ± sd over seeds beside the paper's
  number; from the results document), and links to each executed
  HTML copy, to ``report.md`` and to the docs.
* :func:`export_slides` turns notebooks into reveal.js slide decks (nbconvert). Cells
  may carry ``slideshow`` metadata in the ``.py`` sources; a cell without it gets one by
  rule (a ``#``/``##`` heading starts a slide, a ``###`` heading a sub-slide, the
  parameters cell is skipped; the Colab setup cell says ``skip`` in its source). With a
  local copy of reveal.js the deck works offline (:func:`find_reveal`).
* :func:`local_mathjax` copies a local MathJax beside exported HTML (executed notebooks and
  slides alike), so their equations render offline too.

``python -m errlib.run.site slides`` is what ``make slides`` runs.
"""
from __future__ import annotations

import argparse
import html
import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..stages.cache import runs_root
from ..stages.config import add_profile_argument
from ..core.data import REPO_ROOT
from .render import format_mean_sd, format_value, label, over_seeds, verdicts_in

# The GitHub owner/name the course is published under, for the "Open in Colab" badges and
# the Colab setup cell of every notebook. A placeholder until the repository is public:
# change it here and in the notebooks together (tests/test_site.py checks they agree).
GITHUB_REPO = "YOUR-ORG/errlib"
NOTEBOOKS = REPO_ROOT / "notebooks"
PARTS = {"01": "I", "02": "I", "03": "I", "04": "I", "05": "II", "06": "II", "07": "III", "08": "III"}
REVEAL_CDN = "https://unpkg.com/reveal.js@4.0.2"


def notebook_title(stem: str) -> str:
    """The first heading of ``notebooks/<stem>.ipynb`` without its number, or the stem."""
    import nbformat

    path = NOTEBOOKS / f"{stem}.ipynb"
    if path.exists():
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown" and cell.source.startswith("# "):
                return cell.source.splitlines()[0][2:].split("·", 1)[-1].strip()
    return stem


def _fmt(v: Any, kind: str) -> str:
    """``v`` formatted by its kind (:func:`errlib.run.render.format_value`), never by its range."""
    return html.escape(format_value(v, kind))


def verdict_lines(values: Dict[str, Any]) -> List[str]:
    """HTML lines for any ``*_verdict`` value a notebook published (D_det's first), shown before numbers."""
    return [f"<span class=verdict>{html.escape(label(key))}: <b>{html.escape(verdict)}</b>"
            + (f" <span class=ref>({html.escape(evidence)})</span>" if evidence else "") + "</span>"
            for key, verdict, evidence in verdicts_in(values)]


def headline_numbers(values: Dict[str, Any]) -> List[str]:
    """Short HTML lines, verdicts first, then each value published with the paper's number beside it or
    marked ``headline`` (``report.fraction(v, headline=True)``): in words (:func:`errlib.run.render.label`),
    as mean ± sd over seeds where the notebook published them, each formatted by its kind."""
    lines, shown = verdict_lines(values), set()
    for name, v in values.items():
        if not isinstance(v, dict) or name.endswith(("_sd", "_verdict")):
            continue
        if v.get("reference") is None and not v.get("headline"):
            continue
        entry = over_seeds(values, name[:-5] if name.endswith("_mean") else name)
        if entry["key"] in shown:
            continue
        shown.add(entry["key"])
        seeds = f" <span class=ref>over {entry['n']} seeds</span>" if (entry["n"] or 0) > 1 else ""
        ref = entry.get("reference", v.get("reference"))
        paper = f" <span class=ref>(paper {_fmt(ref, entry['kind'])})</span>" if ref is not None else ""
        lines.append(f"{html.escape(label(entry['key']))}: <b>{html.escape(format_mean_sd(entry))}</b>{seeds}{paper}")
    return lines


def _link(out_dir: Path, target: Path, text: str) -> str:
    rel = os.path.relpath(target, out_dir)
    return f'<a href="{html.escape(Path(rel).as_posix())}">{html.escape(text)}</a>'


def _row(out_dir: Path, stem: str, entry: Dict[str, Any]) -> str:
    executed = out_dir / Path(entry.get("executed") or f"{stem}.ipynb").name
    page = executed.with_suffix(".html")
    title = notebook_title(stem)
    if page.exists():
        title_cell = _link(out_dir, page, title)
    elif executed.exists():
        title_cell = _link(out_dir, executed, title)
    else:
        title_cell = html.escape(title)
    seconds = entry.get("seconds")
    time_cell = f"{seconds:.0f} s" if isinstance(seconds, (int, float)) else "—"
    numbers = "<br>".join(headline_numbers(entry.get("values") or {})) or "—"
    status = html.escape(str(entry.get("status", "not run")))
    return (f"<tr><td>{stem[:2]}</td><td>{PARTS.get(stem[:2], '')}</td><td>{title_cell}</td>"
            f"<td class={status}>{status}</td><td>{time_cell}</td><td>{numbers}</td></tr>")


_STYLE = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}.ref{color:#777}.ok{color:#2a7a2a}
.failed{color:#b00}.verdict{display:block;margin-bottom:.3em}"""


def write_index(out_dir: Path, doc: Dict[str, Any]) -> Path:
    """Write ``out_dir/index.html`` for the course run described by ``doc`` (results.json's content)."""
    out_dir = Path(out_dir)
    entries = dict(doc.get("notebooks", {}))
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        entries.setdefault(path.stem, {"status": "not run"})
    rows = "\n".join(_row(out_dir, stem, entries[stem]) for stem in sorted(entries))
    extras = [_link(out_dir, out_dir / name, name) for name in ("report.md", "results.json")
              if (out_dir / name).exists()]
    extras += [_link(out_dir, REPO_ROOT / "docs" / name, f"docs/{name}") for name in ("reference.md", "instructor.md")
               if (REPO_ROOT / "docs" / name).exists()]
    verdicts = [line for stem in sorted(entries) for line in verdict_lines(entries[stem].get("values") or {})]
    verdict_block = f"<h2>Verdicts</h2><p>{''.join(verdicts)}</p>" if verdicts else ""
    total = doc.get("course_seconds", doc.get("seconds_all_notebooks"))
    body = f"""<!doctype html><html><head><meta charset="utf-8">
<title>errlib course run: profile {html.escape(str(doc.get('profile')))}</title><style>{_STYLE}</style></head><body>
<h1>errlib: a model trained only on errors still generalises</h1>
<p>Course run on profile <b>{html.escape(str(doc.get('profile')))}</b>{f', {total:.0f} s wall clock' if isinstance(total, (int, float)) else ''}.
Part I (01-04) reproduces Ilyas et al. 2019, Section 3.2; Part II (05-06) Wallace's Distill response;
Part III (07-08) tries to break the effect with controls. Each notebook's verdicts come first, then its
numbers, as mean ± sd over seeds where it ran several; "paper" is the number in the paper (or Wallace's
response) beside ours, from another dataset and model: see docs/reference.md.</p>
<p>{' · '.join(extras)}</p>
{verdict_block}
<table><tr><th>#</th><th>part</th><th>notebook (executed copy)</th><th>status</th><th>time</th>
<th>headline numbers</th></tr>
{rows}
</table></body></html>
"""
    path = out_dir / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, path)
    return path


def find_reveal() -> Optional[Path]:
    """A local reveal.js (a folder with ``dist/reveal.js``): ``$ERRLIB_REVEAL``, else the copy
    that the ``sphinx-revealjs`` package ships (``requirements-slides.txt``), else None."""
    env = os.environ.get("ERRLIB_REVEAL")
    candidates = [Path(env)] if env else []
    spec = importlib.util.find_spec("sphinx_revealjs")  # finds the folder without importing sphinx
    if spec and spec.submodule_search_locations:
        candidates.append(Path(list(spec.submodule_search_locations)[0]) / "_static" / "revealjs")
    return next((c for c in candidates if (c / "dist" / "reveal.js").is_file()), None)


# MathJax 2 ships inside the jupyter-server-mathjax wheel (requirements.txt; BSD-3, from the Jupyter
# project, its only dependency jupyter-server, which jupyter already installs). Copied beside the
# exported HTML, it typesets the notebooks' equations with the network off; nbconvert's default
# loads it from a CDN, and offline the equations then show as raw LaTeX.
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"


def find_mathjax() -> Optional[Path]:
    """The local MathJax folder (``$ERRLIB_MATHJAX``, else the one jupyter-server-mathjax ships), or None."""
    env = os.environ.get("ERRLIB_MATHJAX")
    candidates = [Path(env)] if env else []
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec and spec.submodule_search_locations:
        candidates.append(Path(list(spec.submodule_search_locations)[0]) / "static")
    return next((c for c in candidates if (c / "MathJax.js").is_file()), None)


def local_mathjax(out_dir: Path) -> Optional[str]:
    """Copy MathJax into ``out_dir/mathjax`` (once) and return the relative URL an HTML file in
    ``out_dir`` loads it from; None (nbconvert's CDN default) when no local copy is installed.

    Several notebooks' HTML copies are written at once by the course runner, so the copy goes to
    a private folder first and is renamed into place; a loser of that race keeps the winner's."""
    src = find_mathjax()
    if src is None:
        return None
    dest = Path(out_dir) / "mathjax"
    if not (dest / "MathJax.js").is_file():
        tmp = Path(out_dir) / f".mathjax-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        try:
            os.replace(tmp, dest)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    return f"mathjax/MathJax.js?config={MATHJAX_CONFIG}"


def html_exporter(out_dir: Path, cls=None, **kwargs):
    """An nbconvert exporter (``HTMLExporter`` unless ``cls``) whose output in ``out_dir`` loads MathJax locally."""
    from nbconvert import HTMLExporter

    url = local_mathjax(out_dir)
    return (cls or HTMLExporter)(**({"mathjax_url": url} if url else {}), **kwargs)


def _slide_type(cell) -> str:
    tags = cell.get("metadata", {}).get("tags", [])
    if "parameters" in tags or "injected-parameters" in tags:
        return "skip"
    first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
    if cell.cell_type == "markdown" and (first.startswith("# ") or first.startswith("## ")):
        return "slide"
    if cell.cell_type == "markdown" and first.startswith("### "):
        return "subslide"
    return "-"


# nbconvert's reveal template loads reveal.js through require.js and jQuery from the web;
# this override loads a (local) reveal.js directly, so a deck needs nothing online.
_SLIDES_TEMPLATE = """{% extends 'index.html.j2' %}
{% block html_head_js %}{% endblock html_head_js %}
{% block footer_js %}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<style>.reveal .slides section { overflow-y: auto; max-height: 100%; }</style>
<script>
Reveal.initialize({controls: true, progress: true, history: true, hash: true,
  transition: "{{ resources.reveal.transition }}", slideNumber: "{{ resources.reveal.number }}",
  width: {{ resources.reveal.width | default(1100, true) }}, height: {{ resources.reveal.height | default(750, true) }}, plugins: [RevealNotes]});
</script>
{% endblock footer_js %}
"""


def export_slides(notebooks: Sequence[Path], out_dir: Path, reveal: Optional[Path] = None) -> List[Path]:
    """Write ``<stem>.slides.html`` for each notebook into ``out_dir``; return their paths.

    ``reveal``: a local reveal.js folder, copied to ``out_dir/reveal.js`` so the decks
    work offline; without one the decks load reveal.js from the web when opened.
    """
    import nbformat
    from nbconvert import SlidesExporter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = REVEAL_CDN
    if reveal is not None:
        dest = out_dir / "reveal.js"
        for part in ("dist", "plugin"):
            if (Path(reveal) / part).is_dir():
                shutil.copytree(Path(reveal) / part, dest / part, dirs_exist_ok=True)
        if (Path(reveal) / "LICENSE").is_file():
            shutil.copy(Path(reveal) / "LICENSE", dest / "LICENSE")
        prefix = "reveal.js"
    import jinja2

    exporter = html_exporter(out_dir, SlidesExporter, reveal_url_prefix=prefix, extra_loaders=[jinja2.DictLoader(
        {"errlib_slides.html.j2": _SLIDES_TEMPLATE})], template_file="errlib_slides.html.j2")
    written = []
    for nb_path in notebooks:
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            cell.metadata.setdefault("slideshow", {"slide_type": _slide_type(cell)})
        body, _ = exporter.from_notebook_node(nb)
        target = out_dir / f"{Path(nb_path).stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written


def course_notebooks(run_dir: Optional[Path] = None) -> List[Path]:
    """Each notebook's executed copy from ``run_dir`` when there is one (figures included), else the source."""
    out = []
    for src in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        executed = Path(run_dir) / src.name if run_dir else None
        out.append(executed if executed is not None and executed.exists() else src)
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m errlib.run.site", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("slides", help="reveal.js slides from the notebooks")
    add_profile_argument(s, help="take executed copies from this profile's course run when present")
    s.add_argument("--out", type=Path, help="output folder (default <runs>/slides)")
    args = ap.parse_args(argv)
    out = args.out or runs_root() / "slides"
    reveal = find_reveal()
    paths = export_slides(course_notebooks(runs_root() / "course" / args.profile), out, reveal)
    for p in paths:
        print(p)
    print(f"{len(paths)} decks in {out}; reveal.js: "
          + (f"local copy from {reveal} (works offline)" if reveal else
             f"none found locally, the decks load it from {REVEAL_CDN} (needs the web; for offline decks "
             "install requirements-slides.txt)"))


if __name__ == "__main__":
    main()
