#!/usr/bin/env bash
# Runs checkov (Terraform static analysis) on infra/ with infra/.checkov.yaml, offline: no Prisma Cloud
# (Bridgecrew) API, no version check, no module download. Prints the failed checks only; exits non-zero
# on any failed check or unparsable file. Run by scripts/test; extra arguments go to checkov.
# checkov has its own environment, .cache/tools/checkov-venv, made exactly as tools/checkov/uv.lock says
# (never .venv: its hcl2 module clashes with python-hcl2's); a no-op when nothing changed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
tools="$root/.cache/tools"
venv="$tools/checkov-venv"

# bootstrap.sh installs the project's pinned uv (and .venv); scripts/test has run it already.
[ -x "$tools/bin/uv" ] || bash scripts/bootstrap.sh

# --frozen: install what the lock says, never re-resolve. Bytecode is compiled once, here, because
# compiling checkov's thousands of modules on every run (PYTHONDONTWRITEBYTECODE) costs seconds.
env -u VIRTUAL_ENV UV_NO_PROGRESS=1 UV_PROJECT_ENVIRONMENT="$venv" \
  "$tools/bin/uv" sync --quiet --frozen --compile-bytecode --python python3 --project tools/checkov

# Only the settings below and in infra/.checkov.yaml apply: checkov also reads CKV_*/BC_* variables
# (CKV_SKIP_CHECK, BC_API_KEY, ...) and ~/.checkov.yaml, and neither may weaken or un-offline this check.
for name in $(compgen -e); do
  case $name in CKV_* | BC_* | PRISMA_* | CHECKOV_* | DOWNLOAD_EXTERNAL_MODULES | EXTERNAL_MODULES_DIR) unset "$name" ;; esac
done
mkdir -p "$tools/checkov-home"
export HOME="$tools/checkov-home"
export BC_SKIP_MAPPING=TRUE               # no download of check metadata and guidelines
export CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE # no "new version" request to PyPI
export CKV_PARSE_ERROR_FAIL=TRUE          # a file checkov cannot parse fails the run, not passes it unread

# checkov accepts a skip without a reason; this check does not.
if bare=$(grep -rnE --include='*.tf' '(checkov|bridgecrew|cortex):skip=[^:[:space:]]+[[:space:]]*(:[[:space:]]*)?$' infra); then
  echo "checkov: a skip without its reason; write #checkov:skip=CKV_XXX:<why it does not apply here>" >&2
  echo "$bare" >&2
  exit 1
fi

exec "$venv/bin/checkov" --config-file infra/.checkov.yaml --directory infra "$@"
