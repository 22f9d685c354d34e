"""``quaero serve`` as a real subprocess: dashboard, API, workers, token, graceful stop."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect as ws_connect

from ..conftest import QUAERO, ServerProcess, wait_until


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def job(server: ServerProcess, job_id: int) -> dict[str, Any]:
    return http("GET", f"{server.url}/api/jobs/{job_id}")[1]  # type: ignore[no-any-return]


def test_serve_runs_dashboard_api_and_workers(
    quaero_server: Callable[..., ServerProcess],
) -> None:
    server = quaero_server()
    with urllib.request.urlopen(f"{server.url}/", timeout=10) as r:
        html = r.read().decode()
    assert "/static/js/app.js" in html
    status, created = http(
        "POST",
        f"{server.url}/api/jobs",
        {"job_type": "fanout", "name": "acc", "config": {"children": 50}},
    )
    assert status == 201
    wait_until(
        lambda: job(server, created["id"])["overall_status"] == "completed", 30, "the fanout"
    )
    final = job(server, created["id"])
    assert final["progress_text"] == "0 pending, 0 running, 50 completed, 0 failed"
    assert server.stop(signal.SIGTERM) == 0
    assert "Application shutdown complete" in server.log()


def test_no_workers_only_serves(quaero_server: Callable[..., ServerProcess]) -> None:
    server = quaero_server("--no-workers")
    status, created = http("POST", f"{server.url}/api/jobs", {"job_type": "noop"})
    assert status == 201
    status, health = http("GET", f"{server.url}/healthz")
    assert status == 200 and health["status"] == "ok"
    assert job(server, created["id"])["status"] == "pending"
    # a separate worker process picks it up, and the server sees it through the store
    worker = subprocess.Popen([QUAERO, "--db", server.db, "worker"], env=server.env)
    try:
        wait_until(lambda: job(server, created["id"])["status"] == "completed", 30, "the worker")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    assert server.stop(signal.SIGINT) == 0


def test_api_token_from_environment(quaero_server: Callable[..., ServerProcess]) -> None:
    server = quaero_server(env={"QUAERO_API_TOKEN": "letmein"})
    assert http("GET", f"{server.url}/api/jobs")[0] == 401
    assert http("GET", f"{server.url}/api/jobs", token="nope")[0] == 401
    status, page = http("GET", f"{server.url}/api/jobs", token="letmein")
    assert status == 200 and page["total"] == 0
    assert http("GET", f"{server.url}/healthz")[0] == 200
    # the browser passes the token in the WebSocket URL: it must not reach the log
    url = f"ws://127.0.0.1:{server.port}/ws?token=letmein"
    with ws_connect(url, proxy=None, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
    assert server.stop() == 0
    assert "/ws?token=<redacted>" in server.log()
    assert "letmein" not in server.log()


def test_config_file_and_flags(tmp_path: Path, quaero_server: Callable[..., ServerProcess]) -> None:
    cfg = tmp_path / "quaero.toml"
    cfg.write_text('[server]\napi_token = "from-file"\n\n[worker]\nconcurrency = 2\n')
    server = quaero_server("--config", str(cfg))
    assert http("GET", f"{server.url}/api/jobs")[0] == 401
    assert http("GET", f"{server.url}/api/jobs", token="from-file")[0] == 200


def test_bad_store_url_is_a_clear_error(tmp_path: Path) -> None:
    p = subprocess.run(
        [QUAERO, "serve", "--db", "mysql://nope", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode != 0
    assert "error:" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_releases_running_jobs(
    quaero_server: Callable[..., ServerProcess], sig: int
) -> None:
    server = quaero_server()
    _, created = http(
        "POST",
        f"{server.url}/api/jobs",
        {"job_type": "fanout", "config": {"children": 40, "child_config": {"sleep_ms": 20_000}}},
    )
    wait_until(lambda: job(server, created["id"])["children"]["running"] > 0, 30, "children to run")
    assert server.stop(sig, timeout=30) == 0
    # restart: nothing is lost; the released children are pending again
    server.start()
    counts = job(server, created["id"])["children"]
    assert counts["total"] == 40 and counts["failed"] == 0
    assert counts["pending"] + counts["running"] == 40


def test_busy_port_is_one_line_before_any_banner(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = subprocess.run(
            [QUAERO, "--db", f"sqlite:///{tmp_path}/q.db", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert p.stdout == ""


def test_access_log_redacts_every_token_spelling(
    quaero_server: Callable[..., ServerProcess],
) -> None:
    server = quaero_server("--access-log", env={"QUAERO_API_TOKEN": "letmein"})
    for query in ("token=letmein", "%74oken=letmein", "x=1&token=letmein"):
        with urllib.request.urlopen(f"{server.url}/api/jobs?{query}", timeout=10) as r:
            assert r.status == 200  # the token is accepted from the decoded name
    assert http("GET", f"{server.url}/api/jobs?TOKEN=letmein")[0] == 401  # one name only
    assert server.stop() == 0
    log = server.log()
    assert "letmein" not in log and "Traceback" not in log, log
    assert "/api/jobs?token=<redacted>" in log
    assert "/api/jobs?%74oken=<redacted>" in log
    assert "/api/jobs?x=1&token=<redacted>" in log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_releases_running_jobs_at_once(
    quaero_server: Callable[..., ServerProcess], sig: int
) -> None:
    """With a shutdown timeout of 600 s, the first signal waits for the running job; the
    second releases it at once: the server exits 0 and the job is pending again."""
    server = quaero_server(env={"QUAERO_WORKER_SHUTDOWN_TIMEOUT": "600"})
    _, created = http(
        "POST", f"{server.url}/api/jobs", {"job_type": "noop", "config": {"sleep_ms": 3_600_000}}
    )
    wait_until(lambda: job(server, created["id"])["status"] == "running", 30, "the job to run")
    assert server.proc is not None
    server.proc.send_signal(sig)
    wait_until(lambda: "Waiting for application shutdown" in server.log(), 30, "the stop")
    assert server.proc.poll() is None  # waiting for the running job (up to 600 s)
    server.proc.send_signal(sig)
    assert server.proc.wait(60) == 0
    assert "releasing running jobs now" in server.log()
    shown = subprocess.run(
        [QUAERO, "--db", server.db, "jobs", "show", str(created["id"]), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=server.env,
    )
    got = json.loads(shown.stdout)
    assert got["status"] == "pending" and got["attempts"] == 0, got
