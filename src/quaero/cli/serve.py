"""``quaero serve``: the web dashboard, REST API and WebSocket, with workers in-process.

SIGINT/SIGTERM stop it gracefully: WebSocket clients are closed (1012, "service
restart": the dashboard reconnects and resumes), running jobs finish within the worker's
shutdown timeout or are released for another worker, then the store is closed. A second
SIGINT/SIGTERM releases the running jobs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

import click

from .main import Ctx, cli, fail, make_app, run_async

if TYPE_CHECKING:
    import uvicorn

    from ..app import App

__all__ = ["serve"]


def _server(config: uvicorn.Config, app: App) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        """Exits with status 0 after a graceful stop (uvicorn re-raises the signal); a
        second SIGINT/SIGTERM also has the in-process workers release their running jobs
        at once (:meth:`App.hurry`), as ``quaero worker`` does."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            again = self.should_exit
            super().handle_exit(sig, frame)
            if again:
                click.echo("quaero: releasing running jobs now", err=True)
                with contextlib.suppress(RuntimeError):  # no loop: nothing runs
                    asyncio.get_running_loop().call_soon_threadsafe(app.hurry)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            sigs = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server(config)


@cli.command()
@click.option("--host", help="Interface to bind (default [server] host: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default [server] port: 8080).")
@click.option("--db", help="Store URL: sqlite:///path or postgresql://...")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file."
)
@click.option(
    "--workers/--no-workers",
    default=None,
    help="Run the worker pool in this process (default [server] workers: yes).",
)
@click.option("--concurrency", type=click.IntRange(1, 10_000), help="In-process worker slots.")
@click.option("--access-log/--no-access-log", default=None, help="Log every HTTP request.")
@click.pass_obj
def serve(
    ctx: Ctx,
    host: str | None,
    port: int | None,
    db: str | None,
    config_file: str | None,
    workers: bool | None,
    concurrency: int | None,
    access_log: bool | None,
) -> None:
    """Serve the dashboard (http://127.0.0.1:8080), the API and /ws until interrupted."""
    import uvicorn

    from ..web import create_app
    from ..web.redact import RedactTokens

    if config_file:
        ctx.config_file = config_file
    if db:
        ctx.db = db
    app = make_app(
        ctx,
        **{
            "server.host": host,
            "server.port": port,
            "server.workers": workers,
            "worker.concurrency": concurrency,
        },
    )
    settings = app.settings

    async def check_store() -> None:  # a clear error now rather than a lifespan traceback
        async with make_app(ctx, **{"server.host": host}):
            pass

    run_async(check_store)
    api = create_app(app)
    s = settings.server
    ws = settings.websocket
    config = uvicorn.Config(
        api,
        host=s.host,
        port=s.port,
        ws="websockets-sansio",
        ws_ping_interval=ws.ping_interval,
        ws_ping_timeout=ws.ping_interval,
        ws_max_size=64 * 1024,
        lifespan="on",
        log_level=logging.DEBUG if ctx.verbose > 1 else logging.INFO,
        access_log=bool(access_log if access_log is not None else ctx.verbose > 0),
        timeout_graceful_shutdown=int(settings.worker.shutdown_timeout) + 5,
    )
    for name in ("uvicorn.error", "uvicorn.access"):  # configured by uvicorn.Config above
        logging.getLogger(name).addFilter(RedactTokens())
    # bind before announcing anything or starting workers: a busy port is one line
    sock = _bind(s.host, s.port)
    where = "127.0.0.1" if s.host in ("0.0.0.0", "::") else s.host
    if ":" in where:
        where = f"[{where}]"
    click.echo(
        f"quaero: dashboard at http://{where}:{s.port}/ "
        f"(store {settings.store.url}, workers {'on' if s.workers else 'off'}"
        f"{', API token required' if s.api_token else ''})",
        err=True,
    )
    server = _server(config, app)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise SystemExit(1)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a one-line error and exit 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        fail(f"cannot listen on {shown}:{port}: {exc.strerror or exc}", code=1)
    sock.set_inheritable(True)
    return sock
