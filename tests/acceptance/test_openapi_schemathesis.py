"""The OpenAPI document tells the truth: schemathesis, every check, against a live
``quaero serve`` with its workers running (bounded number of examples per operation).

0 server errors, 0 undocumented status codes or content types, 0 response-schema
mismatches. Set ``QUAERO_SCHEMATHESIS_EXAMPLES`` / ``QUAERO_SCHEMATHESIS_SEED`` to fuzz
harder or differently (the default seed keeps CI reproducible).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..conftest import ServerProcess

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CONFIG = Path(__file__).parent / "data" / "schemathesis.toml"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_args(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """``quaero serve`` arguments choosing the backend (the default store is SQLite)."""
    if request.param == "sqlite":
        yield []
        return
    from ..integration.store.pgdb import PG_URL, PgDatabases

    if not PG_URL:
        pytest.skip("QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")
    dbs = PgDatabases()
    url = asyncio.run(dbs.create())
    try:
        yield ["--db", url]
    finally:
        asyncio.run(dbs.drop(url))
        dbs.drop_template()


@pytest.mark.timeout(600)
def test_schemathesis_finds_nothing(
    tmp_path: Path, quaero_server: Callable[..., ServerProcess], store_args: list[str]
) -> None:
    server = quaero_server(*store_args, env={"QUAERO_API_TOKEN": "fuzz-token"})
    examples = os.environ.get("QUAERO_SCHEMATHESIS_EXAMPLES", "25")
    seed = os.environ.get("QUAERO_SCHEMATHESIS_SEED", "20261130")
    artifacts = Path(os.environ.get("QUAERO_TEST_ARTIFACTS", tmp_path))
    cmd = [
        SCHEMATHESIS,
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        examples,
        "--seed",
        seed,
        "--workers",
        "1",
        "--header",
        "Authorization: Bearer fuzz-token",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-junit-path",
        str(artifacts / "schemathesis-junit.xml"),
    ]
    p = subprocess.run(
        cmd, capture_output=True, text=True, timeout=560, cwd=tmp_path, env=server.env
    )
    out = p.stdout + p.stderr
    summary = out[out.rfind("SUMMARY") :] if "SUMMARY" in out else out[-3000:]
    assert p.returncode == 0, f"schemathesis failed:\n{out[-12000:]}"
    selected = re.search(r"Selected: (\d+)/(\d+)", summary)
    assert selected and selected[1] == selected[2] and int(selected[1]) >= 20, summary
    assert re.search(r"Tested: " + selected[1] + r"\b", summary), summary
    assert server.stop() == 0
    assert "Traceback" not in server.log() and "unhandled error" not in server.log()
