"""The Host allow-list and the Origin rule (pure functions; the middleware is tested
through the app in tests/integration/web/test_security.py)."""

from __future__ import annotations

from quaero.config import ServerSettings
from quaero.web.security import allowed_hosts, host_allowed, origin_allowed


def test_origin_rule() -> None:
    assert origin_allowed([], None, "127.0.0.1:8080")
    assert origin_allowed([], "http://127.0.0.1:8080", "127.0.0.1:8080")
    assert not origin_allowed([], "http://127.0.0.1:9999", "127.0.0.1:8080")
    assert not origin_allowed([], "https://evil.example", "127.0.0.1:8080")
    assert not origin_allowed([], "null", "127.0.0.1:8080")
    assert not origin_allowed([], "file://", "127.0.0.1:8080")
    assert origin_allowed(["https://dash.example/"], "https://dash.example", "127.0.0.1:8080")
    assert origin_allowed(["https://DASH.example"], "https://dash.example", "127.0.0.1:8080")
    assert not origin_allowed(["https://dash.example"], "http://dash.example", "x")
    assert origin_allowed(["*"], "https://anything.example", "x")


def test_default_hosts_are_the_bound_host_and_loopback_names() -> None:
    hosts = allowed_hosts(ServerSettings(host="10.1.2.3"))
    for ok in ("127.0.0.1:8080", "localhost", "LOCALHOST:1", "[::1]:8080", "10.1.2.3:80", None):
        assert host_allowed(hosts, ok), ok
    for bad in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", "10.1.2.4"):
        assert not host_allowed(hosts, bad), bad


def test_configured_hosts_replace_the_default() -> None:
    hosts = allowed_hosts(ServerSettings(allowed_hosts=["jobs.internal"]))
    assert host_allowed(hosts, "jobs.internal:8080")
    assert not host_allowed(hosts, "localhost:8080")
    assert host_allowed(allowed_hosts(ServerSettings(allowed_hosts=["*"])), "any.example")


def test_wildcard_bind_allows_this_machines_names() -> None:
    import socket

    hosts = allowed_hosts(ServerSettings(host="0.0.0.0"))
    assert host_allowed(hosts, "localhost")
    assert host_allowed(hosts, socket.gethostname())
