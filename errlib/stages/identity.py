"""A cached stage's identity: its name, settings, upstream keys and the code that computes it.

The code part is one hash over every module of the sub-packages that compute stages,
:data:`COMPUTING` (``errlib/core`` and ``errlib/stages``), found by listing their folders:
a new stage module changes every key without being registered anywhere, and an edit to the
course machinery (``errlib/run``), to teaching code (``errlib/teach``), to docs or notebooks
changes none. A whole folder rather than a per-stage list of modules, because a module missing
from a hand-kept list silently serves stale results, while a superfluous rebuild only costs time.

:data:`NOT_COMPUTING` names the few modules of those folders left out, each with the reason it
cannot change a payload. Each module is hashed from its syntax tree without docstrings, so a
comment or docstring edit rebuilds nothing.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # errlib/
COMPUTING = ("core", "stages")
NOT_COMPUTING = {  # path under errlib/ -> why it never changes a payload
    "core/progress.py": "draws progress bars; reads no tensor and returns nothing to a stage",
    "core/environment.py": "records what numbers depend on (threads, torch, CPU path) in manifests",
    "stages/cache.py": "stores and loads payloads byte for byte (SHA-256 checked); never computes one",
    "stages/reference.py": "published numbers that notebooks print beside ours",
    "stages/kinds.py": "labels results.json values (fraction, count, ...); stages never read it",
    "stages/report.py": "saves a notebook's published values to results files; no stage imports it",
    "stages/executor.py": "starts stage calls in processes and waits for them; computes nothing itself",
    "stages/course_plan.py": "declares which stage calls run ahead of which notebook",
    "stages/costs.py": "estimates a notebook's run time from a recorded run",
}
NOTEBOOK_CODE = ("core", "stages", "teach")  # what a notebook imports: its fingerprint's code part


def canonical(obj: Any) -> Any:
    """``obj`` as the key hashes it: dict keys sorted, numbers as floats (eps=3 is eps=3.0)."""
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return float(obj)
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


def file_hash(path: Path) -> str:
    """SHA-256 of a Python file's syntax tree without docstrings (comments never reach it)."""
    st = path.stat()
    return _source_hash(str(path), st.st_mtime_ns, st.st_size)


def computing_files(root: Optional[Path] = None, packages: Sequence[str] = COMPUTING) -> list:
    """The ``.py`` files under ``root`` (default errlib/) whose code makes payloads, relative paths
    sorted: every file of ``packages``' folders (default :data:`COMPUTING`), at any depth, less
    :data:`NOT_COMPUTING` (which only the stages' own identity leaves out)."""
    root = Path(root or PACKAGE_ROOT)
    files = (p.relative_to(root).as_posix() for sub in packages for p in (root / sub).rglob("*.py"))
    skip = NOT_COMPUTING if tuple(packages) == COMPUTING else {}
    return sorted(f for f in files if f not in skip)


def code_identity(root: Optional[Path] = None, packages: Sequence[str] = COMPUTING) -> str:
    """16 hex digits over the code of :func:`computing_files` (names and syntax trees): with the
    default ``packages``, a stage's code; with :data:`NOTEBOOK_CODE`, everything a notebook runs
    (the course and a sweep key a notebook run by it, so one function says "unchanged")."""
    root = Path(root or PACKAGE_ROOT)
    blob = "".join(f"{rel}:{file_hash(root / rel)};" for rel in computing_files(root, packages))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stage_key(stage: str, settings: Dict[str, Any], upstream: Sequence[str] = (),
              code: Optional[str] = None) -> str:
    """16 hex digits of SHA-256 over the stage name, its settings, its upstream keys and its code
    identity (``code``, default :func:`code_identity`)."""
    blob = json.dumps({"stage": stage, "settings": canonical(settings), "upstream": list(upstream),
                       "code": code_identity() if code is None else code},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
