#!/usr/bin/env bash
# Every benchmark, one after the other in one sitting (make bench). Each prints its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
echo "== fan-out on embedded SQLite (quaero run fanout, in-process workers)"
$PY bench/fanout.py 10000 100000 --concurrency 16
$PY bench/fanout.py 10000 --concurrency 8 32 64
echo "== where one process's CPU goes in that fan-out (writer thread by part, event loop)"
$PY bench/sqlite_profile.py 10000 --concurrency 8 32
echo "== retention: bytes per no-op child, the pruner's write-lock hold, a prune soak"
$PY bench/bytes_per_child.py 100000
$PY bench/prune_lock.py 100000
$PY bench/retention_soak.py --cycles 20 --children 50000
echo "== crawl of postgresql-doc-15 on nginx, quaero beside Scrapy (same per-page markdown)"
$PY bench/crawl_pgdocs.py --concurrency 1 4 16 --scrapy
echo "== WebSocket: child commit -> progress message, and server CPU with 50 clients"
$PY bench/ws_latency.py
$PY bench/ws_cpu.py --watch job --watch jobs
if [ -z "${QUAERO_TEST_PG_URL:-}" ] && [ ! -x scripts/pg-start.sh ]; then
  echo "== explain on a 1,000,000-child parent (SQLite)"
  $PY bench/explain.py
fi
echo "== dashboard pages of a 20,000-child job in headless Chromium"
$PY bench/console_pages.py --children 20000 --repeat 5
echo "== SQLite, worker processes -> serve --no-workers -> WebSocket; idle web CPU"
$PY bench/xproc_latency.py --children 2000 --workers 2
if [ -n "${QUAERO_TEST_PG_URL:-}" ] || [ -x scripts/pg-start.sh ]; then
  echo "== PostgreSQL fan-out (1/2/4/8 worker processes) beside SQLite"
  [ -n "${QUAERO_TEST_PG_URL:-}" ] || eval "$(scripts/pg-start.sh)"
  for f in bench/pg_*.py; do $PY "$f"; done
  echo "== explain on a 1,000,000-child parent (SQLite and PostgreSQL)"
  $PY bench/explain.py --pg-url "$QUAERO_TEST_PG_URL"
  [ -z "${QUAERO_PG_DIR:-}" ] || scripts/pg-stop.sh "$QUAERO_PG_DIR"
fi
echo "== beside the peer job queues (../shared/peers): quaero (one process, 8 and 32 slots) and huey, N=10000, W=8"
SYSTEMS="huey ours-sqlite ours-sqlite@32" bench/peers/interleaved.sh 10000 8 3
QUAERO_BENCH_PROCS=2 bench/peers/run.sh 10000 64 ours
