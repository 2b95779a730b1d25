"""errlib.run.sweep: point identity from every parameter, parameter checks, the environment left as it
was, failed points reported while the others finish, local processes and a 2-worker Dask cluster."""
from __future__ import annotations

import csv
import json
import os

import pytest

import errlib.run.sweep as sweep_mod
from errlib.run.sweep import SweepFailed, point_id, sweep
from fake_notebooks import write_fake

pytestmark = pytest.mark.usefixtures("isolated_env")


@pytest.fixture
def fake(tmp_path):
    return write_fake(tmp_path / "nb" / "04_fake.ipynb")


def _points(out):
    return json.loads((out / "sweep.json").read_text())["points"]


def test_point_identity_covers_every_parameter():
    a = point_id({"eps": 1.0, "seed": 0, "profile": "smoke"})
    assert a == point_id({"profile": "smoke", "seed": 0, "eps": 1})  # order and 1 vs 1.0 do not matter
    assert a != point_id({"eps": 1.0, "seed": 1, "profile": "smoke"})
    assert a != point_id({"eps": 1.0, "seed": 0, "profile": "default"})


def test_two_seeds_in_one_runs_folder_both_execute_and_record_their_settings(fake, tmp_path, capsys):
    out = tmp_path / "sweep"
    before = dict(os.environ)
    sweep(str(fake), {"eps": [1.0]}, profile="smoke", parameters={"seed": 0}, out=out, plot=False)
    sweep(str(fake), {"eps": [1.0]}, profile="smoke", parameters={"seed": 1}, out=out, plot=False)
    assert dict(os.environ) == before, "sweep must leave the caller's environment as it was"
    printed = capsys.readouterr().out
    assert "up to date" not in printed, "seed 1 must not reuse seed 0's run"
    dirs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(dirs) == 2 and all(d.name.startswith("eps=1.0__") for d in dirs)
    seeds = sorted(json.loads((d / "point.json").read_text())["results"]["settings"]["seed"] for d in dirs)
    assert seeds == [0, 1]
    (point,) = _points(out)
    assert point["parameters"] == {"seed": 1, "eps": 1.0, "profile": "smoke"}
    assert point["settings"]["seed"] == 1
    env = point["settings"]["env"]  # what the kernel saw
    assert env["ERRLIB_PROFILE"] == "smoke" and env["ERRLIB_RESULTS"].startswith(str(out))
    sweep(str(fake), {"eps": [1.0]}, profile="smoke", parameters={"seed": 1}, out=out, plot=False)
    assert "up to date" in capsys.readouterr().out


def test_unknown_or_mistyped_parameters_stop_the_sweep_before_anything_runs(fake, tmp_path):
    out = tmp_path / "sweep"
    with pytest.raises(ValueError, match="did you mean 'seed'.*valid names: profile, seed, eps"):
        sweep(str(fake), {"eps": [1.0]}, profile="smoke", parameters={"sede": 1}, out=out)
    with pytest.raises(ValueError, match="'eps' must be float"):
        sweep(str(fake), {"eps": [1.0, "big"]}, profile="smoke", out=out)
    assert not out.exists()


def test_csv_rows_and_the_plot_draws_the_headline_fractions_by_their_declared_kind(fake, tmp_path, monkeypatch):
    drawn = {}

    def fake_plot(rows, x, kinds, path):
        drawn.update(x=x, keys=[k for k, kind in kinds.items() if kind == "fraction"])
    monkeypatch.setattr(sweep_mod, "_plot_sweep", fake_plot)
    csv_path = sweep(str(fake), {"eps": [1.0, 3.0]}, profile="smoke", out=tmp_path / "s")
    rows = list(csv.DictReader(open(csv_path)))
    assert [float(r["eps"]) for r in rows] == [1.0, 3.0]
    assert float(rows[1]["mean_norm"]) == pytest.approx(0.3)
    assert drawn == {"x": "eps", "keys": ["student_acc"]}, "a norm of 0.3 is not a fraction; other_share no headline"
    assert float(rows[1]["other_share"]) == 0.25, "what the figure leaves out stays in the CSV"


def _failing_grid_checks(out, capsys):
    printed = capsys.readouterr().out
    assert "ValueError: the fake chapter takes eps <= 10, got 20.0" in printed and 'raise ValueError' in printed
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert sorted(float(r["eps"]) for r in rows) == [1.0, 2.0], "the other points finish"
    status = {p["grid"]["eps"]: (p["status"], p["error"]) for p in _points(out)}
    assert status[20.0][0] == "failed" and "takes eps <= 10" in status[20.0][1]
    builds = (out.parent / "runs" / "shared-builds.log").read_text().split()
    assert len(builds) == 1, "a stage shared by the points is built once"


def test_local_processes_finish_the_other_points_and_share_stages(fake, tmp_path, capsys):
    out = tmp_path / "sweep"
    with pytest.raises(SweepFailed, match="1 grid point"):
        sweep(str(fake), {"eps": [20.0, 1.0, 2.0]}, profile="smoke", out=out, jobs=2, plot=False)
    _failing_grid_checks(out, capsys)


def test_a_two_worker_dask_cluster_runs_the_sweep(fake, tmp_path, capsys):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed: "
                                      "pip install -r requirements-sweep.txt")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        out = tmp_path / "sweep"
        with pytest.raises(SweepFailed):
            sweep(str(fake), {"eps": [20.0, 1.0, 2.0]}, profile="smoke", out=out,
                  scheduler=cluster.scheduler_address, plot=False)
    _failing_grid_checks(out, capsys)


def test_the_first_point_runs_alone_then_the_rest_fan_out_one_thread_each(tmp_path):
    fake = write_fake(tmp_path / "nb" / "04_fake.ipynb", sleep=5.0)  # longer than a worker's start
    out = tmp_path / "sweep"
    sweep(str(fake), {"eps": [1.0, 2.0, 3.0]}, profile="smoke", out=out, jobs=2, plot=False)
    runs = {}
    for p in _points(out):
        saved = json.loads((out / p["point"] / "results" / "04_fake.json").read_text())
        values = {k: v["value"] for k, v in saved["values"].items()}
        runs[p["grid"]["eps"]] = (values["start"], values["end"], saved["settings"]["env"])
    assert min(runs[2.0][0], runs[3.0][0]) >= runs[1.0][1], "the first point builds the shared stages alone"
    assert max(runs[2.0][0], runs[3.0][0]) < min(runs[2.0][1], runs[3.0][1]), "then the others run together"
    assert all(env["ERRLIB_THREADS"] == "1" and env["torch_threads"] == 1 for _, _, env in runs.values())
