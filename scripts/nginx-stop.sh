#!/usr/bin/env bash
# Stop an nginx started by scripts/nginx-serve.sh and delete its temp dir.
#   scripts/nginx-stop.sh PIDFILE
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

pidfile="${1:-}"
[[ -n ${pidfile} ]] || die "usage: $0 PIDFILE"
tmp="$(dirname "${pidfile}")"
[[ -d ${tmp} ]] || exit 0
[[ -f ${tmp}/.quaero-nginx ]] || die "${tmp} was not created by nginx-serve.sh; not touching it"
if [[ -s ${pidfile} ]]; then
    pid="$(cat "${pidfile}")"
    if kill -TERM "${pid}" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "${pid}" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "${pid}" 2>/dev/null || true
    fi
fi
rm -rf "${tmp}"
