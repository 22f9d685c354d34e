"""Fixtures shared by every tier. Keep them generic; tier-specific ones live next to tests.

- ``sqlite_url``: a fresh SQLite store URL in the test's tmp dir;
- ``free_port``: a TCP port free on 127.0.0.1;
- ``artifacts_dir``: where tests keep screenshots and logs (``$QUAERO_TEST_ARTIFACTS``,
  default ``test-artifacts/``; gitignored);
- ``quaero_server``: start ``quaero serve`` subprocesses (stopped at teardown).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUAERO = str(Path(sys.executable).with_name("quaero"))


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``predicate`` until it holds; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/quaero.db"


@pytest.fixture
def free_port() -> int:
    return find_free_port()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(os.environ.get("QUAERO_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class ServerProcess:
    """A running ``quaero serve`` (see the ``quaero_server`` fixture)."""

    db: str
    port: int
    log_path: Path
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    history: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ServerProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [QUAERO, "--db", self.db, "serve", "--port", str(self.port), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        log.close()
        self.history.append(self.proc.pid)
        wait_until(
            self._healthy, timeout, f"quaero serve on port {self.port} (see {self.log_path})"
        )
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(f"quaero serve exited with {self.proc.returncode}: {self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the server and wait for it to exit; returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"quaero serve did not stop within {timeout}s after signal {sig}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def quaero_server(tmp_path: Path, sqlite_url: str) -> Iterator[Callable[..., ServerProcess]]:
    """``quaero_server(*serve_args, env={...}, start=True)`` → a running ServerProcess."""
    servers: list[ServerProcess] = []

    def make(*args: str, env: dict[str, str] | None = None, start: bool = True) -> ServerProcess:
        full_env = {
            **os.environ,
            "QUAERO_WORKER_LEASE_SECONDS": "5",
            "QUAERO_WORKER_SHUTDOWN_TIMEOUT": "2",
            "QUAERO_EVENTS_POLL_INTERVAL": "0.1",
            **(env or {}),
        }
        full_env.pop("QUAERO_CONFIG", None)
        server = ServerProcess(
            sqlite_url,
            find_free_port(),
            tmp_path / f"serve-{len(servers)}.log",
            list(args),
            full_env,
        )
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop(signal.SIGTERM)


#: how long a fixture may take to close an App or a store before the test fails
CLOSE_BOUND = 60.0


async def close_or_fail(close: Callable[[], Awaitable[object]], what: str) -> None:
    """Await ``close()``; fail the test loudly if it takes longer than CLOSE_BOUND
    (every close path of the product is bounded: a hang here is a bug to report)."""
    import asyncio

    try:
        async with asyncio.timeout(CLOSE_BOUND):
            await close()
    except TimeoutError:
        pytest.fail(f"{what} did not close within {CLOSE_BOUND:g}s", pytrace=False)
