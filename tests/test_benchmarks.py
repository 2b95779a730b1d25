"""The benchmarks run end to end on tiny sizes and write the documented JSON (no timing is asserted);
their arithmetic on timings and results files is tested in process, in milliseconds, and the end-to-end
runs (minutes) are marked ``slow``: ``make test-all`` runs them, ``make test`` does not."""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.usefixtures("isolated_env")

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
NO_TORCHATTACKS = "torchattacks is a benchmark-only dependency: pip install --no-deps -r requirements-bench.txt"


def bench(script: str, *args: str, tmp_path: Path) -> dict:
    """Run benchmarks/<script> in quick mode with this checkout's errlib; its JSON results."""
    out = tmp_path / f"{script}.json"
    threads = os.environ.get("ERRLIB_TEST_THREADS", "1")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--threads", threads, *args,
                           "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "| measure |" in proc.stdout
    return json.loads(out.read_text())


def course_file(tmp_path: Path, **top) -> str:
    doc = dict(profile="default", notebooks={"01_a": {"seconds": 40.0}, "02_b": {"seconds": 60.5}}, **top)
    path = tmp_path / "course_results.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.slow  # every section, twice (this checkout and the HEAD baseline), each in a subprocess
def test_driver_quick_writes_every_section_and_target(mnist_root, tmp_path):
    pytest.importorskip("torchattacks", reason=NO_TORCHATTACKS)
    args = ["--only", "attack", "train", "floors", "settings", "course",
            "--course-results", course_file(tmp_path, course_seconds=700.0, core_seconds=1300.0,
                                              cpu_utilisation=0.93)]
    if (REPO / ".git").exists():  # the before/after figure needs a git checkout
        args += ["--baseline", "HEAD"]
    res = bench("run.py", *args, tmp_path=tmp_path)
    a, t, f = res["attack"], res["train"], res["floors"]
    for k in ("errlib", "torchattacks"):
        assert a[k]["max_l2"] <= a["eps"] + 1e-4  # both attacks stay in the eps-ball
        assert 0 <= a[k]["success_rate"] <= 1
    assert isinstance(a["equal_success"], bool)
    for k in ("errlib", "bare", "dataloader_w0", "dataloader_w1", "dataloader", "mnist_example"):
        assert t[k]["images_per_s"] > 0
    assert {"source_epoch", "attack", "students"} == set(f["stages"])
    assert all(s["measured_over_limit"] > 0 for s in f["stages"].values())
    assert res["settings"]["attack_batch"]["image_steps_per_s"].keys() == {"256", "512", "1024"}
    assert res["course_seconds"] == 700.0 and res["cpu_utilisation"] == 0.93
    assert res["attack_vs_torchattacks"] == a["ratio_errlib_vs_torchattacks"]
    assert set(res["targets"]) == {"attack_vs_torchattacks", "train_vs_bare", "train_vs_mnist_example",
                                   "attack_vs_floor", "course_seconds", "course_core_seconds", "cpu_utilisation"}
    for v in res["targets"].values():
        assert {"value", "target", "op", "met"} <= set(v) and isinstance(v["met"], bool)
    assert res["targets"]["course_seconds"]["met"] is True
    if "--baseline" in args:
        for k in ("attack", "train"):
            assert "error" not in res["baseline"][k], res["baseline"][k]
            assert res["baseline"][k]["ratio_errlib_vs_baseline"] > 0
    assert "| attack" in res["table"] and "| whole course" in res["table"]


def _load(script: str, monkeypatch):
    """benchmarks/<script> imported in this process (its ``common`` beside it), for the parts of a
    benchmark that are arithmetic on files and timings, where a subprocess would prove nothing more."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{Path(script).stem}", BENCH / script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sweep_benchmark_says_why_not_when_the_cli_cannot_be_timed(monkeypatch):
    sw = _load("sweep.py", monkeypatch)
    args = argparse.Namespace(quick=True, rounds=None, threads=1)
    monkeypatch.setattr(sw, "one_sweep", lambda *a: pytest.fail("nothing may be timed"))
    monkeypatch.setattr(sw, "unsupported", lambda threads: "errlib.run.course sweep has no --jobs option")
    res = sw.measure(args)
    assert res["measured"] is False and "no --jobs" in res["skipped"]
    assert sw.targets(res)["sweep_jobs_speedup"]["met"] is None and "not measured" in sw.rows(res)[0]

    def fails(grid, jobs, threads):
        raise RuntimeError(f"sweep --jobs {jobs} exited 1: boom")
    monkeypatch.setattr(sw, "unsupported", lambda threads: None)
    monkeypatch.setattr(sw, "one_sweep", fails)
    res = sw.measure(args)
    assert res["measured"] is False and "exited 1: boom" in res["skipped"]


def test_sweep_benchmark_pairs_its_rounds_into_a_speedup_and_a_ceiling(monkeypatch):
    sw = _load("sweep.py", monkeypatch)
    seconds = {1: iter([100.0, 90.0]), 2: iter([50.0, 60.0])}  # rounds 1 and 2, per job count
    per_point = {1: [10.0, 12.0], 2: [20.0, 24.0]}
    monkeypatch.setattr(sw, "unsupported", lambda threads: None)
    monkeypatch.setattr(sw, "one_sweep", lambda grid, jobs, threads: (next(seconds[jobs]), per_point[jobs]))
    monkeypatch.setattr(sw.os, "cpu_count", lambda: 2)
    res = sw.measure(argparse.Namespace(quick=True, rounds=2, threads=1))
    assert res["measured"] is True and res["seconds"] == {"1": [100.0, 90.0], "2": [50.0, 60.0]}
    assert res["sweep_jobs_speedup"] == pytest.approx((2.0 + 1.5) / 2)  # median of the paired ratios
    assert res["sweep_jobs_ceiling"] == pytest.approx(2 * 11.0 / 22.0)
    assert sw.targets(res)["sweep_jobs_speedup"]["met"] is True  # 1.75 >= 1.3


@pytest.mark.slow
def test_this_checkouts_sweep_is_timed_end_to_end(tmp_path, mnist_root):
    """This errlib's sweep takes --jobs, so the benchmark must time it (not say why not)."""
    res = bench("sweep.py", tmp_path=tmp_path)
    assert res["measured"] is True, res.get("skipped")
    assert res["sweep_jobs_speedup"] > 0 and res["targets"]["sweep_jobs_speedup"]["met"] in (True, False)


def test_course_reader_handles_old_and_missing_results(tmp_path, monkeypatch):
    co = _load("course.py", monkeypatch)
    old = co.read(course_file(tmp_path))
    assert old["course_seconds"] == 100.5 and "course_seconds_note" in old  # the notebooks' sum
    assert old["cpu_utilisation"] is None and co.targets(old)["cpu_utilisation"]["met"] is None
    pct = co.read(course_file(tmp_path, course_seconds=1800, cpu_utilisation=85.0))
    assert pct["cpu_utilisation"] == pytest.approx(0.85)
    assert co.targets(pct)["course_seconds"]["met"] is False  # over 1,700 s
    assert co.targets(pct)["course_core_seconds"]["met"] is None  # an older run recorded no core-seconds
    assert co.read(None)["measured"] is False

def test_precision_benchmark_pairs_processes_and_records_floors_and_the_cpu(mnist_root, tmp_path):
    res = bench("precision.py", tmp_path=tmp_path)
    for prec in ("fp32", "bf16"):
        a = res["attack"][prec]
        assert a["max_l2"] <= 4.0 + 1e-4 and a["in_box"]  # both precisions stay in the eps-ball and the box
        assert a["image_steps_per_s"] > 0 and a["over_floor"] > 0
        assert res["matmul_flops_per_s"][prec] > 0 and len(res["workers"][prec]) == res["sizes"]["rounds"]
        assert set(res["channels_last"][prec]) == {"attack", "train"}
    for key in ("bf16_attack_speedup", "bf16_train_speedup"):
        s = res[key]
        assert s["min"] <= s["median"] <= s["max"] and len(s["pairs"]) == res["sizes"]["rounds"]
        assert isinstance(res["targets"][key]["met"], bool)
    assert res["cpu"]["auto_resolves_to"] == ("bf16" if res["cpu"]["native_bf16"] else "fp32")


def test_gpu_benchmark_is_importable_and_says_why_without_cuda(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import gpu
    finally:
        sys.path.remove(str(BENCH))
    assert gpu.parse_mode("bf16+cl") == ("bf16", True) and gpu.parse_mode("fp32") == ("fp32", False)
    with pytest.raises(ValueError, match="unknown mode"):
        gpu.parse_mode("fp16")
    if torch_cuda_available():
        pytest.skip("a CUDA device is present: benchmarks/gpu.py would measure instead of exiting")
    proc = subprocess.run([sys.executable, str(BENCH / "gpu.py"), "--out", str(tmp_path / "gpu.json")],
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True)
    assert proc.returncode == 2 and "needs a CUDA device" in proc.stderr
    assert not (tmp_path / "gpu.json").exists()


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def test_alone_reports_the_04_pair_against_its_target(monkeypatch):
    alone = _load("alone.py", monkeypatch)
    pair = {"params": {"profile": "default", "n_attack": 4000}, "seconds": {"in_kernel": 200.0, "every_core": 140.0},
            "cores": 2, "nb04_alone_speedup": 200.0 / 140.0}
    assert alone.targets(pair)["nb04_alone_speedup"]["met"] is True
    assert alone.targets(dict(pair, nb04_alone_speedup=200.0 / 160.0))["nb04_alone_speedup"]["met"] is False
    assert "1.43x" in alone.rows(pair)[0] and "met" in alone.rows(pair)[0] and "rounds" not in alone.rows(pair)[0]
    rounds = dict(pair, ratios=[1.3, 1.43, 1.5])  # --rounds 3: the median, and the range beside it
    assert "3 rounds, range 1.30x-1.50x" in alone.rows(rounds)[0]


def test_alone_refuses_an_unknown_precision_before_running_anything(monkeypatch, tmp_path):
    alone = _load("alone.py", monkeypatch)
    monkeypatch.setattr(alone, "in_order", lambda *a, **k: pytest.fail("ran notebooks with a bad precision"))
    args = SimpleNamespace(profile=None, quick=True, n_attack=None, precision="fp16", rounds=1)
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        alone.measure(args)


def test_the_learner_path_reports_each_notebook_and_the_total_without_a_target(monkeypatch):
    path = _load("learner_path.py", monkeypatch)
    res = {"params": {"profile": "default"}, "path_seconds": {"01_a": 30.0, "02_b": 61.0},
           "path_total_seconds": 91.0, "cores": 2}
    assert "01 30 s, 02 61 s | 91 s" in path.rows(res)[0] and "no target" in path.rows(res)[0]


def test_a_separately_measured_file_is_recorded_as_it_is_and_a_broken_one_is_refused(monkeypatch, tmp_path):
    run = _load("run.py", monkeypatch)
    good = tmp_path / "alone.json"
    good.write_text(json.dumps({"nb04_alone_speedup": 1.2, "meta": {"date": "2999-01-01T00:00:00"}}))
    args = run.arguments(["--record", f"alone={good}", "--only", "course"])
    assert args.only == ["course", "alone"] and args.record["alone"]["nb04_alone_speedup"] == 1.2
    assert run.run_all(run.arguments(["--record", f"alone={good}"]), tmp_path)["alone"] == args.record["alone"]
    broken = tmp_path / "broken.json"
    for text in ('{"nb04_alone_speedup": 1.2}', '{"error": "x", "meta": {}}', "{not json"):
        broken.write_text(text)
        with pytest.raises(SystemExit):
            run.arguments(["--record", f"alone={broken}"])
    for spec in (f"nosuch={good}", f"alone={tmp_path / 'missing.json'}", "alone"):
        with pytest.raises(SystemExit):
            run.arguments(["--record", spec])


def test_a_variant_is_recorded_beside_its_file_with_its_own_rows_and_targets(monkeypatch, tmp_path):
    run = _load("run.py", monkeypatch)
    pair = {"params": {"profile": "default"}, "seconds": {"in_kernel": 200.0, "every_core": 180.0}, "cores": 2,
            "nb04_alone_speedup": 200.0 / 180.0, "meta": {"date": "2999-01-01T00:00:00"}}
    fp32 = dict(pair, params={"profile": "default", "precision": "fp32"}, nb04_alone_speedup=1.4,
                seconds={"in_kernel": 280.0, "every_core": 200.0})
    files = {}
    for name, res in (("alone", pair), ("alone@fp32", fp32)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(dict(res, targets=_load("alone.py", monkeypatch).targets(res))))
    args = run.arguments(["--record"] + [f"{k}={v}" for k, v in files.items()])
    res = run.run_all(args, tmp_path)
    assert res["alone@fp32"]["nb04_alone_speedup"] == 1.4 and run.headline(res)["nb04_alone_speedup"] == 200 / 180
    assert [k for k, _ in run.sections(res)] == ["alone", "alone@fp32"]
    got = run.targets(res)
    assert got["nb04_alone_speedup"]["met"] is False and got["nb04_alone_speedup@fp32"]["met"] is True
    table = run.table(res, {"date": "2999-01-01", "quick": False, "loadavg_start": None, "loadavg_end": None})
    assert "'precision': 'fp32'" in table and table.count("| 04 alone after 01-03") == 2
    for spec in (f"alone@FP32={files['alone']}", f"nosuch@fp32={files['alone']}", f"alone@={files['alone']}"):
        with pytest.raises(SystemExit):
            run.arguments(["--record", spec])


def test_the_readme_blocks_are_the_committed_record_rendered(monkeypatch):
    run = _load("run.py", monkeypatch)
    readme, res = run.README.read_text(), json.loads(run.RESULTS.read_text())
    assert "<!-- alone@fp32:start -->" in readme and run.readme_blocks(readme, res) == readme  # not edited by hand
    moved = dict(res, **{"alone@fp32": dict(res["alone@fp32"], nb04_alone_speedup=9.0)})
    assert "Median 9.00x" in run.readme_blocks(readme, moved)  # the block follows the record


def test_a_partial_rerun_keeps_every_other_record_and_notes_when_each_was_measured(monkeypatch, tmp_path):
    run = _load("run.py", monkeypatch)
    recorded = REPO / "benchmarks" / "results.json"
    out = tmp_path / "results.json"
    out.write_text(recorded.read_text())
    old = json.loads(recorded.read_text())
    now = {"learner_path": {"params": {"profile": "smoke"}, "path_seconds": {"01_a": 3.0}, "path_total_seconds": 3.0,
                            "cores": 2, "meta": {"date": "2999-01-01T00:00:00"}}, "baseline": None}
    assert run.merged(now, out, None) is now  # a whole run records only itself
    res = run.merged(now, out, ["learner_path"])
    assert res["learner_path"] == now["learner_path"]
    for key in ("attack", "alone", "course", "course_by_jobs"):  # other files' sections, other records
        assert res[key] == old[key]
    assert "table" not in res and "targets" not in res  # made again from the merged record
    meta = {"date": "2999-01-01T00:00:00", "quick": False, "loadavg_start": None, "loadavg_end": None}
    table = run.table(dict(res, **run.headline(res)), meta)  # the recorded file still renders, row by row
    assert "| 04 alone after 01-03" in table and "| a learner's path" in table
    assert f"(attack: benchmarks/attack.py run on {old['attack']['meta']['date']}" in table
    assert "(learner_path:" not in table  # measured on the run's own day
