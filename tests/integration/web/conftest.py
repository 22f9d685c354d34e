"""Web fixtures: the ASGI app through httpx (lifespan included) and a real uvicorn server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI

from quaero.app import App
from quaero.config import Settings
from quaero.jobs.models import JobStatus, NewJob
from quaero.web import create_app

from ...conftest import find_free_port


def make_settings(tmp_path: Path) -> Settings:
    s = Settings()
    s.store.url = f"sqlite:///{tmp_path}/quaero.db"
    s.worker.lease_seconds = 2.0
    s.worker.poll_interval = 0.1
    s.worker.backoff_base = 0.01
    s.worker.backoff_max = 0.05
    s.worker.shutdown_timeout = 1.0
    s.events.poll_interval = 0.05
    s.websocket.ping_interval = 5.0
    return s


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@dataclass
class Web:
    app: App
    api: FastAPI
    client: httpx.AsyncClient


@contextlib.asynccontextmanager
async def open_web(settings: Settings, workers: bool = False) -> AsyncIterator[Web]:
    """The ASGI app with its lifespan running, and an httpx client on it."""
    app = App(settings)
    api = create_app(app, workers=workers)
    async with api.router.lifespan_context(api):
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            yield Web(app, api, c)


@pytest.fixture
async def web(web_settings: Settings) -> AsyncIterator[Web]:
    async with open_web(web_settings) as w:
        yield w


@dataclass
class LiveServer:
    app: App
    api: FastAPI
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def serve(settings: Settings, workers: bool = False) -> AsyncIterator[LiveServer]:
    """uvicorn on a free port in this event loop (the same protocol stack as quaero serve)."""
    app = App(settings)
    api = create_app(app, workers=workers)
    port = find_free_port()
    config = uvicorn.Config(
        api,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_ping_interval=settings.websocket.ping_interval,
        ws_ping_timeout=settings.websocket.ping_interval,
        lifespan="on",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started or task.done(), 15, "uvicorn to start")
    if task.done():
        task.result()
    try:
        yield LiveServer(app, api, port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def live(web_settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve(web_settings) as s:
        yield s


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    """Wait until ``predicate()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def make_tree(app: App, children: int, name: str = "parent") -> tuple[int, list[int]]:
    """A running top-level parent with ``children`` pending children (no workers needed)."""
    parent = await app.manager.create_job("noop", {}, name)
    await app.manager.update_job_status(parent.id, JobStatus.RUNNING)
    kids = await app.manager.create_jobs(
        [NewJob("noop", {}, name=f"child {i}", parent_id=parent.id) for i in range(children)]
    )
    return parent.id, [k.id for k in kids]


CONTROL_TYPES = frozenset({"ready", "pong", "subscribed", "error", "snapshot"})


class WS:
    """A real WebSocket client (the ``websockets`` package) with message helpers."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.received: list[dict[str, Any]] = []

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(self.conn.recv(), timeout))
        self.received.append(msg)
        return msg

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> list[dict[str, Any]]:
        """Messages up to and including the first one for which ``predicate`` holds."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no matching message within {timeout}s; got {out[-3:]}")
            msg = await self.recv(remaining)
            out.append(msg)
            if predicate(msg):
                return out

    async def ready(self) -> dict[str, Any]:
        msgs = await self.until(lambda m: m["type"] == "ready")
        return msgs[-1]

    async def send(self, data: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(data))

    @property
    def events(self) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] not in CONTROL_TYPES]


@contextlib.asynccontextmanager
async def ws_connect(url: str, **kwargs: Any) -> AsyncIterator[WS]:
    kwargs.setdefault("proxy", None)
    kwargs.setdefault("compression", None)
    async with websockets.connect(url, **kwargs) as conn:
        yield WS(conn)
