#!/usr/bin/env bash
# Run quaero beside the peers of ../shared/peers on the same fan-out workload, same sitting.
#   bench/peers/run.sh [N] [W] [PEERS...]     (default: 10000 8 ours huey)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
N="${1:-10000}"; W="${2:-8}"; shift 2 || true
PEERS=("$@"); [ ${#PEERS[@]} -gt 0 ] || PEERS=(ours huey)
DIR="${PEERS_DIR:-/tmp/quaero-peers}"
if [ ! -d "$DIR" ]; then cp -r "${PEERS_SRC:-$ROOT/../shared/peers}" "$DIR"; fi
cp "$ROOT/bench/peers/ours_peer.py" "$DIR/peers/ours_peer.py"
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
for peer in "${PEERS[@]}"; do
  for rep in 1 2 3; do
    .venv/bin/python bench.py "$peer" fanout "$N" "$W" | tail -1
  done
done
