"""The executed HTML and the slides typeset equations with the network off: they load MathJax from a
local copy beside them (errlib.run.site.local_mathjax), never from a CDN."""
import re
import shutil
from pathlib import Path

import pytest

from errlib.run import runner, site

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def _mathjax_sources(page: str):
    return [src for src in re.findall(r'<script[^>]*src="([^"]+)"', page) if "mathjax" in src.lower()]


def test_a_local_mathjax_is_installed():
    root = site.find_mathjax()
    assert root is not None, "no local MathJax: install requirements.txt (jupyter-server-mathjax)"
    assert (root / "MathJax.js").is_file() and (root / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()


def test_notebook_html_loads_mathjax_from_a_local_copy(tmp_path):
    nb = tmp_path / "02_craft_errors.ipynb"
    shutil.copy(NB_DIR / "02_craft_errors.ipynb", nb)
    page = runner._to_html(nb).read_text(encoding="utf-8")
    assert "\\lVert" in page  # the derivation's equations are in the page, for MathJax to typeset
    sources = _mathjax_sources(page)
    assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources), sources
    assert (tmp_path / sources[0].split("?")[0]).is_file(), "the page points at a MathJax file that is not there"
    assert "cdnjs.cloudflare.com/ajax/libs/mathjax" not in page


def test_slides_load_mathjax_from_a_local_copy(tmp_path):
    deck = site.export_slides([NB_DIR / "02_craft_errors.ipynb"], tmp_path / "slides")[0]
    sources = _mathjax_sources(deck.read_text(encoding="utf-8"))
    assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources), sources
    assert (deck.parent / sources[0].split("?")[0]).is_file()


def test_copy_is_made_once_and_survives_a_second_writer(tmp_path):
    first = site.local_mathjax(tmp_path)
    marker = tmp_path / "mathjax" / "MathJax.js"
    stamp = marker.stat().st_mtime_ns
    assert site.local_mathjax(tmp_path) == first and marker.stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mathjax-")]


def test_without_a_local_copy_the_exporter_keeps_its_default(tmp_path, monkeypatch):
    monkeypatch.setattr(site, "find_mathjax", lambda: None)
    assert site.local_mathjax(tmp_path) is None
    from nbconvert import HTMLExporter
    assert site.html_exporter(tmp_path).mathjax_url == HTMLExporter().mathjax_url
