"""``quaero worker --processes N``: N worker processes kept running by a supervisor, on
both backends: they share the work, one SIGKILLed is restarted, SIGTERM stops them all
(exit 0); bad values and a store that cannot open fail before any process starts."""

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


def _wait(pred: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def start_supervisor(
    url: str, log: Path, env: dict[str, str], *args: str
) -> subprocess.Popen[bytes]:
    """``quaero worker ARGS`` on ``url``, its stderr (the supervisor's and its processes'
    lines) written to ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            [QUAERO, "--db", url, "worker", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def _live_pids(url: str) -> set[int]:
    p = quaero(url, "workers", "ls", "--json")
    assert p.returncode == 0, p.stderr
    return {int(w["pid"]) for w in json.loads(p.stdout)["items"]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _kill_all(sup: subprocess.Popen[bytes], children: set[int]) -> None:
    """A test's clean-up: SIGKILL the supervisor and any worker process left."""
    if sup.poll() is None:
        sup.kill()
        sup.wait(10)
    for pid in children:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_processes_share_the_work_restart_and_stop(url: str, tmp_path: Path) -> None:
    env = {**os.environ, "QUAERO_WORKER_POLL_INTERVAL": "0.1", "QUAERO_WORKER_LEASE_SECONDS": "2"}
    log = tmp_path / "supervisor.log"
    sup = start_supervisor(url, log, env, "--processes", "3", "--concurrency", "2")
    children: set[int] = set()
    try:
        _wait(lambda: len(_live_pids(url)) == 3)
        children = _live_pids(url)
        assert sup.pid not in children
        done = quaero(url, "run", "fanout", "--config", '{"children": 400}', "--wait", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["children"]["completed"] == 400

        def processed() -> list[int]:
            p = quaero(url, "workers", "ls", "--json")
            return [int(w["processed"]) for w in json.loads(p.stdout)["items"]]

        # each process's count reaches the registry with its next heartbeat (lease / 3)
        _wait(lambda: sum(processed()) >= 400, timeout=30)
        assert sum(1 for n in processed() if n) >= 2  # shared
        victim = min(children)
        os.kill(victim, signal.SIGKILL)
        # restarted: a fourth pid registers, and three processes are live again
        _wait(lambda: len(_live_pids(url) - children) == 1 and not _alive(victim))
        children |= _live_pids(url)
        again = quaero(url, "run", "fanout", "--config", '{"children": 50}', "--wait")
        assert again.returncode == 0, again.stderr
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(60) == 0
        err = log.read_text()
        assert "supervisor: 3 worker processes" in err
        assert f"(pid {victim}) was killed by SIGKILL; restarting in 1 s" in err
        assert "Traceback" not in err
        assert not any(_alive(pid) for pid in children)
    finally:
        _kill_all(sup, children)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--processes", "-1"], {}, "'--processes': -1 is not in the range 0<=x<=256"),
        (["--processes", "1000"], {}, "1000 is not in the range"),
        (["--processes", "two"], {}, "'two' is not a valid integer"),
        ([], {"QUAERO_WORKER_PROCESSES": "two"}, "QUAERO_WORKER_PROCESSES"),
        ([], {"QUAERO_WORKER_PROCESSES": "-3"}, "worker.processes must be between 0"),
    ],
)
def test_bad_processes_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    p = subprocess.run(
        [QUAERO, "--db", f"sqlite:///{tmp_path}/q.db", "worker", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr


def test_a_store_that_cannot_open_fails_before_any_process(tmp_path: Path) -> None:
    p = subprocess.run(
        [QUAERO, "--db", f"sqlite:///{tmp_path}/missing/dir/q.db", "worker", "--processes", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert p.stderr.startswith("error: ") and "supervisor" not in p.stderr


def test_processes_stop_when_the_supervisor_is_killed(url: str, tmp_path: Path) -> None:
    """A SIGKILLed supervisor cannot stop its processes: each notices its parent is gone
    and stops gracefully (deregisters), instead of running on orphaned forever."""
    env = {**os.environ, "QUAERO_WORKER_POLL_INTERVAL": "0.1"}
    log = tmp_path / "supervisor.log"
    sup = start_supervisor(url, log, env, "--processes", "2")
    children: set[int] = set()
    try:
        _wait(lambda: len(_live_pids(url)) == 2)
        children = _live_pids(url)
        sup.kill()
        sup.wait(10)
        _wait(lambda: not any(_alive(pid) for pid in children), timeout=30)
        assert _live_pids(url) == set()  # stopped, not killed: deregistered
        err = log.read_text()
        assert err.count("its supervisor (pid") == 2 and "Traceback" not in err
    finally:
        _kill_all(sup, children)


def _job(url: str, job_id: int) -> dict[str, Any]:
    p = quaero(url, "jobs", "show", str(job_id), "--json")
    assert p.returncode == 0, p.stderr
    job: dict[str, Any] = json.loads(p.stdout)
    return job


def _held_job(url: str) -> int:
    """A job that runs for an hour unless released."""
    p = quaero(url, "run", "noop", "--config", '{"sleep_ms": 3600000}', "--json")
    assert p.returncode == 0, p.stderr
    job_id = int(json.loads(p.stdout)["id"])
    _wait(lambda: _job(url, job_id)["status"] == "running")
    return job_id


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_second_interrupt_releases_running_jobs_now(
    url: str, tmp_path: Path, processes: str
) -> None:
    """The first Ctrl-C lets running jobs finish (up to the shutdown timeout, 600 s here);
    the second releases them at once: the job is pending again, no attempt used, and the
    command exits 0 long before the timeout. With ``--processes``, a Ctrl-C of the whole
    terminal (the process group) reaches the processes once, through the supervisor: the
    first stays graceful."""
    env = {
        **os.environ,
        "QUAERO_WORKER_POLL_INTERVAL": "0.1",
        "QUAERO_WORKER_SHUTDOWN_TIMEOUT": "600",
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        sup = subprocess.Popen(
            [QUAERO, "--db", url, "worker", "--processes", processes],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
    children: set[int] = set()
    try:
        _wait(lambda: len(_live_pids(url)) == int(processes))
        children = _live_pids(url)
        job_id = _held_job(url)
        os.killpg(sup.pid, signal.SIGINT)  # Ctrl-C
        # each process once (twice would be a hurry: see below)
        stopping = "stopping; running jobs have 600 s"
        _wait(lambda: log.read_text().count(stopping) == int(processes))
        # every process stops claiming; the held job's process waits for it
        _wait(lambda: len(_live_pids(url)) <= 1)
        assert sup.poll() is None and _job(url, job_id)["status"] == "running"
        assert "releasing running jobs now" not in log.read_text()
        os.killpg(sup.pid, signal.SIGINT)  # Ctrl-C again
        assert sup.wait(60) == 0  # not the 600 s
        job = _job(url, job_id)
        assert job["status"] == "pending" and job["attempts"] == 0, job
        err = log.read_text()
        assert "releasing running jobs now" in err and "Traceback" not in err
        assert not any(_alive(pid) for pid in children)
    finally:
        _kill_all(sup, children)


def test_a_process_stopped_on_its_own_is_restarted(url: str, tmp_path: Path) -> None:
    """A SIGTERM sent to one worker process (not to the supervisor) stops it gracefully
    with status 0: the supervisor starts another, as for a process that died."""
    env = {**os.environ, "QUAERO_WORKER_POLL_INTERVAL": "0.1"}
    log = tmp_path / "supervisor.log"
    sup = start_supervisor(url, log, env, "--processes", "2")
    children: set[int] = set()
    try:
        _wait(lambda: len(_live_pids(url)) == 2)
        children = _live_pids(url)
        victim = min(children)
        os.kill(victim, signal.SIGTERM)
        _wait(lambda: len(_live_pids(url) - children) == 1 and not _alive(victim))
        children |= _live_pids(url)
        assert len(_live_pids(url)) == 2
        assert f"(pid {victim}) exited with status 0; restarting in 1 s" in log.read_text()
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(60) == 0
        assert not any(_alive(pid) for pid in children)
    finally:
        _kill_all(sup, children)
