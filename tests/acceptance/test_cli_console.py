"""The CLI as an operator's console (issue 10), through the real ``quaero`` command:
``jobs ls`` (error column, whole values off a TTY), ``jobs show`` (JSON config, duration,
children), ``--json``, ``jobs logs --follow`` live from another process, the crawl bar
on a terminal with a robots.txt warning that must not land inside it, the bar's ETA,
failures by reason, and shell completion.
"""

from __future__ import annotations

import fcntl
import http.server
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

QUAERO = str(Path(sys.executable).with_name("quaero"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def quaero(db: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QUAERO, "--db", db, *args], capture_output=True, text=True, timeout=timeout
    )


def read_terminal(master: int) -> str:
    """Everything written to a pseudo-terminal until the child closes it; closes it."""
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/q.db"


def test_jobs_ls_show_and_json(db: str) -> None:
    long_name = "https://docs.example.com/" + "/".join(f"section-{i}" for i in range(25))
    failed = quaero(
        db, "run", "noop", "--name", long_name, "--config", '{"fail_rate": 1}', "--wait"
    )
    assert failed.returncode == 1
    done = quaero(
        db,
        "run",
        "fanout",
        "--config",
        '{"children": 3, "child_config": {"sleep_ms": 1}}',
        "--wait",
    )
    assert done.returncode == 0

    # piped: a header, then whole rows, tab-separated; the error column is there
    ls = quaero(db, "jobs", "ls")
    assert ls.returncode == 0
    lines = ls.stdout.splitlines()
    header = lines[0].split("\t")
    assert header == [
        "id",
        "name",
        "type",
        "status",
        "progress",
        "docs",
        "duration",
        "created",
        "error",
    ]
    rows = {r.split("\t")[0]: dict(zip(header, r.split("\t"), strict=True)) for r in lines[1:]}
    assert rows["1"]["name"] == long_name  # not cut at 80 columns
    assert rows["1"]["status"] == "failed"
    assert "noop failed on purpose" in rows["1"]["error"]
    assert rows["2"]["progress"] == "0 pending, 0 running, 3 completed, 0 failed"
    assert re.fullmatch(r"\d+\.\ds", rows["2"]["duration"])

    show = quaero(db, "jobs", "show", "2")
    assert show.returncode == 0
    out = show.stdout
    assert "stored" not in out.lower()
    assert re.search(r"^\s+duration: \d+\.\ds$", out, re.M), out
    assert re.search(r"^\s+children: 3 \(0 pending, 0 running, 3 completed, 0 failed\)$", out, re.M)
    config_text = out.split("config: ", 1)[1]
    assert json.loads(config_text) == {"children": 3, "child_config": {"sleep_ms": 1}}
    assert "'" not in config_text  # JSON, not a Python repr

    shown = json.loads(quaero(db, "jobs", "show", "2", "--json").stdout)
    assert shown["children"]["completed"] == 3 and shown["duration_seconds"] >= 0
    log_lines = quaero(db, "jobs", "logs", "2", "--json").stdout.splitlines()
    first = json.loads(log_lines[0])
    assert first["job_id"] == 2 and first["message"].startswith("Job created")
    rerun = json.loads(quaero(db, "jobs", "rerun", "2", "--json").stdout)
    assert rerun["job_type"] == "fanout" and rerun["id"] == 3 + 3  # after 3 children
    cancel = json.loads(quaero(db, "jobs", "cancel", str(rerun["id"]), "--json").stdout)
    assert cancel == {"job_id": rerun["id"], "cancelled": 1}
    deleted = json.loads(quaero(db, "jobs", "delete", str(rerun["id"]), "--json").stdout)
    assert deleted == {"job_id": rerun["id"], "deleted": 1}
    assert json.loads(quaero(db, "docs", "ls", "--json").stdout) == {"items": [], "total": 0}


def test_defs_validate_json(db: str, tmp_path: Path) -> None:
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "good.toml").write_text('job_type = "noop"\n')
    (defs / "bad.toml").write_text('job_type = "nope"\n')
    p = quaero(db, "defs", "validate", str(defs), "--json")
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["valid"] == ["good"]
    assert [e["file"] for e in out["errors"]] == ["bad.toml"]
    assert "unknown job type 'nope'" in out["errors"][0]["error"]


def test_logs_follow_tails_another_process_live(db: str) -> None:
    started = quaero(db, "run", "noop", "--config", '{"sleep_ms": 300}', "--name", "followed")
    assert started.returncode == 0
    follow = subprocess.Popen(
        [QUAERO, "--db", db, "jobs", "logs", "1", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = None
    try:
        assert follow.stdout is not None
        first = follow.stdout.readline()
        assert "Job created" in first  # the existing lines first
        assert follow.poll() is None  # still following: the job has not run yet
        worker = subprocess.Popen(
            [QUAERO, "--db", db, "worker", "--concurrency", "2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        out, err = follow.communicate(timeout=60)  # it ends by itself when the job ends
    finally:
        if follow.poll() is None:
            follow.kill()
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    assert follow.returncode == 0, err
    assert "Status changed: running" in out
    assert out.rstrip().endswith("Status changed: completed")


class _Site(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/robots.txt":
            time.sleep(1.5)  # answers while the bar is on screen
            self._send(503, "busy")
            return
        if self.path == "/":
            links = "".join(f'<a href="/p/{i}.html">page {i}</a> ' for i in range(30))
            self._send(200, f"<html><head><title>Home</title></head><body>{links}</body></html>")
            return
        m = re.fullmatch(r"/p/(\d+)\.html", self.path)
        if m and int(m.group(1)) in (5, 6):
            self._send(503, "overloaded")
            return
        if m:
            time.sleep(0.1)
            self._send(200, f"<html><head><title>P{m.group(1)}</title></head><body>x</body></html>")
            return
        self._send(404, "no")

    def _send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def site() -> Iterator[str]:
    server = _Site(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_crawl_bar_with_a_robots_warning_eta_and_failure_reasons(db: str, site: str) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [
            QUAERO,
            "--db",
            db,
            "crawl",
            site,
            "--depth",
            "1",
            "--concurrency",
            "2",
            "--max-retries",
            "0",
            "--allow-private-networks",
        ],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    raw = read_terminal(master)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    proc.stdout.close()
    proc.wait(60)
    text = ANSI.sub("", raw)
    segments = [s for s in re.split(r"[\r\n]", text) if s.strip()]

    warnings = [s for s in segments if "robots.txt" in s]
    assert warnings, f"no robots.txt warning in:\n{text}"
    bars = [s for s in segments if "━" in s]
    assert bars, f"no progress bar drawn:\n{text}"
    for line in warnings:
        # a whole log line of its own: starts with its timestamp, no bar glyph inside
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ WARNING ", line), line
        assert "━" not in line, line
    assert any("ETA " in s for s in bars), bars[-3:]

    assert proc.returncode == 1  # two pages failed
    assert "failed: http_503 \u00d72" in stdout, stdout


def test_shell_completion(db: str) -> None:
    script = quaero(db, "completion", "bash")
    assert script.returncode == 0 and "_QUAERO_COMPLETE=bash_complete" in script.stdout
    p = subprocess.run(
        [QUAERO],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            **os.environ,
            "_QUAERO_COMPLETE": "bash_complete",
            "COMP_WORDS": "quaero jobs l",
            "COMP_CWORD": "2",
        },
    )
    assert p.stdout.split() == ["plain,logs", "plain,ls"]


def test_launcher_runs_quaero_from_any_directory(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    venv = Path(os.environ.get("QUAERO_VENV") or root / ".venv")
    if not (venv / ".quaero-bootstrap").is_file():
        pytest.skip("no bootstrapped .venv (the launcher would install one)")
    p = subprocess.run(
        [str(root / "quaero"), "--db", f"sqlite:///{tmp_path}/l.db", "jobs", "ls", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["total"] == 0
    assert p.stderr == ""  # a current .venv: the bootstrap says nothing


def _on_a_16_colour_terminal(args: list[str]) -> tuple[int, str]:
    """Run ``quaero ARGS`` with stderr on a pseudo-terminal that says TERM=xterm (16
    colours); returns the exit code and everything written to the terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    for name in ("NO_COLOR", "COLORTERM", "FORCE_COLOR"):
        env.pop(name, None)
    proc = subprocess.Popen([QUAERO, *args], stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    raw = read_terminal(master)
    return proc.wait(60), raw


def test_the_bar_reads_right_in_16_colours(db: str) -> None:
    """The done part of `run --wait`'s bar is green while it runs and when it is full:
    rich's default RGB colours became bright red (read as failures) and grey (a full bar
    that looked empty) in a 16-colour terminal (found by a fresh user)."""
    config = '{"children": 200, "child_config": {"sleep_ms": 40}}'
    code, raw = _on_a_16_colour_terminal(
        ["--db", db, "run", "fanout", "--config", config, "--wait"]
    )
    assert code == 0, raw
    bar_colours = set(re.findall(r"\x1b\[([0-9;]*)m━", raw))
    assert bar_colours, raw[-2000:]
    assert not bar_colours & {"91", "31", "35", "95"}, bar_colours  # no red, no magenta
    assert "32" in bar_colours and "1;32" in bar_colours, bar_colours  # running, full


def test_not_found_is_exit_1_on_every_command(db: str) -> None:
    """A well-formed id that names no job is exit 1 with one line on every command
    (malformed input is 2): `show`/`logs`/`why` said 1 and `retry`/`cancel`/... 2."""
    assert quaero(db, "jobs", "ls").returncode == 0  # the store exists, empty
    for args in (
        ["jobs", "show", "4242"],
        ["jobs", "logs", "4242"],
        ["jobs", "logs", "4242", "--follow"],
        ["jobs", "why", "4242"],
        ["jobs", "retry", "4242"],
        ["jobs", "cancel", "4242"],
        ["jobs", "delete", "4242"],
        ["jobs", "errors", "4242"],
        ["jobs", "rerun", "4242"],
        ["jobs", "bulk", "4242", "retry", "--status", "failed"],
        ["crawl", "skipped", "4242"],
    ):
        p = quaero(db, *args)
        assert p.returncode == 1, (args, p.returncode, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, p.stderr)
        assert "4242" in lines[0], (args, p.stderr)


def test_logs_says_when_it_shows_part_of_the_log(db: str) -> None:
    """`jobs logs` shows 200 lines by default; it says so on stderr when the log has
    more (stdout stays the lines alone)."""
    started = json.loads(
        quaero(db, "run", "fanout", "--config", '{"children": 120}', "--wait", "--json").stdout
    )
    root = str(started["id"])
    full = quaero(db, "jobs", "logs", root, "-a", "--limit", "100000")
    assert full.returncode == 0 and full.stderr == ""
    total = len(full.stdout.splitlines())
    assert total > 200
    part = quaero(db, "jobs", "logs", root, "-a")
    assert len(part.stdout.splitlines()) == 200
    assert part.stdout.splitlines() == full.stdout.splitlines()[:200]
    assert part.stderr.strip() == "note: the oldest 200 lines; the log has more (--limit N, --tail)"
    tail = quaero(db, "jobs", "logs", root, "-a", "--tail", "--limit", "10")
    assert tail.stdout.splitlines() == full.stdout.splitlines()[-10:]
    assert "newest 10 lines" in tail.stderr
    exact = quaero(db, "jobs", "logs", root, "-a", "--limit", str(total))
    assert exact.stderr == "" and len(exact.stdout.splitlines()) == total


def _stdout_on_a_terminal(args: list[str], cols: int = 160) -> tuple[int, str]:
    """Run ``quaero ARGS`` with stdout and stderr on a pseudo-terminal ``cols`` wide;
    returns the exit code and what it wrote, ANSI codes removed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols)}
    proc = subprocess.Popen([QUAERO, *args], stdout=slave, stderr=slave, env=env)
    os.close(slave)
    raw = read_terminal(master)
    return proc.wait(60), ANSI.sub("", raw).replace("\r\n", "\n")


class _BracketsHandler(_Handler):
    def do_GET(self) -> None:
        if self.path == "/":
            self._send(
                200,
                "<html><head><title>[draft] Q3 [/] report</title></head>"
                "<body><p>Quokka numbers for [bold]Q3[/bold].</p></body></html>",
            )
        else:
            self._send(404, "no")


def test_names_titles_and_queries_with_brackets_print_as_written(db: str) -> None:
    """A job name, page title or search query with "[/]" or "[bold]" in it is text, not
    rich markup: `jobs ls` on a terminal and `search` failed with "unexpected MarkupError"
    or printed it mangled (found by a fresh user)."""
    server = _Site(("127.0.0.1", 0), _BracketsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        name = "report [/] for [bold]Q3[/bold]"
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        crawl = quaero(db, "crawl", url, "--name", name, "--allow-private-networks")
        assert crawl.returncode == 0, crawl.stderr
    finally:
        server.shutdown()
        server.server_close()
    code, out = _stdout_on_a_terminal(["--db", db, "jobs", "ls"])
    assert code == 0, out
    assert name in out, out
    code, out = _stdout_on_a_terminal(["--db", db, "search", "quokka"])
    assert code == 0, out
    assert "1 result(s) for quokka" in out, out
    assert f"1. [draft] Q3 [/] report  {url}" in out, out
    assert "Quokka numbers for [bold]Q3[/bold]." in out, out  # the page's text
    for query in ("quokka [/]", "[bold]quokka"):
        code, out = _stdout_on_a_terminal(["--db", db, "search", query])
        assert code == 0, out
        assert f"1 result(s) for {query}" in out, out
    # piped: one line per snippet, not wrapped at 80 columns
    piped = quaero(db, "search", "quokka numbers report")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines()[2].strip().startswith("Quokka numbers for [bold]Q3")


def test_search_says_when_it_shows_part_of_the_results(db: str, site: str) -> None:
    crawl = quaero(db, "crawl", site, "--depth", "1", "--allow-private-networks")
    assert crawl.returncode == 1  # pages 5 and 6 answer 503
    few = quaero(db, "search", "x", "--limit", "3")
    assert few.returncode == 0
    assert few.stdout.splitlines()[0] == "28 result(s) for x"
    assert len(few.stdout.splitlines()) == 1 + 3 * 2
    assert few.stderr.strip() == "note: results 1-3 of 28 (--offset 3 for the next, --limit N)"
    last = quaero(db, "search", "x", "--offset", "25")
    assert last.returncode == 0 and last.stderr == ""
    assert len(last.stdout.splitlines()) == 1 + 3 * 2


def test_jobs_ls_on_an_80_column_terminal_leaves_columns_out_not_squeezed(db: str) -> None:
    """On an 80-column terminal the table gave the name and progress 2 characters each
    ('na', 'me', 'p…'); now the least useful columns go (named in the caption)."""
    config = '{"children": 20, "child_config": {"sleep_ms": 0}}'
    for name in ("nightly docs", "weekly fan-out"):
        assert (
            quaero(db, "run", "fanout", "--name", name, "--config", config, "--wait").returncode
            == 0
        )
    code, out = _stdout_on_a_terminal(["--db", db, "jobs", "ls"], cols=80)
    assert code == 0, out
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    header = next(line for line in lines if "progress" in line)
    assert [w for w in re.split(r"[\s┃]+", header) if w] == [
        "id",
        "name",
        "type",
        "status",
        "progress",
        "duration",
        "error",
    ]
    assert "nightly docs" in out and "weekly fan-out" in out, out
    assert "…" not in out and "0 pending," in out, out  # nothing cut to an ellipsis
    assert "not shown at this width: created, docs (widen the terminal, or pipe it)" in out
    code, wide = _stdout_on_a_terminal(["--db", db, "jobs", "ls"], cols=200)
    assert code == 0 and "not shown" not in wide
    header = next(line for line in wide.splitlines() if "progress" in line)
    assert "created" in header and "docs" in header
