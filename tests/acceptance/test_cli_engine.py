"""The real ``quaero`` CLI in subprocesses, on a temporary SQLite store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

QUAERO = str(Path(sys.executable).with_name("quaero"))


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/q.db"


def quaero(db: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QUAERO_WORKER_LEASE_SECONDS": "2", "QUAERO_WORKER_BACKOFF_BASE": "0.01"}
    return subprocess.run(
        [QUAERO, "--db", db, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_run_fanout_wait_json(db: str) -> None:
    p = quaero(db, "run", "fanout", "--config", '{"children": 300}', "--wait", "--json")
    assert p.returncode == 0, p.stderr
    job = json.loads(p.stdout)
    assert job["status"] == "completed"
    assert job["children"] == {
        "total": 300,
        "pending": 0,
        "running": 0,
        "completed": 300,
        "failed": 0,
        "cancelled": 0,
    }
    assert job["progress_text"] == "0 pending, 0 running, 300 completed, 0 failed"
    p = quaero(db, "run", "fanout", "--config", '{"children": 5}', "--wait")
    assert p.returncode == 0
    assert p.stdout.strip().endswith("0 pending, 0 running, 5 completed, 0 failed")
    check = quaero(db, "db", "check")
    assert check.returncode == 0 and "ok" in check.stdout


def test_failed_job_exits_non_zero(db: str) -> None:
    p = quaero(
        db,
        "run",
        "fanout",
        "--wait",
        "--json",
        "--config",
        '{"children": 3, "child_config": {"fail_rate": 1}, "child_max_attempts": 1}',
    )
    assert p.returncode == 1
    assert json.loads(p.stdout)["overall_status"] == "failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "fanout", "--config", "{nope"], "--config is not valid JSON"),
        (["run", "fanout", "--config", "[1]"], "--config must be a JSON object"),
        (["run", "fanout", "--config", '{"children": -5}'], "children must be an integer"),
        (["run", "no_such_type"], "unknown job type 'no_such_type'"),
        (["jobs", "show", "999"], "job 999 not found"),
        (["jobs", "cancel", "999"], "job 999 not found"),
        (["jobs", "logs", "999"], "job 999 not found"),
    ],
)
def test_bad_input_is_a_clear_error(db: str, args: list[str], message: str) -> None:
    p = quaero(db, *args)
    assert p.returncode != 0
    assert message in p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    listing = quaero(db, "jobs", "ls", "--json")
    assert json.loads(listing.stdout)["total"] == 0  # nothing half-written


def test_bad_config_value_is_a_clear_error(db: str) -> None:
    env_db = db
    p = subprocess.run(
        [QUAERO, "--db", env_db, "jobs", "ls"],
        capture_output=True,
        text=True,
        env={**os.environ, "QUAERO_WORKER_CONCURRENCY": "lots"},
        timeout=30,
    )
    assert p.returncode == 2 and "QUAERO_WORKER_CONCURRENCY" in p.stderr
    assert "Traceback" not in p.stderr


def test_jobs_ls_show_logs_cancel(db: str) -> None:
    started = quaero(
        db, "run", "fanout", "--config", '{"children": 4, "child_config": {"sleep_ms": 1}}'
    )
    assert started.returncode == 0 and "started job 1" in started.stdout
    ls = json.loads(quaero(db, "jobs", "ls", "--json").stdout)
    assert ls["total"] == 1 and ls["items"][0]["status"] == "pending"
    shown = json.loads(quaero(db, "jobs", "show", "1", "--json").stdout)
    assert shown["job_type"] == "fanout" and shown["config"]["children"] == 4
    cancel = quaero(db, "jobs", "cancel", "1")
    assert cancel.returncode == 0 and "cancelled 1 job(s)" in cancel.stdout
    logs = quaero(db, "jobs", "logs", "1")
    assert "Status changed: cancelled" in logs.stdout
    assert json.loads(quaero(db, "jobs", "show", "1", "--json").stdout)["status"] == "cancelled"
    deleted = quaero(db, "jobs", "delete", "1")
    assert deleted.returncode == 0 and "deleted 1 job(s)" in deleted.stdout


def _rows(path: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _wait(pred: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_sigkilled_worker_job_runs_again_elsewhere(tmp_path: Path, db: str) -> None:
    path = str(tmp_path / "q.db")
    p = quaero(
        db, "run", "fanout", "--config", '{"children": 40, "child_config": {"sleep_ms": 300}}'
    )
    assert p.returncode == 0
    env = {**os.environ, "QUAERO_WORKER_POLL_INTERVAL": "0.1"}
    a = subprocess.Popen(
        [QUAERO, "--db", db, "worker", "--concurrency", "4", "--lease-seconds", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(
            lambda: (
                _rows(path, "SELECT COUNT(*) FROM jobs WHERE status='completed' AND parent_id=1")[
                    0
                ][0]
                >= 4
            )
        )
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        # the jobs it held when it died (read after the kill: one sampled before could
        # complete in between, and would rightly not run again)
        running = _rows(path, "SELECT id FROM jobs WHERE status='running' AND parent_id=1")
        assert running, "worker A should be in the middle of jobs"
        victims = [r[0] for r in running]
        b = subprocess.Popen(
            [QUAERO, "--db", db, "worker", "--concurrency", "4", "--lease-seconds", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(
                lambda: _rows(path, "SELECT status FROM jobs WHERE id=1")[0][0] == "completed", 60
            )
        finally:
            b.send_signal(signal.SIGTERM)
            assert b.wait(20) == 0
    finally:
        if a.poll() is None:
            a.kill()
    counts = dict(
        _rows(path, "SELECT status, COUNT(*) FROM jobs WHERE parent_id=1 GROUP BY status")
    )
    assert counts == {"completed": 40}
    marks = ",".join("?" * len(victims))
    rerun = _rows(path, f"SELECT attempts FROM jobs WHERE id IN ({marks})", *victims)
    assert all(r[0] == 2 for r in rerun)  # killed mid-run, then ran once more elsewhere
    assert quaero(db, "db", "check").returncode == 0
    parent = json.loads(quaero(db, "jobs", "show", "1", "--json").stdout)
    assert parent["children"]["completed"] == 40 and parent["status"] == "completed"
