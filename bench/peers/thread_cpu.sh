#!/usr/bin/env bash
# Per-thread CPU of the quaero worker process during one peers-harness fan-out, beside
# the harness's Redis server: which thread sets the pace (issue 13 item 2's analysis).
#   bench/peers/thread_cpu.sh sqlite|postgres [N] [W]     (default 40000 8)
# Run after bench/peers/interleaved.sh has set up the harness copy (PEERS_DIR, default
# /tmp/quaero-peers) and with the same BENCH_RUN / PGPORT_BENCH / REDIS_PORT_BENCH.
# Samples /proc/<pid>/task/*/stat over 4 s in the middle of the run; prints % of one core
# per thread (the event loop is the process's first thread; on SQLite the busy
# other one is the writer) and children/s.
set -uo pipefail
KIND="${1:?sqlite or postgres}"; N="${2:-40000}"; W="${3:-8}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "${PEERS_DIR:-/tmp/quaero-peers}"
cp "$ROOT/bench/peers/ours_peer.py" peers/
./start_services.sh >/dev/null
trap './stop_services.sh >/dev/null 2>&1 || true' EXIT
source ./env.sh
for _ in $(seq 1 150); do
  .venv/bin/python -c "import redis; redis.Redis.from_url('$REDIS_URL').ping()" 2>/dev/null && break
  sleep 0.2
done
[ "$KIND" = postgres ] && export QUAERO_BENCH_DB_URL="postgresql://bench@127.0.0.1:${PGPORT_BENCH}/quaero_bench"
.venv/bin/python bench.py ours fanout "$N" "$W" > /tmp/thread_cpu.$$.json &
bench=$!
pid=""
for _ in $(seq 1 300); do
  pid=$(pgrep -f "quaero --db .* worker" | head -1); [ -n "$pid" ] && break; sleep 0.1
done
[ -n "$pid" ] || { echo "no quaero worker came up" >&2; exit 1; }
redis_pid=$(pgrep -f "redis-server.*${REDIS_PORT_BENCH}" | head -1)
snap() { for t in /proc/"$pid"/task/*; do echo "$(basename "$t") $(awk '{print $14+$15}' "$t"/stat)"; done
         echo "redis-server $(awk '{print $14+$15}' /proc/"$redis_pid"/stat)"; }
sleep 2.5; a=$(snap); t0=$(date +%s.%N)
sleep 4; b=$(snap); t1=$(date +%s.%N)
wait "$bench"
python3 - "$a" "$b" "$t0" "$t1" "$pid" /tmp/thread_cpu.$$.json <<'PY'
import json, os, sys
a, b = ({l.rsplit(" ", 1)[0]: int(l.rsplit(" ", 1)[1]) for l in s.splitlines()} for s in sys.argv[1:3])
dt = float(sys.argv[4]) - float(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")
for name, v in b.items():
    share = (v - a.get(name, 0)) / tick / dt * 100
    if share >= 0.5:
        label = "event loop (main thread)" if name == sys.argv[5] else name
        print(f"{label:28s} {share:5.1f} % of a core")
lines = open(sys.argv[6]).read().strip().splitlines()
d = json.loads(lines[-1])
print(f"children/s {d.get('jobs_per_s', 0):,.0f} ({d.get('status')})")
PY
rm -f /tmp/thread_cpu.$$.json
