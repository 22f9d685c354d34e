#!/usr/bin/env bash
# Every benchmark, one after the other in one sitting (make bench). Each prints its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
echo "== fan-out on embedded SQLite (quaero run fanout, in-process workers)"
$PY bench/fanout.py 10000 100000 --concurrency 16
$PY bench/fanout.py 10000 --concurrency 8 64
echo "== crawl of postgresql-doc-15 on nginx, quaero beside Scrapy (same per-page markdown)"
$PY bench/crawl_pgdocs.py --concurrency 1 4 16 --scrapy
echo "== WebSocket: child commit -> progress message, and server CPU with 50 clients"
$PY bench/ws_latency.py
$PY bench/ws_cpu.py --watch job --watch jobs
if [ -z "${QUAERO_TEST_PG_URL:-}" ] && [ ! -x scripts/pg-start.sh ]; then
  echo "== explain on a 1,000,000-child parent (SQLite)"
  $PY bench/explain.py
fi
if [ -n "${QUAERO_TEST_PG_URL:-}" ] || [ -x scripts/pg-start.sh ]; then
  echo "== PostgreSQL fan-out (1/2/4/8 worker processes) beside SQLite"
  [ -n "${QUAERO_TEST_PG_URL:-}" ] || eval "$(scripts/pg-start.sh)"
  for f in bench/pg_*.py; do $PY "$f"; done
  echo "== explain on a 1,000,000-child parent (SQLite and PostgreSQL)"
  $PY bench/explain.py --pg-url "$QUAERO_TEST_PG_URL"
  [ -z "${QUAERO_PG_DIR:-}" ] || scripts/pg-stop.sh "$QUAERO_PG_DIR"
fi
echo "== beside the peer job queues (../shared/peers): quaero and huey, N=10000, W=8"
bench/peers/run.sh 10000 8 ours huey
QUAERO_BENCH_PROCS=2 bench/peers/run.sh 10000 64 ours
