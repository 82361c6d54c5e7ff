"""The install contract: pyproject's ranges never make pip replace a user's newer torch, and
constraints/ci.txt (what .ci/run installs) pins every dependency inside those ranges."""

from __future__ import annotations

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # python >= 3.11


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def pins() -> dict[str, str]:
    lines = (ROOT / "constraints" / "ci.txt").read_text(encoding="utf-8").splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(r.name): str(r.specifier).removeprefix("==") for r in reqs}


def test_torch_has_no_upper_bound():
    torch = next(r for r in requirements() if r.name == "torch")
    for newer in ("2.15.0", "2.20.1", "3.0.0"):
        assert torch.specifier.contains(newer), f"pyproject's {torch} would make pip replace torch {newer}"


def test_ci_constraints_pin_every_dependency_inside_its_range():
    pinned = pins()
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} has no pin in constraints/ci.txt"
        assert req.specifier.contains(pinned[name]), f"constraints/ci.txt pins {name}=={pinned[name]} outside {req}"


def test_ci_installs_with_the_constraints():
    assert "-c constraints/ci.txt" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_built_wheel_ships_the_data_and_the_c_kernel(tmp_path):
    """A non-editable install gets what the package reads from beside its modules: the shipped
    Fashion-MNIST subset, the corpus and the fused DyT's C source."""
    import subprocess
    import sys
    import zipfile

    import shutil

    src = tmp_path / "src"  # a copy: a build writes build/ and egg-info beside the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "normbench", src / "normbench", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    names = zipfile.ZipFile(next((tmp_path / "dist").glob("normbench-*.whl"))).namelist()
    assert "normbench/norms/fused/dyt_cpu.c" in names
    assert any(n.startswith("normbench/data/assets/") for n in names)
    assert any(n.startswith("normbench/data/corpora/") for n in names)
