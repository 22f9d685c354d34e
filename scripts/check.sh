#!/usr/bin/env bash
# Static checks: ruff lint, ruff format --check, mypy (strict, on src/quaero).
# Runs all three and fails if any fails. Extra args are ignored.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "${QUAERO_ROOT}"
"${QUAERO_ROOT}/scripts/bootstrap.sh"

bin="${QUAERO_ROOT}/.venv/bin"
rc=0
paths=(src)
[[ -d tests ]] && paths+=(tests)
"${bin}/ruff" check "${paths[@]}" || rc=1
"${bin}/ruff" format --check "${paths[@]}" || rc=1
"${bin}/mypy" || rc=1
exit "${rc}"
