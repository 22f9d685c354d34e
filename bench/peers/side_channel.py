"""What the peers harness's fan-out child costs by itself: its body is one synchronous
Redis ``RPUSH`` (``peers.common.mark_child_done``), the same for every system.

Run in the harness directory with its venv and Redis (bench/peers/interleaved.sh prints
it at the start of a sitting):

    .venv/bin/python <quaero>/bench/peers/side_channel.py [CALLS]

Prints the wall time and the process CPU per call in µs. Every child of a one-process
system (pgqueuer, quaero's one ``quaero worker``) spends that on its event loop; huey's
eight processes spread it over eight interpreters. On SQLite quaero's event loop shares
the GIL with its writer thread, so this CPU comes out of the same budget as quaero's own
per-child work (README, "Beside the peer job queues").
"""

from __future__ import annotations

import sys
import time

from peers import common


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    r = common.r()
    r.ping()
    key = common.k("side_channel_probe")
    figures = []
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            r.rpush(key, repr(time.time()))  # mark_child_done, on a probe key
        figures.append(
            ((time.perf_counter() - wall) / calls * 1e6, (time.process_time() - cpu) / calls * 1e6)
        )
        r.delete(key)
    best = min(figures)
    print(
        f"side channel (RPUSH, {calls} calls x 3): "
        + ", ".join(f"{w:.0f} us wall / {c:.0f} us CPU" for w, c in figures)
        + f" per call (best {best[0]:.0f} / {best[1]:.0f})"
    )


if __name__ == "__main__":
    main()
