"""No guess is answered before it is asked, across notebooks (``guess_leaks.py`` says how).

The same-notebook order is ``test_exercises.py::test_guess_comes_before_any_stated_expectation``;
here a guess's answer must not appear in any *earlier* notebook's executed output or text.
Unit tests below build small executed notebooks by hand, so the finder is shown to fail on a
leak; ``test_course_run_answers_no_guess_early`` reads a course run's executed notebooks
(``python -m errlib.run.course run --profile smoke`` writes them to ``data/runs/course/smoke``;
``ERRLIB_COURSE_DIR`` points elsewhere) and skips without one. ``test_notebooks.py`` runs the
same check on the notebooks its smoke runs execute.
"""
import json
import os
from pathlib import Path

import nbformat
import pytest

import guess_leaks

REPO = Path(__file__).resolve().parent.parent
EVIDENCE = REPO / "docs" / "evidence" / "leakage_sweep.jsonl"


def evidence_rows():
    return [json.loads(line) for line in EVIDENCE.read_text().splitlines() if line.strip()]


def _book(path, markdown="", printed=(), rendered=()):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    cell = nbformat.v4.new_code_cell("print()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in printed]
    cell.outputs += [nbformat.v4.new_output("display_data", data={"text/markdown": t}) for t in rendered]
    nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def _asks(path, what="D_det student, clean test accuracy", value="21.5"):
    return _book(path, printed=[f"{what}: measured {value}%; no guess recorded (set it)\n"])


def test_a_printed_answer_in_an_earlier_notebook_is_a_leak(tmp_path):
    early = _book(tmp_path / "02_a.ipynb", rendered=["| eps | D_det |\n|---|---|\n| 3 | 21.5% |"])
    found = guess_leaks.leaks([early, _asks(tmp_path / "03_b.ipynb")])
    assert len(found) == 1 and "03_b" in found[0] and "21.5%" in found[0]
    near = _book(tmp_path / "02_c.ipynb", rendered=["| 3 | 21.3% |"])
    assert guess_leaks.leaks([near, _asks(tmp_path / "03_b.ipynb")], tol=0.5)  # the looser rule
    assert not guess_leaks.leaks([near, _asks(tmp_path / "03_b.ipynb")])  # not the answer as printed


def test_text_in_a_markdown_cell_counts_too(tmp_path):
    early = _book(tmp_path / "02_a.ipynb", markdown="The D_det student reaches about 22% here.")  # 21.5 -> 22
    assert guess_leaks.leaks([early, _asks(tmp_path / "03_b.ipynb")])


def test_far_values_chance_and_later_notebooks_are_no_leak(tmp_path):
    early = _book(tmp_path / "02_a.ipynb", printed=["success 67.0%, chance 10%, norm 2.9"])
    asks = _asks(tmp_path / "03_b.ipynb")
    at_chance = _asks(tmp_path / "04_c.ipynb", "random labels", "10.2")
    later = _book(tmp_path / "05_d.ipynb", printed=["the D_det student: 21.5%"])
    assert guess_leaks.leaks([early, asks, at_chance, later]) == []


def test_the_evidence_value_of_the_same_quantity_is_a_leak(tmp_path):
    """Another profile's answer (the committed sweep) printed earlier gives the guess away too."""
    early = _book(tmp_path / "02_a.ipynb", rendered=["| 3 | 24.4% |"])
    asks = _asks(tmp_path / "03_b.ipynb", value="60.0")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "03_b.json").write_text(json.dumps(
        {"settings": {"dataset": "mnist"}, "values": {"D_det_student_clean_test_acc": {"value": 0.6}}}))
    rows = [{"dataset": "mnist", "D_det_student_clean_test_acc": 0.2438}]
    assert guess_leaks.leaks([early, asks], results_dir=tmp_path / "results", evidence=rows)
    assert not guess_leaks.leaks([early, asks])  # without the evidence, 24.4% is far from 60%


def course_dir() -> Path:
    return Path(os.environ.get("ERRLIB_COURSE_DIR", REPO / "data" / "runs" / "course" / "smoke"))


def test_course_run_answers_no_guess_early():
    run = course_dir()
    executed = sorted(run.glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        pytest.skip(f"no executed course notebooks in {run}; run `python -m errlib.run.course run --profile smoke`")
    found = guess_leaks.leaks(executed, results_dir=run / "results", evidence=evidence_rows())
    assert not found, "a guess is answered before it is asked:\n" + "\n".join(found)
