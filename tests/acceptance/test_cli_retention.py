"""``quaero db prune|vacuum`` and ``quaero docs rm`` through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

QUAERO = str(Path(sys.executable).with_name("quaero"))


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/q.db"


def quaero(
    db: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QUAERO, "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_prune_children_then_trees(db: str) -> None:
    run = quaero(db, "run", "fanout", "--config", '{"children": 40}', "--wait", "--json")
    assert run.returncode == 0, run.stderr
    job_id = json.loads(run.stdout)["id"]
    # the default retention keeps a tree finished a moment ago
    p = quaero(db, "db", "prune", "--dry-run")
    assert p.returncode == 0 and "would remove 0 job(s) in 0 tree(s)" in p.stdout
    p = quaero(db, "db", "prune", "--older-than", "0", "--children-only", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert f"would remove children of job {job_id} (fanout" in p.stdout and "40 job(s)" in p.stdout
    p = quaero(db, "db", "prune", "--older-than", "0", "--children-only")
    assert p.returncode == 0, p.stderr
    assert f"removed children of job {job_id}" in p.stdout and "40 job(s)" in p.stdout
    show = quaero(db, "jobs", "show", str(job_id))
    assert "children: 40 (0 pending, 0 running, 40 completed, 0 failed)" in show.stdout
    assert "children pruned" in show.stdout and "duration" in show.stdout
    ls = quaero(db, "jobs", "ls", "--parent", str(job_id), "--json")
    assert json.loads(ls.stdout) == {"items": [], "total": 0, "children_pruned": True}
    check = quaero(db, "db", "check")
    assert check.returncode == 0, check.stdout
    assert "1 parent(s) whose children were pruned keep the summary" in check.stdout
    logs = quaero(db, "jobs", "logs", str(job_id))
    assert "Status changed: completed" in logs.stdout
    p = quaero(db, "db", "prune", "--older-than", "0", "--json")
    report = json.loads(p.stdout)
    assert report["jobs"] == 1 and [t["job_id"] for t in report["trees"]] == [job_id]
    assert quaero(db, "jobs", "show", str(job_id)).returncode == 1
    assert quaero(db, "db", "vacuum").returncode == 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["db", "prune", "--older-than", "7x"], "invalid duration"),
        (["db", "prune", "--older-than", "never"], "prunes nothing"),
    ],
)
def test_bad_input_is_one_line_exit_2(db: str, args: list[str], fragment: str) -> None:
    p = quaero(db, *args)
    assert p.returncode == 2 and fragment in p.stderr and "Traceback" not in p.stderr


def test_bad_retention_setting_names_its_source(db: str) -> None:
    p = quaero(db, "db", "prune", env={"QUAERO_RETENTION_FAILED": "soon"})
    assert p.returncode == 2
    assert "QUAERO_RETENTION_FAILED: retention.failed: invalid duration 'soon'" in p.stderr


def test_docs_rm_of_an_unknown_crawl_deletes_nothing(db: str) -> None:
    p = quaero(db, "docs", "rm", "--crawl", "12345", "--yes")
    assert p.returncode == 0 and "deleted 0 document(s) of crawl 12345" in p.stdout
