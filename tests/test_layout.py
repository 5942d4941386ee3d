"""The package layout is the architecture: imports only go from a layer to the ones below it, nothing
outside ``mnv3lib/book/`` imports the book, and no module uses another module's private (underscore)
names. Read from the source, so a violation cannot hide behind a lazy import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "mnv3lib"
# Lowest first: a module may import its own layer and the layers before it.
LAYERS = ("checks", "devices", "data", "models", "analysis", "engine", "deploy", "viz", "cli", "train", "book")


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


# --------------------------------------------------------------------------------------------------
# Private names
# --------------------------------------------------------------------------------------------------
BENCHMARKS = sorted((PACKAGE.parent / "benchmarks").glob("*.py"))
# The private names of other libraries that mnv3lib uses, each because no public name does the same.
THIRD_PARTY_PRIVATE = {
    "torchvision.models._utils": "IntermediateLayerGetter: TorchVision's segmentation builders take the backbone's features with it, "
                                 "and the same module keeps our models' state-dict keys equal to theirs",
    "torchvision.models.detection._utils": "retrieve_out_channels: how TorchVision's SSDlite builder sizes its heads",
    "torch.nn.modules.batchnorm._BatchNorm": "the base class of every BatchNorm layer (SyncBatchNorm converts by it too)",
    "torch._inductor": "inductor's config, where PyTorch sets weight freezing for torch.compile",
    "argparse._ArgumentGroup": "argparse has no public name for the type of an argument group",
    "argparse._SubParsersAction": "nor for the subcommands' action, which holds each subcommand's parser",
    "executorch.extension.pybindings.portable_lib._unsafe_reset_threadpool": "ExecuTorch's only way to size its thread pool from Python",
}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(module: str | None, level: int, package: str) -> str:
    if not level:
        return module or ""
    base = package.split(".")[: len(package.split(".")) - level + 1]
    return ".".join(base + ([module] if module else []))


def private_names(source: str, package: str) -> set[str]:
    """Every private name that ``source`` takes from another module, as a dotted name up to its first
    private part: ``from m import _x``, ``import m._x``, and ``alias._x`` where ``alias`` was imported
    (a module, or a name imported from one)."""
    tree = ast.parse(source)
    imported: dict[str, str] = {}  # the name an import binds → what it is
    found = set()

    def up_to_private(dotted: str) -> str | None:
        parts = dotted.split(".")
        first = next((i for i, part in enumerate(parts) if _is_private(part)), None)
        return None if first is None else ".".join(parts[: first + 1])

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
                found.add(up_to_private(alias.name))
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node.module, node.level, package)
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{module}.{alias.name}"
                found.add(up_to_private(f"{module}.{alias.name}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            chain = [node.attr]
            value = node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in imported:
                found.add(up_to_private(".".join([imported[value.id], *reversed(chain)])))
    return found - {None}


def _package_of(path: Path) -> str:
    if path.is_relative_to(PACKAGE):
        name = _module_name(path)
        return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    return ""


@pytest.mark.parametrize("path", SOURCES + BENCHMARKS, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_uses_another_modules_private_names(path: Path) -> None:
    """A name with a leading underscore is private to its module: if another module needs it, it is
    public API (named so, and documented). Other libraries' private names only where THIRD_PARTY_PRIVATE
    says why."""
    names = private_names(path.read_text(), _package_of(path))
    ours = sorted(name for name in names if name.startswith("mnv3lib"))
    assert not ours, f"{path.name} uses private names of mnv3lib: {ours}"
    assert not names - set(THIRD_PARTY_PRIVATE) - set(ours), f"{path.name} uses private names of other libraries: {sorted(names - set(THIRD_PARTY_PRIVATE))}"


def test_every_exception_is_still_needed() -> None:
    used = set().union(*(private_names(path.read_text(), _package_of(path)) for path in SOURCES))
    assert set(THIRD_PARTY_PRIVATE) <= used, sorted(set(THIRD_PARTY_PRIVATE) - used)


def test_the_reader_sees_private_names_however_they_are_reached() -> None:
    """So that the test above can fail: imported, relative, as a module's attribute, or of a module."""
    assert private_names("from .plotting import _figure_and_axes\n", "mnv3lib.viz") == {"mnv3lib.viz.plotting._figure_and_axes"}
    assert private_names("from mnv3lib.deploy import routes\nroutes._hidden('x')\n", "") == {"mnv3lib.deploy.routes._hidden"}
    assert private_names("import torch\nwith torch._inductor.config.patch(freezing=True): pass\n", "") == {"torch._inductor"}
    assert private_names("from torchvision.models._utils import IntermediateLayerGetter\n", "") == {"torchvision.models._utils"}
    assert private_names("self._cache = {}\nimport os\nos.path.join('a', '__init__.py')\n", "") == set()
