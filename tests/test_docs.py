"""The teaching documents hold what a class needs: the glossary's terms with the paper's
definitions, an instructor's plan B and leakage-centred session, and a one-page worksheet."""
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"

GLOSSARY_TERMS = ["PGD", "ε-ball", "projection", "Targeted vs untargeted", "Teacher", "Adversarial training",
                  "Robust accuracy", "Filtered vs size-matched control", "D_R / D_NR",
                  "Constrained (judge-constrained) error set", "Positive control", "ρ$-useful",
                  "γ$-robustly useful", "Useful, non-robust feature", "Robust judge", "Distillation", "Grader",
                  "Margin kept", "Statistical power"]


def _glossary():
    text = (DOCS / "reference.md").read_text(encoding="utf-8")
    return text.split("## 10. Glossary")[1].split("\n## ")[0]


def test_glossary_has_every_term():
    g = _glossary().replace("\\varepsilon", "ε").replace("\\rho", "ρ").replace("\\gamma", "γ")
    missing = [t for t in GLOSSARY_TERMS if t not in g]
    assert not missing, f"glossary lacks {missing}"


def test_the_notebook_that_uses_the_papers_definitions_states_them():
    text = (DOCS.parent / "notebooks" / "03_train_on_errors.py").read_text(encoding="utf-8")
    for part in (r"**$\rho$-useful**", r"**$\gamma$-robustly useful**", "**Useful, non-robust**", "**D_R / D_NR**"):
        assert part in text, f"notebook 03 lacks {part}"


def test_glossary_uses_the_papers_definitions():
    g = _glossary()
    assert r"\mathbb{E}_{(x, y) \sim \mathcal{D}}[\, y \cdot f(x) \,] \ge \rho" in g
    assert r"\inf_{\delta \in \Delta(x)} y \cdot f(x + \delta)" in g


def test_secondary_claims_and_reproductions_have_addresses():
    text = (DOCS / "reference.md").read_text(encoding="utf-8")
    section5 = text.split("## 5. Public reproductions")[1].split("\n## ")[0]
    for item in re.findall(r"^- \*\*(.+?)\*\*(.*?)(?=^- |\Z)", section5, re.S | re.M):
        assert "http" in item[1] or "(§1)" in item[1] or "no public" in item[1], f"no address for {item[0]}"
    assert "43%" not in text.split("## 9.")[1].split("**Scale.**")[1].split("(The")[0], "stale eps-4 reasoning"


def test_instructor_guide_has_plan_b_and_asserts_no_outcome():
    text = (DOCS / "instructor.md").read_text(encoding="utf-8")
    assert "Plan B" in text and "ERRLIB_RUNS" in text and "PROFILE=smoke" in text
    assert "worksheet.md" in text and "positive control" in text and "constrained" in text
    assert "far above chance" not in text, "discussion answers say what each outcome would mean, not assert one"


def test_worksheet_is_one_page_of_predictions_and_questions():
    text = (DOCS / "worksheet.md").read_text(encoding="utf-8")
    assert "## Predictions" in text and "## Discussion questions" in text
    assert len(re.findall(r"^\| P\d", text, re.M)) >= 8
    assert len(text.splitlines()) <= 80


# ---- the worksheet and the instructor's guide, derived from the notebooks ------------------------------
NB_DIR = DOCS.parent / "notebooks"
NOTEBOOK_SOURCES = sorted(NB_DIR.glob("[0-9][0-9]_*.py"))


def _markdown_text(path: Path) -> str:
    """A notebook source's text with the ``# `` comment prefixes gone, lines joined by spaces."""
    return " ".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in
                    path.read_text(encoding="utf-8").splitlines())


def _study_time(path: Path) -> str:
    """``"20 + 15"`` (minutes of study, plus exercises) or ``"25"``, from the notebook's **Time.** line."""
    m = re.search(r"Studying it:\s+about (\d+)\s+minutes(?:,\s+plus (\d+) for the exercises)?", _markdown_text(path))
    assert m, f"{path.name}: no 'Studying it: about N minutes' in its opening"
    return m.group(1) + (f" + {m.group(2)}" if m.group(2) else "")


def _table(text: str, heading: str):
    """The rows (lists of cell texts) of the first table after ``heading``."""
    rows = []
    for line in text.split(heading)[1].splitlines():
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]


def test_instructor_exercise_table_is_the_notebooks():
    """Numbering 01-08, each notebook's study time and its exercises, as the notebooks and
    errlib.teach.exercises have them."""
    from errlib import exercises

    rows = _table((DOCS / "instructor.md").read_text(encoding="utf-8"), "## Exercises at a glance")
    want = []
    for path in NOTEBOOK_SOURCES:
        nb = path.name[:2]
        mine = [e for e in exercises.EXERCISES.values() if e.notebook == nb]
        want.append([nb, _study_time(path), ", ".join(f"`{e.name}`" for e in mine if e.kind == "coding"),
                     "; ".join(e.title for e in mine if e.kind == "question")])
    assert rows == want


def test_worksheet_asks_every_guess_of_every_notebook():
    """Per notebook, the worksheet has as many blanks for a guess as the notebook has ``my_guess_`` cells."""
    asked = {p.name[:2]: len(re.findall(r"^my_guess_\w+ = None", p.read_text(encoding="utf-8"), re.M))
             for p in NOTEBOOK_SOURCES}
    sheet = {}
    for row in _table((DOCS / "worksheet.md").read_text(encoding="utf-8"), "## Predictions"):
        sheet[row[1]] = sheet.get(row[1], 0) + row[3].count("____")
    assert sheet == {nb: n for nb, n in asked.items() if n}


def test_instructor_guide_runs_every_notebook():
    text = (DOCS / "instructor.md").read_text(encoding="utf-8")
    last = NOTEBOOK_SOURCES[-1].name[:2]
    assert f"01-{last}" in text and "01-07 on" not in text
