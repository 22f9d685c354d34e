"""Wake-ups between processes on one SQLite file: a Unix datagram socket per process.

SQLite has no ``LISTEN/NOTIFY``. Without help, a process learns of another process's
commits only when it next polls the event log (``[events] poll_interval``). So every
process that opens the store binds a datagram socket in ``<db>-wake/`` (next to the
database file, so exactly the processes sharing that file find each other), and the
writer thread, right after each commit that wrote events, sends one byte to every other
socket there. A receiver drains its socket and calls the store's ``on_wake``: the event
bus reads the log now, which also wakes idle workers on new work.

A wake-up carries no data: the log stays the only source of truth, so a lost or
coalesced datagram (a full receive buffer) costs latency up to the next poll, never an
event. Sockets of processes that died (``ECONNREFUSED``) are removed by the first sender
that finds them. Sending never blocks the writer (non-blocking socket; a full receiver
already has a wake-up pending). Where the directory cannot be used (``:memory:``, a read
only directory, no ``AF_UNIX``) the store keeps polling only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["WakeSockets", "wake_dir"]

log = logging.getLogger(__name__)

#: sun_path holds 108 bytes on Linux (104 on BSDs); longer paths go through /proc/self/fd
_MAX_PATH = 100
_SUFFIX = ".sock"
#: the peer list is re-read at least this often (a directory's mtime may be coarse)
_RESCAN_S = 1.0


def wake_dir(db_path: str) -> Path:
    """The directory of wake-up sockets for the database file ``db_path`` (symbolic links
    resolved, so processes opening the file by different paths meet)."""
    return Path(os.path.realpath(db_path) + "-wake")


class WakeSockets:
    """This process's wake-up socket in ``directory`` and a sender to all the others.

    ``open()`` binds (call it on the event loop that should receive; without ``on_wake``
    the process only sends), ``notify()`` may be called from any one thread (the writer
    thread), ``close()`` unbinds and unlinks.
    """

    def __init__(self, directory: Path, on_wake: Callable[[], None] | None) -> None:
        self.directory = directory
        self.on_wake = on_wake
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}{_SUFFIX}"
        self._recv: socket.socket | None = None
        self._send: socket.socket | None = None
        self._dir_fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._peers: list[str] = []
        self._scanned_at = -1.0
        self._dir_mtime = -1
        #: wake-ups received and datagrams sent (for tests and metrics)
        self.received = 0
        self.sent = 0

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> bool:
        """Bind this process's socket; False (and polling only) if that is impossible."""
        try:
            self.directory.mkdir(exist_ok=True)
            self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            self._send = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._send.setblocking(False)
            if self.on_wake is not None:
                self._recv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._recv.setblocking(False)
                self._recv.bind(self._address(self.name))
        except (OSError, AttributeError) as exc:
            log.info(
                "no wake-up socket in %s (%s); other processes' events are polled",
                self.directory,
                exc,
            )
            self._close_fds()
            return False
        if self._recv is not None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._recv.fileno(), self._drain)
        return True

    def close(self) -> None:
        """Stop receiving and remove this process's socket file."""
        if self._recv is not None and self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._recv.fileno())
        if self._recv is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.directory / self.name)
        self._close_fds()

    def _close_fds(self) -> None:
        for s in (self._recv, self._send):
            if s is not None:
                s.close()
        self._recv = self._send = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    @property
    def receiving(self) -> bool:
        """True while this process's socket is bound (others can wake it)."""
        return self._recv is not None

    def _address(self, name: str) -> str:
        path = str(self.directory / name)
        if len(path.encode()) <= _MAX_PATH or self._dir_fd is None:
            return path
        # too long for sun_path: reach the directory through this process's open fd
        return f"/proc/self/fd/{self._dir_fd}/{name}"

    # ------------------------------------------------------------------ receiving
    def _drain(self) -> None:
        recv = self._recv
        if recv is None:
            return
        got = False
        while True:
            try:
                recv.recv(64)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            got = True
        if got and self.on_wake is not None:
            self.received += 1
            self.on_wake()

    # ------------------------------------------------------------------ sending
    def notify(self) -> None:
        """Wake every other process on this database (after a commit that wrote events)."""
        send = self._send
        if send is None:
            return
        self._refresh(time.monotonic())
        dead = []
        for name in self._peers:
            try:
                send.sendto(b"\x01", self._address(name))
                self.sent += 1
            except (BlockingIOError, InterruptedError):
                pass  # its buffer is full: it has wake-ups pending already
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                    dead.append(name)
                else:
                    log.debug("wake-up to %s failed: %s", name, exc)
        for name in dead:
            self._remove_stale(name)

    def _refresh(self, now: float) -> None:
        try:
            mtime = os.stat(self.directory).st_mtime_ns
        except OSError:
            self._peers = []
            return
        if mtime == self._dir_mtime and now - self._scanned_at < _RESCAN_S:
            return
        self._dir_mtime = mtime
        self._scanned_at = now
        try:
            with os.scandir(self.directory) as it:
                self._peers = [
                    e.name for e in it if e.name.endswith(_SUFFIX) and e.name != self.name
                ]
        except OSError:
            self._peers = []

    def _remove_stale(self, name: str) -> None:
        # nobody is bound to it: its process died without closing the store
        with contextlib.suppress(OSError):
            os.unlink(self.directory / name)
        with contextlib.suppress(ValueError):
            self._peers.remove(name)
        log.debug("removed stale wake-up socket %s", name)
