"""The ``quaero worker --processes`` supervisor with real child processes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from quaero.cli import supervisor

pytestmark = pytest.mark.timeout(60)

#: exits 1 at once the first time (a marker file does not exist yet), then runs until
#: SIGTERM and exits 0 on it
CHILD = """
import os, signal, sys, time
mark = sys.argv[1]
if not os.path.exists(mark):
    open(mark, "w").close()
    sys.exit(1)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
time.sleep(60)
"""


async def test_a_stop_while_a_process_restarts_stops_it_gracefully(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """SIGINT/SIGTERM landing while a dead process is being started again: the new process
    gets SIGTERM too (before, the stop signalled only the processes running at that moment,
    so the new one ran on until the kill grace and was SIGKILLed)."""
    monkeypatch.setattr(supervisor, "START_GRACE", 0.0)  # the first exit is restarted
    monkeypatch.setattr(supervisor, "_BACKOFF_FIRST", 0.01)
    monkeypatch.setattr(supervisor, "KILL_GRACE", 5.0)
    stop = asyncio.Event()
    started: list[asyncio.subprocess.Process] = []
    real = asyncio.create_subprocess_exec

    async def exec_(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        if started:
            # the stop arrives while the restart is under way, and the supervisor acts on
            # it (a few turns of the loop) before the new process exists
            stop.set()
            for _ in range(20):
                await asyncio.sleep(0)
        proc = await real(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", exec_)
    command = [sys.executable, "-c", CHILD, str(tmp_path / "started-once")]
    began = time.monotonic()
    code = await asyncio.wait_for(supervisor.supervise(command, 1, 1.0, stop), 20)
    assert code == 0
    assert len(started) == 2
    # SIGTERM (handled or not yet), not SIGKILL once the shutdown timeout and grace ran out
    assert started[1].returncode in (0, -signal.SIGTERM)
    assert time.monotonic() - began < 1.0 + supervisor.KILL_GRACE


def test_processes_0_counts_the_cpus_this_process_may_use() -> None:
    # one CPU in the affinity mask (as in a container limited to one, or under taskset):
    # one process, whatever os.cpu_count() says
    code = (
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
        "from quaero.cli.worker import usable_cpus; print(usable_cpus(), os.cpu_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    usable, total = out.stdout.split()
    assert usable == "1" and int(total) >= 1
