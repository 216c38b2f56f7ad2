"""The layering contracts (pyproject.toml, ``[tool.importlinter]``) hold on the tree, and each fails on a
violation planted in a copy of it: a capability importing Google's library, the engine importing a
capability, an import cycle inside a package. import-linter runs in a child process over the copy, so
the planted ``shared`` is the one analysed, never this process's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_linter(tree: Path) -> tuple[int, str]:
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "shared", tmp_path / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}  # planted\n")


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    status, output = run_linter(tree)
    assert status == 0, output
    assert "3 kept, 0 broken" in output


def test_a_capability_importing_googles_library_is_refused(tree: Path) -> None:
    plant(tree, "shared.mail.store", "from google.cloud import firestore")
    status, output = run_linter(tree)
    assert status == 1
    assert "Only the adapters import Google's libraries BROKEN" in output
    assert "shared.mail.store -> google" in output


def test_the_engine_importing_a_capability_is_refused(tree: Path) -> None:
    plant(tree, "shared.sync.runner", "import shared.connections.records")
    status, output = run_linter(tree)
    assert status == 1
    assert "The adapters, the sync engine and the write path know no capability BROKEN" in output


def test_an_import_cycle_inside_a_package_is_refused(tree: Path) -> None:
    # records is imported (through store) by engine; engine imported by records closes a circle.
    plant(tree, "shared.mail.records", "import shared.mail.engine")
    status, output = run_linter(tree)
    assert status == 1
    assert "No import cycles between packages or modules BROKEN" in output
    assert "No cycles are allowed in shared.mail" in output
