"""Bad input never yields silent garbage (issue 32): unreadable run records are set aside and named,
unwritable folders are refused with the setting that moves them, and an error set whose attack did
not work stops the run. No notebook kernel starts here: the task runner is replaced where needed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import errlib.run.course as course
import errlib.run.runner as runner
import errlib.stages.pipeline as P
from errlib import config
from errlib.stages.cache import StageResult, UnwritableLocation, read_record, run_stage
from errlib.stages.errsets import AttackDidNotWork, ErrorSet, check_attack_worked
from fake_notebooks import write_fake

pytestmark = pytest.mark.usefixtures("isolated_env")
STALE = {"fingerprint": "0123", "status": "ok", "values": {"acc": {"value": 0.987654, "kind": "fraction"}}}


def _all_ok(tasks, ex, jobs, on_start, on_end):
    """run_tasks without kernels: every task ends ok with no numbers."""
    for t in tasks:
        on_start(t)
        on_end(t, {"status": "ok", "seconds": 0.0, "results": {}})


def _course(tmp_path, monkeypatch, previous: str):
    nb = write_fake(tmp_path / "nb" / "01_a.ipynb")
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(previous)
    monkeypatch.setattr(course, "run_tasks", _all_ok)
    course.run_course("smoke", [str(nb)], out=out, html=False, jobs=1)
    return out


# ---- run records ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, why", [
    ("{not json", "is not readable JSON"), ("null", "holds no JSON object"), ("[1, 2]", "holds no JSON object"),
    (json.dumps({"notebooks": {"03_z": dict(STALE, fingerprint=7)}}), "unreadable fingerprint or values for '03_z'"),
    (json.dumps({"notebooks": {"03_z": None}}), "'notebooks' entries that are not JSON objects"),
])
def test_an_unreadable_results_file_is_set_aside_named_and_its_numbers_not_reported(tmp_path, monkeypatch, capsys,
                                                                                     text, why):
    out = _course(tmp_path, monkeypatch, text)
    err = capsys.readouterr().err
    aside = list(out.glob("results.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == text, "kept, not deleted"
    line = [ln for ln in err.splitlines() if aside[0].name in ln]
    assert len(line) == 1 and str(out / "results.json") in line[0] and why in line[0]
    doc = json.loads((out / "results.json").read_text())
    assert list(doc["notebooks"]) == ["01_a"] and "0.987654" not in (out / "report.md").read_text()


def test_a_readable_results_file_keeps_its_other_notebooks(tmp_path, monkeypatch, capsys):
    out = _course(tmp_path, monkeypatch, json.dumps({"notebooks": {"03_z": STALE}}))
    assert not list(out.glob("*.corrupt-*")) and "corrupt" not in capsys.readouterr().err
    assert json.loads((out / "results.json").read_text())["notebooks"]["03_z"]["values"] == STALE["values"]


@pytest.mark.parametrize("written, status", [
    (None, "ok"), ('{"values": {"acc": {"value": 0.5, "kind": "fraction"}}}', "ok"),
    ("null", "failed"), ("{trunc", "failed"), ('{"values": {"acc": 0.5}}', "failed"), ('{"values": []}', "failed"),
])
def test_a_notebooks_results_file_is_read_only_when_this_run_wrote_it_whole(tmp_path, monkeypatch, written, status):
    results = tmp_path / "results"
    results.mkdir()
    res_file = results / "01_a.json"
    res_file.write_text(json.dumps({"values": {"stale": {"value": 0.1, "kind": "fraction"}}}))

    def execute(nb, target, parameters, **kw):
        if written is not None:
            res_file.write_text(written)
        return {"status": "ok", "seconds": 0.1}

    monkeypatch.setattr(runner, "execute", execute)
    r = runner.run_job(Path("01_a.ipynb"), tmp_path / "x.ipynb", {}, {"ERRLIB_RESULTS": str(results)})
    assert r["status"] == status
    if status == "ok":
        assert r["results"] == (json.loads(written) if written else {}), "a previous run's file is never read"
    else:
        assert str(res_file) in r["evalue"] and r["ename"] == "UnreadableResults" and "results" not in r
        assert [p.read_text() for p in results.glob("01_a.json.corrupt-*")] == [written]


def test_read_record_checks_what_it_is_told_and_reads_an_absent_file_as_none(tmp_path):
    path = tmp_path / "r.json"
    assert read_record(path, "record") is None
    path.write_text('{"a": 1}')
    assert read_record(path, "record") == {"a": 1}
    assert read_record(path, "record", lambda d: "has a" if "a" in d else None) is None
    assert not path.exists() and len(list(tmp_path.glob("r.json.corrupt-*"))) == 1


# ---- unwritable locations --------------------------------------------------------------------

@pytest.fixture
def blocker(tmp_path):
    """A regular file: no folder can be made under it."""
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("where, setting", [("runs", "ERRLIB_RUNS"), ("out", "--out"), ("data", "ERRLIB_DATA"),
                                            ("data-file", "ERRLIB_DATA")])
def test_an_unusable_folder_stops_the_course_with_one_line_naming_it(tmp_path, blocker, monkeypatch, capsys,
                                                                       where, setting):
    nb = write_fake(tmp_path / "nb" / "01_a.ipynb")
    path = blocker if where == "data-file" else blocker / where
    out = path if where == "out" else tmp_path / "out"
    if where != "out":
        monkeypatch.setenv("ERRLIB_RUNS" if where == "runs" else "ERRLIB_DATA", str(path))
    with pytest.raises(SystemExit) as exit_:
        course.main(["run", "--profile", "smoke", "--only", str(nb), "--no-html", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(path) in err and setting in err
    assert not (tmp_path / "out" / "results.json").exists(), "refused before anything ran"


def test_an_unwritable_runs_folder_stops_a_notebook_and_a_stage_before_compute(blocker, monkeypatch):
    monkeypatch.setenv("ERRLIB_RUNS", str(blocker / "runs"))
    ns = dict({k: None for k in config.PARAMETERS}, profile="smoke")
    with pytest.raises(UnwritableLocation, match=f"{blocker / 'runs'}.*ERRLIB_RUNS"):
        config.from_notebook(ns)
    built = []
    with pytest.raises(UnwritableLocation, match="ERRLIB_RUNS"):
        run_stage("s", {"x": 1}, lambda: built.append(1) or ({}, {}), verbose=False)
    assert built == [], "nothing was computed"


# ---- the science guard ------------------------------------------------------------------------

def _set(success: bool, norm: float, n: int = 4) -> ErrorSet:
    y = torch.arange(n) % 10
    return ErrorSet(x=torch.zeros(n, 1, 2, 2), y=(y + 1) % 10, y_true=y, source_pred=y,
                    success=torch.full((n,), success), delta_norm=torch.full((n,), norm))


def test_an_error_set_whose_attack_did_nothing_stops_the_run_saying_what_to_change():
    good = {"mean_delta_norm": 2.9, "success_rate": 0.2}
    check_attack_worked(good, 0.1, "D_det")  # exactly twice chance passes
    check_attack_worked(_set(True, 2.0), 0.1, "D_det")
    with pytest.raises(AttackDidNotWork, match="D_det: the attack moved no pixel.*eps and step_size"):
        check_attack_worked(dict(good, mean_delta_norm=0.0), 0.1, "D_det")
    with pytest.raises(AttackDidNotWork, match=r"19.0% of images, under twice chance \(20%\); raise eps or steps"):
        check_attack_worked(dict(good, success_rate=0.19), 0.1, "D_det")
    for bad in (_set(False, 2.0), _set(True, 0.0), _set(True, 1.0, n=0)):
        with pytest.raises(AttackDidNotWork):
            check_attack_worked(bad, 0.1, "D_rand")


def test_get_errset_applies_the_guard_which_the_eps_sweep_turns_off(monkeypatch):
    weak = _set(False, 0.0)
    res = StageResult("errset", "k", Path("."), weak.to_dict(), {"metrics": weak.summary()}, cached=True)
    monkeypatch.setattr(P, "run_stage", lambda *a, **kw: res)
    cfg, src = config.resolve("smoke"), StageResult("source", "s", Path("."), {}, {"metrics": {}}, cached=True)
    with pytest.raises(AttackDidNotWork, match=r"D_det \(eps 3, mnist\): the attack moved no pixel"):
        P.get_errset(cfg, "shift", source=(None, src))
    assert len(P.get_errset(cfg, "shift", source=(None, src), guard=False).value) == 4


@pytest.mark.parametrize("text", ["null", "{not json", "[1, 2]"])
def test_an_unreadable_sweep_point_record_is_set_aside_and_the_point_reruns(tmp_path, capsys, text):
    from errlib.run.sweep import up_to_date

    (tmp_path / "point.json").write_text(text)
    assert up_to_date({"dir": tmp_path}, "fingerprint") is None
    assert not (tmp_path / "point.json").exists() and list(tmp_path.glob("point.json.corrupt-*"))
    assert "point.json" in capsys.readouterr().err
