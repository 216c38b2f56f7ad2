"""scripts/package_functions.py: deterministic, content-addressed function zips, built from a fake repo."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "package_functions.py"


def _load_script() -> ModuleType:
    # scripts/ is not a package; load the file as a module (registered, so dataclasses and typing work).
    spec = importlib.util.spec_from_file_location("package_functions", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


package_functions = _load_script()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two functions, a nested shared package, byte-code caches and stray files."""
    root = tmp_path / "repo"
    _write(root / "functions" / "api" / "main.py", "from shared.api import handle\n")
    _write(root / "functions" / "sync_worker" / "main.py", "from shared.mail import sync\n")
    _write(root / "functions" / "README.md", "not a function\n")
    _write(root / "functions" / "api" / "__pycache__" / "main.cpython-312.pyc", "bytecode")
    _write(root / "shared" / "__init__.py", "")
    _write(root / "shared" / "py.typed", "")
    _write(root / "shared" / "api.py", "def handle() -> None: ...\n")
    _write(root / "shared" / "mail" / "__init__.py", "")
    _write(root / "shared" / "mail" / "sync.py", "HISTORY_ID = 1\n")
    _write(root / "shared" / "mail" / "notes.md", "design notes, not code\n")
    _write(root / "shared" / "__pycache__" / "api.cpython-312.pyc", "bytecode")
    _write(root / "shared" / "mail" / "__pycache__" / "sync.cpython-312.pyc", "bytecode")
    _write(root / "requirements.txt", "pydantic==2.11.7 \\\n    --hash=sha256:abc\n")
    _write(root / "pyproject.toml", "[project]\nname = 'x'\n")
    return root


def test_same_inputs_give_byte_identical_zips(repo: Path, tmp_path: Path) -> None:
    first = package_functions.package_all(repo, tmp_path / "first")

    # GIVEN the same contents with new timestamps and modes, as a fresh checkout would have
    for path in repo.rglob("*.py"):
        os.utime(path, (2_000_000_000, 2_000_000_000))
        path.chmod(0o755)
    second = package_functions.package_all(repo, tmp_path / "second")

    assert first.keys() == second.keys() == {"api", "sync_worker"}
    for name in first:
        assert first[name].name == second[name].name
        assert first[name].read_bytes() == second[name].read_bytes()


def test_zip_name_carries_the_first_12_hex_of_its_sha256(repo: Path, tmp_path: Path) -> None:
    path = package_functions.package_function(repo, "api", tmp_path / "out")

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.name == f"api-{digest[:12]}.zip"
    assert path.is_absolute()


def test_changing_a_shared_file_changes_the_hash(repo: Path, tmp_path: Path) -> None:
    before = package_functions.package_function(repo, "api", tmp_path / "out")

    _write(repo / "shared" / "mail" / "sync.py", "HISTORY_ID = 2\n")
    after = package_functions.package_function(repo, "api", tmp_path / "out")

    assert before.name != after.name
    assert before.exists()  # the previous zip is left alone: rollback can redeploy it


def test_changing_requirements_changes_the_hash(repo: Path, tmp_path: Path) -> None:
    before = package_functions.package_function(repo, "api", tmp_path / "out")

    _write(repo / "requirements.txt", "pydantic==2.11.8\n")

    assert package_functions.package_function(repo, "api", tmp_path / "out").name != before.name


def test_zip_holds_main_at_root_the_shared_package_and_requirements(repo: Path, tmp_path: Path) -> None:
    path = package_functions.package_function(repo, "api", tmp_path / "out")

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        infos = archive.infolist()
        main_source = archive.read("main.py").decode()
        requirements = archive.read("requirements.txt").decode()

    assert names == [
        "main.py",
        "requirements.txt",
        "shared/__init__.py",
        "shared/api.py",
        "shared/mail/__init__.py",
        "shared/mail/sync.py",
        "shared/py.typed",
    ]
    assert main_source == "from shared.api import handle\n"
    assert requirements.startswith("pydantic==2.11.7")
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in infos)
    assert all(info.external_attr >> 16 == 0o100644 for info in infos)


def test_each_function_gets_its_own_main(repo: Path, tmp_path: Path) -> None:
    zips = package_functions.package_all(repo, tmp_path / "out")

    with zipfile.ZipFile(zips["sync_worker"]) as archive:
        assert archive.read("main.py").decode() == "from shared.mail import sync\n"


def test_missing_requirements_fails_with_a_clear_message(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "requirements.txt").unlink()

    with pytest.raises(package_functions.PackagingError, match=r"requirements\.txt is missing.*uv export"):
        package_functions.package_all(repo, tmp_path / "out")

    assert package_functions.main(["--root", str(repo), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "requirements.txt is missing" in error
    assert "uv export --frozen --no-dev --no-emit-project" in error
    assert not list((tmp_path / "out").glob("*.zip"))


def test_requirements_naming_the_project_itself_is_refused(repo: Path, tmp_path: Path) -> None:
    _write(repo / "requirements.txt", "-e .\npydantic==2.11.7\n")

    with pytest.raises(
        package_functions.PackagingError, match=r"requirements\.txt:1: '-e \.' points at a local path"
    ):
        package_functions.package_all(repo, tmp_path / "out")


def test_a_module_beside_main_is_refused_rather_than_silently_dropped(repo: Path, tmp_path: Path) -> None:
    _write(repo / "functions" / "api" / "routes.py", "ROUTES = []\n")

    with pytest.raises(
        package_functions.PackagingError, match=r"functions/api/ holds routes\.py besides main\.py"
    ):
        package_functions.package_all(repo, tmp_path / "out")


def test_a_repo_without_functions_fails_clearly(repo: Path, tmp_path: Path) -> None:
    for main in (repo / "functions").glob("*/main.py"):
        main.unlink()

    with pytest.raises(package_functions.PackagingError, match=r"nothing to package"):
        package_functions.package_all(repo, tmp_path / "out")


def test_cli_prints_the_json_map_and_writes_terraform_variables(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tfvars = tmp_path / "tf" / "sources.tfvars.json"

    code = package_functions.main(
        ["--root", str(repo), "--out", str(tmp_path / "out"), "--tfvars-out", str(tfvars)]
    )

    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"api", "sync_worker"}
    assert all(Path(path).is_file() and Path(path).is_absolute() for path in printed.values())
    assert json.loads(tfvars.read_text(encoding="utf-8")) == {"function_source_zips": printed}
