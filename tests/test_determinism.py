"""Same seed, same numbers: a stage computes the same payload whatever runs beside it, and two cold
smoke runs of Part I record the same values. Real stages on the smoke profile: minutes (``slow``)."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch

from errlib.run.course import run_course
from errlib.run.tasks import task_env
from errlib.stages.config import resolve
from errlib.stages.executor import Task, make_executor, run_call, run_tasks
from errlib.stages.pipeline import get_source

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_env")]


def _payloads(runs: Path):
    """Each cached stage's payload under ``runs``, by the stage folder's path below it."""
    return {p.parent.relative_to(runs).as_posix(): torch.load(p, weights_only=False)
            for p in sorted(runs.rglob("payload.pt"))}


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    return a == b


def test_a_stage_built_alone_equals_the_same_stage_built_beside_another(tmp_path, mnist_root):
    cfg = resolve("smoke").to_dict()

    def call(runs: Path, config, name):
        env = dict(task_env(tmp_path / "results", "smoke"), ERRLIB_RUNS=str(runs))
        return Task(name, (), functools.partial(run_call, get_source, config, env, tmp_path / f"{name}.log"))

    with make_executor(1) as ex:  # one process, nothing beside it
        alone = run_tasks([call(tmp_path / "alone", cfg, "alone")], ex, 1)
    with make_executor(2) as ex:  # as `make course JOBS=2`: another stage computes at the same time
        beside = run_tasks([call(tmp_path / "pair", cfg, "seed 0"),
                            call(tmp_path / "pair", dict(cfg, seed=1), "seed 1")], ex, 2)
    assert {r["status"] for r in [*alone.values(), *beside.values()]} == {"ok"}, (alone, beside)
    one, two = _payloads(tmp_path / "alone"), _payloads(tmp_path / "pair")
    assert len(one) == 1 and len(two) == 2 and set(one) < set(two), "seed 1's model is another stage"
    (key,) = one
    assert _equal(one[key], two[key]), "the same stage, bit for bit"


def _values(doc):
    """Every notebook's recorded values except wall-clock ones (kind ``seconds``)."""
    return {nb: {k: v for k, v in entry.get("values", {}).items() if entry.get("kinds", {}).get(k) != "seconds"}
            for nb, entry in sorted(doc["notebooks"].items())}


def test_two_cold_smoke_runs_of_part_one_record_identical_values(tmp_path, mnist_root, monkeypatch):
    docs = []
    for run in ("a", "b"):
        monkeypatch.setenv("ERRLIB_RUNS", str(tmp_path / run / "runs"))
        docs.append(run_course("smoke", ["01", "02", "03", "04"], out=tmp_path / run / "course", html=False,
                               jobs=2))
    first, second = map(_values, docs)
    assert len(first) == 4 and all(first.values()), first
    assert first == second, json.dumps([first, second], indent=1, default=str)[:4000]
