"""Every exercise checker passes its reference solution, fails a deliberately wrong one,
reports a stub as "not attempted", and every exercise appears in its notebook."""
import math
import re
from pathlib import Path

import pytest
import torch

from errlib import exercises, solutions

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
CODING = sorted(n for n, e in exercises.EXERCISES.items() if e.kind == "coding")


def _wrong_l2_step(x, grad, step_size):  # normalises by the whole batch's gradient norm
    return x + step_size * grad / grad.norm()


def _wrong_l2_project(x, x0, eps):  # radial projection, but never clamps to [0, 1]
    delta = x - x0
    n = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return x0 + delta * torch.clamp(eps / n, max=1.0)


def _wrong_targets_other(y, num_classes, generator):  # (y + 1) mod C: never y, but not uniform
    return (y + 1) % num_classes


def _wrong_binomial_ci(acc, n, z=1.96):  # the Wald interval: collapses to a point at 0% and 100%
    half = z * math.sqrt(acc * (1 - acc) / n)
    return max(0.0, acc - half), min(1.0, acc + half)


def _wrong_relabel(teacher, x, y):  # keeps the images but labels them with the true class
    pred = teacher(x).argmax(1)
    return x[pred != y], y[pred != y]


WRONG = {
    "normalize": lambda x, mean, std: (x - torch.tensor(mean).view(1, -1, 1, 1)) * torch.tensor(std).view(1, -1, 1, 1),
    "per_class_error": lambda pred, y, C: torch.bincount(y[pred != y], minlength=C).float() / len(y),
    "l2_step": _wrong_l2_step,
    "l2_project": _wrong_l2_project,
    "relative_radius": lambda x, eps: eps / x.flatten(1).abs().sum(dim=1),  # L1 norm
    "targets_other": _wrong_targets_other,
    "binomial_ci": _wrong_binomial_ci,
    "shift_share": lambda pred, y, C: (pred == y + 1).float().mean().item(),  # forgets the wrap-around
    "relabel_with_teacher": _wrong_relabel,
    "error_agreement": lambda s, t, y: (s == t).float().mean().item(),  # over all images
    "linf_project": lambda x, x0, eps: torch.max(torch.min(x, x0 + eps), x0 - eps),  # no [0, 1] clamp
    "keep_flips": lambda y, clean, adv: adv != clean,  # counts points that were wrong before
    "transfer_rate": lambda other, t, y, s: (other[s] == t[s]).float().mean().item(),  # keeps t == y rows
    "nearest_neighbour_labels": lambda q, r, yr: yr[torch.cdist(q.flatten(1), r.flatten(1)).argmax(1)],
}


def test_enough_exercises_in_every_notebook():
    by_nb = {}
    for e in exercises.EXERCISES.values():
        by_nb.setdefault(e.notebook, []).append(e)
    assert sorted(by_nb) == ["01", "02", "03", "04", "05", "06", "07"]
    assert all(len(v) >= 2 for v in by_nb.values()), {k: len(v) for k, v in by_nb.items()}
    assert len(exercises.EXERCISES) >= 14
    assert 2 * len(CODING) >= len(exercises.EXERCISES), "at least half the exercises must be coding ones"
    assert set(WRONG) == set(CODING), "every coding exercise needs a wrong solution here"


@pytest.mark.parametrize("name", CODING)
def test_reference_solution_passes(name):
    status, message = exercises.run_check(name, getattr(solutions, name))
    assert status == exercises.PASS, message


@pytest.mark.parametrize("name", CODING)
def test_wrong_solution_fails_with_a_hint(name):
    status, message = exercises.run_check(name, WRONG[name])
    assert status == exercises.FAIL
    assert "Hint:" in message and exercises.EXERCISES[name].hint in message


@pytest.mark.parametrize("name", CODING)
def test_stub_is_not_attempted(name, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert exercises.run_check(name, stub)[0] == exercises.NOT_ATTEMPTED
    assert exercises.check(name, stub) is None  # prints; returns nothing for the notebook to display
    assert exercises.passed(name, stub) is False
    assert "not attempted" in capsys.readouterr().out


def test_crashing_solution_fails_instead_of_raising(capsys):
    assert exercises.passed("l2_step", lambda *a: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_unknown_exercise_names_the_real_ones():
    with pytest.raises(ValueError, match="l2_project"):
        exercises.check("l2_projection", solutions.l2_project)


def test_compare_prediction_without_a_guess(capsys):
    assert exercises.compare_prediction("D_rand student", None, 0.9) is None
    assert "no guess recorded" in capsys.readouterr().out


def test_compare_prediction_sets_guess_beside_measurement(capsys):
    assert exercises.compare_prediction("D_rand student", 60, 0.9) == pytest.approx(-30.0)
    out = capsys.readouterr().out
    assert "60" in out and "90.0%" in out and "low" in out
    assert exercises.compare_prediction("toy", 25, 21.5, percent=False) == pytest.approx(3.5)
    exercises.compare_prediction("D_det", 0.4, 0.5)
    assert "percentages" in capsys.readouterr().out  # a fraction typed by mistake gets a note
    assert exercises.compare_prediction("D_det", "about half", 0.5) is None


@pytest.mark.parametrize("nb", sorted(NB_DIR.glob("[0-9][0-9]_*.py")), ids=lambda p: p.name)
def test_each_exercise_appears_in_its_notebook(nb):
    text = nb.read_text()
    for e in exercises.EXERCISES.values():
        if e.notebook != nb.name[:2]:
            continue
        if e.kind == "coding":
            assert re.search(rf'exercises\.(check|passed)\("{e.name}", {e.name}\)', text), f"{nb.name} lacks {e.name}"
            assert re.search(rf"def {e.name}\(.*\n(.*\n)*?\s+raise NotImplementedError", text), (
                f"{nb.name}: the stub of {e.name} must raise NotImplementedError")
        else:
            assert f"<!-- {e.name} -->" in text, f"{nb.name} lacks question {e.name}"
    assert "from errlib import solutions" not in text and "errlib.teach.solutions" not in text.replace(
        "`errlib/solutions.py`", ""), f"{nb.name} must not import the solutions"


@pytest.mark.parametrize("nb", sorted(NB_DIR.glob("[0-9][0-9]_*.py")), ids=lambda p: p.name)
def test_notebook_opens_with_objectives_and_closes_with_a_recap(nb):
    import jupytext

    cells = [c.source for c in jupytext.read(nb).cells]
    opening = cells[1]  # right after the title
    for part in ("**Learning objectives.**", "**Prerequisites.**", "**Time.**", "(../docs/reference.md)",
                 "arxiv.org/abs/1905.02175", "distill.pub/2019/advex-bugs-discussion"):
        assert part in opening, f"{nb.name}: the cell after the title lacks {part}"
    closing = cells[-1]
    assert closing.startswith("## Recap") and "### Check your understanding" in closing, nb.name
    questions = closing.split("### Check your understanding")[1]
    assert 3 <= questions.count("<details>") == questions.count("</details>") <= 5, nb.name
    assert "End of the course" not in "".join(cells), f"{nb.name}: notebook 07 follows; no notebook ends the course"
