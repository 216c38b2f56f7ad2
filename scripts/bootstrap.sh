#!/usr/bin/env bash
# Creates .venv exactly as uv.lock says, on a machine that has nothing but python3 (>= 3.11) and PyPI.
# Sourced by scripts/demo and scripts/test; safe to run again (a no-op when nothing changed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
uv_version=0.13.8
tools="$root/.cache/tools"

if ! "$tools/bin/uv" --version 2>/dev/null | grep -qF "uv $uv_version"; then
  echo "bootstrap: installing uv $uv_version into .cache/tools" >&2
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version"
fi

# --frozen: install what the lock says, never re-resolve; --python: the interpreter this machine has.
UV_NO_PROGRESS=1 "$tools/bin/uv" sync --quiet --frozen --python python3 --project "$root"
export PATH="$root/.venv/bin:$PATH"
