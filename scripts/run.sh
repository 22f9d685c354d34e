#!/usr/bin/env bash
# Bootstrap the venv and run quaero (server + UI + workers, embedded SQLite at
# ./data/quaero.db, http://127.0.0.1:8080). Extra args go to `quaero serve`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "${QUAERO_ROOT}"
"${QUAERO_ROOT}/scripts/bootstrap.sh"
mkdir -p data
exec "${QUAERO_ROOT}/.venv/bin/quaero" serve "$@"
