#!/usr/bin/env bash
# Creates .venv exactly as uv.lock says, on a machine that has nothing but python3 (>= 3.11) and PyPI.
# Sourced by scripts/demo and scripts/test (it puts .venv/bin first on their PATH); run on its own by
# Cloud Build. Safe to run again (a no-op when nothing changed).
#
# One function, so that sourcing it changes none of the caller's shell options (no `set -e` leaking
# into scripts/test, where it would skip the leftover-process check after a failing test), and any
# failing step makes the whole of it fail: the caller's `source ... || exit 1` then sees it.
bootstrap() {
  local root tools uv_version=0.13.8
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
  tools="$root/.cache/tools"

  if ! "$tools/bin/uv" --version 2>/dev/null | grep -qF "uv $uv_version"; then
    echo "bootstrap: installing uv $uv_version into .cache/tools" >&2
    python3 -m venv "$tools" || return 1
    "$tools/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version" || return 1
  fi

  # --frozen: install what the lock says, never re-resolve; --python: the interpreter this machine has.
  UV_NO_PROGRESS=1 "$tools/bin/uv" sync --quiet --frozen --python python3 --project "$root" || return 1
  export PATH="$root/.venv/bin:$PATH"
}

bootstrap
