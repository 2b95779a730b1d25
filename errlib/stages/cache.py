"""Cached pipeline stages with manifests and atomic writes.

A stage (source model, error set, student, ...) is identified by its name, its
settings and the keys of the stages it was built from. It lives in

    <runs root>/<stage>/<key>/payload.pt      tensors (a state_dict or an error set)
    <runs root>/<stage>/<key>/manifest.json   settings, upstream keys, metrics,
                                              library versions, environment, seconds

``key`` is a hash of the settings *and* the upstream keys, so changing a
setting recomputes exactly that stage and everything downstream of it.

The runs root is ``$ERRLIB_RUNS`` if set, else ``<repo>/data/runs`` (kept
apart from the dataset root, which may be read-only).

Writes are atomic: a stage is written into a hidden temporary folder and
renamed into place only when complete, and the manifest records the payload's
size and SHA-256; a folder that fails that check is never loaded (it is moved
aside to ``.broken-*`` and rebuilt, so nothing is deleted silently).
Payloads load with ``torch.load(..., weights_only=True)``; a payload that
needs more than tensors to load (a pickle that would run code) is refused, set
aside and rebuilt.

Run records and folders: :func:`read_record` reads a JSON record (the course's ``results.json``, a
notebook's results) and sets an unreadable one aside as ``<name>.corrupt-<time>``, named in one line;
:func:`writable_folder` refuses a folder that cannot be written with the setting that moves it
(``ERRLIB_RUNS`` for the runs root, checked before a stage is built).

Code identity: the key also holds a hash of the code that computes stages, every module of
``errlib/core`` and ``errlib/stages`` (:mod:`errlib.stages.identity`), so a fix to the attack
rebuilds every stage while an edit to the course machinery, teaching code or docs rebuilds none.

Environment: the manifest records what the payload's last digits depend on but the key does not
hold (thread count, torch version, CPU kernel path or GPU name), and the precision, a setting
(``settings["precision"]``, fp32 when absent) so also in the key
(:func:`errlib.core.environment.environment`).

Concurrency and kills: one process builds a given key at a time (an
``fcntl`` lock on ``<runs root>/.locks/<stage>/<key>.lock``, which the OS
releases when its holder dies, even by SIGKILL); the others wait, then load
its copy. Temporary folders are named ``.tmp-<key>-<host>-<pid>-<random>``;
one whose process is gone (or older than a day) is removed when a stage is
next written beside it, so debris does not pile up with each kill.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import platform
import socket
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

from ..core.data import REPO_ROOT
from ..core.environment import environment
from .identity import code_identity, stage_key

PAYLOAD = "payload.pt"
MANIFEST = "manifest.json"
STALE_SECONDS = 24 * 3600  # a temporary folder this old is debris whoever made it

def runs_root(root: Optional[os.PathLike] = None) -> Path:
    """``root`` if given, else ``$ERRLIB_RUNS``, else ``<repo>/data/runs``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("ERRLIB_RUNS")
    return Path(env) if env else REPO_ROOT / "data" / "runs"




def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_versions() -> Dict[str, str]:
    import torchvision
    from .. import __version__
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _is_debris(tmp: Path) -> bool:
    """A ``.tmp-<key>-<host>-<pid>-<random>`` folder whose writer on this host is gone, or any old one."""
    try:
        if time.time() - tmp.stat().st_mtime > STALE_SECONDS:
            return True
        head, pid, _ = tmp.name.rsplit("-", 2)
        host = head.split("-", 2)[2]
        return host == socket.gethostname() and not _alive(int(pid))
    except (OSError, ValueError, IndexError):
        return False


def clean_debris(stage_dir: Path) -> None:
    """Remove temporary folders left by killed writers (see :func:`_is_debris`)."""
    for tmp in stage_dir.glob(".tmp-*"):
        if _is_debris(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def write_stage(path: Path, payload: Dict[str, Any], manifest: Dict[str, Any],
                replace: bool = False) -> Dict[str, Any]:
    """Atomically create ``path`` holding ``payload`` and ``manifest``; returns the final manifest.

    ``replace=True`` swaps out an existing copy only once the new one is complete on disk.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_debris(path.parent)
    tmp = path.parent / f".tmp-{path.name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        torch.save(payload, tmp / PAYLOAD)
        manifest = dict(manifest, payload={"file": PAYLOAD, "bytes": (tmp / PAYLOAD).stat().st_size,
                                           "sha256": _sha256(tmp / PAYLOAD)})
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))
        if replace and path.exists():
            old = path.parent / f".replaced-{path.name}-{int(time.time())}-{uuid.uuid4().hex[:6]}"
            os.rename(path, old)
            shutil.rmtree(old, ignore_errors=True)
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


@contextlib.contextmanager
def _build_lock(path: Path, verbose: bool):
    """Hold an exclusive lock on building ``path`` (released by the OS if the holder dies).

    Without ``fcntl`` (Windows), or on a file system that ignores it, two
    processes may both build; the atomic rename still keeps one valid copy.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    lock = path.parent.parent / ".locks" / path.parent.name / f"{path.name}.lock"  # not among the stages
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if verbose:
                print(f"[cache] waiting for another process building {path}", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _set_aside(path: Path, key: str, why: str) -> None:
    broken = path.parent / f".broken-{key}-{int(time.time())}-{uuid.uuid4().hex[:6]}"
    warnings.warn(f"{path} {why}; moved aside to {broken} and rebuilding")
    os.rename(path, broken)


def read_record(path: Path, what: str, check: Callable[[Any], Optional[str]] = lambda doc: None) -> Optional[Any]:
    """The JSON document in ``path`` (a run record: results, a notebook's results), None if absent.

    One that cannot be read (not JSON, ``null``, or ``check(doc)`` names what is wrong; the
    default asks only for a JSON object) is renamed ``<name>.corrupt-<time>-<random>``, kept, not
    deleted, with a one-line message naming the file, and None returned: no stale or partial
    numbers are read from it.
    """
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        why = "holds no JSON object" if not isinstance(doc, dict) else check(doc)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = f"is not readable JSON ({type(exc).__name__}: {str(exc)[:80]})"
    if why is None:
        return doc
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")
    os.rename(path, aside)
    print(f"[errlib] {what} {path} {why}; set aside as {aside.name}, not read", file=sys.stderr, flush=True)
    return None


class UnwritableLocation(ValueError):
    """A folder errlib must write to cannot be written: a setting to change, found before any compute."""


def writable_folder(path: Path, what: str, setting: str) -> Path:
    """``path``, created if missing, once a file could be written there; else :class:`UnwritableLocation`
    naming the folder and the ``setting`` (environment variable or option) that moves it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise UnwritableLocation(f"{what} {path} cannot be written ({exc.strerror or exc}); "
                                 f"set {setting} to a folder you can write") from None
    return path


def _load(stage: str, key: str, path: Path, *, repair: bool, verbose: bool) -> Optional[StageResult]:
    """The cached stage at ``path``, or None; ``repair`` moves a damaged or refused copy aside."""
    if not path.exists():
        return None
    manifest = _valid(path)
    if manifest is None:
        if repair:
            _set_aside(path, key, "is incomplete or corrupted")
        return None
    try:
        payload = torch.load(path / PAYLOAD, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        if repair:
            _set_aside(path, key, f"was refused by torch.load(weights_only=True) ({type(exc).__name__})")
        return None
    if verbose:
        print(f"[cache] {stage} {key}: loaded ({manifest.get('seconds', 0):.1f} s when built) from {path}")
    return StageResult(stage, key, path, payload, manifest, cached=True)


def run_stage(stage: str, settings: Dict[str, Any],
              build: Callable[[], Tuple[Dict[str, Any], Dict[str, Any]]], *,
              upstream: Sequence[str] = (), root: Optional[os.PathLike] = None,
              force: bool = False, verbose: bool = True, code: Optional[str] = None) -> StageResult:
    """Load stage ``stage`` for ``settings`` from the cache, or build and store it.

    ``build()`` returns ``(payload, metrics)``: a dict of tensors (what gets
    saved) and a JSON-able dict of metrics for the manifest. ``force=True``
    rebuilds even when a valid copy exists (the old copy is replaced).
    ``code`` overrides the stage's code identity (default :func:`errlib.stages.identity.code_identity`);
    a ``precision`` setting is recorded in the manifest's ``environment`` (fp32 when absent).
    """
    code = code_identity() if code is None else code
    key = stage_key(stage, settings, upstream, code)
    path = runs_root(root) / stage / key
    found = None if force else _load(stage, key, path, repair=False, verbose=verbose)
    if found is not None:
        return found
    writable_folder(path.parent, "the runs folder", "ERRLIB_RUNS")  # one line, not a raw OSError, before the build
    with _build_lock(path, verbose):
        found = None if force else _load(stage, key, path, repair=True, verbose=verbose)
        if found is not None:  # built by another process while we waited
            return found
        t0 = time.perf_counter()
        payload, metrics = build()
        seconds = time.perf_counter() - t0
        manifest = {"stage": stage, "key": key, "settings": settings, "upstream": list(upstream),
                    "code": code, "metrics": metrics, "seconds": seconds, "versions": library_versions(),
                    "environment": environment(settings.get("precision")),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv[:1]}
        manifest = write_stage(path, payload, manifest, replace=force)
    if verbose:
        print(f"[cache] {stage} {key}: built in {seconds:.1f} s, saved to {path}")
    return StageResult(stage, key, path, payload, manifest, cached=False)
