"""Cached pipeline stages with manifests and atomic writes.

A stage (source model, error set, student, ...) is identified by its name, its
settings and the keys of the stages it was built from. It lives in

    <runs root>/<stage>/<key>/payload.pt      tensors (a state_dict or an error set)
    <runs root>/<stage>/<key>/manifest.json   settings, upstream keys, metrics,
                                              library versions, seconds taken

``key`` is a hash of the settings *and* the upstream keys, so changing a
setting recomputes exactly that stage and everything downstream of it.

The runs root is ``$ERRLIB_RUNS`` if set, else ``<repo>/data/runs`` (kept
apart from the dataset root, which may be read-only).

Writes are atomic: a stage is written into a hidden temporary folder and
renamed into place only when complete, and the manifest records the payload's
size and SHA-256; a folder that fails that check is never loaded (it is moved
aside to ``.broken-*`` and rebuilt, so nothing is deleted silently).
Payloads load with ``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

from .data import REPO_ROOT

PAYLOAD = "payload.pt"
MANIFEST = "manifest.json"


def runs_root(root: Optional[os.PathLike] = None) -> Path:
    """``root`` if given, else ``$ERRLIB_RUNS``, else ``<repo>/data/runs``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("ERRLIB_RUNS")
    return Path(env) if env else REPO_ROOT / "data" / "runs"


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return float(obj)  # eps=3 and eps=3.0 are the same setting
    if isinstance(obj, str) or isinstance(obj, bool) or obj is None:
        return obj
    raise TypeError(f"stage settings must be JSON-like (str, int, float, bool, None, list, dict); got {type(obj).__name__}")


def stage_key(stage: str, settings: Dict[str, Any], upstream: Sequence[str] = ()) -> str:
    """16 hex digits of SHA-256 over the stage name, its settings and its upstream keys."""
    blob = json.dumps({"stage": stage, "settings": _canonical(settings), "upstream": list(upstream)},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_versions() -> Dict[str, str]:
    import torchvision
    from . import __version__
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "errlib": __version__}


@dataclass
class StageResult:
    """A built or loaded stage: its payload (dict of tensors) and manifest."""

    stage: str
    key: str
    path: Path
    payload: Dict[str, Any]
    manifest: Dict[str, Any]
    cached: bool  # True when loaded from disk, False when just built

    @property
    def metrics(self) -> Dict[str, Any]:
        return self.manifest.get("metrics", {})


def _valid(path: Path) -> Optional[Dict[str, Any]]:
    """The manifest if ``path`` holds a complete, intact stage, else None."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        info = manifest["payload"]
        p = path / PAYLOAD
        if p.stat().st_size != info["bytes"] or _sha256(p) != info["sha256"]:
            return None
        return manifest
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _json_default(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def write_stage(path: Path, payload: Dict[str, Any], manifest: Dict[str, Any]) -> Dict[str, Any]:
    """Atomically create ``path`` holding ``payload`` and ``manifest``; returns the final manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        torch.save(payload, tmp / PAYLOAD)
        manifest = dict(manifest, payload={"file": PAYLOAD, "bytes": (tmp / PAYLOAD).stat().st_size,
                                           "sha256": _sha256(tmp / PAYLOAD)})
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))
        try:
            os.rename(tmp, path)  # atomic on POSIX; fails if another process won the race
        except OSError:
            if _valid(path) is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def run_stage(stage: str, settings: Dict[str, Any],
              build: Callable[[], Tuple[Dict[str, Any], Dict[str, Any]]], *,
              upstream: Sequence[str] = (), root: Optional[os.PathLike] = None,
              force: bool = False, verbose: bool = True) -> StageResult:
    """Load stage ``stage`` for ``settings`` from the cache, or build and store it.

    ``build()`` returns ``(payload, metrics)``: a dict of tensors (what gets
    saved) and a JSON-able dict of metrics for the manifest. ``force=True``
    rebuilds even when a valid copy exists (the old copy is replaced).
    """
    key = stage_key(stage, settings, upstream)
    path = runs_root(root) / stage / key
    if path.exists() and not force:
        manifest = _valid(path)
        if manifest is not None:
            payload = torch.load(path / PAYLOAD, map_location="cpu", weights_only=True)
            if verbose:
                print(f"[cache] {stage} {key}: loaded ({manifest.get('seconds', 0):.1f} s when built) from {path}")
            return StageResult(stage, key, path, payload, manifest, cached=True)
        broken = path.parent / f".broken-{key}-{int(time.time())}-{uuid.uuid4().hex[:6]}"
        warnings.warn(f"{path} is incomplete or corrupted; moved aside to {broken} and rebuilding")
        os.rename(path, broken)
    t0 = time.perf_counter()
    payload, metrics = build()
    seconds = time.perf_counter() - t0
    manifest = {"stage": stage, "key": key, "settings": settings, "upstream": list(upstream),
                "metrics": metrics, "seconds": seconds, "versions": library_versions(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv[:1]}
    if force and path.exists():
        old = path.parent / f".replaced-{key}-{int(time.time())}"
        os.rename(path, old)
        shutil.rmtree(old, ignore_errors=True)
    manifest = write_stage(path, payload, manifest)
    if verbose:
        print(f"[cache] {stage} {key}: built in {seconds:.1f} s, saved to {path}")
    return StageResult(stage, key, path, payload, manifest, cached=False)
