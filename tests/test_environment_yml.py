"""environment.yml (the conda route) holds every dependency of pyproject.toml, core and every
extra, under conda-forge's name, with a range that allows no version pyproject refuses, and
Python within ``requires-python``."""

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")

ROOT = Path(__file__).resolve().parents[1]
#: PyPI name -> conda-forge name(s) where they differ (dask[distributed] is two packages there)
CONDA_NAMES = {
    "torch": ["pytorch"],
    "kaleido": ["python-kaleido"],
    "dask": ["dask", "distributed"],
}


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra if not r.startswith("fwlab[")]
    return reqs


def environment() -> tuple[dict[str, SpecifierSet], dict[str, SpecifierSet], list[str]]:
    """``(conda packages, pip packages, other pip lines)`` of environment.yml."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda: dict[str, SpecifierSet] = {}
    pip: dict[str, SpecifierSet] = {}
    other: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if line.startswith("-"):
                    other.append(line)
                else:
                    req = Requirement(line)
                    pip[req.name] = req.specifier
            continue
        # conda's "pkg=1.2" means 1.2.*; the file uses pip-style ranges, which conda reads alike
        assert re.fullmatch(r"[A-Za-z0-9_.-]+([<>=!~]=?[^=].*)?", dep), dep
        req = Requirement(dep)
        assert req.name not in conda, f"{req.name} twice in environment.yml"
        conda[req.name] = req.specifier
    return conda, pip, other


def allows_only_what_pyproject_allows(env: SpecifierSet, wanted: SpecifierSet) -> bool:
    """Whether ``env``'s lowest allowed version is one ``wanted`` allows, and ``env`` caps the
    versions where ``wanted`` does."""
    lows = [Version(s.version) for s in env if s.operator in (">=", "==", "~=")]
    if not lows:
        return not wanted  # no lower bound: fine only if pyproject has none either
    caps_wanted = [s for s in wanted if s.operator in ("<", "<=")]
    caps_env = [s for s in env if s.operator in ("<", "<=")]
    return max(lows) in wanted and (not caps_wanted or bool(caps_env))


def test_every_pyproject_dependency_is_in_environment_yml_with_a_compatible_range():
    conda, pip, other = environment()
    problems = []
    for req in pyproject_requirements():
        names = CONDA_NAMES.get(req.name, [req.name])
        if req.name in pip:
            found = {req.name: pip[req.name]}
        else:
            found = {n: conda[n] for n in names if n in conda}
        if len(found) != len(names) and req.name not in pip:
            problems.append(f"{req} is missing (as {' + '.join(names)})")
            continue
        for name, spec in found.items():
            if not allows_only_what_pyproject_allows(spec, req.specifier):
                problems.append(f"{name}{spec} allows versions that pyproject's {req} refuses")
    assert not problems, problems
    assert other == ['-e ".[dev]"']  # fwlab itself, editable, last


def test_python_range_is_within_requires_python():
    conda, _, _ = environment()
    requires = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "requires-python"])  # fmt: skip
    assert allows_only_what_pyproject_allows(conda["python"], requires)
    assert "pip" in conda


def test_the_check_itself_refuses_a_looser_range():
    assert allows_only_what_pyproject_allows(SpecifierSet(">=2.4"), SpecifierSet(">=2.4"))
    assert allows_only_what_pyproject_allows(SpecifierSet(">=2.5"), SpecifierSet(">=2.4"))
    assert not allows_only_what_pyproject_allows(SpecifierSet(">=2.3"), SpecifierSet(">=2.4"))
    assert not allows_only_what_pyproject_allows(SpecifierSet(""), SpecifierSet(">=2.4"))
    assert not allows_only_what_pyproject_allows(SpecifierSet(">=1"), SpecifierSet(">=1,<2"))
