"""``quaero workers ls``, ``quaero jobs why`` and refused submits, with real worker
processes (one SIGKILLed) on a temporary SQLite store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .test_cli_engine import QUAERO, quaero


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/q.db"


def _wait(pred: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def _why(db: str, job_id: int = 1) -> dict[str, Any]:
    p = quaero(db, "jobs", "why", str(job_id), "--json")
    assert p.returncode == 0, p.stderr
    result: dict[str, Any] = json.loads(p.stdout)
    return result


def _settled(answer: dict[str, Any]) -> bool:
    """Job 1's handler has returned and two of its children run."""
    running = answer["children"]["running"]
    return answer["handler"] is None and running is not None and running["count"] == 2


def _workers(db: str, *extra: str) -> dict[str, Any]:
    p = quaero(db, "workers", "ls", "--json", *extra)
    assert p.returncode == 0, p.stderr
    result: dict[str, Any] = json.loads(p.stdout)
    return result


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"children": 2, "child_type": "doesnotexist"}', "child_type: unknown job type"),
        ('{"children": 2, "child_config": {"fail_rate": 2}}', "child_config: fail_rate must be"),
        ('{"children": 2, "child_max_attempts": 1.5}', "child_max_attempts must be an integer"),
    ],
)
def test_bad_fanout_children_exit_2_with_one_line(db: str, config: str, message: str) -> None:
    p = quaero(db, "run", "fanout", "--config", config)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and message in p.stderr and "Traceback" not in p.stderr
    assert json.loads(quaero(db, "jobs", "ls", "--parent", "all", "--json").stdout)["total"] == 0


def test_workers_ls_and_why_with_a_killed_worker(db: str) -> None:
    started = quaero(
        db, "run", "fanout", "--config", '{"children": 3, "child_config": {"sleep_ms": 60000}}'
    )
    assert started.returncode == 0
    why = quaero(db, "jobs", "why", "1")
    assert why.returncode == 0
    assert why.stdout.splitlines()[:2] == [
        "job 1 (fanout 'fanout'): pending",
        "- No live worker at all: start one (quaero worker, or quaero serve)",
    ]
    env = {**os.environ, "QUAERO_WORKER_POLL_INTERVAL": "0.1"}
    w = subprocess.Popen(
        [QUAERO, "--db", db, "worker", "--concurrency", "2", "--lease-seconds", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # the fanout ran and its 3 children wait; 2 run (2 slots), 1 is pending. (The
        # registry can count 2 running while the fanout's handler still holds a slot
        # after its spawn committed: wait for the handler to have returned too.)
        _wait(lambda: _workers(db)["items"] and _workers(db)["items"][0]["running"] == 2)
        _wait(lambda: _settled(_why(db)))
        listing = _workers(db)
        [row] = listing["items"]
        assert row["pid"] == w.pid and row["concurrency"] == 2 and row["live"] is True
        assert "noop" in row["job_types"] and listing["live"] == 1
        table = quaero(db, "workers", "ls")
        # piped: a header and whole tab-separated rows, the worker id not cut
        assert table.returncode == 0
        header, *lines = table.stdout.splitlines()
        assert header.split("\t")[0] == "id" and lines[0].split("\t")[0] == row["id"]
        answer = _why(db)
        kinds = [r["kind"] for r in answer["reasons"]]
        assert kinds == ["children_pending", "children_running"]
        assert answer["children"]["running"]["workers"] == [row["id"]]
        w.send_signal(signal.SIGKILL)
        w.wait(10)
        # its row expires with its leases (2 s): not live, still listed with --include-expired
        _wait(lambda: _workers(db)["live"] == 0)
        assert _workers(db)["items"] == []
        [dead] = _workers(db, "--include-expired")["items"]
        assert dead["id"] == row["id"] and dead["live"] is False
        # the registry row expires a moment before the leases its last heartbeat renewed
        _wait(lambda: (_why(db)["children"]["running"] or {}).get("expired_leases") == 2)
        answer = _why(db)
        kinds = [r["kind"] for r in answer["reasons"]]
        assert kinds == [
            "no_live_worker",
            "children_pending",
            "children_running",
            "children_leases_expired",
        ]
        assert answer["children"]["running"]["expired_leases"] == 2
    finally:
        if w.poll() is None:
            w.kill()
            w.wait(10)


def test_why_unknown_job(db: str) -> None:
    p = quaero(db, "jobs", "why", "77")
    assert p.returncode == 1 and p.stderr.strip() == "error: job 77 not found"


def test_why_header_uses_the_sentences_number_format(db: str) -> None:
    """The header's counts read as the README's example and the sentences below it
    (`1,200 completed`), not the seed's progress text (`1200 completed`)."""
    config = '{"children": 1200, "child_config": {"sleep_ms": 0}}'
    assert quaero(db, "run", "fanout", "--config", config, "--wait").returncode == 0
    why = quaero(db, "jobs", "why", "1")
    assert why.returncode == 0, why.stderr
    assert why.stdout.splitlines()[0] == (
        "job 1 (fanout 'fanout'): completed, children: 0 pending, 0 running, 1,200 completed,"
        " 0 failed"
    )
