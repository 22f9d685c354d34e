"""Cross-site defences for the API, ``/ws`` and the dashboard (one ASGI middleware).

They matter most when no API token is set (the default), when any page the user's
browser opens could otherwise drive the local server:

- **Host** (DNS rebinding): a request whose ``Host`` is not in the allow-list gets 403
  before any route runs; a WebSocket handshake is refused the same way. The list is
  ``[server] allowed_hosts``, or by default the bound host plus ``localhost``,
  ``127.0.0.1`` and ``[::1]`` (and this machine's names when bound to all interfaces).
- **Origin** (cross-site request forgery): a state-changing request (POST, PUT, PATCH,
  DELETE) and every WebSocket handshake whose ``Origin`` (or, without one, ``Referer``)
  is neither the server's own origin nor listed in ``[server] allowed_origins`` gets 403.
  Requests with neither header are not from a web page (curl, the CLI) and pass; the
  token, when configured, still applies.
- **Headers** on every HTTP response: a Content-Security-Policy allowing only this
  origin's scripts, styles and connections (no inline script) and no framing, plus
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import ServerSettings

__all__ = [
    "SECURITY_HEADERS",
    "SecurityGuard",
    "allowed_hosts",
    "host_allowed",
    "origin_allowed",
]

log = logging.getLogger(__name__)

#: sent with every HTTP response (the dashboard has no inline script or style)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARDS = ("0.0.0.0", "::", "")


def _host_only(host: str) -> str:
    """``example.com:8080`` -> ``example.com``; ``[::1]:8080`` -> ``::1`` (lower case)."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def _machine_names() -> set[str]:
    names: set[str] = set()
    try:
        for name in (socket.gethostname(), socket.getfqdn()):
            names.add(name.lower())
            for info in socket.getaddrinfo(name, None):
                names.add(str(info[4][0]).lower())
    except OSError:  # no resolver: the configured names are enough
        pass
    return names


def allowed_hosts(server: ServerSettings) -> frozenset[str]:
    """The host names (no port) requests may address, ``*`` meaning any."""
    if server.allowed_hosts:
        return frozenset(_host_only(h) if h != "*" else "*" for h in server.allowed_hosts)
    names = {*_LOCAL_NAMES, _host_only(server.host)}
    if server.host in _WILDCARDS:
        names |= _machine_names()
    names.discard("")
    return frozenset(names)


def host_allowed(hosts: frozenset[str], host: str | None) -> bool:
    """True for a ``Host`` header naming an allowed host (a request without one is not
    from a browser, which always sends it)."""
    if not host:
        return True
    return "*" in hosts or _host_only(host) in hosts


def _origin_of(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(
    allowed: Iterable[str], origin: str | None, host: str | None, scheme: str = "http"
) -> bool:
    """``origin`` is this server's own (same host and port as ``Host``) or listed in
    ``allowed`` (``*`` = any). No ``origin`` (not a web page) is allowed; ``null`` (a
    sandboxed or file page) is not."""
    if origin is None or origin == "":
        return True
    allowed = [a.rstrip("/").lower() for a in allowed]
    if "*" in allowed:
        return True
    if origin.strip().lower() == "null":
        return False
    own = _origin_of(origin)
    if own in allowed:
        return True
    parts = urlsplit(origin.strip())
    if not host or parts.scheme not in ("http", "https", "ws", "wss"):
        return False
    return parts.netloc.lower() == host.strip().lower()


class SecurityGuard:
    """ASGI middleware: the Host and Origin checks, and the security headers."""

    def __init__(self, app: ASGIApp, server: ServerSettings) -> None:
        self.app = app
        self.hosts = allowed_hosts(server)
        self.origins = list(server.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        refusal = None
        if not host_allowed(self.hosts, host):
            refusal = (
                f"host {_host_only(host or '')!r} is not allowed (add it to [server] allowed_hosts)"
            )
        elif kind == "websocket" or scope["method"] in _UNSAFE_METHODS:
            origin = headers.get("origin")
            if origin is None and headers.get("referer"):
                origin = _origin_of(headers["referer"])
            if not origin_allowed(self.origins, origin, host):
                refusal = (
                    f"cross-origin request from {origin!r} refused "
                    "(add the origin to [server] allowed_origins)"
                )
        if refusal is not None:
            log.warning("%s %s: %s", kind, scope.get("path"), refusal)
            if kind == "websocket":
                # before accept: the handshake gets HTTP 403
                await send({"type": "websocket.close", "code": 1008, "reason": ""})
            else:
                await _forbidden(send, refusal)
            return
        if kind == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _forbidden(send: Send, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
