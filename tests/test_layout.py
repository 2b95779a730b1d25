"""errlib's sub-packages import in one direction only: core <- stages <- teach <- run; inside a
sub-package no modules import each other in a circle; notebooks import only core, stages and teach."""
import ast
import re
from pathlib import Path

import pytest

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


def _sibling_imports(path: Path):
    """The modules of its own sub-package that a module imports, at any depth (a function-level import
    that dodges a circle at import time is still a circle in the design)."""
    package = path.parent.name
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            yield from ([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"errlib.{package}."):
            yield node.module.split(".")[2]
        elif isinstance(node, ast.Import):
            yield from (a.name.split(".")[2] for a in node.names if a.name.startswith(f"errlib.{package}."))


def circles(graph):
    """Each set of two or more nodes of ``graph`` ({node: targets}) that reach one another (Tarjan)."""
    index, low, stack, found = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while not component or component_top != v:
                component_top = stack.pop()
                component.add(component_top)
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# Circles that exist today and are being removed elsewhere; a new one fails the test below.
KNOWN_CIRCLES: set = set()  # none today; a new one fails the test below


def test_no_modules_of_a_sub_package_import_each_other_in_a_circle():
    graph = {}
    for path in sorted(ROOT.glob("*/*.py")):
        package = path.parent.name
        graph[f"{package}/{path.stem}"] = {f"{package}/{m}" for m in _sibling_imports(path)
                                           if (ROOT / package / f"{m}.py").exists() and m != path.stem}
    new = [sorted(c) for c in circles(graph) if c not in KNOWN_CIRCLES]
    assert not new, f"modules import each other in a circle: {new}"


def test_the_circle_check_sees_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert circles({"a": {"b"}, "b": set()}) == []


NOTEBOOKS = ROOT.parent / "notebooks"
IMPORTS_RUN = re.compile(r"^\s*(from\s+errlib\.run\b|import\s+errlib\.run\b|from\s+errlib\s+import\s+[\w ,(]*\b("
                         + "|".join(m for m, p in errlib._HOME.items() if p == "run") + r")\b)", re.M)


@pytest.mark.parametrize("notebook", [p.name for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))])
def test_notebooks_import_only_core_stages_and_teach(notebook):
    found = [m.group(0).strip() for m in IMPORTS_RUN.finditer((NOTEBOOKS / notebook).read_text(encoding="utf-8"))]
    assert not found, f"{notebook} reaches into the course machinery: {found}"


def test_the_notebook_import_check_sees_an_import_of_run():
    assert IMPORTS_RUN.search("from errlib.run.course import sweep")
    assert IMPORTS_RUN.search("from errlib import config, site")
    assert not IMPORTS_RUN.search("from errlib import config, report\nfrom errlib.stages import kinds")


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
