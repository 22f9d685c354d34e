#!/usr/bin/env bash
# quaero on PostgreSQL and SQLite beside pgqueuer and huey, interleaved per repetition, in
# one sitting, on the harness's own PostgreSQL (fsync on) and Redis:
#   bench/peers/interleaved.sh [N] [W] [REPS]      (default: 10000 8 3)
# quaero on PostgreSQL uses the database quaero_bench on the harness's server (dropped and
# re-created each run). BENCH_RUN / PGPORT_BENCH / REDIS_PORT_BENCH move the services.
# PEERS_SRC is the harness to copy (default ../shared/peers beside the checkout).
# SYSTEMS picks the rows (default "pgqueuer ours-pg huey ours-sqlite"; NAME@W gives a row
# its own W, e.g. ours-sqlite@32; NAME:P runs quaero's W slots in P worker processes, e.g.
# ours-pg:2; pgqueuer2 is pgqueuer in PGQ_PROCS (default 2) processes of W/2 slots,
# bench/peers/pgqueuer2_peer.py); the row
# ours-sqlite-before (ours-pg-before) runs quaero from the source tree BEFORE_SRC
# (PYTHONPATH) instead of the installed one, so a change can be compared with its base in
# the same sitting.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
N="${1:-10000}"; W="${2:-8}"; REPS="${3:-3}"
DIR="${PEERS_DIR:-/tmp/quaero-peers}"
if [ ! -d "$DIR" ]; then cp -r "${PEERS_SRC:-$ROOT/../shared/peers}" "$DIR"; fi
cp "$ROOT/bench/peers/ours_peer.py" "$ROOT/bench/peers/pgqueuer2_peer.py" "$DIR/peers/"
cd "$DIR"
mkdir -p raw
./setup.sh >/dev/null
.venv/bin/pip install -q -e "$ROOT" 2>/dev/null
./start_services.sh >/dev/null
trap './stop_services.sh >/dev/null 2>&1 || true' EXIT
source ./env.sh
for _ in $(seq 1 150); do   # Redis answers "loading" for a while after a restart
  .venv/bin/python -c "import redis,sys; redis.Redis.from_url('$REDIS_URL').ping()" 2>/dev/null && break
  sleep 0.2
done
PGURL="postgresql://bench@127.0.0.1:${PGPORT_BENCH}/quaero_bench"
echo "fsync=$(psql "$PG_DSN" -Atc 'show fsync') synchronous_commit=$(psql "$PG_DSN" -Atc 'show synchronous_commit')"
PYTHONPATH=. .venv/bin/python "$ROOT/bench/peers/side_channel.py"   # what a child's body costs
SYSTEMS="${SYSTEMS:-pgqueuer ours-pg huey ours-sqlite}"
for _ in $(seq 1 "$REPS"); do
  for system in $SYSTEMS; do
    w="$W"; procs=1; name="$system"
    case "$name" in *:*) procs="${name#*:}"; name="${name%:*}" ;; esac   # name:P processes
    case "$name" in *@*) w="${name#*@}"; name="${name%@*}" ;; esac      # name@W: own W
    export QUAERO_BENCH_PROCS="$procs"
    case "$name" in
      pgqueuer|pgqueuer2|huey) line="$(.venv/bin/python bench.py "$name" fanout "$N" "$w" | tail -1)" ;;
      ours-pg) line="$(QUAERO_BENCH_DB_URL=$PGURL .venv/bin/python bench.py ours fanout "$N" "$w" | tail -1)" ;;
      ours-sqlite) line="$(.venv/bin/python bench.py ours fanout "$N" "$w" | tail -1)" ;;
      ours-pg-before) line="$(QUAERO_BENCH_SUPERVISOR=0 QUAERO_BENCH_PREFETCH="${BEFORE_PREFETCH-}" QUAERO_BENCH_DB_URL=$PGURL PYTHONPATH="${BEFORE_SRC:?BEFORE_SRC names the base source tree}" .venv/bin/python bench.py ours fanout "$N" "$w" | tail -1)" ;;
      ours-sqlite-before) line="$(QUAERO_BENCH_SUPERVISOR=0 QUAERO_BENCH_PREFETCH="${BEFORE_PREFETCH-}" PYTHONPATH="${BEFORE_SRC:?BEFORE_SRC names the base source tree}" .venv/bin/python bench.py ours fanout "$N" "$w" | tail -1)" ;;
      *) echo "unknown system $system" >&2; exit 2 ;;
    esac
    echo "$system $line"
  done
done
