"""errlib.run.tasks: one task table run by its dependencies, in list order, a failure skipping what
waits for it; the course's table (which stage calls run ahead, with the settings their notebook
resolves). Fake tasks are plain functions: no kernels, no sleeps."""
from __future__ import annotations

import functools
import graphlib
import threading

import pytest

from errlib.run import tasks as T
from errlib.run.sweep import sweep_points
from errlib.stages.config import resolve
from errlib.stages.controls import eps_sweep_plan

pytestmark = pytest.mark.usefixtures("isolated_env")


def _ok(log, name):
    log.append(name)
    return {"status": "ok", "seconds": 0.0}


def _fail(log, name):
    log.append(name)
    return {"status": "failed", "seconds": 0.0, "ename": "RuntimeError", "evalue": "planned"}


def _raise(log, name):
    raise OSError("the worker died")


def _table(log, rows):
    """``rows``: (name, after, fn[, before]) -> Tasks whose run appends the name to ``log``."""
    return [T.Task(name, tuple(after), functools.partial(fn, log, name), tuple(rest[0]) if rest else ())
            for name, after, fn, *rest in rows]


def test_ready_tasks_start_in_table_order_after_what_they_wait_for():
    log, started = [], []
    tasks = _table(log, [("a", (), _ok), ("b", ("c",), _ok), ("c", (), _ok), ("d", (), _ok),
                         ("e", ("b", "unknown"), _ok)])
    res = T.run_tasks(tasks, T.InlineExecutor(), 1, on_start=lambda t: started.append(t.name))
    assert log == started == ["a", "c", "b", "d", "e"], "b waits for c; then order is priority"
    assert all(r["status"] == "ok" for r in res.values())


def test_a_task_named_before_another_runs_first():
    log = []
    tasks = _table(log, [("04", (), _ok), ("early", (), _ok, ("04", "07"))])
    T.run_tasks(tasks, T.InlineExecutor(), 1)
    assert log == ["early", "04"]


def test_a_failure_skips_what_waits_for_it_and_says_why_while_the_rest_runs():
    log, ended = [], {}
    tasks = _table(log, [("01", (), _fail), ("02", ("01",), _ok), ("03", ("02",), _ok),
                         ("crash", (), _raise), ("after crash", ("crash",), _ok), ("06", (), _ok)])
    res = T.run_tasks(tasks, T.InlineExecutor(), 1, on_end=lambda t, r: ended.setdefault(t.name, r["status"]))
    assert log == ["01", "06"]
    assert res["02"] == {"status": "skipped", "error": "waits for 01, which failed"}
    assert res["03"] == {"status": "skipped", "error": "waits for 02, which was skipped"}
    assert res["crash"]["status"] == "failed" and res["crash"]["ename"] == "OSError"
    assert res["after crash"]["status"] == "skipped"
    assert ended == {k: r["status"] for k, r in res.items()}


def test_jobs_tasks_run_at_once_while_work_is_ready():
    barrier = threading.Barrier(2, timeout=30)  # deadlock guard: both must be running together

    def meet(log, name):
        barrier.wait()
        return _ok(log, name)

    log = []
    tasks = _table(log, [("a", (), meet), ("b", (), meet), ("c", ("a",), _ok)])
    with T.make_executor(2) as ex:
        res = T.run_tasks(tasks, ex, 2)
    assert {r["status"] for r in res.values()} == {"ok"} and log[-1] == "c"


def test_a_cycle_or_a_repeated_name_stops_the_table_before_anything_runs():
    log = []
    with pytest.raises(graphlib.CycleError):
        T.run_tasks(_table(log, [("a", ("b",), _ok), ("b", ("a",), _ok)]), T.InlineExecutor(), 1)
    with pytest.raises(ValueError, match="repeat"):
        T.run_tasks(_table(log, [("a", (), _ok), ("a", (), _ok)]), T.InlineExecutor(), 1)
    assert log == []


# ---- the course's table -------------------------------------------------------------------------

def _course(tmp_path, numbers, shares=None, ahead=True):
    runs = {n: (f"{n}_nb", functools.partial(_ok, [], n)) for n in numbers}
    shares = {n: {"profile": "smoke"} for n in numbers} if shares is None else shares
    return {t.name: t for t in T.course_table(T.CourseTable("smoke", runs, shares, tmp_path, ahead))}


def test_the_course_table_lists_notebooks_and_the_stage_calls_ahead_of_them(tmp_path):
    table = _course(tmp_path, ["01", "02", "03", "04", "05", "06", "07", "08"])
    assert list(table) == ["01_nb", "judge", "grader", "02_nb", "03_nb", "04 seed 0 leakage", "04 seed 0 constrained",
                           "04_nb", "07_nb", "04 seed 1", "07 eps=4.0", "07 eps=5.0", "05 seed 1", "05_nb", "06_nb",
                           "08_nb"]  # smoke: 2 seeds
    assert table["grader"].after == () and table["grader"].before == ("04_nb",)
    assert table["04 seed 0 constrained"].after == ("02_nb", "judge", "grader")
    assert table["04 seed 1"].after == ("judge", "grader") and table["08_nb"].after == ()
    assert table["02_nb"].after == ("01_nb", "judge") and table["05_nb"].after == ("01_nb",)
    assert table["04 seed 0 leakage"].after == ("02_nb", "judge") and table["04 seed 0 leakage"].before == ("04_nb",)
    assert table["judge"].before == ("02_nb", "04_nb", "07_nb")
    assert table["07 eps=4.0"].after == ("01_nb", "judge")
    assert table["05 seed 1"].after == () and table["05 seed 1"].before == ("05_nb",)  # Part II's other seeds
    assert table["07 eps=5.0"].before == ("07_nb",)
    every = set(table) | {"unknown"}
    assert all(a in every for t in table.values() for a in t.after + t.before)


def test_stage_calls_run_only_ahead_of_the_course_notebooks_in_the_run(tmp_path):
    assert list(_course(tmp_path, ["01", "05", "06"])) == ["01_nb", "05 seed 1", "05_nb", "06_nb"]
    assert list(_course(tmp_path, ["04"], {"04": {"seed": 5, "n_seeds": 3}})) == [
        "judge", "grader", "04 seed 5 leakage", "04 seed 5 constrained", "04_nb", "04 seed 6", "04 seed 7"]
    assert list(_course(tmp_path, ["04"], {"04": {"n_constrained": 0}})) == [
        "judge", "04 seed 0 leakage", "04_nb", "04 seed 1"], "no constrained sets: no grader"
    assert list(_course(tmp_path, ["02", "04"], ahead=False)) == ["02_nb", "04_nb"]
    assert list(_course(tmp_path, ["04"], shares={})) == ["04_nb"], "not a course notebook: no calls"


def test_a_stage_call_gets_the_settings_its_notebook_resolves(tmp_path):
    shares = {"04": {"profile": "smoke", "eps": 2.0}, "07": {"profile": "smoke", "eps": 2.0}}
    table = _course(tmp_path, ["04", "07"], shares)
    target, cfg, env, log = table["04 seed 1"].run.args
    assert target == "errlib.stages.constrained_sets:seed_row" and log.name == "04_seed_1.log"
    assert cfg == resolve("smoke", eps=2.0).replace(seed=1).to_dict()
    assert env["ERRLIB_THREADS"] == "1" and env["ERRLIB_PROFILE"] == "smoke"
    nb, point, fingerprint, env = table["07 eps=4.0"].run.args
    grid, fixed = eps_sweep_plan(resolve("smoke", eps=2.0))
    _, points, fp = sweep_points("04", grid, "smoke", fixed)
    assert point["dir"] == points[0]["dir"] and point["params"] == points[0]["params"] and fingerprint == fp
    assert env["ERRLIB_RESULTS"] == str(points[0]["dir"] / "results")


def test_run_call_runs_in_a_fresh_process_and_reports_a_failure(tmp_path):
    cfg = resolve("smoke").to_dict()
    ok = T.run_call("errlib.stages.config:describe", cfg, {}, tmp_path / "describe.log")
    assert ok["status"] == "ok" and ok["seconds"] > 0
    bad = T.run_call("errlib.stages.config:no_such_function", cfg, {}, tmp_path / "missing.log")
    assert bad["status"] == "failed" and bad["ename"] == "AttributeError" and "no_such_function" in bad["evalue"]
    assert (tmp_path / "missing.log").is_file()
