"""Every exercise checker passes its reference solution, fails a deliberately wrong one,
reports a stub as "not attempted", and every exercise appears in its notebook."""
import math
import re
from pathlib import Path

import pytest
import torch

from errlib import exercises, solutions
import pgd_variants

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
CODING = sorted(n for n, e in exercises.EXERCISES.items() if e.kind == "coding")


def _per_ex(v, like):
    return v.view(-1, *[1] * (like.dim() - 1))


def _l2_step_no_guard(x, grad, step_size):  # divides by the norm with no guard: a zero gradient gives NaN
    return x + step_size * grad / _per_ex(grad.flatten(1).norm(dim=1), grad)


def _l2_project_no_clamp(x, x0, eps):  # radial projection, but never clamps to [0, 1]
    delta = x - x0
    n = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return x0 + delta * _per_ex(torch.clamp(eps / n, max=1.0), delta)


def _l2_project_always_scale(x, x0, eps):  # pushes every point onto the sphere, inside ones too
    delta = x - x0
    return (x0 + delta * _per_ex(eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12), delta)).clamp(0, 1)


def _l2_project_clamp_first(x, x0, eps):  # clamps to the box first, then projects
    return _l2_project_no_clamp(x.clamp(0, 1), x0, eps)


def _targets_global_rng(y, C, generator):  # right distribution, but ignores the generator passed in
    return (y + torch.randint(1, C, y.shape)) % C


def _targets_uniform_only_for_zero(y, C, generator):  # uniform for y = 0, a fixed shift otherwise
    r = torch.randint(1, C, y.shape, generator=generator)
    return torch.where(y == 0, r, (y + 1) % C)


def _targets_reject_wrongly(y, C, generator):  # redraws equal targets as (t + 1): class after y twice as likely
    t = torch.randint(0, C, y.shape, generator=generator)
    return torch.where(t == y, (t + 1) % C, t)


def _wald(acc, n, z=1.96):  # the Wald interval: collapses to a point at 0% and 100%
    half = z * math.sqrt(acc * (1 - acc) / n)
    return max(0.0, acc - half), min(1.0, acc + half)


_OLD_WILSON = {(0.5, 100): (0.4038, 0.5962), (0.0, 10): (0.0, 0.2775), (0.9, 1000): (0.8798, 0.9171),
               (1.0, 50): (0.9286, 1.0)}


def _wilson_lookup(acc, n, z=1.96):  # a lookup table of the old checker's four cases, Wald otherwise
    return _OLD_WILSON.get((acc, n), _wald(acc, n, z))


def _wilson_ignores_z(acc, n, z=1.96):
    return solutions.binomial_ci(acc, n)


def _relabel_true_labels(teacher, x, y):  # keeps the right images but labels them with the true class
    pred = teacher(x).argmax(1)
    return x[pred != y], y[pred != y]


def _relabel_keeps_right(teacher, x, y):  # keeps the images the teacher gets right
    pred = teacher(x).argmax(1)
    return x[pred == y], pred[pred == y]


def _normalize_in_place(x, m, s):  # right values, but overwrites the caller's images
    return x.sub_(torch.tensor(m).view(1, -1, 1, 1)).div_(torch.tensor(s).view(1, -1, 1, 1))


def _per_class_zero_when_empty(p, y, C):  # 0% for a class with no image, where the rate is undefined
    return torch.bincount(y[p != y], minlength=C).float() / torch.bincount(y, minlength=C).float().clamp_min(1)


def _targets_reseeded(y, C, generator):  # re-seeds a fresh generator from the one passed: same draws every call
    g = torch.Generator().manual_seed(generator.initial_seed())
    return (y + torch.randint(1, C, y.shape, generator=g)) % C


def _targets_shifted_draw(y, C, generator):  # right: uniform over C - 1 values, then skip y
    t = torch.randint(0, C - 1, y.shape, generator=generator)
    return t + (t >= y).long()


def _relabel_float_labels(teacher, x, y):  # the teacher's answers as floats
    pred = teacher(x).argmax(1)
    return x[pred != y], pred[pred != y].float()


def _relabel_with_eval(teacher, x, y):  # right: eval mode and no autograd, as a careful learner writes it
    teacher.eval()
    with torch.no_grad():
        pred = teacher(x).argmax(1)
    return x[pred != y], pred[pred != y]


def _relabel_overwrites_y(teacher, x, y):  # right answer, but writes the teacher's labels into the caller's y
    pred = teacher(x).argmax(1)
    wrong = pred != y
    y.copy_(pred)
    return x[wrong], pred[wrong]


def _nn_by(p):
    return lambda q, r, yr: yr[torch.cdist(q.flatten(1), r.flatten(1), p=p).argmin(1)]


def _transfer_keeps_true_targets(other, t, y, s):  # keeps "successes" toward the true class
    return (other[s] == t[s]).float().mean().item()


def _transfer_zero_when_empty(other, t, y, s):  # 0 instead of nan when no row qualifies
    ok = s & (t != y)
    return (other[ok] == t[ok]).float().mean().item() if ok.any() else 0.0


# Per coding exercise: wrong solutions a learner could plausibly write, each of which must FAIL;
# "constant" returns what the earlier, single-case checkers expected.
WRONG = {
    "normalize": {
        "multiplies by std": lambda x, m, s: (x - torch.tensor(m).view(1, -1, 1, 1)) * torch.tensor(s).view(1, -1, 1, 1),
        "batch statistics": lambda x, m, s: (x - x.mean()) / x.std(),
        "first channel's mean and std for all": lambda x, m, s: (x - m[0]) / s[0],
        "in place": _normalize_in_place,
        "constant": lambda x, m, s: torch.tensor([0.0, 1.0, 1.0]).view(1, 3, 1, 1),
    },
    "per_class_error": {
        "divides by all images": lambda p, y, C: torch.bincount(y[p != y], minlength=C).float() / len(y),
        "per predicted class": lambda p, y, C: (torch.bincount(p[p != y], minlength=C).float()
                                                / torch.bincount(p, minlength=C).float().clamp_min(1)),
        "0% for a class with no image": _per_class_zero_when_empty,
        "accuracy, not error": lambda p, y, C: torch.bincount(y[p == y], minlength=C).float() / torch.bincount(y, minlength=C).float(),
        "constant": lambda p, y, C: torch.tensor([0.5, 1 / 3, 1.0]),
    },
    "l2_step": {
        "no zero-gradient guard": _l2_step_no_guard,
        "whole-batch norm": lambda x, g, a: x + a * g / g.norm(),
        "sign step": lambda x, g, a: x + a * g.sign(),
        "raw gradient": lambda x, g, a: x + a * g,
        "in place": lambda x, g, a: x.add_(a * g / _per_ex(g.flatten(1).norm(dim=1).clamp_min(1e-12), g)),
        "constant": lambda x, g, a: x,
    },
    "l2_project": {
        "no [0, 1] clamp": _l2_project_no_clamp,
        "moves inside points onto the sphere": _l2_project_always_scale,
        "clamps before projecting": _l2_project_clamp_first,
        "in place": lambda x, x0, eps: x.copy_(solutions.l2_project(x, x0, eps)),
        "per-pixel clip": lambda x, x0, eps: torch.max(torch.min(x, x0 + eps), x0 - eps).clamp(0, 1),
        "constant": lambda x, x0, eps: x0,
    },
    "relative_radius": {
        "eps / (sqrt(d) * mean pixel)": lambda x, eps: eps / (x.flatten(1).shape[1] ** 0.5 * x.flatten(1).mean(1)),
        "L1 norm": lambda x, eps: eps / x.flatten(1).abs().sum(dim=1),
        "squared norm": lambda x, eps: eps / (x.flatten(1) ** 2).sum(dim=1),
        "constant": lambda x, eps: torch.tensor([0.5, 1.0]),
    },
    "targets_other": {
        "ignores its generator": _targets_global_rng,
        "uniform only when y = 0": _targets_uniform_only_for_zero,
        "(y + 1) mod C": lambda y, C, g: (y + 1) % C,
        "redraw as t + 1": _targets_reject_wrongly,
        "re-seeds from the generator's seed": _targets_reseeded,
        "constant": lambda y, C, g: torch.ones_like(y),
    },
    "binomial_ci": {
        "Wald": _wald,
        "lookup table of four cases": _wilson_lookup,
        "ignores z": _wilson_ignores_z,
        "constant": lambda acc, n, z=1.96: (0.4038, 0.5962),
    },
    "shift_share": {
        "no wrap-around": lambda p, y, C: (p == y + 1).float().mean().item(),
        "share of right answers": lambda p, y, C: (p == y).float().mean().item(),
        "a count, not a share": lambda p, y, C: float((p == (y + 1) % C).sum()),
        "constant": lambda p, y, C: 0.6,
    },
    "relabel_with_teacher": {
        "true labels": _relabel_true_labels,
        "keeps the teacher's right answers": _relabel_keeps_right,
        "keeps every image": lambda t, x, y: (x, t(x).argmax(1)),
        "float labels": _relabel_float_labels,
        "overwrites y": _relabel_overwrites_y,
        "constant": lambda t, x, y: (x[:0], y[:0]),
    },
    "error_agreement": {
        "over all images": lambda s, t, y: (s == t).float().mean().item(),
        "over the student's mistakes": lambda s, t, y: (s[s != y] == t[s != y]).float().mean().item(),
        "student wrong where the teacher is": lambda s, t, y: (s[t != y] != y[t != y]).float().mean().item(),
        "constant": lambda s, t, y: 2 / 3,
    },
    "linf_project": {
        "no [0, 1] clamp": lambda x, x0, eps: torch.max(torch.min(x, x0 + eps), x0 - eps),
        "L2 projection": lambda x, x0, eps: solutions.l2_project(x, x0, eps),
        "only [0, 1]": lambda x, x0, eps: x.clamp(0, 1),
        "in place": lambda x, x0, eps: x.copy_(solutions.linf_project(x, x0, eps)),
        "constant": lambda x, x0, eps: torch.tensor([[0.0, 0.58], [1.0, 0.08]]),
    },
    "keep_flips": {
        "pred_adv != y": lambda y, c, a: a != y,
        "pred_adv != pred_clean": lambda y, c, a: a != c,
        "an int mask": lambda y, c, a: ((c == y) & (a != y)).long(),
        "wrong after, or changed": lambda y, c, a: ((c == y) & (a != y)) | ((c != y) & (a != c)),
        "constant": lambda y, c, a: torch.tensor([True, False, False, True, False]),
    },
    "transfer_rate": {
        "keeps t == y rows": _transfer_keeps_true_targets,
        "ignores success": lambda o, t, y, s: (o[t != y] == t[t != y]).float().mean().item(),
        "0 when no row qualifies": _transfer_zero_when_empty,
        "constant": lambda o, t, y, s: 0.5,
    },
    "nearest_neighbour_labels": {
        "L1 distance": _nn_by(1.0),
        "L-inf distance": _nn_by(float("inf")),
        "farthest": lambda q, r, yr: yr[torch.cdist(q.flatten(1), r.flatten(1)).argmax(1)],
        "positions, not labels": lambda q, r, yr: torch.cdist(q.flatten(1), r.flatten(1)).argmin(1),
        "constant": lambda q, r, yr: torch.tensor([7, 8, 9, 8]),
    },
}
WRONG["targeted_pgd"] = pgd_variants.WRONG
# Per coding exercise: right solutions written another way than the reference, each of which must PASS.
RIGHT = {
    "targeted_pgd": pgd_variants.RIGHT,
    "targets_other": {"draw among C - 1, then skip y": _targets_shifted_draw},
    "relabel_with_teacher": {"teacher.eval() and no_grad": _relabel_with_eval},
    "l2_project": {"the reference": solutions.l2_project},
}
SEEDS = range(6)  # the checkers draw fresh cases per call; the tests fix a few seeds


def test_enough_exercises_in_every_notebook():
    by_nb = {}
    for e in exercises.EXERCISES.values():
        by_nb.setdefault(e.notebook, []).append(e)
    assert sorted(by_nb) == ["01", "02", "03", "04", "05", "06", "07", "08"]
    assert all(len(v) >= 2 for v in by_nb.values()), {k: len(v) for k, v in by_nb.items()}
    assert len(exercises.EXERCISES) >= 14
    assert 2 * len(CODING) >= len(exercises.EXERCISES), "at least half the exercises must be coding ones"
    assert set(WRONG) == set(CODING), "every coding exercise needs wrong solutions here"
    assert all(len(w) >= 3 and "constant" in w for w in WRONG.values()), "a constant and two wrong ideas each"


@pytest.mark.parametrize("name", CODING)
def test_reference_solution_passes(name):
    for seed in SEEDS:
        status, message = exercises.run_check(name, getattr(solutions, name), seed=seed)
        assert status == exercises.PASS, f"seed {seed}: {message}"
    assert exercises.run_check(name, getattr(solutions, name))[0] == exercises.PASS  # a fresh draw


@pytest.mark.parametrize("name,idea", [(n, i) for n in RIGHT for i in RIGHT[n]])
def test_right_variant_passes(name, idea):
    for seed in SEEDS:
        status, message = exercises.run_check(name, RIGHT[name][idea], seed=seed)
        assert status == exercises.PASS, f"{name}: the right variant {idea!r} failed with seed {seed}: {message}"


@pytest.mark.parametrize("name,idea", [(n, i) for n in CODING for i in WRONG[n]])
def test_wrong_idea_fails_with_a_hint(name, idea):
    for seed in SEEDS:
        status, message = exercises.run_check(name, WRONG[name][idea], seed=seed)
        assert status == exercises.FAIL, f"{name}: the wrong idea {idea!r} passed with seed {seed}"
        assert "Hint:" in message and exercises.EXERCISES[name].hint in message


@pytest.mark.parametrize("name", CODING)
def test_failure_never_shows_the_answer_in_code(name):
    """A hint names the idea; it is not the solution's code (no indexing, no torch call)."""
    hint = exercises.EXERCISES[name].hint
    assert "torch." not in hint and "[" not in hint and "=" not in hint, hint


@pytest.mark.parametrize("name", CODING)
def test_checker_draws_fresh_cases_per_call(name):
    """Two calls without a seed see different inputs: a function that remembers the first call's
    answers and replays them fails the second call."""
    seen = []

    def recorder(*args, **kwargs):
        seen.append([a.clone() if torch.is_tensor(a) else a for a in args])
        raise NotImplementedError

    exercises.run_check(name, recorder)
    exercises.run_check(name, recorder)
    first, second = seen
    assert any(not (torch.is_tensor(a) and torch.is_tensor(b) and a.shape == b.shape and torch.equal(a, b))
               and not (not torch.is_tensor(a) and a == b) for a, b in zip(first, second))


@pytest.mark.parametrize("name", CODING)
def test_stub_is_not_attempted(name, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert exercises.run_check(name, stub)[0] == exercises.NOT_ATTEMPTED
    assert exercises.check(name, stub) is None  # prints; returns nothing for the notebook to display
    assert exercises.passed(name, stub) is False
    assert "not attempted" in capsys.readouterr().out


@pytest.mark.parametrize("name", CODING)
def test_a_check_leaves_the_global_generator_as_found(name):
    """A checker draws its cases from its own generator: the notebook's global RNG state is untouched."""
    state = torch.get_rng_state()
    exercises.run_check(name, getattr(solutions, name), seed=0)
    assert torch.equal(state, torch.get_rng_state())


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


_REVEALS = ("What we expect", "expected (written before the run)")


@pytest.mark.parametrize("nb", sorted(NB_DIR.glob("[0-9][0-9]_*.py")), ids=lambda p: p.name)
def test_guess_comes_before_any_stated_expectation(nb):
    """A prediction is only a prediction if nothing above it gives the answer away."""
    import jupytext

    cells = jupytext.read(nb).cells
    guesses = [i for i, c in enumerate(cells) if c.cell_type == "code" and re.search(r"^my_guess_\w+ = None", c.source, re.M)]
    assert guesses, f"{nb.name} asks for no guess"
    reveals = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and any(r in c.source for r in _REVEALS)]
    assert all(i > guesses[0] for i in reveals), f"{nb.name}: an expectation is stated before the first guess"
