"""Every notebook runs to the end with its exercises solved.

A student who passes an exercise unlocks the cell after it (``if exercises.passed(...)``),
which no run with the stubs ever executes. Here each stub is replaced by an import of its
reference solution (in a temporary copy of the notebook; the committed notebooks never import
the solutions), the notebook runs on the smoke profile, and every checker must print PASS.
It reuses ``test_notebooks.py``'s execution helper and, through the session's ``smoke_env``,
its run cache, so after those runs it mostly loads cached stages.
"""
import re

import nbformat
import pytest

from errlib import exercises
from test_notebooks import NOTEBOOKS, _execute


def _stub_pattern(name: str) -> re.Pattern:
    """The stub ``def name(...): ... raise NotImplementedError`` (docstring and comments included)."""
    return re.compile(rf"^def {name}\(.*?\n(?:[ \t]+.*\n|[ \t]*\n)*?[ \t]+raise NotImplementedError[ \t]*\n",
                      re.MULTILINE)


def solved_copy(path, out_dir):
    """A copy of notebook ``path`` in ``out_dir`` with each coding stub replaced by its solution;
    return (copy, names replaced)."""
    nb = nbformat.read(path, as_version=4)
    names = [e.name for e in exercises.EXERCISES.values() if e.kind == "coding" and e.notebook == path.name[:2]]
    done = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for name in names:
            src, n = _stub_pattern(name).subn(f"from errlib.teach.solutions import {name}\n", cell.source + "\n")
            if n:
                cell.source, done = src.rstrip("\n"), done + [name]
    out_dir.mkdir(parents=True, exist_ok=True)
    copy = out_dir / path.name
    nbformat.write(nb, copy)
    return copy, done


def test_stub_pattern_replaces_a_stub_and_nothing_else():
    src = ('def l2_step(x, grad, step_size):\n    """doc."""\n    # your code here\n    raise NotImplementedError\n'
           '\n\nexercises.check("l2_step", l2_step)\n')
    out = _stub_pattern("l2_step").sub("from errlib.teach.solutions import l2_step\n", src)
    assert out.startswith("from errlib.teach.solutions import l2_step\n")
    assert 'exercises.check("l2_step", l2_step)' in out and "NotImplementedError" not in out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_with_solutions_filled_in(path, smoke_env, tmp_path):
    copy, done = solved_copy(path, tmp_path / "solved")
    names = sorted(e.name for e in exercises.EXERCISES.values() if e.kind == "coding" and e.notebook == path.name[:2])
    assert sorted(done) == names, f"{path.name}: stubs not found for {set(names) - set(done)}"
    (tmp_path / "executed").mkdir()
    nb = _execute(copy, tmp_path / "executed")  # raises PapermillExecutionError on a crashing cell
    out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    for name in names:
        assert f"[PASS] {name}" in out, f"{path.name}: {name}'s reference solution did not pass in the notebook"
    assert "[FAIL]" not in out and "[not attempted]" not in out
