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
