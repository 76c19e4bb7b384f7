"""The package's layers import downward only (ARCHITECTURE.md): ``stats`` < ``io`` <
``analysis`` < ``history``/``report``/``record`` < ``cli``. A module found importing
upward (at module level or inside a function) fails this test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import perfstats

ROOT = Path(perfstats.__file__).parent

#: Layer of each top-level part of the package; shared private modules (``_json``,
#: ``_core``, ``_validate`` ...) are layer 0 and may import nothing above it.
LAYERS: dict[str, int] = {
    "_private": 0,
    "stats": 1,
    "io": 2,
    "analysis": 3,
    "datasets": 3,
    "history": 4,
    "dask": 4,
    "report": 5,
    "budgets": 5,
    "export": 5,
    "record": 5,
    "alerts": 5,
    "cli": 6,
    "__main__": 6,
    "__init__": 7,
}


def _part(module: str) -> str:
    """'perfstats.io.csv' -> 'io'; 'perfstats._json' -> '_private'."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    head = parts[1]
    return "_private" if head.startswith("_") and head != "__main__" else head


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
        if len(parts) == 1:
            return "perfstats"
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "perfstats":
                found += [(node.lineno, f"perfstats.{a.name}") for a in node.names]
            elif node.module.startswith("perfstats."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name)
                for a in node.names
                if a.name.startswith("perfstats")
            ]
    return found


SOURCES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_downward(path: Path) -> None:
    module = _module_name(path)
    layer = LAYERS[_part(module)]
    upward = [
        f"line {line}: {target}"
        for line, target in _imports(path)
        if LAYERS.get(_part(target), 0) > layer
    ]
    assert not upward, f"{module} (layer {layer}) imports upward: {upward}"


def test_every_part_has_a_layer() -> None:
    parts = {_part(_module_name(p)) for p in SOURCES}
    assert parts <= set(LAYERS), f"modules without a layer: {parts - set(LAYERS)}"


def _private_names(path: Path) -> list[str]:
    """``line: from M import _name`` for each private name (not a submodule) imported
    from another perfstats module by the module at `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
            continue
        if node.module != "perfstats" and not node.module.startswith("perfstats."):
            continue
        for alias in node.names:
            if not alias.name.startswith("_") or alias.name.startswith("__"):
                continue
            package = ROOT.parent.joinpath(*node.module.split("."))
            if (package / alias.name).is_dir() or any(package.glob(f"{alias.name}.*")):
                continue  # a (private) module, such as perfstats._core
            found.append(f"{node.lineno}: from {node.module} import {alias.name}")
    return found


@pytest.mark.parametrize(
    "path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_module_imports_another_modules_private_name(path: Path) -> None:
    """Issue 12: a helper two modules need moves to a shared private module (``_time``,
    ``_validate`` ...) under a public name, instead of one importing the other's
    private name."""
    assert _private_names(path) == []
