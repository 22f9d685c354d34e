"""LISTEN on one dedicated connection; every notification calls the store's wake-up.

Each transaction that writes events ends with ``pg_notify('quaero_events', last_seq)``,
delivered to every listening process at commit. A notification only says "the log grew
to ``last_seq``": readers then read the log by sequence, so a lost notification (the
connection dropped) costs latency, never an event. After a reconnect the callback fires
once so that readers look for what was committed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from ..shutdown import bounded, cancel_and_wait

__all__ = ["CHANNEL", "Listener"]

log = logging.getLogger(__name__)

#: the channel every event-writing transaction notifies (payload: its last seq)
CHANNEL = "quaero_events"


class Listener:
    """Keeps one LISTEN connection open (reconnecting with backoff) and calls
    ``callback(last_seq)`` for each notification (``-1`` after a reconnect)."""

    def __init__(
        self,
        connect: Callable[[], Any],
        callback: Callable[[int], None],
        channel: str = CHANNEL,
    ) -> None:
        self._connect = connect
        self._callback = callback
        self.channel = channel
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: notifications received (for tests and metrics)
        self.received = 0

    async def start(self) -> None:
        await self._open()
        self._task = asyncio.get_running_loop().create_task(
            self._watch(), name="quaero-pg-listener"
        )

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task, what="LISTEN watcher")
            self._task = None
        conn, self._conn = self._conn, None
        if (
            conn is not None
            and not conn.is_closed()
            and not await bounded(conn.close(), 2.0, "closing the LISTEN connection")
        ):
            conn.terminate()

    async def _open(self) -> None:
        conn: asyncpg.Connection = await self._connect()
        try:
            conn.add_termination_listener(self._on_terminated)
            await conn.add_listener(self.channel, self._on_notify)
        except BaseException:  # failed or cancelled half way: no connection left open
            conn.terminate()
            raise
        self._conn = conn
        self._lost.clear()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.received += 1
        try:
            seq = int(payload)
        except ValueError:
            seq = -1
        self._callback(seq)

    def _on_terminated(self, _conn: Any) -> None:
        self._lost.set()

    async def _watch(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("LISTEN connection lost; reconnecting")
            delay = 0.1
            while True:
                try:
                    await self._open()
                    break
                except Exception as exc:
                    # any failure, not only the usual kinds: a connection dropped during
                    # its set-up is an InterfaceError, and a watcher that died on it
                    # would leave this process without notifications for good
                    log.warning("LISTEN reconnect failed (%s); retry in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(5.0, delay * 2)
            self._callback(-1)
