#!/usr/bin/env bash
# Run the whole test suite: bootstrap the venv, install missing system packages,
# start a throwaway PostgreSQL cluster, then run pytest on every tier
# (tests/unit, tests/integration, tests/acceptance, tests/e2e, and tests/integration
# again under CPU contention: integration-busy), one pytest run per tier, and
# stop/delete the cluster on exit (even on failure or Ctrl-C).
#
#   scripts/test.sh                      # everything (== make test)
#   scripts/test.sh -k foo -x            # extra pytest args, applied to every tier
#   scripts/test.sh tests/unit/test_x.py # explicit paths: a single pytest run on just them
#   QUAERO_TEST_TIERS="unit integration" scripts/test.sh   # subset of tiers
#   QUAERO_TEST_TIERS=integration-busy scripts/test.sh     # integration under CPU contention
#   QUAERO_TEST_BUSY=4 scripts/test.sh tests/integration   # any run, with 4 busy loops
#
# The integration-busy tier runs tests/integration while one busy-loop process per core
# (QUAERO_TEST_BUSY=N to choose) competes for the CPU: timing assumptions and unbounded
# waits that a quiet machine hides show up there. The busy loops stop with the tier.
#
# Exit status: non-zero if any tier fails. A tier that collects no tests
# (pytest exit 5) is reported but not a failure, unless NO tier ran any test
# (then 5). JUnit XML goes to test-artifacts/junit-<tier>.xml.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "${QUAERO_ROOT}"

"${QUAERO_ROOT}/scripts/bootstrap.sh"
"${QUAERO_ROOT}/scripts/install-system-deps.sh"

# --- PostgreSQL (throwaway cluster) -----------------------------------------
QUAERO_PG_DIR=""
busy_pids=()
start_busy() {  # one CPU-bound process per core (or $1 of them)
    local n=${1:-auto}
    [[ ${n} == auto ]] && n="$(nproc)"
    local i
    for ((i = 0; i < n; i++)); do
        "${QUAERO_ROOT}/.venv/bin/python" -c 'while True: pass' &
        busy_pids+=("$!")
    done
    log "started ${n} busy-loop process(es): ${busy_pids[*]}"
}
stop_busy() {
    local pid
    for pid in "${busy_pids[@]}"; do
        kill "${pid}" 2>/dev/null || true
    done
    for pid in "${busy_pids[@]}"; do
        wait "${pid}" 2>/dev/null || true
    done
    busy_pids=()
}
cleanup() {
    local rc=$?
    stop_busy
    if [[ -n ${QUAERO_PG_DIR} ]]; then
        "${QUAERO_ROOT}/scripts/pg-stop.sh" "${QUAERO_PG_DIR}" || true
    fi
    exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
pg_env="$("${QUAERO_ROOT}/scripts/pg-start.sh")"
eval "${pg_env}"

# --- environment the tests get ------------------------------------------------
export QUAERO_TEST_PG_URL QUAERO_PG_DIR QUAERO_PG_PORT QUAERO_PG_BINDIR
export QUAERO_CHROMIUM=/usr/bin/chromium
export QUAERO_CHROMEDRIVER=/usr/bin/chromedriver
export QUAERO_NGINX=/usr/sbin/nginx
export QUAERO_NGINX_SERVE="${QUAERO_ROOT}/scripts/nginx-serve.sh"
export QUAERO_NGINX_STOP="${QUAERO_ROOT}/scripts/nginx-stop.sh"
export QUAERO_PG_DOCS=/usr/share/doc/postgresql-doc-15/html
export QUAERO_TEST_ARTIFACTS="${QUAERO_ROOT}/test-artifacts"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PYTHONDONTWRITEBYTECODE=1
mkdir -p "${QUAERO_TEST_ARTIFACTS}"

pytest=("${QUAERO_ROOT}/.venv/bin/python" -m pytest)

# Explicit test paths given? Then one pytest run on exactly what was asked for.
for a in "$@"; do
    if [[ ${a} != -* && -e ${a%%::*} ]]; then
        [[ -n ${QUAERO_TEST_BUSY:-} ]] && start_busy "${QUAERO_TEST_BUSY}"
        set +e
        "${pytest[@]}" "$@"
        rc=$?
        stop_busy
        exit ${rc}
    fi
done

tiers=(${QUAERO_TEST_TIERS:-unit integration acceptance e2e integration-busy})
summary=()
failed=0
ran=0
for tier in "${tiers[@]}"; do
    dir="tests/${tier%-busy}"
    if [[ ! -d ${dir} ]]; then
        summary+=("${tier}: missing (${dir})")
        continue
    fi
    printf '\n===== %s%s =====\n' "${dir}" "$([[ ${tier} == *-busy ]] && echo ' (under CPU contention)')"
    start=${SECONDS}
    if [[ ${tier} == *-busy ]]; then
        start_busy "${QUAERO_TEST_BUSY:-auto}"
    elif [[ -n ${QUAERO_TEST_BUSY:-} ]]; then
        start_busy "${QUAERO_TEST_BUSY}"
    fi
    set +e
    "${pytest[@]}" "${dir}" --junitxml="${QUAERO_TEST_ARTIFACTS}/junit-${tier}.xml" "$@"
    rc=$?
    set -e
    stop_busy
    took=$((SECONDS - start))
    case ${rc} in
        0) summary+=("${tier}: passed (${took}s)"); ran=1 ;;
        5) summary+=("${tier}: no tests collected (${took}s)") ;;
        *) summary+=("${tier}: FAILED, pytest exit ${rc} (${took}s)"); failed=1; ran=1 ;;
    esac
done

printf '\n===== summary =====\n'
printf '  %s\n' "${summary[@]}"
if [[ ${failed} -ne 0 ]]; then
    exit 1
fi
if [[ ${ran} -eq 0 ]]; then
    log "no tests were collected in any tier"
    exit 5
fi
