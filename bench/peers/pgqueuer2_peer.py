"""pgqueuer in P worker processes (``PGQ_PROCS``, default 2) of W/P slots each: the
harness's own pgqueuer adapter (``peers/pgqueuer_peer.py``, unchanged) with only
``worker_argv`` replaced, so quaero's multi-process rows have a like-for-like peer row.

Install beside the harness's adapters (bench/peers/interleaved.sh copies it), then
``bench.py pgqueuer2 fanout N W``. Everything else (schema, enqueue, the done and
progress observers) is pgqueuer_peer's.
"""

from __future__ import annotations

import os
import sys

from peers.pgqueuer_peer import *  # noqa: F403  (the adapter's whole interface)
from peers.pgqueuer_peer import CONCURRENCY_MODEL as _ONE

PROCS = max(1, int(os.environ.get("PGQ_PROCS", "2")))
CONCURRENCY_MODEL = f"{PROCS} processes x W/{PROCS} slots; each: {_ONE}"


def worker_argv(w):  # type: ignore[no-redef]
    one = f"{sys.executable} -m peers.pgqueuer_peer {max(1, w // PROCS)}"
    return ["sh", "-c", " & ".join([one] * PROCS) + " & wait"]
