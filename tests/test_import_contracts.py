"""The import contracts of ``make lint`` hold on the code, and they catch a deliberate violation."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import orchestration

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("fusion_ops", "assets", "orchestration")


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture()
def tree_copy(tmp_path: Path) -> Path:
    """The three packages and pyproject.toml copied, so a test can break them safely."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_code_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(_contracts())} kept, 0 broken" in result.stdout


def test_the_copy_is_what_is_linted(tree_copy: Path) -> None:
    # the unbroken copy passes: the failures below come from the planted imports alone
    result = _lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_science_library_importing_dagster_breaks_the_contract(tree_copy: Path) -> None:
    _append(tree_copy / "fusion_ops" / "scores.py", "import dagster  # planted violation")
    result = _lint(tree_copy)
    assert result.returncode == 1
    assert "fusion_ops imports neither Dagster nor orchestration nor assets BROKEN" in result.stdout
    assert "fusion_ops.scores -> dagster" in result.stdout


def test_asset_importing_the_wiring_breaks_the_contract(tree_copy: Path) -> None:
    _append(tree_copy / "assets" / "reference.py", "import orchestration.jobs  # planted")
    result = _lint(tree_copy)
    assert result.returncode == 1
    assert "assets and the runtime never import the wiring above them BROKEN" in result.stdout
    assert "assets.reference -> orchestration.jobs" in result.stdout


def test_runtime_importing_assets_breaks_the_layers(tree_copy: Path) -> None:
    _append(
        tree_copy / "orchestration" / "runtime" / "tags.py", "import assets.reference  # planted"
    )
    result = _lint(tree_copy)
    assert result.returncode == 1
    assert "assets sit on the runtime, the runtime on the science library BROKEN" in result.stdout


def test_every_wiring_module_is_named_in_the_contract() -> None:
    named = set(_contracts()["wiring-on-top"]["forbidden_modules"])
    wiring = {
        f"orchestration.{info.name}"
        for info in pkgutil.iter_modules(orchestration.__path__)
        if info.name != "runtime"
    }
    assert wiring - named == set(), "a new wiring module must join the 'wiring-on-top' contract"
