"""The course notebooks: committed clean, one shared parameters cell, and each runs on the smoke profile.

The smoke runs execute the notebooks with papermill in the test environment's
kernel, in order, sharing one temporary run cache (as a learner would run
them; the ``smoke_env`` fixture of ``conftest.py``, shared with
``test_solutions_run.py``); the notebooks' own ``assert`` cells check that the
effect is above chance. A last test runs notebook 04 alone on an empty cache.
"""
import json
import os
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from errlib import config

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
PART_ONE = [p for p in NOTEBOOKS if p.name[:2] in ("01", "02", "03", "04")]


def _cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.get("metadata", {}).get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_paired_text_source_in_sync(path):
    """Each notebook has a jupytext percent-format twin (``NN_name.py``, the reviewable source) with
    the same cells; ``make notebooks`` rebuilds the ``.ipynb`` from edited ``.py`` files."""
    jupytext = pytest.importorskip("jupytext")
    twin = path.with_suffix(".py")
    assert twin.is_file(), f"{path.name} has no paired source {twin.name}; run `make notebooks`"
    assert _cells(jupytext.read(twin)) == _cells(nbformat.read(path, as_version=4)), (
        f"{path.name} and {twin.name} differ; edit the .py and run `make notebooks`")


def test_course_notebooks_exist():
    assert [p.name[:2] for p in PART_ONE] == ["01", "02", "03", "04"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} has outputs; strip them before committing"
            assert cell.execution_count is None, f"{path.name} has execution counts; strip them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_shared_names(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["language_info"]["name"] == "python"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters'"
    params = pm.inspect_notebook(str(path))
    # the shared names come first, in order; a chapter may add its own knobs after them
    assert tuple(params)[:len(config.PARAMETERS)] == config.PARAMETERS
    for name, p in params.items():
        assert p["help"].strip(), f"{path.name}: parameter {name} has no one-line meaning"
        assert p["inferred_type_name"] != "None", f"{path.name}: parameter {name} has no type"


def _execute(path, out_dir):
    """Run notebook ``path`` with papermill (cwd: notebooks/) into ``out_dir``; return the executed copy."""
    out = out_dir / path.name
    pm.execute_notebook(str(path), str(out), kernel_name="python3", cwd=str(NB_DIR),
                        progress_bar=False)
    return nbformat.read(out, as_version=4)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_smoke_profile(path, smoke_env):
    _execute(path, smoke_env)
    results = json.loads((smoke_env / "results" / f"{path.stem}.json").read_text())
    assert results["profile"] == "smoke"
    assert results["values"], f"{path.name} recorded no results"


def test_measure_notebook_runs_alone_on_empty_cache(tmp_path, smoke_env, monkeypatch):
    monkeypatch.setenv("ERRLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ERRLIB_RESULTS", str(tmp_path / "results"))
    nb = _execute(NB_DIR / "04_measure.ipynb", tmp_path)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "built in" in text  # the upstream stages were rebuilt through the cache
    values = json.loads((tmp_path / "results" / "04_measure.json").read_text())["values"]
    assert values["D_det_clean_test_acc"]["value"] > values["chance"]["value"]


def test_no_guess_is_answered_in_an_earlier_notebook(smoke_env):
    """After the smoke runs above (same session): no executed notebook shows the answer of a later one's
    guess (``test_guess_order.py`` holds the finder's own tests)."""
    import guess_leaks
    from test_guess_order import evidence_rows

    executed = sorted(smoke_env.glob("[0-9][0-9]_*.ipynb"))
    if [p.name for p in executed] != [p.name for p in NOTEBOOKS]:
        pytest.skip("needs every notebook's smoke run of this session (test_notebook_runs_on_smoke_profile)")
    found = guess_leaks.leaks(executed, results_dir=smoke_env / "results", evidence=evidence_rows())
    assert not found, "a guess is answered before it is asked:\n" + "\n".join(found)
