"""The real CLI: ``jobs errors``, ``jobs retry`` in place, ``jobs bulk``, ``db check``."""

from __future__ import annotations

import json

from .test_cli_engine import db, quaero  # noqa: F401  (fixture)


def test_errors_retry_in_place_and_bulk(db: str) -> None:  # noqa: F811
    p = quaero(
        db,
        "run",
        "fanout",
        "--wait",
        "--json",
        "--config",
        '{"children": 4, "child_max_attempts": 1, "child_config": {"fail_rate": 1}}',
    )
    assert p.returncode == 1, p.stderr
    parent = json.loads(p.stdout)
    assert parent["status"] == "failed" and parent["descendants"]["failed"] == 4
    pid = str(parent["id"])

    p = quaero(db, "jobs", "errors", pid, "--json")
    assert p.returncode == 0, p.stderr
    [group] = json.loads(p.stdout)["items"]
    assert group["key"] == "RuntimeError: noop failed on purpose (fail_rate=<n>)"
    assert group["count"] == 4
    p = quaero(db, "jobs", "errors", pid)
    assert "RuntimeError: noop failed on purpose" in p.stdout

    # the parent is not failed itself by its own error: retrying it alone reruns it;
    # here we retry its failed children in place instead
    p = quaero(db, "jobs", "retry", pid, "--failed-children")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "retried 4 job(s)"
    show = json.loads(quaero(db, "jobs", "show", pid, "--json").stdout)
    assert show["status"] == "running" and show["waiting_for_children"]
    assert show["children"]["pending"] == 4

    p = quaero(db, "jobs", "retry", pid)  # running: refused, one line, exit 2
    assert p.returncode == 2
    assert p.stderr.strip().endswith("only failed or cancelled jobs can be retried")
    assert "Traceback" not in p.stderr

    p = quaero(db, "jobs", "bulk", pid, "delete")
    assert p.returncode == 2 and "pending or running" in p.stderr
    p = quaero(db, "jobs", "bulk", pid, "cancel", "--status", "pending", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"changed": 4, "refused": 0, "matched": 4}
    show = json.loads(quaero(db, "jobs", "show", pid, "--json").stdout)
    assert show["status"] == "cancelled" and show["descendants"]["cancelled"] == 4
    p = quaero(db, "jobs", "retry", "--failed-children", "--failed-and-cancelled-children", pid)
    assert p.returncode == 2
    assert quaero(db, "db", "check").returncode == 0
