"""benchmarks/run.py --quick runs end to end and writes the documented JSON (no timing assertions)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torchattacks")  # a benchmark-only dependency (requirements-bench.txt)

pytestmark = pytest.mark.usefixtures("isolated_env")

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_expected_keys(mnist_root, tmp_path):
    out = tmp_path / "bench.json"
    threads = os.environ.get("ERRLIB_TEST_THREADS", "1")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick",
                           "--threads", threads, "--out", str(out)],
                          cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads(out.read_text())
    assert {"meta", "attack", "training", "threads", "attack_batch", "floor", "end_to_end", "targets",
            "table"} <= set(res)
    a, t, f = res["attack"], res["training"], res["floor"]
    for k in ("errlib", "torchattacks"):
        assert {"image_steps_per_s", "success_rate", "max_l2"} <= set(a[k])
        assert a[k]["max_l2"] <= a["eps"] + 1e-4  # both attacks stay in the eps-ball
    assert "ratio_errlib_vs_torchattacks" in a
    for k in ("errlib", "bare", "dataloader_w0", "dataloader_w1", "dataloader"):
        assert "images_per_s" in t[k]
    assert {"ratio_errlib_vs_bare", "ratio_errlib_vs_dataloader", "ratio_errlib_vs_mnist_example",
            "dataloader_best", "mnist_example"} <= set(t)
    assert {"source_epoch", "attack", "students"} == set(f["stages"])
    for s in f["stages"].values():
        assert {"limit_s", "measured_s", "measured_over_limit"} <= set(s)
    assert res["end_to_end"]["measured"] is False
    assert set(res["targets"]) == {"attack_vs_torchattacks", "train_vs_bare", "train_vs_dataloader",
                                   "train_vs_mnist_example"}
    assert "| attack" in res["table"] and proc.stdout.strip()
