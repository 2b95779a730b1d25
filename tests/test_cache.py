"""errlib.stages.cache.run_stage: keys, reuse, recomputation, atomic writes, corruption, weights_only."""
from __future__ import annotations

import json
import pathlib
from pathlib import Path

import pytest
import torch

import errlib.stages.cache as cache
from errlib.stages.cache import MANIFEST, PAYLOAD, run_stage, runs_root
from errlib.stages.identity import stage_key
from helpers import tiny_model

pytestmark = pytest.mark.usefixtures("isolated_env")


class Builder:
    """A build() that counts its calls and returns a small payload."""

    def __init__(self, value: float = 1.0):
        self.calls = 0
        self.value = value

    def __call__(self):
        self.calls += 1
        return {"w": torch.full((3, 4), self.value), "i": torch.arange(5)}, {"acc": 0.5}


def _stage_dirs(root: Path, stage: str):
    d = root / stage
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_runs_root_reads_env(tmp_path):
    assert runs_root() == tmp_path / "runs"  # set by the autouse fixture in conftest
    assert runs_root(tmp_path / "x") == tmp_path / "x"


def test_equal_settings_reuse_the_cached_stage():
    b = Builder()
    first = run_stage("s", {"a": 1, "b": [1, 2]}, b, verbose=False)
    assert first.cached is False and b.calls == 1
    assert first.path == runs_root() / "s" / first.key
    assert (first.path / PAYLOAD).is_file() and (first.path / MANIFEST).is_file()
    second = run_stage("s", {"b": [1, 2], "a": 1}, b, verbose=False)  # same settings, other order
    assert b.calls == 1, "build must not run for equal settings"
    assert second.cached is True and second.key == first.key
    assert torch.equal(second.payload["w"], first.payload["w"])
    assert torch.equal(second.payload["i"], first.payload["i"])
    assert second.metrics == {"acc": 0.5}
    assert second.manifest["settings"] == {"a": 1, "b": [1, 2]}


def test_changed_settings_recompute():
    b = Builder()
    r1 = run_stage("s", {"eps": 1.0}, b, verbose=False)
    r2 = run_stage("s", {"eps": 2.0}, b, verbose=False)
    assert b.calls == 2 and r2.cached is False and r2.key != r1.key
    assert run_stage("s", {"eps": 1.0}, b, verbose=False).cached is True and b.calls == 2


def test_upstream_key_change_recomputes_downstream():
    up, down = Builder(), Builder()
    a1 = run_stage("up", {"x": 1}, up, verbose=False)
    d1 = run_stage("down", {"y": 1}, down, upstream=[a1.key], verbose=False)
    assert down.calls == 1
    assert run_stage("down", {"y": 1}, down, upstream=[a1.key], verbose=False).cached
    a2 = run_stage("up", {"x": 2}, up, verbose=False)
    assert a2.key != a1.key
    d2 = run_stage("down", {"y": 1}, down, upstream=[a2.key], verbose=False)
    assert d2.cached is False and down.calls == 2 and d2.key != d1.key
    assert d2.manifest["upstream"] == [a2.key]


def test_stage_key_depends_on_stage_settings_and_upstream():
    k = stage_key("s", {"a": 1, "b": 2}, ["u"])
    assert k == stage_key("s", {"b": 2, "a": 1}, ["u"]) and len(k) == 16
    assert k != stage_key("t", {"a": 1, "b": 2}, ["u"])
    assert k != stage_key("s", {"a": 1, "b": 3}, ["u"])
    assert k != stage_key("s", {"a": 1, "b": 2}, ["v"])
    with pytest.raises(TypeError, match="JSON-like"):
        stage_key("s", {"a": object()})


def test_force_rebuilds():
    b = Builder()
    r1 = run_stage("s", {"a": 1}, b, verbose=False)
    b.value = 7.0
    r2 = run_stage("s", {"a": 1}, b, force=True, verbose=False)
    assert b.calls == 2 and r2.cached is False and r2.key == r1.key
    r3 = run_stage("s", {"a": 1}, b, verbose=False)
    assert r3.cached and torch.equal(r3.payload["w"], torch.full((3, 4), 7.0))


def test_manifest_records_payload_size_and_hash():
    r = run_stage("s", {"a": 1}, Builder(), verbose=False)
    m = json.loads((r.path / MANIFEST).read_text())
    assert m["payload"]["bytes"] == (r.path / PAYLOAD).stat().st_size
    assert m["payload"]["sha256"] == cache._sha256(r.path / PAYLOAD)
    assert m["key"] == r.key and m["stage"] == "s" and m["metrics"] == {"acc": 0.5}
    assert {"torch", "torchvision", "python"} <= set(m["versions"])


# ---- interrupted writes ------------------------------------------------------------------

def test_write_interrupted_after_payload_leaves_nothing_loadable(monkeypatch):
    """A KeyboardInterrupt while the manifest is written (payload already on disk)."""
    real_write_text = pathlib.Path.write_text
    seen = {"armed": True}

    def interrupted(self, *args, **kwargs):
        if seen["armed"] and self.name == MANIFEST:
            seen["payload_saved"] = (self.parent / PAYLOAD).is_file()
            seen["tmp"] = self.parent
            raise KeyboardInterrupt("simulated kill while writing the manifest")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", interrupted)
    b = Builder()
    final = runs_root() / "s" / stage_key("s", {"a": 1})
    with pytest.raises(KeyboardInterrupt):
        run_stage("s", {"a": 1}, b, verbose=False)
    assert seen["payload_saved"], "the interruption should come after the payload was saved"
    assert seen["tmp"] != final, "the stage must be written into a temporary folder first"
    assert not final.exists(), "a half-written stage must not appear at its final path"
    assert not seen["tmp"].exists(), "the temporary folder should be cleaned up"
    assert _stage_dirs(runs_root(), "s") == []

    seen["armed"] = False
    r = run_stage("s", {"a": 1}, b, verbose=False)
    assert r.cached is False and b.calls == 2 and r.path == final
    assert run_stage("s", {"a": 1}, b, verbose=False).cached is True


def test_interrupt_inside_build_writes_nothing():
    state = {"calls": 0}

    def build():
        state["calls"] += 1
        partial = {"w": torch.ones(3)}  # some work done ...
        if state["calls"] == 1:
            raise KeyboardInterrupt("simulated Ctrl-C")  # ... then interrupted
        return partial, {}

    with pytest.raises(KeyboardInterrupt):
        run_stage("s", {"a": 1}, build, verbose=False)
    assert _stage_dirs(runs_root(), "s") == []
    r = run_stage("s", {"a": 1}, build, verbose=False)
    assert r.cached is False and state["calls"] == 2


def test_leftovers_of_a_killed_process_are_never_loaded():
    """SIGKILL leaves no chance to clean up: a stray temp folder, or a final folder without manifest."""
    key = stage_key("s", {"a": 1})
    stage_dir = runs_root() / "s"
    stray = stage_dir / f".tmp-{key}-deadbeef"
    stray.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, stray / PAYLOAD)
    b = Builder()
    r = run_stage("s", {"a": 1}, b, verbose=False)
    assert r.cached is False and b.calls == 1

    # A final-path folder holding a payload but no manifest (e.g. copied by hand, half-way).
    key2 = stage_key("s", {"a": 2})
    half = stage_dir / key2
    half.mkdir()
    torch.save({"w": torch.zeros(1)}, half / PAYLOAD)
    with pytest.warns(UserWarning, match="incomplete or corrupted"):
        r2 = run_stage("s", {"a": 2}, b, verbose=False)
    assert r2.cached is False and b.calls == 2
    assert torch.equal(r2.payload["w"], torch.full((3, 4), 1.0))
    assert any(n.startswith(f".broken-{key2}") for n in _stage_dirs(runs_root(), "s"))


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "drop_manifest_hash"])
def test_corrupted_stage_is_moved_aside_and_rebuilt(damage):
    b = Builder()
    r = run_stage("s", {"a": 1}, b, verbose=False)
    payload = r.path / PAYLOAD
    raw = payload.read_bytes()
    if damage == "truncate":
        payload.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip_byte":  # same size, different content: only the hash can tell
        i = len(raw) - 20
        payload.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1:])
    else:
        m = json.loads((r.path / MANIFEST).read_text())
        del m["payload"]["sha256"]
        (r.path / MANIFEST).write_text(json.dumps(m))
    damaged = payload.read_bytes()

    with pytest.warns(UserWarning, match="moved aside"):
        r2 = run_stage("s", {"a": 1}, b, verbose=False)
    assert r2.cached is False and b.calls == 2 and r2.path == r.path
    assert torch.equal(r2.payload["w"], torch.full((3, 4), 1.0))
    broken = [n for n in _stage_dirs(runs_root(), "s") if n.startswith(f".broken-{r.key}")]
    assert len(broken) == 1, "the damaged copy must be kept, not deleted"
    assert (runs_root() / "s" / broken[0] / PAYLOAD).read_bytes() == damaged
    assert run_stage("s", {"a": 1}, b, verbose=False).cached is True and b.calls == 2


def test_state_dict_round_trips_and_loads_with_weights_only(monkeypatch):
    model = tiny_model(seed=4)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    r1 = run_stage("model", {"arch": "tiny"}, lambda: (sd, {"n": 1}), verbose=False)
    assert r1.cached is False

    calls = []
    real_load = torch.load

    def spy_load(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy_load)
    r2 = run_stage("model", {"arch": "tiny"}, lambda: pytest.fail("must not rebuild"), verbose=False)
    assert r2.cached is True
    assert calls and all(kw.get("weights_only") is True for kw in calls)
    fresh = tiny_model(seed=5)
    fresh.load_state_dict(r2.payload)
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_default_runs_root_and_an_explicit_root_holds_everything_a_stage_writes(tmp_path, monkeypatch):
    monkeypatch.delenv("ERRLIB_RUNS")
    assert runs_root() == cache.REPO_ROOT / "data" / "runs"
    monkeypatch.setenv("ERRLIB_RUNS", str(tmp_path / "from_env"))
    before = set(tmp_path.rglob("*"))
    r = run_stage("s", {"a": 1}, Builder(), root=tmp_path / "given", verbose=False)
    written = set(tmp_path.rglob("*")) - before
    assert r.path.parent.parent == tmp_path / "given" and written
    assert all(p == tmp_path / "given" or tmp_path / "given" in p.parents for p in written), sorted(map(str, written))


def test_damaged_twice_in_quick_succession_keeps_both_copies():
    """Two broken copies of one stage within the same second must not collide when moved aside."""
    b = Builder()
    for round_ in range(2):
        r = run_stage("s", {"a": 1}, b, verbose=False)
        (r.path / PAYLOAD).write_bytes(b"damaged %d" % round_)
        with pytest.warns(UserWarning, match="moved aside"):
            assert run_stage("s", {"a": 1}, b, verbose=False).cached is False
    broken = [n for n in _stage_dirs(runs_root(), "s") if n.startswith(".broken-")]
    assert len(broken) == 2
    kept = sorted((runs_root() / "s" / n / PAYLOAD).read_bytes() for n in broken)
    assert kept == [b"damaged 0", b"damaged 1"]
