"""errlib's sub-packages import in one direction only: core <- stages <- teach <- run."""
import ast
from pathlib import Path

import errlib

ORDER = ["core", "stages", "teach", "run"]
ROOT = Path(errlib.__file__).parent


def _errlib_imports(path: Path, package: str):
    """The errlib sub-packages a module imports, relative or absolute, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                yield package
            elif node.level == 2:
                target = (node.module or "").split(".")[0]
                if target:
                    yield target
                else:  # from .. import x, y
                    yield from (errlib._HOME.get(a.name, "top") for a in node.names)
            elif node.module and node.module.startswith("errlib."):
                yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("errlib."):
                    yield a.name.split(".")[1]


def test_every_module_sits_in_its_declared_sub_package():
    found = {p.stem: p.parent.name for p in ROOT.glob("*/*.py") if p.stem != "__init__"}
    assert found == errlib._HOME
    assert not [p.name for p in ROOT.glob("*.py") if p.name != "__init__.py"]


def test_imports_point_down_the_layers_only():
    bad = []
    for path in sorted(ROOT.glob("*/*.py")):
        package = path.parent.name
        for target in _errlib_imports(path, package):
            if target == "top":
                continue  # errlib.__version__
            if ORDER.index(target) > ORDER.index(package):
                bad.append(f"{package}/{path.name} imports errlib.{target}")
    assert not bad, "an import points up the layers: " + "; ".join(bad)


def test_public_face_loads_modules_lazily_by_short_name():
    from errlib import pipeline, plotting
    assert pipeline.__name__ == "errlib.stages.pipeline" and plotting.__name__ == "errlib.teach.plotting"


MAX_FILE_LINES, MAX_FUNCTION_LINES = 350, 60


def _too_long(path: Path):
    """``(what, lines)`` for the file and each function (``def`` line to last line) over the limits."""
    text = path.read_text(encoding="utf-8")
    name = path.relative_to(ROOT.parent)
    if len(text.splitlines()) > MAX_FILE_LINES:
        yield f"{name}", len(text.splitlines())
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                yield f"{name}:{node.lineno} {node.name}()", lines


def test_no_file_over_350_lines_and_no_function_over_60():
    bad = [f"{what} ({n} lines)" for path in sorted(ROOT.rglob("*.py")) for what, n in _too_long(path)]
    assert not bad, "split by idea: " + "; ".join(bad)


def test_the_size_check_sees_a_long_function(tmp_path, monkeypatch):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    path = ROOT / "core" / "__init__.py"  # any file under errlib; its text is replaced below
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: f"def f():\n{body}\n")
    assert [n for _, n in _too_long(path)] == [MAX_FUNCTION_LINES + 1]
