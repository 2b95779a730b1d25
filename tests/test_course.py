"""errlib.run.course: notebooks by their dependencies, loud failures, parameter checks before any compute,
and the caller's environment untouched (report values: tests/test_report.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from errlib import config
from errlib.run.course import main as course_main
from errlib.run.course import run_course
from fake_notebooks import write_fake

pytestmark = pytest.mark.usefixtures("isolated_env")
REPO = Path(__file__).resolve().parent.parent


def _cli(*args, **env):
    full = dict(os.environ, PYTHONPATH=str(REPO), **env)
    return subprocess.run([sys.executable, "-m", "errlib.run.course", *args], env=full, cwd=REPO,
                          capture_output=True, text=True, timeout=600)


# ---- parameter checks ----------------------------------------------------------------------

@pytest.mark.parametrize("param, message", [(("epss", "3"), "did you mean 'eps'"),
                                            (("eps", "big"), "'eps' must be float")])
def test_a_bad_parameter_stops_the_run_before_any_notebook(tmp_path, param, message, capsys):
    with pytest.raises(SystemExit) as exit_:  # the command line, in process: what it prints is what counts
        course_main(["run", "--profile", "smoke", "--only", "01", "-p", *param, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code != 0
    assert message in err and "valid names" in err or "must be float" in err
    assert not (tmp_path / "out").exists(), "no notebook may run"


def test_from_notebook_refuses_an_injected_unknown_or_mistyped_parameter():
    ns = {k: None for k in config.PARAMETERS}
    ns.update(profile="smoke", os=os, In=["ipython history"], RULE_NAMES={"a": 1})
    assert config.from_notebook(ns).profile == "smoke"  # modules, In and dicts are not parameters
    with pytest.raises(ValueError, match="'epss' .did you mean 'eps'.*valid names: profile"):
        config.from_notebook(dict(ns, epss=3))
    with pytest.raises(ValueError, match="'seed' must be int"):
        config.from_notebook(dict(ns, seed="one"))
    cfg = config.from_notebook(dict(ns, toy_seeds=4, toy_steps=None), extra=["toy_seeds", "toy_steps"])
    assert cfg.toy_seeds == 4


# ---- running, failing, the environment ---------------------------------------------------------

def test_notebooks_run_by_dependencies_with_the_environment_untouched(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ERRLIB_THREADS", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    nbs = [write_fake(tmp_path / "nb" / name, sleep=1.0) for name in ("01_a.ipynb", "02_b.ipynb", "06_c.ipynb")]
    before = dict(os.environ)
    doc = run_course("smoke", [str(p) for p in nbs], {"seed": 3}, out=tmp_path / "out", html=False, jobs=2)
    assert dict(os.environ) == before, "run_course must leave the caller's environment as it was"
    runs = {k: json.loads((tmp_path / "out" / "results" / f"{k}.json").read_text()) for k in ("01_a", "02_b", "06_c")}
    value = lambda k, n: runs[k]["values"][n]["value"]  # noqa: E731
    assert value("02_b", "start") >= value("01_a", "end"), "02 waits for 01 (the course's task table)"
    for k, r in runs.items():
        assert r["settings"]["seed"] == 3 and r["settings"]["env"]["ERRLIB_PROFILE"] == "smoke"
        assert r["settings"]["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
        assert r["settings"]["env"]["ERRLIB_THREADS"] == "1" and r["settings"]["env"]["torch_threads"] == 1
        assert r["settings"]["env"]["MALLOC_TRIM_THRESHOLD_"] == str(512 << 20)
    printed = capsys.readouterr().out
    assert f"01_a.ipynb{' ' * 30} start (1 thread)" in printed, "one thread per kernel"
    assert "ahead:" not in printed, "stage calls run ahead of the course's own notebooks only"
    assert doc["course_seconds"] > 0 and 0 < doc["cpu_utilisation"] <= 1.05
    assert all(doc["notebooks"][k]["status"] == "ok" and doc["notebooks"][k]["seconds"] > 0 for k in runs)
    assert doc["notebooks"]["01_a"]["kinds"]["mean_norm"] == "norm"
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["course_seconds"] == doc["course_seconds"]


def test_a_failed_notebook_is_loud_skips_its_dependents_and_exits_non_zero(tmp_path, capsys):
    nbs = [write_fake(tmp_path / "nb" / name) for name in ("01_a.ipynb", "02_b.ipynb", "06_c.ipynb")]
    with pytest.raises(SystemExit) as exit_:
        run_course("smoke", [str(p) for p in nbs], {"eps": 20.0}, out=tmp_path / "out", html=False, jobs=1)
    assert exit_.value.code == 1
    printed = capsys.readouterr().out
    assert "01_a.ipynb FAILED" in printed and "ValueError: the fake chapter takes eps <= 10, got 20.0" in printed
    assert "at: raise ValueError" in printed and "02_b.ipynb" in printed and "skipped" in printed
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [doc["notebooks"][k]["status"] for k in ("01_a", "02_b", "06_c")] == ["failed", "skipped", "failed"]


def test_without_data_the_course_prints_the_data_not_found_error(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    r = _cli("run", "--profile", "smoke", "--only", "01", "--no-html", "--out", str(tmp_path / "out"),
             ERRLIB_DATA=str(empty), ERRLIB_DOWNLOAD="0", ERRLIB_RUNS=str(tmp_path / "runs"))
    assert r.returncode == 1
    assert "DataNotFoundError" in r.stdout and "was not found under" in r.stdout and "ERRLIB_DATA" in r.stdout
    assert "Kernel is running over TCP" not in r.stdout + r.stderr, "the transport warning is silenced"


def test_the_task_table_names_real_notebooks_and_waits_only_for_earlier_ones(tmp_path):
    from errlib.run.tasks import course_table

    nbs = {p.name[:2]: p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    runs = {n: (stem, None) for n, stem in nbs.items()}
    table = course_table("smoke", runs, {n: {} for n in nbs}, tmp_path)
    listed = {t.name for t in table}
    assert set(nbs.values()) <= listed, "every course notebook has a row"
    for t in table:
        assert set(t.after) <= listed, t
        if t.name in nbs.values():
            assert all(a < t.name for a in t.after if a in nbs.values()), t

