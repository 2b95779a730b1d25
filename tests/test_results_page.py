"""docs/results.md and the README's headline table are made from the recorded docs/results.json,
never typed: the committed files must equal what ``python -m errlib.run.results_page`` renders."""
import json
import re

import pytest

from errlib.run import results_page as rp


def _frac(v, **extra):
    return dict(value=v, kind="fraction", **extra)


def _doc(**values):
    """A results document with 04's D_rand student over three seeds and whatever ``values`` add."""
    v = {"D_rand_clean_test_acc": _frac(0.896, reference=0.633, source="Ilyas Table 1"),
         "D_rand_student_clean_test_acc_mean": _frac(0.853), "D_rand_student_clean_test_acc_sd": _frac(0.065),
         "seeds": {"value": [0, 1, 2], "kind": "number"}, **values}
    return {"profile": "default", "commit": "abc1234", "date": "2026-12-06T08:00:00Z", "cores": 2,
            "machine": {"processor": "x86_64"}, "course_seconds": 1714.5,
            "notebooks": {"04_measure": {"status": "ok", "seconds": 30.0, "values": v}}}


def test_committed_page_and_readme_table_are_what_the_recorded_run_renders():
    stale = [path.name for path, text in rp.outputs().items() if path.read_text(encoding="utf-8") != text]
    assert not stale, (f"{stale} differ from docs/results.json; run `{rp.COMMAND}` and commit the result "
                       "(never edit the generated text by hand)")


def test_the_recorded_run_is_a_course_run_with_headline_numbers():
    """A run from before results.json recorded its commit, date and machine still renders (they
    read "not recorded"); what the course writes now is checked by the last test here."""
    doc = json.loads(rp.RESULTS.read_text(encoding="utf-8"))
    assert {"profile", "environment", "notebooks"} <= set(doc)
    assert rp.headline_rows(doc), "the recorded run has no headline number"


TYPED = re.compile(r"\d+(?:\.\d+)?\s*%|±\s*\d|\b\d+(?:\.\d+)?\s*(?:s|min|minutes|seconds|hours)\b")


@pytest.mark.parametrize("name", ["README.md", "docs/guide.md"])
def test_no_measured_number_is_typed_outside_the_generated_block(name):
    text = (rp.REPO_ROOT / name).read_text(encoding="utf-8")
    outside = text.split(rp.START)[0] + text.split(rp.END)[1] if rp.START in text else text
    assert not TYPED.findall(outside), f"numbers typed into {name} by hand: {TYPED.findall(outside)}"


def test_the_typed_number_check_sees_one():
    assert TYPED.findall("cold in 28.6 min, D_rand 85.3% ± 6.5, 1,714 s") == ["28.6 min", "85.3%", "± 6", "714 s"]


def test_headline_sets_the_mean_over_seeds_beside_the_papers_number():
    [row] = [r for r in rp.headline_table(_doc()) if r.startswith("| student trained on D_rand")]
    assert "| 85.3% ± 6.5 | 3 | 63.3% | Ilyas Table 1 |" in row, row
    assert "89.6%" not in row, "seed 0's value is not the headline"


def test_verdicts_come_first_on_the_page_and_in_the_readme():
    doc = _doc(D_rand_verdict={"value": "survives", "kind": "text", "headline": True},
               D_det_verdict={"value": "cannot_tell", "kind": "text", "headline": True},
               D_det_constrained_margin_kept_mean={"value": 0.41, "kind": "number"},
               D_det_constrained_margin_kept_low={"value": -0.2, "kind": "number"},
               D_det_constrained_margin_kept_high={"value": 1.02, "kind": "number"})
    page = rp.render_page(doc)
    assert page.index("## Verdicts") < page.index("cannot_tell") < page.index("survives") < page.index("## Headline")
    assert "**D_det verdict: `cannot_tell`** (04_measure, margin kept 0.41 (mean over seeds), interval -0.2 to 1.02)" in page
    assert "**D_rand verdict: `survives`** (04_measure)" in page
    block = rp.readme_block(doc)
    assert block.index("cannot_tell") < block.index("| student trained on D_rand")
    assert rp.NO_VERDICT in rp.render_page(_doc()) and rp.NO_VERDICT in rp.readme_block(_doc())


def test_a_run_missing_keys_still_renders_and_leaves_their_rows_out():
    assert rp.headline_rows({}) == [] and "# Results" in rp.render_page({})
    doc = _doc()
    doc["notebooks"]["05_wrong_labels"] = {"status": "failed"}
    page = rp.render_page(doc)
    assert "No values recorded (status: failed)" in page and "Part II" not in rp.readme_block(doc)
    assert "commit `abc1234`" in page and "1714.5 s" in page


def test_the_readme_block_replaces_only_what_lies_between_the_markers():
    readme = f"intro\n{rp.START}\nold table\n{rp.END}\noutro\n"
    out = rp.with_block(readme, rp.readme_block(_doc()))
    assert out.startswith("intro\n") and out.endswith("\noutro\n") and "old table" not in out
    assert rp.with_block(out, rp.readme_block(_doc())) == out
    with pytest.raises(ValueError, match="markers"):
        rp.with_block("no markers here", "x")


def test_check_reports_a_stale_page_without_writing(tmp_path, monkeypatch):
    results, readme = tmp_path / "results.json", tmp_path / "README.md"
    results.write_text(json.dumps(_doc()))
    readme.write_text(f"{rp.START}\n{rp.END}\n")
    monkeypatch.setattr(rp, "RESULTS", results)
    monkeypatch.setattr(rp, "PAGE", tmp_path / "results.md")
    monkeypatch.setattr(rp, "README", readme)
    monkeypatch.setattr(rp, "REPO_ROOT", tmp_path)
    assert rp.main(["--check"]) == 1 and not (tmp_path / "results.md").exists()
    assert rp.main([]) == 0 and rp.main(["--check"]) == 0
    assert "85.3% ± 6.5" in readme.read_text()


def test_a_course_run_records_its_commit_date_and_machine():
    from errlib.run.course import provenance

    p = provenance()
    if (rp.REPO_ROOT / ".git").exists():  # a clone (or worktree); a copy without git records None
        assert re.fullmatch(r"[0-9a-f]{7,}(\+dirty)?", p["commit"] or ""), p["commit"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p["date"])
    assert {"platform", "processor", "python"} <= set(p["machine"])
    assert f"commit `{p['commit'] or 'not recorded'}`" in rp.provenance(dict(p, profile="smoke"))


def test_the_learner_line_sets_the_measured_path_beside_the_estimate_for_the_same_notebooks():
    doc = dict(_doc(), core_seconds=1900.0)
    doc["notebooks"]["01_source_model"] = {"status": "ok", "core_seconds": 120.0}  # one piece: 2 min
    doc["notebooks"]["04_measure"]["core_seconds"] = 40.0  # and two calls of 100: 240 over 2 cores, 2 min
    doc["ahead"] = {c: {"status": "ok", "core_seconds": 100.0, "for": ["04_measure"]} for c in ("s1", "s2")}
    doc["notebooks"]["06_toy_2d"] = {"status": "ok", "core_seconds": 60.0}  # 1 min, not in the 04 pair
    bench = {"alone": {"params": {"profile": "default"}, "cores": 2, "prep_seconds": {"01_source_model": 70.0},
                       "seconds": {"in_kernel": 400.0, "every_core": 230.0}}}
    line = rp.time_line(doc, bench)
    assert "notebooks 01, 04 took 5 min, against 4 min estimated for them" in line
    assert "on 2 cores" in line
    assert rp.measured_path(bench, "default") == ({"01_source_model": 70.0, "04_measure": 230.0}, 2)
    shrunk = {"alone": dict(bench["alone"], params={"profile": "default", "n_attack": 4000})}
    assert rp.measured_path(shrunk, "default") == ({}, None) and "Measured" not in rp.time_line(doc, shrunk)
    assert rp.measured_path(bench, "smoke") == ({}, None)  # another profile's path says nothing of this run
    whole = dict(bench, learner_path={"params": {"profile": "default"}, "cores": 8,
                                      "path_seconds": {"01_source_model": 61.0, "04_measure": 200.0, "06_toy_2d": 59.0}})
    assert rp.measured_path(whole, "default")[1] == 8
    assert "on 8 cores (benchmarks/results.json), all 3 notebooks took 5 min, against 5 min" in rp.time_line(doc, whole)
    smoke_path = dict(bench, learner_path=dict(whole["learner_path"], params={"profile": "smoke"}))
    assert rp.measured_path(smoke_path, "default")[0]["04_measure"] == 230.0  # the pair, not the smoke path
