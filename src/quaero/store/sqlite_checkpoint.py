"""WAL checkpoints off the writer thread.

In WAL mode a commit only appends pages to the ``-wal`` file; a checkpoint copies them
back into the database file and fsyncs it. SQLite runs one inside the COMMIT that
crosses ``wal_autocheckpoint`` pages, so every few hundred commits one of them took tens
of milliseconds on the writer thread, holding up every operation queued behind it. Here a
thread with its own connection runs a PASSIVE checkpoint (it never blocks the writer or
readers; SQLite restarts the WAL from its start once it is all copied) shortly after
commits happen; it sleeps while the store is idle. The writer keeps a much larger
``wal_autocheckpoint`` as a safety net should this thread fall behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)

#: seconds between checkpoints while commits keep coming (each one fsyncs the database)
INTERVAL = 0.2


class Checkpointer:
    """Call :meth:`committed` after each commit; :meth:`stop` before closing the store."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="quaero-sqlite-checkpoint", daemon=True
        )
        #: checkpoints run (benchmarks and tests)
        self.runs = 0

    def start(self) -> None:
        self._thread.start()

    def committed(self) -> None:
        if not self._dirty.is_set():
            self._dirty.set()

    def stop(self, timeout: float) -> bool:
        """Stop the thread (after the checkpoint in progress); False if it did not stop."""
        self._stopping.set()
        self._dirty.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error:
            log.exception("no checkpoint connection: the writer's own checkpoints remain")
            return
        try:
            while True:
                self._dirty.wait()
                if self._stopping.wait(INTERVAL):  # let commits gather
                    return
                self._dirty.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.runs += 1
                except sqlite3.Error:  # busy or locked: the next round tries again
                    log.debug("WAL checkpoint skipped", exc_info=True)
        finally:
            conn.close()
