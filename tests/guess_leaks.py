"""Find guesses whose answer an earlier notebook already printed (a helper of ``test_guess_order.py``).

A guess (``my_guess_*``) is only a prediction if nothing the learner saw before it gives the
answer away, including what an *earlier* notebook printed. Each guess's answer is read from
the executed notebook that asks for it: :func:`errlib.teach.exercises.compare_prediction`
prints ``<what>: measured <value>%``. Every percentage an earlier notebook shows (its
outputs, printed or rendered markdown, and its markdown cells) is then a leak when it is the
answer as printed to its own decimals (:func:`_matches` says why not "within 0.5 points").
Chance (100 / classes) is left aside: notebooks state it on purpose, and an answer at chance
is no secret. So are answers within :data:`EDGE` points of 0% or 100%: a student near 0% or a
share near 100% says "almost none" or "almost all", and many unrelated shares printed before it
sit there too (on the smoke run the source model's y+1 share, 0.7%, beside 05's random-wrong-label
student, 0.7%).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import nbformat

EDGE = 2.0  # points from 0% or 100% within which an answer names no particular number
MEASURED = re.compile(r"^(?P<what>[^\n:]+): (?:you guessed [^,]*, )?measured (?P<value>\d+(?:\.\d+)?)%", re.M)
PERCENT = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)\s?%")


def shown_text(nb, typed: Optional[bool] = None) -> List[str]:
    """Everything a learner reads in an executed notebook: markdown cells and every output's text
    (``typed=True``: the markdown cells only, text a person wrote; ``False``: the outputs only)."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and typed is not False:
            parts.append(cell.source)
        for out in cell.get("outputs", []) if typed is not True else ():
            parts.append(out.get("text", "") if isinstance(out.get("text", ""), str) else "".join(out["text"]))
            data = out.get("data", {})
            for kind in ("text/markdown", "text/plain", "text/html"):
                if kind in data:
                    parts.append(data[kind] if isinstance(data[kind], str) else "".join(data[kind]))
    return parts


def answers(nb) -> List[Tuple[str, float]]:
    """``(what, percentage)`` for every guess the notebook compares with a measurement in percent."""
    found = []
    for text in shown_text(nb):
        found += [(m["what"].strip(), float(m["value"])) for m in MEASURED.finditer(text)]
    return found


def percentages(nb) -> List[Tuple[str, str, bool]]:
    """Every percentage the notebook shows, as printed, with a little of the text around it and
    whether a person typed it (a markdown cell) rather than the run printing it."""
    found = []
    for typed in (True, False):
        for text in shown_text(nb, typed):
            for m in PERCENT.finditer(text):
                context = text[max(0, m.start() - 60):m.end() + 20].replace(chr(10), " ")
                found.append((m.group(1), context, typed))
    return found


def _matches(shown: str, answer: float, tol: Optional[float], typed: bool = True) -> bool:
    """Whether a printed percentage gives ``answer`` away: it is the answer as printed to its own
    decimals (``22%`` for 21.5 in a sentence a person typed; at least one decimal, ``24.4%`` for
    24.38, in what the run printed), or, with ``tol``, within ``tol`` points of it.

    ``tol`` (the issue's first rule, 0.5 points) is off by default: on the smoke run it flagged
    unrelated numbers that happened to lie near an answer (``21%``, 02's eps/||x|| at eps 2,
    beside 03's D_det student at 21.5%; ``1.0%``, the judge's reading of clean images, beside
    05's random-label student at 0.7%), while every real leak it found was also the answer as printed.
    A whole percentage the run printed (``71%``) is too coarse to name an answer: on the smoke run
    02's judge reads 71% of the error rows as their original class and 04's constrained D_rand
    student scores 71.0%, one in about a hundred such pairs coincides; a computed leak of the same
    quantity prints its decimal, as every leak found did. Typed prose rounds, so it is read whole.
    """
    if tol is not None:
        return abs(float(shown) - answer) <= tol
    decimals = len(shown.partition(".")[2])
    return (typed or decimals >= 1) and f"{answer:.{decimals}f}" == shown


def leaks(executed: Iterable[Path], chance: float = 10.0, tol: Optional[float] = None, results_dir: Optional[Path] = None,
          evidence: Sequence[dict] = ()) -> List[str]:
    """Each guess in ``executed`` (paths in course order) whose answer an earlier notebook shows, as a sentence.

    A guess's answers are the value its notebook measured and, with ``results_dir`` (the run's
    ``results/<notebook>.json``) and ``evidence`` rows, the committed evidence's values of the
    same quantity (:func:`evidence_answers`).
    """
    paths = list(executed)
    books: Dict[Path, object] = {p: nbformat.read(p, as_version=4) for p in paths}
    found = []
    for i, path in enumerate(paths):
        results = {}
        if results_dir is not None and (results_dir / f"{path.stem}.json").is_file():
            results = json.loads((results_dir / f"{path.stem}.json").read_text())
        for what, value in answers(books[path]):
            targets = [(value, "measured")] + [(v, "evidence") for v in evidence_answers(results, evidence, value)]
            for answer, source in targets:
                if abs(answer - chance) <= 0.5 or not EDGE < answer < 100 - EDGE:
                    continue
                for earlier in paths[:i]:
                    for shown, context, typed in percentages(books[earlier]):
                        if _matches(shown, answer, tol, typed) and abs(float(shown) - chance) > 0.5:
                            found.append(f"{path.name} asks for {what!r} ({source} {answer:.1f}%); {earlier.name} "
                                         f"already shows {shown}%: ...{context}...")
    return found


def evidence_answers(results: dict, evidence: Iterable[dict], value: float) -> List[float]:
    """The committed evidence's values (percent) of the quantity a guess asks for, in every regime.

    The quantity is the results key whose value the notebook measured (``value``, percent, as
    printed to 0.1); the evidence (``docs/evidence/*.jsonl``, run on another profile) holds the
    same quantity under the same key, so an earlier notebook that prints it gives the answer
    away on that profile even where this run's numbers differ.
    """
    keys = [k for k, v in results.get("values", {}).items()
            if isinstance(v.get("value"), (int, float)) and abs(100 * v["value"] - value) < 0.051]
    dataset = results.get("settings", {}).get("dataset")
    return [100 * r[k] for r in evidence for k in keys
            if r.get("dataset") == dataset and isinstance(r.get(k), (int, float))]
