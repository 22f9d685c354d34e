#!/usr/bin/env bash
# Install the Debian packages the test suite and benchmarks need, only if missing:
#   postgresql (server binaries; tests start their own throwaway cluster),
#   chromium + chromium-driver (headless browser tests),
#   nginx (crawler tests start their own instance; never started globally),
#   postgresql-doc-15 (1,169 HTML pages used as a crawl corpus).
# `apt-get update` only runs when something must be installed. Services are
# prevented from auto-starting during the install (policy-rc.d).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

pkgs=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql)
[[ -x /usr/bin/chromium ]] || pkgs+=(chromium)
[[ -x /usr/bin/chromedriver ]] || pkgs+=(chromium-driver)
[[ -x /usr/sbin/nginx ]] || pkgs+=(nginx)
[[ -d /usr/share/doc/postgresql-doc-15/html ]] || pkgs+=(postgresql-doc-15)

if [[ ${#pkgs[@]} -eq 0 ]]; then
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install manually: ${pkgs[*]}"
log "installing: ${pkgs[*]}"

# Keep apt from starting nginx/postgresql system services on install.
policy=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if [[ ${created_policy} -eq 1 ]]; then
        as_root rm -f "${policy}"
    fi
}
trap cleanup EXIT
if [[ ! -e ${policy} ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "${policy}" >/dev/null
    as_root chmod 755 "${policy}"
    created_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
apt_log="$(mktemp -t quaero-apt.XXXXXX.log)"
run_apt() {
    if ! as_root env DEBIAN_FRONTEND=noninteractive "$@" >>"${apt_log}" 2>&1; then
        tail -n 40 "${apt_log}" >&2
        die "failed: $* (full log: ${apt_log})"
    fi
}
run_apt apt-get update -q
run_apt apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${pkgs[@]}" fonts-liberation
rm -f "${apt_log}"

# A distro-managed cluster may have been created by the postgresql package; we
# never use it, and it is not started (policy-rc.d).
[[ -x /usr/bin/chromium ]] || die "chromium missing after install"
log "installed: ${pkgs[*]}"
