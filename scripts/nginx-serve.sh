#!/usr/bin/env bash
# Serve a directory with a private nginx instance (never the system service).
#
#   pidfile="$(scripts/nginx-serve.sh DIR PORT [EXTRA_CONF])"   # daemon; prints pid file path
#   ...  http://127.0.0.1:PORT/ ...
#   scripts/nginx-stop.sh "$pidfile"      # or: kill "$(cat "$pidfile")" (leaves the temp dir)
#
#   scripts/nginx-serve.sh --foreground DIR PORT [EXTRA_CONF]
#       prints the pid file path, then exec's nginx in the foreground (daemon off),
#       so a test can own the process (subprocess.Popen + terminate()).
#
# Everything (nginx.conf, pid, logs, temp paths) lives in a fresh temp dir
# (the pid file's directory). Listens on 127.0.0.1:PORT only. EXTRA_CONF, if
# given, is a file `include`d inside the server {} block (locations, redirects,
# return 404/500, limit_rate, ...). access.log/error.log sit next to the pid file.
# Workers run as the invoking user (as root: `user root;` so they can read
# root-only dirs such as pytest's tmp_path).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

foreground=0
if [[ ${1:-} == --foreground || ${1:-} == -f ]]; then
    foreground=1
    shift
fi
[[ $# -ge 2 && $# -le 3 ]] || die "usage: $0 [--foreground] DIR PORT [EXTRA_CONF]"
root="$(cd "$1" && pwd)" || die "no such directory: $1"
port="$2"
extra="${3:-}"
[[ ${port} =~ ^[0-9]+$ ]] || die "bad port: ${port}"
if [[ -n ${extra} ]]; then
    [[ -f ${extra} ]] || die "no such file: ${extra}"
    extra="$(cd "$(dirname "${extra}")" && pwd)/$(basename "${extra}")"
fi

nginx_bin="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
[[ -x ${nginx_bin} ]] || die "nginx not found (run scripts/install-system-deps.sh)"
mime=/etc/nginx/mime.types

tmp="$(mktemp -d "${TMPDIR:-/tmp}/quaero-nginx.XXXXXX")"
touch "${tmp}/.quaero-nginx"
user_line=""
[[ ${EUID} -eq 0 ]] && user_line="user root;"

cat >"${tmp}/nginx.conf" <<CONF
${user_line}
daemon $([[ ${foreground} -eq 1 ]] && echo off || echo on);
worker_processes 1;
pid ${tmp}/nginx.pid;
error_log ${tmp}/error.log warn;
events { worker_connections 1024; }
http {
    $([[ -f ${mime} ]] && echo "include ${mime};")
    default_type application/octet-stream;
    access_log ${tmp}/access.log;
    client_body_temp_path ${tmp}/client_body;
    proxy_temp_path ${tmp}/proxy;
    fastcgi_temp_path ${tmp}/fastcgi;
    uwsgi_temp_path ${tmp}/uwsgi;
    scgi_temp_path ${tmp}/scgi;
    sendfile on;
    keepalive_timeout 30;
    server {
        listen 127.0.0.1:${port};
        server_name localhost;
        root ${root};
        index index.html;
        $([[ -n ${extra} ]] && echo "include ${extra};")
    }
}
CONF

nginx_cmd=("${nginx_bin}" -p "${tmp}" -c "${tmp}/nginx.conf" -e "${tmp}/error.log")
if ! "${nginx_cmd[@]}" -t -q 2>"${tmp}/config-test.log"; then
    cat "${tmp}/config-test.log" >&2
    rm -rf "${tmp}"
    die "invalid nginx config"
fi

if [[ ${foreground} -eq 1 ]]; then
    echo "${tmp}/nginx.pid"
    exec "${nginx_cmd[@]}"
fi

if ! "${nginx_cmd[@]}" 2>>"${tmp}/error.log"; then
    tail -n 20 "${tmp}/error.log" >&2
    rm -rf "${tmp}"
    die "nginx failed to start on 127.0.0.1:${port}"
fi
for _ in $(seq 100); do
    if [[ -s ${tmp}/nginx.pid ]]; then
        echo "${tmp}/nginx.pid"
        exit 0
    fi
    sleep 0.05
done
die "nginx did not write ${tmp}/nginx.pid"
