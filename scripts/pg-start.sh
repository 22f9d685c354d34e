#!/usr/bin/env bash
# Start a THROWAWAY PostgreSQL cluster for tests/benchmarks.
#
#   eval "$(scripts/pg-start.sh)"      # exports QUAERO_PG_DIR, QUAERO_TEST_PG_URL, ...
#   ...                                 # use $QUAERO_TEST_PG_URL
#   scripts/pg-stop.sh "$QUAERO_PG_DIR" # stop it and delete the directory
#
# The cluster lives in a fresh temp dir (data/, sock/, postgres.log), listens on
# 127.0.0.1 only, on the first free port from PG_PORT (default 55433), with
# trust auth, fsync=off, and has a superuser role `quaero` and a database
# `quaero_test`. When run as root, the server runs as user `postgres` (created
# if missing). stdout carries only the `export ...` lines (also saved in
# $QUAERO_PG_DIR/env); progress/errors go to stderr.
#
# Env knobs: PG_PORT (first port to try), PG_BINDIR, PG_USER (server OS user
# when root, default postgres), PG_DBNAME (default quaero_test), PG_ROLE
# (default quaero), PG_MAX_CONNECTIONS (default 200), PG_EXTRA_OPTS (extra
# `-c name=value` server options).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

bindir="$(pg_bindir)"
[[ -n ${bindir} && -x ${bindir}/initdb ]] ||
    die "PostgreSQL server binaries not found (run scripts/install-system-deps.sh)"

dbname="${PG_DBNAME:-quaero_test}"
role="${PG_ROLE:-quaero}"
first_port="${PG_PORT:-55433}"

# Run server-side commands as a non-root user when we are root.
run_pg=()
if [[ ${EUID} -eq 0 ]]; then
    os_user="${PG_USER:-postgres}"
    if ! id -u "${os_user}" >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/postgresql \
            --shell /bin/bash "${os_user}"
    fi
    run_pg=(runuser -u "${os_user}" --)
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/quaero-pg.XXXXXX")"
touch "${dir}/.quaero-pg"            # marker: pg-stop.sh only deletes dirs with it
mkdir -p "${dir}/sock"
if [[ ${EUID} -eq 0 ]]; then
    chown -R "${os_user}:" "${dir}"
fi

fail() {
    [[ -f ${dir}/postgres.log ]] && tail -n 30 "${dir}/postgres.log" >&2
    [[ -f ${dir}/initdb.log ]] && tail -n 30 "${dir}/initdb.log" >&2
    "${run_pg[@]}" "${bindir}/pg_ctl" -D "${dir}/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "${dir}"
    die "$*"
}

if ! "${run_pg[@]}" "${bindir}/initdb" -D "${dir}/data" -U "${role}" --auth=trust \
    --encoding=UTF8 --no-locale --no-sync >"${dir}/initdb.log" 2>&1; then
    fail "initdb failed"
fi

port=""
for ((p = first_port; p < first_port + 200; p++)); do
    port_is_free "${p}" || continue
    # shellcheck disable=SC2086
    if "${run_pg[@]}" "${bindir}/pg_ctl" -D "${dir}/data" -l "${dir}/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p ${p} -k ${dir}/sock -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=${PG_MAX_CONNECTIONS:-200} ${PG_EXTRA_OPTS:-}" \
        start >/dev/null 2>&1; then
        port="${p}"
        break
    fi
    # Lost a race for the port? Try the next one; anything else is fatal.
    grep -qiE 'could not (bind|create listen)|address already in use' "${dir}/postgres.log" 2>/dev/null ||
        fail "pg_ctl start failed"
    : >"${dir}/postgres.log"
done
[[ -n ${port} ]] || fail "no free port in ${first_port}..$((first_port + 199))"

if ! "${bindir}/createdb" -h 127.0.0.1 -p "${port}" -U "${role}" "${dbname}" 2>"${dir}/createdb.log"; then
    cat "${dir}/createdb.log" >&2
    fail "createdb failed"
fi

url="postgresql://${role}@127.0.0.1:${port}/${dbname}"
{
    printf 'export QUAERO_PG_DIR=%q\n' "${dir}"
    printf 'export QUAERO_PG_PORT=%q\n' "${port}"
    printf 'export QUAERO_PG_BINDIR=%q\n' "${bindir}"
    printf 'export QUAERO_TEST_PG_URL=%q\n' "${url}"
} | tee "${dir}/env"
