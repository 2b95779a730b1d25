"""errlib.stages.executor: one task table run by its dependencies, in list order, a failure skipping
what waits for it; errlib.run.tasks: the course's table from the plan declared beside the stages
(which stage calls run ahead, with the settings their notebook resolves). Fake tasks are plain
functions: no kernels, no sleeps."""
from __future__ import annotations

import functools
import graphlib
import threading

import pytest

from errlib.run import tasks as R
from errlib.stages import constrained_sets, executor as T, leakage
from errlib.stages.config import describe, resolve
from errlib.stages.controls import eps_configs

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
    return {t.name: t for t in R.course_table("smoke", runs, shares, tmp_path, ahead)}


def test_the_course_table_lists_notebooks_and_the_stage_calls_ahead_of_them(tmp_path):
    table = _course(tmp_path, ["01", "02", "03", "04", "05", "06", "07", "08"])
    assert list(table) == ["01_nb", "judge", "grader", "02_nb", "03_nb", "04 seed 1", "04 seed 0 D_det constrained",
                           "04 seed 0 D_rand constrained", "04 seed 1 D_det constrained", "04 seed 1 D_rand constrained",
                           "04 seed 0 leakage", "04 seed 0 D_other constrained", "04 seed 0 rows curve", "04_nb", "07_nb", "07 eps=4", "07 eps=5", "05 seed 1", "05_nb",
                           "06_nb", "08_nb"]  # smoke: 2 seeds
    assert table["grader"].after == () and table["grader"].before == ("04_nb",)
    assert table["04 seed 0 D_det constrained"].after == ("02_nb", "judge", "grader")
    assert table["04 seed 1 D_det constrained"].after == ("04 seed 1", "judge", "grader")
    assert table["04 seed 1"].after == ("judge",) and table["08_nb"].after == ()
    assert table["04 seed 0 rows curve"].after == ("04 seed 0 D_det constrained",)
    assert table["02_nb"].after == ("01_nb", "judge") and table["05_nb"].after == ("01_nb",)
    assert table["04 seed 0 leakage"].after == ("02_nb", "judge") and table["04 seed 0 leakage"].before == ("04_nb",)
    assert table["judge"].before == ("02_nb", "04_nb", "07_nb")
    assert table["07 eps=4"].after == ("01_nb", "judge")
    assert table["05 seed 1"].after == () and table["05 seed 1"].before == ("05_nb",)  # Part II's other seeds
    assert table["07 eps=5"].before == ("07_nb",)
    every = set(table) | {"unknown"}
    assert all(a in every for t in table.values() for a in t.after + t.before)


def test_stage_calls_run_only_ahead_of_the_course_notebooks_in_the_run(tmp_path):
    assert list(_course(tmp_path, ["01", "05", "06"])) == ["01_nb", "05 seed 1", "05_nb", "06_nb"]
    assert list(_course(tmp_path, ["04"], {"04": {"seed": 5, "n_seeds": 2, "n_constrained": 0}})) == [
        "judge", "04 seed 6", "04 seed 5 leakage", "04_nb"], "no constrained sets: no grader"
    assert list(_course(tmp_path, ["02", "04"], ahead=False)) == ["02_nb", "04_nb"]
    assert list(_course(tmp_path, ["04"], shares={})) == ["04_nb"], "not a course notebook: no calls"


def test_a_stage_call_gets_the_settings_its_notebook_resolves(tmp_path):
    shares = {"04": {"profile": "smoke", "eps": 2.0}, "07": {"profile": "smoke", "eps": 2.0}}
    table = _course(tmp_path, ["04", "07"], shares)
    fn, cfg, env, log, kwargs = table["04 seed 1 D_det constrained"].run.args
    assert fn is constrained_sets.set_row and kwargs == {"rule": "shift"} and log.name == "04_seed_1_D_det_constrained.log"
    assert cfg == resolve("smoke", eps=2.0).replace(seed=1).to_dict()
    assert env["ERRLIB_THREADS"] == "1" and env["ERRLIB_PROFILE"] == "smoke" and env["ERRLIB_CALL_JOBS"] == "1"
    assert table["04 seed 1"].run.args[0] is leakage.headline_row
    fn, cfg, *_ = table["07 eps=4"].run.args
    assert fn is leakage.eps_point and cfg == eps_configs(resolve("smoke", eps=2.0))[0].to_dict()


def test_run_call_runs_a_real_function_in_a_fresh_process_and_reports_a_failure(tmp_path):
    cfg = resolve("smoke").to_dict()
    ok = T.run_call(describe, cfg, {}, tmp_path / "describe.log")
    assert ok["status"] == "ok" and ok["seconds"] > 0
    bad = T.run_call(describe, cfg, {}, tmp_path / "bad.log", {"part": "no_such_part"})
    assert bad["status"] == "failed" and bad["ename"] == "ValueError" and "no_such_part" in bad["evalue"]
    assert (tmp_path / "bad.log").is_file()
    with pytest.raises(ValueError, match="module-level function"):
        T.run_call(lambda c: c, cfg, {}, tmp_path / "lambda.log")


def test_run_steps_leaves_the_work_to_the_notebook_with_one_job(tmp_path, monkeypatch):
    """Under the course runner (ERRLIB_CALL_JOBS=1) a notebook's declared calls start no process."""
    monkeypatch.setenv("ERRLIB_CALL_JOBS", "1")
    step = T.Step("bad", (), (), describe, resolve("smoke"), {"part": "no_such_part"})
    T.run_steps([step, step._replace(name="bad again")])  # would fail if it ran
    monkeypatch.setenv("ERRLIB_CALL_JOBS", "2")
    with pytest.raises(RuntimeError, match="no_such_part"):
        T.run_steps([step, step._replace(name="bad again")])
    monkeypatch.setenv("ERRLIB_CALL_JOBS", "zero")
    with pytest.raises(ValueError, match="ERRLIB_CALL_JOBS"):
        T.call_jobs()


def test_notebook_04_alone_builds_the_grader_first_beside_the_seeds():
    """Run alone, 04 starts the grader as a one-thread call beside the other seeds, not in its
    kernel before them; the constrained sets, which it grades, wait for it. No constrained sets:
    no grader."""
    from errlib.stages import course_plan
    steps = course_plan.calls_04(resolve("smoke"))
    assert steps[0].name == "grader" and steps[0].after == ()
    assert all("grader" in s.after for s in steps if "constrained" in s.name)
    assert "grader" not in [s.name for s in course_plan.calls_04(resolve("smoke", n_constrained=0))]
