"""Close paths are bounded: a task that ignores cancellation cannot hang them."""

from __future__ import annotations

import asyncio
import time

from quaero.shutdown import bounded, cancel_and_wait


async def _stubborn(release: asyncio.Event) -> None:
    while not release.is_set():  # swallows every cancellation until released
        try:
            await release.wait()
        except asyncio.CancelledError:
            continue


async def test_cancel_and_wait_gives_up_after_its_bound() -> None:
    release = asyncio.Event()
    task = asyncio.create_task(_stubborn(release))
    await asyncio.sleep(0)
    started = time.monotonic()
    assert await cancel_and_wait(task, timeout=0.2) is False
    assert time.monotonic() - started < 2
    release.set()
    await asyncio.wait_for(task, 5)


async def test_cancel_and_wait_cancels_normal_tasks() -> None:
    tasks = [asyncio.create_task(asyncio.sleep(60)) for _ in range(3)]
    assert await cancel_and_wait(tasks, timeout=1) is True
    assert all(t.cancelled() for t in tasks)
    assert await cancel_and_wait(None) is True


async def test_bounded_returns_without_waiting_for_the_cancellation() -> None:
    release = asyncio.Event()
    started = time.monotonic()
    assert await bounded(_stubborn(release), 0.2, "stubborn close") is False
    assert time.monotonic() - started < 2
    release.set()
    assert await bounded(asyncio.sleep(0), 1) is True


async def test_bounded_logs_rather_than_raises(caplog) -> None:  # type: ignore[no-untyped-def]
    async def boom() -> None:
        raise RuntimeError("nope")

    assert await bounded(boom(), 1, "exploding close") is True
    assert "exploding close failed" in caplog.text
