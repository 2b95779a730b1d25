"""The executed HTML and the slides typeset equations with the network off: they load MathJax from a
local copy beside them (errlib.run.site.local_mathjax), never from a CDN."""
import os
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


# ---- typeset in a real browser, offline -------------------------------------------------------------
# The local MathJax copy holds only the STIX-Web fonts; with them MathJax 2 fails on some TeX (a
# prime written x', for one) and shows "[Math Processing Error]" in its place. Only a browser that
# runs MathJax sees that, so these tests open the pages in headless Chromium with every host
# unresolvable, and count the errors. `apt-get install chromium` (Debian) provides it.
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
REPO = NB_DIR.parent
MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$", re.S)


def rendered_dom(html: Path) -> str:
    """The page's DOM after its scripts ran, in headless Chromium with the network blocked."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=20000", "--dump-dom", html.as_uri()],
            capture_output=True, text=True, check=True)
    return out.stdout


def math_errors(html: Path, has_math: bool = True) -> int:
    """How many equations MathJax failed to typeset in ``html``; with ``has_math``, fails if MathJax
    typeset nothing at all (a page whose MathJax never ran would count no error either)."""
    dom = rendered_dom(html)
    assert not has_math or 'class="MathJax' in dom, f"{html.name}: MathJax typeset nothing (did it load?)"
    return dom.count("Math Processing Error")


def _page(nb_path: Path, tmp_path: Path) -> Path:
    """The executed notebook's HTML from a course run when there is one, else the committed notebook's export."""
    run = Path(os.environ.get("ERRLIB_COURSE_DIR", REPO / "data" / "runs" / "course" / "smoke"))
    if (run / f"{nb_path.stem}.html").is_file() and (run / "mathjax" / "MathJax.js").is_file():
        return run / f"{nb_path.stem}.html"
    copy = tmp_path / nb_path.name
    shutil.copy(nb_path, copy)
    return runner._to_html(copy)


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (apt-get install chromium)")


@pytest.mark.slow
@needs_chromium
def test_the_browser_check_sees_a_math_error(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("A prime MathJax cannot set offline: $x'$.")])
    nbformat.write(nb, tmp_path / "prime.ipynb")
    assert math_errors(runner._to_html(tmp_path / "prime.ipynb")) == 1


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize("path", sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_every_equation_typesets_offline(path, tmp_path):
    import nbformat

    has_math = any(MATH.search(c.source) for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    assert math_errors(_page(path, tmp_path), has_math) == 0


def test_no_prime_written_as_an_apostrophe_in_math():
    """The fast guard of the browser check: MathJax's local fonts fail on x' (write x^{\\prime})."""
    bad = [f"{p.name}: {m.group(0)[:60]}" for p in sorted(NB_DIR.glob("[0-9][0-9]_*.py")) + sorted(
        (REPO / "docs").glob("*.md")) for m in MATH.finditer(p.read_text(encoding="utf-8")) if "'" in m.group(0)]
    assert not bad, "write a prime as ^{\\prime} inside math: " + "; ".join(bad)
