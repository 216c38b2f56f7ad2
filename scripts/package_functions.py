"""Builds one deterministic source zip per Cloud Function, named by its content hash, for Terraform to upload.

Each directory ``functions/<name>/`` that holds a ``main.py`` becomes ``<name>-<hash>.zip`` with:

- ``main.py`` at the root (the runtime imports the entry point from there),
- the ``shared/`` package (``.py`` files and ``py.typed`` only, never ``__pycache__``),
- ``requirements.txt`` copied from the repository root (generated with ``uv export``).

Entries are sorted and carry a fixed timestamp (1980-01-01) and fixed permissions, so the same inputs give
byte-identical zips and the hash changes only when the code or the pinned dependencies change. Terraform
names the uploaded object by that hash, so a changed zip redeploys and an unchanged one does not.

Usage: ``python scripts/package_functions.py --out build/functions [--root .] [--tfvars-out FILE]``.
Prints a JSON map ``{name: absolute zip path}`` on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "PackagingError",
    "build_zip",
    "discover_functions",
    "main",
    "package_all",
    "package_function",
    "zip_entries",
]

# The earliest time a zip header can hold; any fixed value works, this one is the convention.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# Regular file, rw-r--r--: the checkout's modes (umask, executable bits) must not reach the bytes.
FILE_MODE = 0o100644
UNIX_SYSTEM = 3
COMPRESS_LEVEL = 9
HASH_HEX_LENGTH = 12

# Directory names become zip names and Terraform map keys: keep them plain Python identifiers.
_FUNCTION_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SHARED_PACKAGE = "shared"
_REQUIREMENTS = "requirements.txt"
_EXPORT_COMMAND = "uv export --frozen --no-dev --no-emit-project --output-file requirements.txt"


class PackagingError(Exception):
    """A problem with the inputs that the person running the build must fix; the message says how."""


def discover_functions(root: Path) -> list[str]:
    """Names of the directories under ``functions/`` that hold a ``main.py``, sorted."""
    functions_dir = root / "functions"
    if not functions_dir.is_dir():
        raise PackagingError(f"no functions/ directory under {root}")
    names = sorted(path.parent.name for path in functions_dir.glob("*/main.py") if path.is_file())
    if not names:
        raise PackagingError(f"no functions/<name>/main.py under {root}: nothing to package")
    for name in names:
        if not _FUNCTION_NAME.fullmatch(name):
            raise PackagingError(
                f"functions/{name}/: a function directory name must match {_FUNCTION_NAME.pattern} "
                "(it becomes the zip name and the Terraform key)"
            )
    return names


def _shared_entries(root: Path) -> list[tuple[str, Path]]:
    shared_dir = root / _SHARED_PACKAGE
    if not (shared_dir / "__init__.py").is_file():
        raise PackagingError(f"no {_SHARED_PACKAGE}/__init__.py under {root}: every function imports shared")
    entries = []
    for path in shared_dir.rglob("*"):
        relative = path.relative_to(root)
        if "__pycache__" in relative.parts or not path.is_file():
            continue
        if path.suffix == ".py" or path.name == "py.typed":
            entries.append((relative.as_posix(), path))
    return entries


def _requirements(root: Path) -> Path:
    path = root / _REQUIREMENTS
    if not path.is_file():
        raise PackagingError(
            f"{_REQUIREMENTS} is missing at {path}: the runtime installs dependencies from it. "
            f"Generate it at the repository root with `{_EXPORT_COMMAND}`."
        )
    for number, raw_line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw_line.strip()
        # The zip carries no pyproject.toml, so a reference to the project itself cannot install.
        if line.startswith(("-e", "--editable", "./", "../", "file:")) or line == "." or "@ file:" in line:
            raise PackagingError(
                f"{_REQUIREMENTS}:{number}: {line!r} points at a local path, which the function's zip "
                f"does not contain. Export without the project: `{_EXPORT_COMMAND}`."
            )
    return path


def _main_module(root: Path, name: str) -> Path:
    function_dir = root / "functions" / name
    # Only main.py is shipped; a sibling module would be missing at run time, so refuse it now.
    extra = sorted(
        path.name for path in function_dir.glob("*.py") if path.name != "main.py" and path.is_file()
    )
    if extra:
        raise PackagingError(
            f"functions/{name}/ holds {', '.join(extra)} besides main.py; only main.py is packaged. "
            "Keep entry points thin and move the code into shared/."
        )
    return function_dir / "main.py"


def zip_entries(root: Path, name: str) -> list[tuple[str, Path]]:
    """(name inside the zip, file on disk) for function ``name``, sorted by name inside the zip."""
    entries = [("main.py", _main_module(root, name)), (_REQUIREMENTS, _requirements(root))]
    entries.extend(_shared_entries(root))
    return sorted(entries)


def build_zip(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """A zip of ``entries`` whose bytes depend only on their names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w") as archive:
        for arcname, data in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = UNIX_SYSTEM
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, data, compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def package_function(root: Path, name: str, out_dir: Path) -> Path:
    """Writes ``<out_dir>/<name>-<hash>.zip`` for function ``name`` and returns its absolute path."""
    content = build_zip([(arcname, path.read_bytes()) for arcname, path in zip_entries(root, name)])
    digest = hashlib.sha256(content).hexdigest()[:HASH_HEX_LENGTH]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = (out_dir / f"{name}-{digest}.zip").resolve()
    # Write then rename, so a reader never sees half a zip under its final (hash) name.
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(content)
    os.replace(partial, target)
    return target


def package_all(root: Path, out_dir: Path) -> dict[str, Path]:
    """Packages every function under ``root``; returns {name: absolute zip path}."""
    return {name: package_function(root, name, out_dir) for name in discover_functions(root)}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    default_root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--root", type=Path, default=default_root, help="repository root (default: this script's repo)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the zips go (default: build/functions under the root)",
    )
    parser.add_argument(
        "--tfvars-out",
        type=Path,
        default=None,
        help="also write {'function_source_zips': {name: path}} as a Terraform .tfvars.json file here",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        root = args.root.resolve()
        zips = package_all(root, args.out if args.out is not None else root / "build" / "functions")
    except PackagingError as error:
        print(f"package_functions: error: {error}", file=sys.stderr)
        return 1
    paths = {name: str(path) for name, path in zips.items()}
    if args.tfvars_out is not None:
        args.tfvars_out.parent.mkdir(parents=True, exist_ok=True)
        args.tfvars_out.write_text(
            json.dumps({"function_source_zips": paths}, indent=2) + "\n", encoding="utf-8"
        )
    print(json.dumps(paths, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
