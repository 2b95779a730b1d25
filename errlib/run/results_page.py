"""The repository's results page, ``docs/results.md``, and the README's headline table, both made
from one recorded course run: ``python -m errlib.run.results_page``.

    python -m errlib.run.results_page                       # docs/results.json -> docs/results.md + README table
    python -m errlib.run.results_page --record data/runs/course/default/results.json   # record a run first
    python -m errlib.run.results_page --check               # exit 1 if either file is out of date

Why generated: a number typed by hand into a README goes stale the day the code changes, and
nothing says so. Here every number a reader sees comes from ``docs/results.json``, a verbatim copy
of a course run's ``results.json`` (:func:`errlib.run.course.run_course` records there the
commit, date, machine and environment that produced it), and ``tests/test_results_page.py``
fails when the committed page or README table differ from what this module renders from it.

One line beside the run's time is measured elsewhere: the learner's path, notebooks run alone in
order (``benchmarks/alone.py``, recorded in ``benchmarks/results.json``), shown beside the
estimate the course run gives for the same notebooks.

The page leads with the verdicts (any ``*_verdict`` value a notebook published, e.g.
``D_det_verdict``), then the headline table (:data:`HEADLINE`: each number as mean ± sd over
seeds beside the paper's), every notebook's values, the environment and the run time. Keys a
run did not record are left out, never guessed, so an older or smaller run renders too.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..core.data import REPO_ROOT
from .render import format_mean_sd, format_value, label, over_seeds, recorded_kind, verdicts_in

RESULTS = REPO_ROOT / "docs" / "results.json"
BENCH = REPO_ROOT / "benchmarks" / "results.json"  # the learner's path, measured (:func:`measured_path`)
PAGE = REPO_ROOT / "docs" / "results.md"
README = REPO_ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
COMMAND = "python -m errlib.run.results_page"
PROFILE_NOTES = {"smoke": "The smoke profile checks the machinery on tiny subsets: its numbers are noisy and "
                           "are not the course's evidence."}
NO_VERDICT = "This run recorded no verdict (a notebook's `*_verdict` value, such as `D_det_verdict`)."

# The headline table: (what a reader is told, the notebook that published it, its results key).
# Part I's students are 04's means over seeds; 01-03 report seed 0 only.
HEADLINE = (
    ("source model, trained on clean data D", "04_measure", "source_clean_test_acc"),
    ("student trained on D_rand only (random targets)", "04_measure", "D_rand_clean_test_acc"),
    ("student trained on D_det only (targets y+1)", "04_measure", "D_det_clean_test_acc"),
    ("D_det student: says y+1 instead", "04_measure", "D_det_student_predicts_y_plus_1"),
    ("D_rand, judge-filtered rows only", "04_measure", "D_rand_filtered_student_clean_test_acc"),
    ("D_rand, random subset of the same size", "04_measure", "D_rand_random_subset_student_clean_test_acc"),
    ("D_det, judge-filtered rows only", "04_measure", "D_det_filtered_student_clean_test_acc"),
    ("D_det, random subset of the same size", "04_measure", "D_det_random_subset_student_clean_test_acc"),
    ("D_rand, judge-constrained attack", "04_measure", "D_rand_constrained_student_clean_test_acc"),
    ("D_det, judge-constrained attack", "04_measure", "D_det_constrained_student_clean_test_acc"),
    ("D_rand, plain attack on those same rows", "04_measure", "D_rand_same_rows_student_clean_test_acc"),
    ("D_det, plain attack on those same rows", "04_measure", "D_det_same_rows_student_clean_test_acc"),
    ("chance", "04_measure", "chance"),
    ("Part II: student on a weak teacher's wrong labels only", "05_wrong_labels", "D_wrong_student_clean_test_acc"),
    ("Part II: the same images, random wrong labels", "05_wrong_labels",
     "random_wrong_label_student_clean_test_acc"),
    ("Part II: MNIST teacher labels Fashion-MNIST; student on MNIST", "05_wrong_labels",
     "cross_domain_student_mnist_test_acc"),
)


def _values(doc: Dict[str, Any], notebook: str) -> Dict[str, Any]:
    return (doc.get("notebooks", {}).get(notebook) or {}).get("values") or {}


def _reference(doc: Dict[str, Any], key: str, entry: Dict[str, Any]) -> Dict[str, Any]:
    """``entry`` with the paper's number from any notebook that published ``key`` with one
    (04's source row has none; 01 published the paper's beside seed 0's)."""
    if entry.get("reference") is None:
        for nb in doc.get("notebooks", {}):
            found = over_seeds(_values(doc, nb), key)
            if found.get("reference") is not None:
                return dict(entry, reference=found["reference"], source=found["source"])
    return entry


def headline_rows(doc: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The :data:`HEADLINE` rows this run recorded, each with its words, mean, sd, seeds and reference."""
    rows = []
    for words, notebook, key in HEADLINE:
        entry = over_seeds(_values(doc, notebook), key)
        if entry:
            rows.append(dict(_reference(doc, key, entry), words=words, notebook=notebook, key=key))
    return rows


def headline_table(doc: Dict[str, Any]) -> List[str]:
    """The headline table in Markdown: ours (mean ± sd over seeds) beside the paper's number."""
    rows = headline_rows(doc)
    if not rows:
        return ["This run recorded none of the headline numbers (notebooks 04 and 05 did not run or failed)."]
    lines = ["| clean test accuracy, unless the row says otherwise | ours: mean ± sd | seeds | paper | paper's setting |",
             "|---|---|---|---|---|"]
    for r in rows:
        paper = format_value(r["reference"], r["kind"]) if r.get("reference") is not None else ""
        seeds = r["n"] if (r["n"] or 0) > 1 else "—"
        lines.append(f"| {r['words']} | {format_mean_sd(r)} | {seeds} | {paper} | {r.get('source', '')} |")
    return lines


def verdicts(doc: Dict[str, Any]) -> List[str]:
    """A bullet per ``*_verdict`` value any notebook published (D_det's first), with the margin kept
    and its interval where the notebook published them; nothing here decides a verdict."""
    lines = []
    for nb in doc.get("notebooks", {}):
        for key, verdict, evidence in verdicts_in(_values(doc, nb)):
            lines.append(f"- **{label(key)}: `{verdict}`** ({nb}{', ' + evidence if evidence else ''})")
    return lines


def positive_control(doc: Dict[str, Any]) -> List[str]:
    """The planted control's margin kept (notebook 08), to read beside the verdicts' estimates."""
    v = _values(doc, "08_planted").get("planted_D_det_constrained_margin_kept")
    if not isinstance(v, dict) or v.get("value") is None:
        return []
    ends = f" (95% interval over seeds {v['low']:.2f} to {v['high']:.2f})" if v.get("low") is not None else ""
    return [f"- **Positive control** (08_planted): on data with a planted non-robust D_det effect, the same "
            f"constraint keeps {v['value']:.2f} of the known margin{ends}; the rule's 'survives' asks more than 0.5."]


def rows_curve(doc: Dict[str, Any]) -> List[str]:
    """Notebook 04's rows curve as a table: the paired test's power against the rows."""
    v = _values(doc, "04_measure").get("rows_curve")
    rows = v.get("value") if isinstance(v, dict) else None
    if not rows:
        return []
    cell = lambda r, k: r[k]["value"] if isinstance(r.get(k), dict) else r.get(k)  # noqa: E731
    lines = ["", "## The D_det test's power against its rows (first seed)", "",
             "| rows | plain student | constrained student | margin kept |", "|---|---|---|---|"]
    lines += [f"| {format_value(cell(r, 'rows'), 'count')} | {format_value(cell(r, 'plain'), 'fraction')} | "
              f"{format_value(cell(r, 'constrained'), 'fraction')} | {format_value(cell(r, 'margin_kept'), 'number')} |"
              for r in rows]
    return lines


def measured_path(bench: Optional[Dict[str, Any]], profile: Optional[str]) -> Dict[str, float]:
    """Seconds of the notebooks ``benchmarks/alone.py`` ran alone, cold and in order at ``profile``'s
    own size (its ``alone`` section in ``bench``, benchmarks/results.json): every notebook with
    ``--measure learner-path``, else 01-03 and 04 on every core; ``{}`` when none was measured so."""
    alone = (bench or {}).get("alone") or {}
    params = alone.get("params") or {}
    if params.get("profile") != profile or set(params) != {"profile"}:
        return {}
    if alone.get("path_seconds"):
        return dict(alone["path_seconds"])
    seconds = dict(alone.get("prep_seconds") or {})
    every_core = (alone.get("seconds") or {}).get("every_core")
    return dict(seconds, **{"04_measure": every_core}) if seconds and every_core else {}


def time_line(doc: Dict[str, Any], bench: Optional[Dict[str, Any]] = None) -> str:
    """`make course`'s wall clock and core-seconds beside a learner's path (each notebook alone, in
    order, estimated from the recorded core-seconds over the run's cores), and what
    :func:`measured_path` measured of that path, beside the estimate for the same notebooks."""
    from ..stages.costs import alone_minutes, cost_in

    cores = doc.get("cores") or 1
    costs = {stem: cost_in(doc, stem) for stem in doc.get("notebooks", {})}
    alone = sum(alone_minutes(c, cores) for c in costs.values()) if costs and all(costs.values()) else None
    core = doc.get("core_seconds")
    line = (f"Time on this run's {cores} core(s): `make course` {format_value(doc.get('course_seconds'), 'seconds')} "
            f"wall clock" + (f", {core:,.0f} core-seconds" if core else "")
            + (f"; a learner running the notebooks in order in JupyterLab, each alone and cold: about "
               f"{alone:.0f} min (each notebook's recorded core-seconds and its stage calls' over the cores)."
               if alone is not None else "."))
    measured = {stem: s for stem, s in measured_path(bench, doc.get("profile")).items() if costs.get(stem)}
    if not measured:
        return line
    guess = sum(alone_minutes(costs[stem], cores) for stem in measured)
    names = ", ".join(stem[:2] for stem in measured)
    return line + (f" Measured that way by `python benchmarks/alone.py` on {bench['alone'].get('cores', '?')} cores, "
                   f"notebooks {names} took {sum(measured.values()) / 60:.0f} min, against {guess:.0f} min "
                   "estimated for them.")


def provenance(doc: Dict[str, Any]) -> str:
    """One sentence: which run, profile, commit, date and machine the numbers came from."""
    machine = doc.get("machine") or {}
    env = doc.get("environment")
    env = env if isinstance(env, dict) else {}
    where = ", ".join(str(x) for x in (machine.get("processor"), f"{doc['cores']} cores" if doc.get("cores") else None,
                                       env.get("device"), env.get("gpu")) if x)
    params = ", ".join(f"{k}={v}" for k, v in sorted((doc.get("parameters") or {}).items()))
    text = (f"Profile `{doc.get('profile', '?')}`{f' with `{params}`' if params else ''}, commit "
            f"`{doc.get('commit') or 'not recorded'}`, {doc.get('date') or 'date not recorded'}, "
            f"{where or 'machine not recorded'}; course wall clock {format_value(doc.get('course_seconds'), 'seconds')}.")
    return text + (" " + PROFILE_NOTES[doc.get("profile")] if doc.get("profile") in PROFILE_NOTES else "")


def readme_block(doc: Dict[str, Any], bench: Optional[Dict[str, Any]] = None) -> str:
    """What sits between the README's markers: where the numbers came from, verdicts, the headline table."""
    lines = [START, f"<!-- generated by `{COMMAND}` from docs/results.json: do not edit by hand -->", "",
             provenance(doc), "", time_line(doc, bench), ""]
    lines += (verdicts(doc) or [NO_VERDICT]) + positive_control(doc)
    return "\n".join(lines + [""] + headline_table(doc) + ["", END])


def _value_row(values: Dict[str, Any], key: str) -> Optional[str]:
    """One published value as a table row: a mean with its sd over seeds (and the paper's number when
    its per-seed value carries one), a one-seed value marked so; None for what the page leaves out:
    sds (beside their means), tables, verdicts (listed first) and headline copies of a mean."""
    record = values[key]
    kind = recorded_kind(record)
    if not isinstance(record, dict) or kind == "table" or key.endswith(("_sd", "_verdict")):
        return None
    mean = values.get(f"{key}_mean")
    if isinstance(mean, dict) and mean.get("value") == record.get("value"):
        return None  # the notebook's headline copy of the mean, shown on the mean's row
    if key.endswith("_mean"):
        shown, words = over_seeds(values, key[:-5]), label(key)
    else:
        shown = dict(over_seeds(values, key), mean=record.get("value"), sd=None, n=1)
        words = label(shown["key"]) + (" (one seed)" if mean or shown["key"] != key else "")
    ref = shown.get("reference") if key.endswith("_mean") else record.get("reference")
    return f"| {words} | {format_mean_sd(shown)} | {format_value(ref, kind) if ref is not None else ''} | `{key}` |"


def _notebook_tables(doc: Dict[str, Any]) -> List[str]:
    """Each notebook's published values in words, means with their sd, beside any reference."""
    lines = []
    for nb, entry in doc.get("notebooks", {}).items():
        values = entry.get("values") or {}
        lines += ["", f"### {nb}", ""]
        if not values:
            lines.append(f"No values recorded (status: {entry.get('status', 'not run')}).")
            continue
        lines += ["| quantity | ours | paper | key in results.json |", "|---|---|---|---|"]
        lines += [row for row in (_value_row(values, key) for key in values) if row]
    return lines


def _environment(doc: Dict[str, Any]) -> List[str]:
    envs = doc.get("environment")
    envs = envs if isinstance(envs, list) else [envs] if envs else []
    lines = ["", "## Environment", "", "| what | value |", "|---|---|"]
    for name in ("profile", "commit", "date", "cores", "jobs", "precision"):
        if doc.get(name) is not None:
            lines.append(f"| {name} | {doc[name]} |")
    lines += [f"| machine: {k} | {v} |" for k, v in (doc.get("machine") or {}).items()]
    lines += [f"| {'kernels' if len(envs) == 1 else f'kernels ({i + 1} of {len(envs)})'}: {k} | {v} |"
              for i, env in enumerate(envs) for k, v in env.items()]
    if doc.get("parameters"):
        lines.append(f"| parameters | {json.dumps(doc['parameters'], sort_keys=True)} |")
    return lines


def _run_time(doc: Dict[str, Any]) -> List[str]:
    lines = ["", "## Run time", "",
             f"The `run` command that wrote this file took {format_value(doc.get('course_seconds'), 'seconds')} "
             f"wall clock, CPU busy {format_value(doc.get('cpu_utilisation'), 'fraction')} of {doc.get('cores', '—')} "
             f"cores. Each task's seconds were measured when it ran: a rerun skips finished notebooks, so its wall "
             f"clock can be less than the notebooks' sum, {format_value(doc.get('seconds_all_notebooks'), 'seconds')}.",
             "",
             "| task | status | time | peak memory (MiB) |", "|---|---|---|---|"]
    for group in ("notebooks", "ahead"):
        for name, entry in doc.get(group, {}).items():
            lines.append(f"| {'' if group == 'notebooks' else 'ahead: '}{name} | {entry.get('status')} | "
                         f"{format_value(entry.get('seconds'), 'seconds')} | "
                         f"{format_value(entry.get('peak_memory_mb'), 'number')} |")
    return lines


def render_page(doc: Dict[str, Any], bench: Optional[Dict[str, Any]] = None) -> str:
    """``docs/results.md``: verdicts first, the headline table, every notebook's values, environment, run time."""
    found = verdicts(doc)
    lines = ["# Results", "", f"<!-- generated by `{COMMAND}` from docs/results.json: do not edit by hand -->", "",
             provenance(doc), "", time_line(doc, bench), "", "## Verdicts", ""]
    lines += (found or [NO_VERDICT]) + positive_control(doc) + rows_curve(doc)
    lines += ["", "## Headline", "", "Clean test accuracy of each model; ours on the run's dataset, the paper's "
              "on its own (see its setting and docs/reference.md).", ""] + headline_table(doc)
    lines += ["", "## Every published value, by notebook"] + _notebook_tables(doc)
    return "\n".join(lines + _environment(doc) + _run_time(doc) + [""])


def with_block(readme: str, block: str) -> str:
    """``readme`` with the text between its markers replaced by ``block``; ValueError without markers."""
    if START not in readme or END not in readme:
        raise ValueError(f"the README has no {START} ... {END} markers for the results table")
    head, rest = readme.split(START, 1)
    return head + block + rest.split(END, 1)[1]


def outputs() -> Dict[Path, str]:
    """What the page and the README should hold, rendered from the recorded run (:data:`RESULTS`)."""
    doc = json.loads(RESULTS.read_text(encoding="utf-8"))
    bench = json.loads(BENCH.read_text(encoding="utf-8")) if BENCH.exists() else None
    return {PAGE: render_page(doc, bench), README: with_block(README.read_text(encoding="utf-8"), readme_block(doc, bench))}


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog=COMMAND, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", type=Path, help="copy this course run's results.json to docs/results.json first")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    args = ap.parse_args(argv)
    if args.record:
        shutil.copyfile(args.record, RESULTS)
    stale = []
    for path, text in outputs().items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{path.relative_to(REPO_ROOT)} {'is out of date' if args.check else 'written'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
