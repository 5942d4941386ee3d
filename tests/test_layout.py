"""The package layout is the architecture: imports only go from a layer to the ones below it, and
nothing outside ``mnv3lib/book/`` imports the book. Read from the source, so a violation cannot hide
behind a lazy import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "mnv3lib"
# Lowest first: a module may import its own layer and the layers before it.
LAYERS = ("checks", "devices", "data", "models", "analysis", "engine", "viz", "cli", "train", "book")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every mnv3lib module that ``path`` imports, relative imports resolved, local imports included."""
    name = _module_name(path)
    return _imports(path.read_text(), name if path.name == "__init__.py" else name.rsplit(".", 1)[0])


def _imports(source: str, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("mnv3lib")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("mnv3lib"):
                found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_reader_finds_every_module() -> None:
    assert len(SOURCES) > 30 and all(_layer(_module_name(p)) or _module_name(p) == "mnv3lib" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path: Path) -> None:
    own = _layer(_module_name(path))
    if own is None:  # mnv3lib/__init__.py re-exports the two classification builders only
        assert {_layer(m) for m in imported_modules(path)} <= {"models"}
        return
    for module in imported_modules(path):
        layer = _layer(module)
        if layer is not None:
            assert LAYERS.index(layer) <= LAYERS.index(own), f"{_module_name(path)} ({own}) imports {module} ({layer})"


def test_nothing_outside_the_book_imports_it() -> None:
    offenders = {
        _module_name(path): sorted(m for m in imported_modules(path) if m.startswith("mnv3lib.book"))
        for path in SOURCES
        if "book" not in path.relative_to(PACKAGE).parts
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_the_reader_sees_local_and_relative_imports() -> None:
    """So that the tests above can fail: a function-local, relative import of the book is seen."""
    assert "mnv3lib.book.runs" in _imports("def f():\n    from ..book import runs\n", "mnv3lib.engine")
    assert "mnv3lib.book" in _imports("import mnv3lib.book\n", "mnv3lib.viz")
