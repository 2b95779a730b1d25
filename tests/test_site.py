"""The browsable course run (index.html), the slide export, and the Colab badges."""
import json
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from errlib import course, site

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NB_DIR.glob("[0-9][0-9]_*.py"))


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.srcs = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("href"):
            self.hrefs.append(a["href"])
        if a.get("src"):
            self.srcs.append(a["src"])


def _links(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _fake_run(out: Path):
    """A course run folder as run_course leaves it: 01 and 04 ran, 02 failed, the rest never ran."""
    out.mkdir(parents=True, exist_ok=True)
    for stem in ("01_source_model", "04_measure"):
        (out / f"{stem}.ipynb").write_text("{}")
        (out / f"{stem}.html").write_text("<html></html>")
    values = {"D_rand_clean_test_acc": {"value": 0.896, "kind": "fraction", "reference": 0.633, "source": "Ilyas Table 1"},
              "D_det_predicts_y_plus_1": {"value": 0.288, "kind": "fraction", "headline": True},
              "judge_robust_eps": {"value": 0.5, "kind": "norm"}}
    return {"profile": "default", "seconds_all_notebooks": 49.0, "notebooks": {
        "01_source_model": {"status": "ok", "seconds": 41.0, "executed": str(out / "01_source_model.ipynb"),
                            "values": {"source_clean_test_acc": {"value": 0.99, "kind": "fraction",
                                                                 "reference": 0.953}}},
        "02_craft_errors": {"status": "failed", "error": "boom"},
        "04_measure": {"status": "ok", "seconds": 8.0, "executed": str(out / "04_measure.ipynb"), "values": values}}}


def test_index_links_all_resolve_and_show_the_run(tmp_path):
    out = tmp_path / "course" / "default"
    doc = _fake_run(out)
    course._write(out, doc)  # the runner's one writer: results.json, report.md and now index.html
    index = out / "index.html"
    assert index.is_file()
    links = _links(index)
    assert links.hrefs, "the index links nothing"
    for href in links.hrefs:
        assert (out / href).resolve().exists(), f"index.html links {href}, which does not exist"
    assert "01_source_model.html" in links.hrefs and "04_measure.html" in links.hrefs
    assert "report.md" in links.hrefs
    text = index.read_text()
    assert "89.6%" in text and "63.3%" in text  # a headline number with the paper's beside it
    assert "28.8%" in text  # and a value marked headline where it was made, formatted by its kind
    assert "judge_robust_eps" not in text, "a value neither headline nor with a reference stays off the page"
    assert "41 s" in text and "failed" in text and "not run" in text
    for stem in ("01", "02", "03", "04", "05", "06", "07"):
        assert f"<td>{stem}</td>" in text, f"notebook {stem} missing from the course map"
    assert json.loads((out / "results.json").read_text())["profile"] == "default"


def test_slides_export_one_notebook_offline(tmp_path):
    reveal = tmp_path / "reveal-src"
    (reveal / "dist").mkdir(parents=True)
    (reveal / "plugin" / "notes").mkdir(parents=True)
    (reveal / "dist" / "reveal.js").write_text("// reveal")
    (reveal / "dist" / "reveal.css").write_text("")
    (reveal / "plugin" / "notes" / "notes.js").write_text("// notes")
    out = tmp_path / "slides"
    [deck] = site.export_slides([NB_DIR / "06_toy_2d.ipynb"], out, reveal=reveal)
    html = deck.read_text(encoding="utf-8")
    assert html.count("<section") >= 5, "headings should start slides"
    srcs = _links(deck).srcs
    assert "reveal.js/dist/reveal.js" in srcs and (out / "reveal.js" / "dist" / "reveal.js").is_file()
    assert "require(" not in html, "the deck must not need require.js from the web"
    nb = nbformat.read(NB_DIR / "06_toy_2d.ipynb", as_version=4)  # the source notebook is untouched
    assert all("slideshow" not in c.metadata or c.metadata["slideshow"]["slide_type"] for c in nb.cells)


def test_slide_rules_skip_the_parameters_cell():
    params = nbformat.v4.new_code_cell("a = 1", metadata={"tags": ["parameters"]})
    assert site._slide_type(params) == "skip"
    assert site._slide_type(nbformat.v4.new_markdown_cell("## A section")) == "slide"
    assert site._slide_type(nbformat.v4.new_markdown_cell("### A part")) == "subslide"
    assert site._slide_type(nbformat.v4.new_code_cell("x = 2")) == "-"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_colab_badge_and_setup_cell(src):
    text = src.read_text()
    url = f"https://colab.research.google.com/github/{site.GITHUB_REPO}/blob/main/notebooks/{src.stem}.ipynb"
    assert url in text, f"{src.name}: no Open-in-Colab badge for {url}"
    assert '"google.colab" in sys.modules' in text, f"{src.name}: no Colab setup cell"
    assert f'"{site.GITHUB_REPO}"' in text, f"{src.name}: the setup cell must clone {site.GITHUB_REPO}"


def test_index_reads_as_a_results_page_verdict_first_means_beside_the_paper(tmp_path):
    """04 publishes seed 0's value with the paper's number and the mean over seeds apart; the page
    sets the mean ± sd beside the paper's number, in words, after any verdict."""
    frac = lambda v, **kw: dict(value=v, kind="fraction", **kw)  # noqa: E731
    values = {"D_det_verdict": {"value": "cannot_tell", "kind": "number"},
              "D_rand_clean_test_acc": frac(0.896, reference=0.633, source="Ilyas Table 1"),
              "D_rand_student_clean_test_acc_mean": frac(0.853, headline=True),
              "D_rand_student_clean_test_acc_sd": frac(0.065), "seeds": {"value": [0, 1, 2], "kind": "number"}}
    out = tmp_path / "run"
    out.mkdir()
    text = site.write_index(out, {"profile": "default", "notebooks": {
        "04_measure": {"status": "ok", "seconds": 8.0, "values": values}}}).read_text()
    row = text.split("<td>04</td>")[1].split("</tr>")[0]
    assert "85.3% ± 6.5" in row and "over 3 seeds" in row and "(paper 63.3%)" in row
    assert "89.6%" not in row, "seed 0's value is not the one set beside the paper's"
    assert row.count("85.3%") == 1, "the mean is shown once, not again as its own headline"
    assert "D_rand student, clean test accuracy" in row and "_clean_test_acc" not in row
    assert row.index("cannot_tell") < row.index("85.3%"), "the verdict comes first"
    assert text.index("<h2>Verdicts</h2>") < text.index("<table>"), "and heads the page"
