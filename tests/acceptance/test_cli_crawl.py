"""``quaero crawl`` through the real CLI: a real site (postgresql-doc-15 on nginx), kill and
resume, Ctrl-C."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.site import SiteThread, TestSite

QUAERO = str(Path(sys.executable).with_name("quaero"))
ROOT = Path(__file__).resolve().parents[2]
PG_DOCS = Path(os.environ.get("QUAERO_PG_DOCS", "/usr/share/doc/postgresql-doc-15/html"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quaero(
    db: str, *args: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QUAERO, "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def count(path: Path, sql: str, *params: Any) -> int:
    """A count from the store, 0 while the database or its tables do not exist yet."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


@pytest.fixture
def nginx_pg_docs() -> Iterator[str]:
    if not (PG_DOCS / "index.html").is_file():
        pytest.skip(f"postgresql-doc-15 is not installed at {PG_DOCS} (make test installs it)")
    port = free_port()
    pidfile = subprocess.run(
        [str(ROOT / "scripts" / "nginx-serve.sh"), str(PG_DOCS), str(port)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        pid = int(Path(pidfile).read_text().strip())
        os.kill(pid, signal.SIGTERM)


def test_postgresql_docs_crawl_and_search(tmp_path: Path, nginx_pg_docs: str) -> None:
    db = f"sqlite:///{tmp_path}/q.db"
    p = quaero(
        db,
        "crawl",
        f"{nginx_pg_docs}/index.html",
        "--depth",
        "50",
        "--max-pages",
        "5000",
        "--concurrency",
        "16",
        "--allow-private-networks",
        "--json",
    )
    assert p.returncode == 0, p.stderr[-2000:]
    summary = json.loads(p.stdout)
    assert summary["documents"] == 1169
    assert summary["failed"] == 0 and summary["status"] == "completed"
    hits = json.loads(quaero(db, "search", "VACUUM", "--limit", "3", "--json").stdout)["items"]
    assert f"{nginx_pg_docs}/sql-vacuum.html" in [h["url"] for h in hits]
    vacuum = next(h for h in hits if h["url"].endswith("/sql-vacuum.html"))
    assert vacuum["title"] == "VACUUM"
    shown = quaero(db, "docs", "show", f"{nginx_pg_docs}/sql-vacuum.html")
    assert shown.returncode == 0 and "garbage-collect" in shown.stdout


def test_killed_crawl_resumes_with_same_documents_and_no_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    db = f"sqlite:///{path}"
    with SiteThread() as site:
        expected = site.expected(max_depth=3)
        args = [
            site.url("/"),
            "--depth",
            "3",
            "--delay",
            "0.03",
            "--concurrency",
            "4",
            "--allow-private-networks",
            "--json",
        ]
        env = {**os.environ, "QUAERO_WORKER_LEASE_SECONDS": "1.5"}
        proc = subprocess.Popen(
            [QUAERO, "--db", db, "crawl", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while count(path, "SELECT COUNT(*) FROM documents") < 20:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        before = count(path, "SELECT COUNT(*) FROM documents")
        assert 0 < before < len(expected.saved)
        resumed = quaero(
            db,
            "crawl",
            "--resume",
            "1",
            "--json",
            "--allow-private-networks",
            QUAERO_WORKER_LEASE_SECONDS="1.5",
        )
        summary = json.loads(resumed.stdout)
        conn = sqlite3.connect(path)
        urls = conn.execute("SELECT url FROM documents").fetchall()
        missing = set(expected.saved) - {u for (u,) in urls}
        jobs = conn.execute(
            "SELECT id, status, attempts, config, error FROM jobs WHERE parent_id = 1"
        ).fetchall()
        conn.close()
        why = [j for j in jobs if any(m in str(j[3]) for m in missing)]
        assert summary["documents"] == len(expected.saved), (missing, why)
        assert {u for (u,) in urls} == set(expected.saved)  # the same documents, once each
        assert count(path, "SELECT COUNT(*) FROM jobs WHERE parent_id = 1") == summary["pages"]
        assert quaero(db, "db", "check").returncode == 0


def test_a_crawl_killed_mid_request_frees_its_host_within_a_turn_lease(tmp_path: Path) -> None:
    """With a delay, a request holds the host's shared turn; a process SIGKILLed then
    cannot give it back. The turn is leased for seconds and renewed while the request
    runs, so the resume fetches at once; before, the turn was held for the request
    timeout + 30 s and the resume sat for a minute."""
    from quaero.crawler.politeness import TURN_LEASE

    path = tmp_path / "q.db"
    db = f"sqlite:///{path}"
    # /slow.html answers after 3 s: its request holds the host's turn that long, so the
    # kill lands while it is held (a fast request could give it back between the look
    # and the kill)
    with SiteThread(TestSite(slow_delay=3.0)) as site:
        args = [site.url("/"), "--depth", "3", "--delay", "0.03", "--concurrency", "4"]
        proc = subprocess.Popen(
            [QUAERO, "--db", db, "crawl", *args, "--allow-private-networks", "--json"],
            env={**os.environ, "QUAERO_WORKER_LEASE_SECONDS": "1.5"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        held = "SELECT COUNT(*) FROM crawl_hosts WHERE holder IS NOT NULL"
        deadline = time.monotonic() + 60
        # killed within moments of the slow request's start: it holds the host for 3 s
        while site.hits["/slow.html"] == 0 or count(path, held) == 0:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        conn = sqlite3.connect(path)
        rows = conn.execute(
            "SELECT held_until - ? FROM crawl_hosts WHERE holder IS NOT NULL", (time.time(),)
        ).fetchall()
        conn.close()
        # the dead process's turn runs out within one lease (not request timeout + 30 s)
        assert rows and all(left <= TURN_LEASE for (left,) in rows), rows
        resumed = quaero(db, "crawl", "--resume", "1", "--json", QUAERO_WORKER_LEASE_SECONDS="1.5")
        assert json.loads(resumed.stdout)["documents"] == len(site.expected(max_depth=3).saved)


def test_ctrl_c_cancels_and_keeps_documents(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    db = f"sqlite:///{path}"
    with SiteThread() as site:
        proc = subprocess.Popen(
            [
                QUAERO,
                "--db",
                db,
                "crawl",
                site.url("/"),
                "--depth",
                "5",
                "--delay",
                "0.05",
                "--concurrency",
                "2",
                "--allow-private-networks",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while count(path, "SELECT COUNT(*) FROM documents") < 5:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    summary = json.loads(out)
    assert summary["status"] == "cancelled" and summary["documents"] >= 5
    assert "Traceback" not in err
    assert count(path, "SELECT COUNT(*) FROM jobs WHERE status IN ('pending', 'running')") == 0
    assert count(path, "SELECT COUNT(*) FROM documents") == summary["documents"]


def test_resume_finishes_a_crawl_cancelled_by_ctrl_c(tmp_path: Path) -> None:
    """A fresh user's first try after Ctrl-C: --resume printed the cancelled summary and
    exited 1. It retries the cancelled pages in place and the crawl finishes with every
    page, each once."""
    path = tmp_path / "q.db"
    db = f"sqlite:///{path}"
    with SiteThread() as site:
        expected = site.expected(max_depth=3)
        proc = subprocess.Popen(
            [
                QUAERO,
                "--db",
                db,
                "crawl",
                site.url("/"),
                "--depth",
                "3",
                "--delay",
                "0.05",
                "--concurrency",
                "2",
                "--allow-private-networks",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while count(path, "SELECT COUNT(*) FROM documents") < 5:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "crawl 1 cancelled: " in out
        assert "(to finish it: quaero crawl --resume 1)" in err
        assert count(path, "SELECT COUNT(*) FROM documents") < len(expected.saved)
        resumed = quaero(db, "crawl", "--resume", "1")
        assert "resuming crawl 1 (cancelled): retrying " in resumed.stderr
        # the site has pages that fail (a redirect loop): those end the crawl failed
        assert "crawl 1 failed: " in resumed.stdout and resumed.returncode == 1
        urls = [u for (u,) in sqlite3.connect(path).execute("SELECT url FROM documents")]
        # a crawl that ended (failed: pages failed) is only reported: nothing runs again
        attempts = "SELECT SUM(attempts) FROM jobs"
        before = count(path, attempts)
        again = quaero(db, "crawl", "--resume", "1", "--json")
        assert count(path, attempts) == before
    assert sorted(urls) == sorted(expected.saved)  # every page, each once
    assert again.returncode == 1 and again.stderr == ""
    summary = json.loads(again.stdout)
    assert summary["status"] == "failed" and summary["cancelled"] == 0
    assert summary["pages_per_second"] == 0.0  # this command finished none of them
    assert summary["documents"] == len(expected.saved)
    assert summary["failed_by_reason"] == {"redirect_loop": 1}
    assert quaero(db, "db", "check").returncode == 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/q.db"
        return
    from ..integration.store.pgdb import PG_URL, PgDatabases

    if not PG_URL:
        pytest.skip("QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")

    def run(coro: Any) -> Any:
        # in a thread of its own: another fixture (Playwright's sync API, when the e2e
        # tests run in the same session) may be running an event loop in this one
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    dbs = PgDatabases()
    url = run(dbs.create())
    try:
        yield url
    finally:
        run(dbs.drop(url))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(dbs.drop_template).result()


def test_resume_runs_a_crawl_cancelled_before_its_handler_finished(any_db: str) -> None:
    """Cancelled while nothing ran (no worker): no pages, no result. --resume runs the
    crawl's own handler again, which seeds it."""
    db = any_db
    with SiteThread() as site:
        expected = site.expected(max_depth=1)
        config = {"start_urls": [site.url("/")], "max_depth": 1, "allow_private_networks": True}
        assert quaero(db, "run", "crawl", "--config", json.dumps(config)).returncode == 0
        assert quaero(db, "jobs", "cancel", "1").returncode == 0
        resumed = quaero(db, "crawl", "--resume", "1")
        summary = json.loads(quaero(db, "crawl", "--resume", "1", "--json").stdout)
    assert "resuming crawl 1 (cancelled): retrying the crawl itself and 0 " in resumed.stderr
    assert summary["status"] in ("completed", "failed")
    assert summary["documents"] == len(expected.saved)
    assert summary["cancelled"] == 0


def test_broken_links_and_skips_do_not_fail_a_crawl_and_are_listed(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/q.db"
    with SiteThread() as site:
        p = quaero(
            db,
            "crawl",
            site.url("/"),
            site.url("/missing.html"),
            site.url("/huge.html"),
            site.url("/redirect/301"),
            "--depth",
            "0",
            "--allow-private-networks",
        )
        assert p.returncode == 0, p.stderr
        assert "2 documents" in p.stdout and "1 broken link" in p.stdout
        assert f"404 {site.url('/missing.html')}" in p.stdout
        job_id = p.stderr.split("crawl job ", 1)[1].split(":", 1)[0]
        p = quaero(db, "crawl", "broken-links", job_id, "--json")
        assert p.returncode == 0, p.stderr
        # "/" links to it (its links are not followed at depth 0, but they are known)
        assert json.loads(p.stdout)["items"] == [
            {"url": site.url("/missing.html"), "status": 404, "referrers": [site.url("/")]}
        ]
        p = quaero(db, "crawl", "skipped", job_id, "--reason", "too_large", "--json")
        assert json.loads(p.stdout) == {
            "items": [{"url": site.url("/huge.html"), "reason": "too_large"}],
            "total": 1,
        }
        p = quaero(db, "crawl", "aliases", job_id)
        assert p.returncode == 0
        assert f"redirect   {site.url('/redirect/301')} -> {site.url('/r/target-301.html')}" in (
            p.stdout
        )
        p = quaero(db, "crawl", "skipped", "999")
        assert p.returncode == 1 and "is not a crawl" in p.stderr


def test_private_target_refused_at_submit(tmp_path: Path) -> None:
    p = quaero(f"sqlite:///{tmp_path}/q.db", "crawl", "http://127.0.0.1:9/")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "--allow-private-networks" in lines[0]
