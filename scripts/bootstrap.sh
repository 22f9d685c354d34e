#!/usr/bin/env bash
# Create/refresh the project venv (.venv): `pip install -r requirements.lock`
# then `pip install -e '.[dev]'`. Only does work when requirements.lock,
# pyproject.toml or the interpreter changed (stamp: .venv/.quaero-bootstrap).
#
# Interpreter: $PYTHON, else python3.11 on PATH, else ~/.pyenv 3.11.x, else
# python3 if >= 3.11. Set QUAERO_VENV to use another venv directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "${QUAERO_ROOT}"

venv="${QUAERO_VENV:-${QUAERO_ROOT}/.venv}"
stamp="${venv}/.quaero-bootstrap"

find_python() {
    local c
    for c in "${PYTHON:-}" "$(command -v python3.11 || true)" \
        "${PYENV_ROOT:-${HOME}/.pyenv}"/versions/3.11*/bin/python3.11 \
        /root/.pyenv/versions/3.11*/bin/python3.11 "$(command -v python3 || true)"; do
        [[ -n ${c} && -x ${c} ]] || continue
        # Print the real interpreter path (not a pyenv shim).
        if "${c}" -c 'import sys; assert sys.version_info >= (3, 11); print(sys.executable)' 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

# A venv is usable if its interpreter runs and has pip.
if ! "${venv}/bin/python" -c 'import pip' >/dev/null 2>&1; then
    py="$(find_python)" || die "Python >= 3.11 not found (set PYTHON=/path/to/python3.11)"
    log "creating ${venv} with ${py}"
    rm -rf "${venv}"
    "${py}" -m venv "${venv}"
fi

want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1) $("${venv}/bin/python" -VV | tr -d '\n')"
if [[ -f ${stamp} && "$(cat "${stamp}")" == "${want}" && -x ${venv}/bin/quaero ]]; then
    exit 0
fi

log "installing dependencies into ${venv}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The lock is a pip freeze; drop any line for quaero itself (an editable
# install records a machine-specific path) -- it is installed with -e below.
lock="$(mktemp -t quaero-lock.XXXXXX)"
pip_log="$(mktemp -t quaero-pip.XXXXXX)"
trap 'rm -f "${lock}" "${pip_log}"' EXIT
grep -viE '^[[:space:]]*(-e[[:space:]]|--editable|quaero[[:space:]]*(==|@|$))' requirements.lock >"${lock}" || true

pip_quiet() {
    if ! "${venv}/bin/python" -m pip "$@" >"${pip_log}" 2>&1; then
        cat "${pip_log}" >&2
        die "pip $* failed"
    fi
}
pip_quiet install -q -r "${lock}"
pip_quiet install -q -e '.[dev]'

printf '%s\n' "${want}" >"${stamp}"
