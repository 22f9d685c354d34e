# shellcheck shell=bash
# Shared helpers for scripts/*.sh (sourced, not executed).

# Absolute path of the repository root.
QUAERO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export QUAERO_ROOT

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Run a command as root (directly, or via sudo when not root).
as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# Directory with the newest PostgreSQL server binaries (initdb, pg_ctl, ...),
# overridable with PG_BINDIR. Prints nothing if none is installed.
pg_bindir() {
    if [[ -n ${PG_BINDIR:-} ]]; then
        printf '%s\n' "${PG_BINDIR}"
        return
    fi
    local d
    d="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
        sort -V | tail -n 1)"
    [[ -n ${d} ]] && dirname "${d}"
    return 0
}

# Succeeds when nothing listens on 127.0.0.1:$1 (i.e. we could bind it).
port_is_free() {
    local port=$1 py
    py="$(command -v python3 || true)"
    [[ -x ${QUAERO_ROOT}/.venv/bin/python ]] && py="${QUAERO_ROOT}/.venv/bin/python"
    if [[ -n ${py} ]]; then
        "${py}" - "${port}" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like servers do; ignores TIME_WAIT
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
    else
        ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null
    fi
}
