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
Payloads load with ``torch.load(..., weights_only=True)``; a payload that
needs more than tensors to load (a pickle that would run code) is refused, set
aside and rebuilt.

Code identity: the key also holds a hash of the errlib modules whose code
makes the stage's payload (:data:`STAGE_CODE`), so a fix to the attack
rebuilds the error sets (and, through the upstream keys, the students) but not
the source model. Each module is hashed from its syntax tree without
docstrings, so a comment or docstring edit rebuilds nothing. A per-module list
rather than a hand-bumped version number, because a forgotten bump silently
serves stale results while a superfluous rebuild only costs time; a stage
missing from the registry hashes every errlib module, for the same reason.

Concurrency and kills: one process builds a given key at a time (an
``fcntl`` lock on ``<runs root>/.locks/<stage>/<key>.lock``, which the OS
releases when its holder dies, even by SIGKILL); the others wait, then load
its copy. Temporary folders are named ``.tmp-<key>-<host>-<pid>-<random>``;
one whose process is gone (or older than a day) is removed when a stage is
next written beside it, so debris does not pile up with each kill.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import pickle
import platform
import socket
import shutil
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

from ..core.data import REPO_ROOT

PAYLOAD = "payload.pt"
MANIFEST = "manifest.json"
STALE_SECONDS = 24 * 3600  # a temporary folder this old is debris whoever made it

# The errlib modules whose code makes each stage's payload (see the module docstring).
_TRAINED = ("data", "models", "train", "parallel", "seeds", "pipeline")
_WALLACE = _TRAINED + ("wallace",)
STAGE_CODE: Dict[str, Tuple[str, ...]] = {
    "source": _TRAINED, "student": _TRAINED,
    "teacher": _WALLACE, "teacher_curve": _WALLACE, "wrong_student": _WALLACE, "cross_student": _WALLACE,
    "labels": _WALLACE + ("errsets",),
    "errset": _TRAINED + ("attacks", "errsets", "controls"),
    "judge": _TRAINED + ("attacks", "controls", "leakage"),
    "reading": _TRAINED + ("leakage",),
    "subset": ("seeds", "errsets", "leakage"),
    "cset": _TRAINED + ("attacks", "errsets", "leakage", "constrained", "constrained_sets"),
}


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


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=None)
def _source_hash(path: str, mtime_ns: int, size: int) -> str:
    tree = _strip_docstrings(ast.parse(Path(path).read_text(encoding="utf-8")))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # errlib/


def module_path(name: str) -> Path:
    """``errlib/<sub-package>/<name>.py``: module stems are unique across the sub-packages."""
    found = sorted(PACKAGE_ROOT.glob(f"*/{name}.py"))
    if len(found) != 1:
        raise LookupError(f"errlib module {name!r}: expected one file, found {[str(p) for p in found]}")
    return found[0]


def module_hash(name: str) -> str:
    """SHA-256 of ``errlib/<sub-package>/<name>.py``'s syntax tree without docstrings (comments never
    reach it)."""
    path = module_path(name)
    st = path.stat()
    return _source_hash(str(path), st.st_mtime_ns, st.st_size)


def stage_code(stage: str) -> str:
    """16 hex digits identifying the code behind ``stage`` (every errlib module if unregistered)."""
    names = STAGE_CODE.get(stage) or sorted(p.stem for p in PACKAGE_ROOT.glob("*/*.py") if p.stem != "__init__")
    blob = "".join(f"{n}:{module_hash(n)};" for n in sorted(names))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stage_key(stage: str, settings: Dict[str, Any], upstream: Sequence[str] = (),
              code: Optional[str] = None) -> str:
    """16 hex digits of SHA-256 over the stage name, its settings, its upstream keys and its code
    identity (``code``, default :func:`stage_code`)."""
    blob = json.dumps({"stage": stage, "settings": _canonical(settings), "upstream": list(upstream),
                       "code": stage_code(stage) if code is None else code},
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
    ``code`` overrides the stage's code identity (default :func:`stage_code`).
    """
    code = stage_code(stage) if code is None else code
    key = stage_key(stage, settings, upstream, code)
    path = runs_root(root) / stage / key
    found = None if force else _load(stage, key, path, repair=False, verbose=verbose)
    if found is not None:
        return found
    with _build_lock(path, verbose):
        found = None if force else _load(stage, key, path, repair=True, verbose=verbose)
        if found is not None:  # built by another process while we waited
            return found
        t0 = time.perf_counter()
        payload, metrics = build()
        seconds = time.perf_counter() - t0
        manifest = {"stage": stage, "key": key, "settings": settings, "upstream": list(upstream),
                    "code": code, "metrics": metrics, "seconds": seconds, "versions": library_versions(),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv[:1]}
        manifest = write_stage(path, payload, manifest, replace=force)
    if verbose:
        print(f"[cache] {stage} {key}: built in {seconds:.1f} s, saved to {path}")
    return StageResult(stage, key, path, payload, manifest, cached=False)
