"""Published values carry the kind they were made with (errlib.stages.kinds); results files and the
report format by that kind, never by range or name, and refuse a value without one."""
from __future__ import annotations

import json
import pickle
import types

import pytest
import torch

from errlib import report
from errlib.run import render
from errlib.stages import kinds

pytestmark = pytest.mark.usefixtures("isolated_env")


def _cfg(**extra):
    return types.SimpleNamespace(profile="smoke", to_dict=lambda: {}, **extra)


def test_a_kinded_number_is_still_a_number_and_what_is_computed_from_it_is_plain():
    acc, n = report.fraction(0.25, reference=0.5), report.count(3)
    assert acc == 0.25 and 100 * acc == 25.0 and f"{acc:.2f}" == "0.25" and n + 1 == 4
    assert (acc.kind, acc.extra, n.kind) == ("fraction", {"reference": 0.5}, "count")
    assert not hasattr(acc * 2, "kind"), "a derived number must be declared anew"
    assert json.dumps({"a": acc, "n": n}) == '{"a": 0.25, "n": 3}'
    assert pickle.loads(pickle.dumps(acc)).kind == "fraction"  # crosses process pools
    assert report.norm(torch.tensor(0.5)).kind == "norm"  # a 0-d tensor is read with .item()
    assert report.count([1, 2]) == {"value": [1, 2], "kind": "count"}
    assert report.headline(acc).extra == {"reference": 0.5, "headline": True}
    with pytest.raises(ValueError, match="unknown kind"):
        report.value(1.0, "percent")
    with pytest.raises(ValueError, match="unknown extras"):
        report.fraction(1.0, refrence=0.3)


def test_a_value_without_a_kind_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("ERRLIB_RESULTS", str(tmp_path))
    for bad in ({"D_rand_clean_test_acc": 0.87}, {"ok": report.count(1), "x": {"value": 0.5, "reference": 0.6}},
                {"per_seed": report.table([{"seed": report.number(0), "acc": 0.5}])}):
        with pytest.raises(TypeError, match="has no kind"):
            report.save_results("04_x", _cfg(), bad)
    assert list(tmp_path.iterdir()) == []


def test_report_formats_by_the_declared_kind_never_by_range_or_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ERRLIB_RESULTS", str(tmp_path))
    rows = [{"seed": report.number(s), "student_acc": report.fraction(0.4 + s / 10)} for s in (0, 1)]
    path = report.save_results("02_x", _cfg(), {
        "mean_perturbation_norm": report.norm(0.48), "student_acc": report.fraction(0.481, reference=0.633),
        "images": report.count(1000), "y_plus_1": report.fraction(0.2), "n_acc": report.norm(0.3),
        "per_seed": report.table(rows)})
    saved = json.loads(path.read_text())
    assert saved["kinds"] == {"mean_perturbation_norm": "norm", "student_acc": "fraction", "images": "count",
                              "y_plus_1": "fraction", "n_acc": "norm", "per_seed": "table"}
    assert saved["values"]["student_acc"] == {"value": 0.481, "kind": "fraction", "reference": 0.633}
    assert saved["values"]["per_seed"]["value"][1]["student_acc"] == {"value": 0.5, "kind": "fraction"}
    md = render.render_report({"profile": "smoke", "notebooks": {"02_x": dict(saved, status="ok")}})
    assert "| mean_perturbation_norm | 0.48 |" in md and "48%" not in md and "48.0%" not in md
    assert "| student_acc | 48.1% | 63.3% |" in md and "| images | 1,000 |" in md and "| y_plus_1 | 20.0% |" in md
    assert "| n_acc | 0.3 |" in md, "a name ending in _acc is formatted by its kind, a norm"
    assert "| per_seed | 2 rows (in results.json) |" in md
    assert render.format_value(12.34, "seconds") == "12.3 s"


def test_results_record_the_environment_their_numbers_came_from(tmp_path, monkeypatch):
    monkeypatch.setenv("ERRLIB_RESULTS", str(tmp_path))
    env = json.loads(report.save_results("01_x", _cfg(), {"a": report.count(1)}).read_text())["environment"]
    assert env["threads"] == torch.get_num_threads() and env["precision"] == "fp32"
    assert env["torch"] == torch.__version__ and env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    env = json.loads(report.save_results("01_x", _cfg(precision="bf16"), {"a": report.count(1)}).read_text())
    assert env["environment"]["precision"] == "bf16"


def test_leakage_headline_row_declares_its_kinds_and_mean_sd_keeps_them():
    from errlib.stages import leakage

    rows = [{"acc": kinds.fraction(0.2), "rows": kinds.count(10), "plain": 1.0},
            {"acc": kinds.fraction(0.4), "rows": kinds.count(20), "plain": 3.0}]
    m, sd = leakage.mean_sd(rows, "acc")
    assert (m.kind, sd.kind) == ("fraction", "fraction") and m == pytest.approx(0.3)
    assert leakage.mean_sd(rows, "rows")[0].kind == "count"
    assert not hasattr(leakage.mean_sd(rows, "plain")[0], "kind")


def test_a_recorded_value_is_restored_with_its_kind_and_extras():
    made = kinds.fraction(0.42, reference=0.633, source="Ilyas Table 1")
    back = kinds.restore(kinds.record("acc", made))
    assert back == 0.42 and back.kind == "fraction" and back.extra == made.extra
    assert kinds.restore(kinds.record("n", kinds.count(7))).kind == "count"
    assert kinds.restore(kinds.record("v", kinds.value("cannot_tell", "text"))) == {"value": "cannot_tell", "kind": "text"}
