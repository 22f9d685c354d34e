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
# pip with its output condensed to one line per package, so a first install (about a
# minute) shows what it is doing; the full output is printed if it fails.
condense() {
    local total=$1 n=0 line name
    while IFS= read -r line; do
        case ${line} in
        Collecting* | Requirement\ already\ satisfied*)
            n=$((n + 1))
            name=${line#Collecting }
            name=${name#Requirement already satisfied: }
            name=${name%% *}
            if [[ -t 2 ]]; then
                printf '\r\033[K  [%d/%d] %s' "${n}" "${total}" "${name}" >&2
            else
                printf '  [%d/%d] %s\n' "${n}" "${total}" "${name}" >&2
            fi
            ;;
        Installing\ collected\ packages*)
            if [[ -t 2 ]]; then printf '\r\033[K' >&2; fi
            log "unpacking and installing..."
            ;;
        esac
    done
    if [[ -t 2 ]]; then printf '\r\033[K' >&2; fi
    return 0
}
pip_progress() {
    local total=$1 status=0
    shift
    "${venv}/bin/python" -m pip "$@" 2>&1 | tee "${pip_log}" | condense "${total}" || status=$?
    if [[ ${status} -ne 0 ]]; then
        cat "${pip_log}" >&2
        die "pip $* failed"
    fi
}
packages="$(grep -cvE '^[[:space:]]*(#|$)' "${lock}" || true)"
log "installing ${packages} packages from requirements.lock (about a minute the first time)"
pip_progress "${packages}" install -r "${lock}"
log "installing quaero itself (editable) with its dev tools"
pip_quiet install -q -e '.[dev]'
log "done: ${venv}"

printf '%s\n' "${want}" >"${stamp}"
