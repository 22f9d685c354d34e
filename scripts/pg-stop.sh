#!/usr/bin/env bash
# Stop a cluster started by scripts/pg-start.sh and delete its directory.
#   scripts/pg-stop.sh [DIR]     (DIR defaults to $QUAERO_PG_DIR)
# Safe to call twice; refuses to delete a directory pg-start.sh did not create.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

dir="${1:-${QUAERO_PG_DIR:-}}"
[[ -n ${dir} ]] || die "usage: $0 DIR (or set QUAERO_PG_DIR)"
[[ -d ${dir} ]] || exit 0
[[ -f ${dir}/.quaero-pg ]] || die "${dir} was not created by pg-start.sh; not touching it"

if [[ -f ${dir}/data/postmaster.pid ]]; then
    bindir="$(pg_bindir)"
    run_pg=()
    if [[ ${EUID} -eq 0 ]]; then
        run_pg=(runuser -u "$(stat -c %U "${dir}/data")" --)
    fi
    if ! "${run_pg[@]}" "${bindir}/pg_ctl" -D "${dir}/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
        "${run_pg[@]}" "${bindir}/pg_ctl" -D "${dir}/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || {
            pid="$(head -n 1 "${dir}/data/postmaster.pid" 2>/dev/null || true)"
            [[ -n ${pid} ]] && kill -9 "${pid}" 2>/dev/null || true
        }
    fi
fi
rm -rf "${dir}"
