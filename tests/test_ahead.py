"""errlib.run.ahead and the course scheduler: which work starts early, with the settings its notebook
resolves; notebooks wait for their ahead jobs; a failed ahead job skips nothing; cores are shared."""
from __future__ import annotations

import functools
import json
import os

import pytest
import torch

from errlib import ahead, course, parallel, scheduler
from errlib.stages.config import resolve
from errlib.stages.controls import eps_sweep_plan
from errlib.run.sweep import sweep_points
from fake_notebooks import fake_job, write_fake

pytestmark = pytest.mark.usefixtures("isolated_env")


def _by_name(jobs):
    return {j.name: j for j in jobs}


def test_plan_lists_each_notebooks_early_work_and_what_it_waits_for(tmp_path):
    jobs = _by_name(ahead.plan("smoke", {n: {"profile": "smoke"} for n in ("01", "02", "03", "04", "07")}, tmp_path))
    assert set(jobs) == {"judge", "grader", "04 seed 0 leakage", "04 seed 0 constrained", "04 seed 1", "07 eps=4.0",
                         "07 eps=5.0"}  # smoke: 2 seeds
    assert jobs["judge"].after == () and jobs["judge"].before is None and jobs["grader"].after == ()
    assert jobs["04 seed 0 leakage"].after == ("02", "judge") and jobs["04 seed 0 leakage"].before == "04"
    assert jobs["04 seed 0 constrained"].after == ("02", "judge", "grader")
    assert jobs["04 seed 1"].after == ("judge", "grader") and jobs["07 eps=4.0"].after == ("01", "judge")
    assert jobs["07 eps=5.0"].before == "07"
    ranks = [jobs[n].rank for n in ("judge", "04 seed 0 leakage", "04 seed 1", "07 eps=4.0")]
    assert ranks == sorted(ranks), "the chain's jobs lead, then other seeds, then the sweep"


def test_plan_covers_only_the_notebooks_in_the_run(tmp_path):
    assert ahead.plan("smoke", {"01": {}, "05": {}, "06": {}}, tmp_path) == []
    assert set(_by_name(ahead.plan("smoke", {"04": {"seed": 5, "n_seeds": 3}}, tmp_path))) == {
        "judge", "grader", "04 seed 5 leakage", "04 seed 5 constrained", "04 seed 6", "04 seed 7"}
    no_constraint = _by_name(ahead.plan("smoke", {"04": {"n_constrained": 0}}, tmp_path))
    assert set(no_constraint) == {"judge", "04 seed 0 leakage", "04 seed 1"}  # no grader, no constrained sets
    assert no_constraint["04 seed 1"].after == ("judge",)


def test_a_job_gets_the_settings_its_notebook_resolves(tmp_path):
    shares = {"04": {"profile": "smoke", "eps": 2.0}, "07": {"profile": "smoke", "eps": 2.0}}
    jobs = _by_name(ahead.plan("smoke", shares, tmp_path))
    target, cfg, name = jobs["04 seed 1"].run.args
    assert target == "errlib.stages.constrained_sets:seed_row" and name == "04 seed 1"
    assert cfg == resolve("smoke", eps=2.0).replace(seed=1).to_dict()
    nb, point, fingerprint = jobs["07 eps=4.0"].run.args
    grid, fixed = eps_sweep_plan(resolve("smoke", eps=2.0))
    _, points, fp = sweep_points("04", grid, "smoke", fixed)
    assert point["dir"] == points[0]["dir"] and point["params"] == points[0]["params"] and fingerprint == fp


def test_run_call_runs_in_a_fresh_process_and_reports_a_failure(tmp_path):
    cfg = resolve("smoke").to_dict()
    ok = ahead.run_call("errlib.stages.config:describe", cfg, "describe", {}, log_dir=tmp_path)
    assert ok["status"] == "ok" and ok["seconds"] > 0
    bad = ahead.run_call("errlib.stages.config:no_such_function", cfg, "missing one", {}, log_dir=tmp_path)
    assert bad["status"] == "failed" and bad["ename"] == "AttributeError" and "no_such_function" in bad["evalue"]
    assert (tmp_path / "missing_one.log").is_file()


def _fake_plan(tmp_path, fail):
    log = str(tmp_path / "job.log")
    run = functools.partial(fake_job, log, 2.0, fail)
    return lambda profile, shares, out: [ahead.AheadJob("early", 50, (), "04", run)]


@pytest.mark.parametrize("fail", [False, True])
def test_a_notebook_waits_for_its_ahead_job_which_never_skips_it(tmp_path, monkeypatch, capsys, fail):
    monkeypatch.setattr(course, "plan_ahead", _fake_plan(tmp_path, fail))
    monkeypatch.setattr(course, "list_notebooks", lambda only=None: [nb])  # make the fake a course notebook
    nb = write_fake(tmp_path / "nb" / "04_x.ipynb")
    doc = course.run_course("smoke", [str(nb)], {}, out=tmp_path / "out", html=False, jobs=2)
    job_start, job_end, threads_file = (tmp_path / "job.log").read_text().split()
    nb_start = json.loads((tmp_path / "out" / "results" / "04_x.json").read_text())["values"]["start"]
    assert nb_start >= float(job_end), "04 starts after its ahead job ends"
    assert doc["ahead"]["early"]["status"] == ("failed" if fail else "ok")
    assert doc["notebooks"]["04_x"]["status"] == "ok"
    assert threads_file.endswith(".txt") and not os.path.exists(threads_file), "thread files are removed"
    if fail:
        assert "ahead: early" in capsys.readouterr().out and "planned failure" in doc["ahead"]["early"]["error"]


def test_a_failed_notebook_skips_the_ahead_jobs_that_wait_for_it(tmp_path, monkeypatch):
    log = str(tmp_path / "job.log")
    job = ahead.AheadJob("after 01", 50, ("01",), None, functools.partial(fake_job, log, 0.0, False))
    monkeypatch.setattr(course, "plan_ahead", lambda profile, shares, out: [job])
    nb = write_fake(tmp_path / "nb" / "01_a.ipynb")
    with pytest.raises(SystemExit):
        course.run_course("smoke", [str(nb)], {"eps": -1.0}, out=tmp_path / "out", html=False, jobs=1)
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["ahead"]["after 01"]["status"] == "skipped" and not os.path.exists(log)


def test_cores_are_shared_lowest_rank_first(tmp_path, monkeypatch):
    w = lambda name, rank: scheduler.Work(name, rank, (), None, True)  # noqa: E731
    files = {n: tmp_path / f"{n}.txt" for n in "abc"}
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert scheduler._share([w("a", 5), w("b", 0)], files) == {"b": 1, "a": 1}
    assert scheduler._share([w("a", 5)], files) == {"a": 2} and files["a"].read_text() == "2"
    monkeypatch.setattr(os, "cpu_count", lambda: 5)
    assert scheduler._share([w("a", 5), w("b", 0)], files) == {"b": 3, "a": 2}
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert scheduler._share([w(n, i) for i, n in enumerate("abc")], files) == {"a": 1, "b": 1, "c": 1}


def test_a_threads_file_sets_the_count_and_is_reread(tmp_path, monkeypatch):
    path = tmp_path / "threads.txt"
    monkeypatch.setenv("ERRLIB_THREADS_FILE", str(path))
    monkeypatch.setenv("ERRLIB_THREADS", "3")
    before = torch.get_num_threads()
    with parallel.num_threads():
        assert torch.get_num_threads() == 3, "no file yet: $ERRLIB_THREADS"
        path.write_text("2")
        assert parallel.refresh_threads() == 2
        path.write_text("not a number")
        assert parallel.refresh_threads() == 3
    assert torch.get_num_threads() == before


def test_an_explicit_thread_count_wins_over_the_threads_file(tmp_path, monkeypatch):
    path = tmp_path / "threads.txt"
    path.write_text("2")
    monkeypatch.setenv("ERRLIB_THREADS_FILE", str(path))
    with parallel.num_threads(1):  # as the toy's attack: its model must see the whole batch
        with parallel.num_threads():  # what fit, predict and pgd open
            assert parallel.refresh_threads() == 1 and parallel.cpu_workers(torch.device("cpu")) == 1
    with parallel.num_threads():
        assert parallel.cpu_workers(torch.device("cpu")) == 2, "outside it the file applies"
