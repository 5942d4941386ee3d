"""The reader's three paths are wired up: `pytest --nbval` at the root verifies everything, the Colab
job tests the lower bounds the package claims, and the publish workflow builds the book with the
Makefile's own targets."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"
COMMAND = "pytest --nbval"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", (ROOT / "Makefile").read_text(), re.MULTILINE))


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{path.name}: {line} is not an exact pin"
            pins[_name(requirement.name)] = Version(spec.version)
    return pins


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# Packages that only build the book (requirements.txt): not part of Colab's stack.
BOOK_BUILD_TOOLS = {"jupyter-book", "sphinx-exercise"}


def _lower_bounds() -> dict[str, Version]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # the library's dependencies and its test extra; other extras are optional tools the Colab job does not install
    lines = pyproject["dependencies"] + pyproject["optional-dependencies"]["test"]
    lines += [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    bounds: dict[str, Version] = {}
    for line in lines:
        requirement = Requirement(line)
        lows = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        assert len(lows) == 1, f"{line}: give exactly one lower bound (>=)"
        name = _name(requirement.name)
        assert bounds.setdefault(name, lows[0]) == lows[0], f"{name}: pyproject.toml and requirements.txt disagree"
    return bounds


def test_every_lower_bound_is_a_tested_version() -> None:
    """The lowest version claimed for each package is the one `make test-colab` installs (the book's build
    tools, which that job does not need, are held to the versions `make test` builds the book with)."""
    colab, pinned = _pins(ROOT / "constraints-colab.txt"), _pins(ROOT / "constraints.txt")
    for name, low in _lower_bounds().items():
        tested = colab.get(name, pinned.get(name) if name in BOOK_BUILD_TOOLS else None)
        assert tested == low, f"{name}>={low} is claimed, but the lowest version tested is {tested}"


def test_make_installs_the_deploy_extra() -> None:
    """Chapter 7 needs the deploy extra, and `make test` executes every chapter: requirements-deploy.txt,
    which `make install` installs, lists the extra's packages with the same lower bounds."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["deploy"]
    lines = [line for line in (ROOT / "requirements-deploy.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert sorted(map(str, map(Requirement, lines))) == sorted(map(str, map(Requirement, extra)))
    assert "-r requirements-deploy.txt" in (ROOT / "Makefile").read_text()


def _deploy_pins(torch: Version) -> dict[str, Version]:
    """deploy_requirements() for a torch version, as exact pins."""
    from mnv3lib.deploy import deploy_requirements

    pins = {}
    for line in deploy_requirements(".".join(map(str, torch.release[:2]))):
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"deploy_requirements(): {line} is not an exact pin"
        pins[_name(requirement.name)] = Version(spec.version)
    return pins


def test_deploy_requirements_cover_colabs_torch_and_the_pinned_one() -> None:
    """deploy_requirements() has a row for the torch of each job: for Colab's, the deploy extra's lower
    bounds (what `make test-colab` tests); for the pinned one, constraints.txt's pins (`make test`)."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["deploy"]
    lows = {}
    for line in extra:
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == ">=", f"deploy extra: {line} should give only a lower bound"
        lows[_name(requirement.name)] = Version(spec.version)
    colab, pinned = _pins(ROOT / "constraints-colab.txt"), _pins(ROOT / "constraints.txt")
    assert _deploy_pins(colab["torch"]) == lows
    assert _deploy_pins(pinned["torch"]) == {name: pinned[name] for name in lows}


def test_the_colab_cell_and_the_colab_job_install_the_same_deploy_requirements() -> None:
    """Chapter 7's Colab cell and `make install-colab` both install deploy_requirements(), of the
    installed mnv3lib, after mnv3lib."""
    chapter = json.loads((ROOT / "notebooks" / "07_deployment.ipynb").read_text())
    cell = "".join(next(c for c in chapter["cells"] if c["cell_type"] == "code")["source"])
    assert cell.index('%pip install -q "mnv3lib @ git+{repo}@') < cell.index('%pip install -q {" ".join(deploy_requirements())}')
    assert "from mnv3lib.deploy import deploy_requirements" in cell
    makefile = (ROOT / "Makefile").read_text()
    command = re.search(r"^COLAB_DEPLOY_REQUIREMENTS := (.*)$", makefile, re.MULTILINE).group(1)
    assert "-I -c" in command and "from mnv3lib.deploy import deploy_requirements" in command
    recipe = re.search(r"^install-colab: .*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    assert recipe.index("-c constraints-colab.txt .") < recipe.index("$(COLAB_DEPLOY_REQUIREMENTS)")


def test_the_colab_stack_is_colabs() -> None:
    colab = _pins(ROOT / "constraints-colab.txt")
    assert colab["torch"] == Version("2.9.1") and colab["torchvision"] == Version("0.24.1")
    assert colab["ipywidgets"] == Version("7.7.1") and colab["numpy"].release[:2] == (2, 2)


def test_bare_pytest_sets_the_chapters_environment_and_kernel() -> None:
    """`pytest --nbval` needs no flags: the kernel, the sanitiser and the environment are configured."""
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "notebooks" in options["testpaths"] and "tests" in options["testpaths"]
    addopts = options["addopts"]
    assert "--nbval-current-env" in addopts
    sanitiser = addopts[addopts.index("--nbval-sanitize-with") + 1]
    assert (ROOT / sanitiser).is_file()
    assert "--nbval" not in addopts and "--nbval-lax" not in addopts, "plain `pytest` runs the unit tests only"
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    assert {k: os.environ[k] for k in root_conftest.CHAPTER_ENVIRONMENT} == root_conftest.CHAPTER_ENVIRONMENT
    exports = dict(re.findall(r"^export (\w+) := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE))
    assert exports == root_conftest.CHAPTER_ENVIRONMENT, "the Makefile's exports (make execute) and conftest.py disagree"


def test_make_test_is_the_readers_command() -> None:
    recipe = re.search(r"^test: .*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    assert recipe.split() == ["$(BIN)/pytest", "--nbval"]
    for page in ("README.md", "book/how_to_use.md"):
        assert re.search(rf"^{COMMAND}(\s|$)", (ROOT / page).read_text(), re.MULTILINE), f"{page} must show `{COMMAND}`"


def test_ci_runs_the_readers_command_and_the_book() -> None:
    steps = [line.split()[1] for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    # Colab's stack right after the pinned one; the browser tests need the built book
    assert steps == ["test", "test-colab", "book-strict", "test-browser"]
    assert set(steps) <= _makefile_targets()


def test_publish_workflow_is_valid_and_uses_the_makefile() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
    build, deploy = workflow["jobs"]["build"]["steps"], workflow["jobs"]["deploy"]["steps"]
    commands = [step["run"] for step in build if "run" in step]
    make_targets = [word for command in commands for word in re.findall(r"\bmake ([\w-]+)", command)]
    assert "book-strict" in make_targets and set(make_targets) <= _makefile_targets()
    uses = [step.get("uses", "").split("@")[0] for step in build + deploy]
    assert "actions/upload-pages-artifact" in uses and "actions/deploy-pages" in uses
    upload = next(step for step in build if step.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert workflow["jobs"]["deploy"]["needs"] == "build"
