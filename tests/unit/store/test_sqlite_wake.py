"""Wake-up sockets between processes on one SQLite file (one process, several sockets)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from quaero.store.sqlite_wake import WakeSockets, wake_dir


async def _until(pred: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():  # type: ignore[operator]
            await asyncio.sleep(0.005)


def test_wake_dir_is_next_to_the_database(tmp_path: Path) -> None:
    assert wake_dir(str(tmp_path / "q.db")) == tmp_path / "q.db-wake"


async def test_a_commit_elsewhere_wakes_a_receiver_not_the_sender(tmp_path: Path) -> None:
    woken: list[str] = []
    a = WakeSockets(wake_dir(str(tmp_path / "q.db")), lambda: woken.append("a"))
    b = WakeSockets(wake_dir(str(tmp_path / "q.db")), lambda: woken.append("b"))
    assert a.open() and b.open()
    try:
        a.notify()
        await _until(lambda: "b" in woken)
        b.notify()
        await _until(lambda: "a" in woken)
        assert woken.count("a") == 1 and woken.count("b") == 1
        assert a.sent == 1 and b.sent == 1
    finally:
        a.close()
        b.close()
    assert not list(wake_dir(str(tmp_path / "q.db")).iterdir())


async def test_a_burst_is_drained_in_one_wake_up(tmp_path: Path) -> None:
    woken: list[int] = []
    a = WakeSockets(tmp_path / "w", lambda: woken.append(1))
    sender = WakeSockets(tmp_path / "w", None)  # a process without a bus only sends
    assert a.open() and sender.open()
    try:
        for _ in range(50):
            sender.notify()
        await _until(lambda: woken)
        await asyncio.sleep(0.05)
        assert 1 <= len(woken) < 50
        assert len(list((tmp_path / "w").iterdir())) == 1  # the sender binds nothing
    finally:
        a.close()
        sender.close()


async def test_stale_socket_of_a_dead_process_is_removed(tmp_path: Path) -> None:
    d = tmp_path / "q.db-wake"
    d.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(d / "4242-deadbeef0000.sock"))
    dead.close()  # the file stays, as after SIGKILL
    (d / "notes.txt").write_text("not a socket of ours")
    woken: list[int] = []
    live = WakeSockets(d, lambda: woken.append(1))
    sender = WakeSockets(d, None)
    assert live.open() and sender.open()
    try:
        sender.notify()
        await _until(lambda: woken)
        assert not (d / "4242-deadbeef0000.sock").exists()
        assert (d / "notes.txt").exists()
        assert (d / live.name).exists()
    finally:
        live.close()
        sender.close()


async def test_a_path_too_long_for_sun_path_still_works(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    deep.mkdir(parents=True)
    woken: list[int] = []
    a = WakeSockets(wake_dir(str(deep / "q.db")), lambda: woken.append(1))
    b = WakeSockets(wake_dir(str(deep / "q.db")), None)
    assert a.open() and b.open()
    try:
        assert len(str(a.directory / a.name)) > 108
        b.notify()
        await _until(lambda: woken)
    finally:
        a.close()
        b.close()


async def test_an_unusable_directory_means_polling_only(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    w = WakeSockets(tmp_path / "file" / "sub", lambda: None)
    assert not w.open()
    w.notify()  # a no-op
    w.close()
