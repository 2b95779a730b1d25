"""errlib.stages.cache under faults: code identity, SIGKILL mid-compute and mid-write, two processes at
once, a payload that would run code on load."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import shutil
import time
from pathlib import Path

import pytest
import torch

import errlib.stages.cache as cache
import errlib.stages.identity as identity
from errlib.stages.cache import MANIFEST, PAYLOAD, run_stage, runs_root

pytestmark = pytest.mark.usefixtures("isolated_env")
REPO = Path(__file__).resolve().parent.parent


def _entries(stage: str, prefix: str):
    d = runs_root() / stage
    return sorted(p.name for p in d.glob(prefix + "*")) if d.exists() else []


# ---- code identity -----------------------------------------------------------------------

def test_docstring_and_comment_edits_keep_the_code_hash_but_code_edits_change_it(tmp_path):
    base = 'def f(x):\n    """Double x."""\n    return 2 * x\n'
    variants = {"docstring": base.replace("Double x.", "Twice x, documented at length."),
                "comment": base.replace("return 2 * x", "return 2 * x  # a comment\n\n"),
                "code": base.replace("2 * x", "3 * x")}
    hashes = {}
    for name, text in dict(base=base, **variants).items():
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        hashes[name] = identity.file_hash(path)
    assert hashes["docstring"] == hashes["base"] and hashes["comment"] == hashes["base"]
    assert hashes["code"] != hashes["base"]


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of errlib (and docs/notebooks beside it) in tmp_path, which code identity then reads."""
    root = tmp_path / "repo"
    shutil.copytree(identity.PACKAGE_ROOT, root / "errlib", ignore=shutil.ignore_patterns("__pycache__"))
    for extra in ("docs", "notebooks"):
        (root / extra).mkdir()
        (root / extra / "page.py").write_text("x = 1\n")
    monkeypatch.setattr(identity, "PACKAGE_ROOT", root / "errlib")
    return root


def _add(path: Path, text: str = "def new_stage(x):\n    return x + 1\n") -> None:
    path.write_text(path.read_text() + "\n" + text if path.exists() else text)


@pytest.mark.parametrize("edit, rebuilds", [
    ("core/new_kernel.py", True), ("stages/new_stage.py", True), ("stages/deeper/extra.py", True),
    ("core/attacks.py", True), ("stages/pipeline.py", True),
    ("run/new_runner.py", False), ("run/course.py", False), ("teach/plotting.py", False),
    ("core/progress.py", False), ("stages/cache.py", False), ("../docs/page.py", False),
    ("../notebooks/page.py", False), ("../notebooks/99_new.py", False)])
def test_code_identity_follows_the_computing_folders_with_nothing_to_register(package_copy, edit, rebuilds):
    calls = []
    build = lambda: (calls.append(1) or {"w": torch.zeros(1)}, {})  # noqa: E731
    before = run_stage("source", {"a": 1}, build, verbose=False)
    path = package_copy / "errlib" / edit
    path.parent.mkdir(parents=True, exist_ok=True)
    _add(path)
    after = run_stage("source", {"a": 1}, build, verbose=False)
    assert (after.key != before.key) is rebuilds and len(calls) == 1 + rebuilds
    assert (edit in identity.computing_files()) is rebuilds


def test_the_modules_left_out_of_code_identity_exist_and_compute_nothing_a_stage_reads():
    for rel in identity.NOT_COMPUTING:
        assert (identity.PACKAGE_ROOT / rel).is_file(), rel
        assert rel not in identity.computing_files()
    files = identity.computing_files()
    assert "stages/pipeline.py" in files and "core/train.py" in files and "stages/identity.py" in files
    assert not [f for f in files if not f.startswith(("core/", "stages/"))]


def test_run_stage_accepts_an_explicit_code_identity():
    calls = []
    build = lambda: (calls.append(1) or {"w": torch.zeros(1)}, {})  # noqa: E731
    a = run_stage("s", {}, build, code="v1", verbose=False)
    assert run_stage("s", {}, build, code="v1", verbose=False).cached
    b = run_stage("s", {}, build, code="v2", verbose=False)
    assert len(calls) == 2 and a.key != b.key and b.manifest["code"] == "v2"


def test_manifest_records_what_the_payload_depends_on_besides_the_key():
    threads = torch.get_num_threads()
    r = run_stage("s", {"a": 1, "precision": "bf16"}, lambda: ({"w": torch.zeros(1)}, {}), verbose=False)
    env = json.loads((r.path / MANIFEST).read_text())["environment"]
    assert env["threads"] == threads and env["precision"] == "bf16" and env["torch"] == torch.__version__
    assert env["device"] == "cpu" and env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert run_stage("t", {}, lambda: ({"w": torch.zeros(1)}, {}), verbose=False).manifest["environment"][
        "precision"] == "fp32"


# ---- processes killed, processes racing ---------------------------------------------------

CHILD = textwrap.dedent('''
    import os, sys, time, pathlib, torch
    import errlib.stages.cache as cache
    mode, marker, log = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
    real_save = torch.save
    def slow_save(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        marker.touch()
        time.sleep(120)  # killed here: the payload is written, the manifest is not
    if mode == "write":
        cache.torch.save = slow_save
    def build():
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        if mode == "compute":
            marker.touch()
            time.sleep(120)  # killed here, mid-compute
        if mode == "race":
            time.sleep(1.0)
        return {"w": torch.arange(6.0)}, {"built_by": os.getpid()}
    r = cache.run_stage("s", {"a": 1}, build, force=mode == "write", verbose=False)
    print(r.key, float(r.payload["w"].sum()))
''')


def _child(tmp_path, mode):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    marker = tmp_path / f"marker-{time.monotonic_ns()}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), mode, str(marker), str(tmp_path / "builds.log")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, marker


def _kill_when(proc, marker):
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _quick():
    return {"w": torch.arange(6.0)}, {}


def test_sigkill_mid_compute_leaves_nothing_and_the_next_run_builds(tmp_path):
    proc, marker = _child(tmp_path, "compute")
    _kill_when(proc, marker)
    assert _entries("s", "") == [] or _entries("s", ".tmp-") == []
    r = run_stage("s", {"a": 1}, _quick, verbose=False)  # the dead child's lock does not block us
    assert r.cached is False and _entries("s", ".tmp-") == []


def test_sigkill_mid_write_never_loads_debris_and_debris_does_not_grow(tmp_path):
    proc, marker = _child(tmp_path, "write")
    _kill_when(proc, marker)
    assert len(_entries("s", ".tmp-")) == 1  # the killed writer's half-written folder
    r = run_stage("s", {"a": 1}, _quick, verbose=False)
    assert r.cached is False, "a half-written stage must never be loaded"
    assert _entries("s", ".tmp-") == [], "the dead writer's debris is cleaned when a stage is written"
    for _ in range(3):  # forced rewrites killed mid-write, over a valid copy
        proc, marker = _child(tmp_path, "write")
        _kill_when(proc, marker)
        assert len(_entries("s", ".tmp-")) == 1, "debris must not grow with each kill"
        again = run_stage("s", {"a": 1}, lambda: pytest.fail("the valid copy must be loaded"), verbose=False)
        assert again.cached and torch.equal(again.payload["w"], torch.arange(6.0))


def test_two_processes_on_one_empty_cache_both_finish_agree_and_build_once(tmp_path):
    procs = [_child(tmp_path, "race")[0] for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert outs[0][0] == outs[1][0] and outs[0][0].strip()
    assert len((tmp_path / "builds.log").read_text().split()) == 1, "the build lock lets one process build"
    stages = _entries("s", "")
    assert len(stages) == 1 and cache._valid(runs_root() / "s" / stages[0]) is not None


# ---- a payload that would run code --------------------------------------------------------

class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))  # unpickling this creates a file


def test_a_payload_that_runs_code_on_load_is_refused_and_nothing_runs(tmp_path):
    r = run_stage("s", {"a": 1}, _quick, verbose=False)
    pwned = tmp_path / "pwned"
    torch.save({"w": _Evil(str(pwned))}, r.path / PAYLOAD)
    m = json.loads((r.path / MANIFEST).read_text())  # the attacker also fixes the recorded hash
    m["payload"].update(bytes=(r.path / PAYLOAD).stat().st_size, sha256=cache._sha256(r.path / PAYLOAD))
    (r.path / MANIFEST).write_text(json.dumps(m))
    with pytest.warns(UserWarning, match="refused"):
        again = run_stage("s", {"a": 1}, _quick, verbose=False)
    assert not pwned.exists(), "loading the cache must never run code from a payload"
    assert again.cached is False and torch.equal(again.payload["w"], torch.arange(6.0))
    assert len(_entries("s", f".broken-{r.key}")) == 1, "the refused copy is kept aside, not deleted"
