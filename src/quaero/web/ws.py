"""The WebSocket endpoint ``/ws``: checks, query parsing, the receive and send loops.

Protocol (docs/api.md): server messages are ``{"type", "seq", "payload"}``; the client
may send ``{"type": "ping"}`` and ``{"type": "subscribe", ...}``. Every event message
leaves in increasing ``seq`` order, so ``/ws?after=<seq of the last message processed>``
resumes with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..bounds import MAX_INT, check_id, parse_id
from ..config import Settings
from ..shutdown import cancel_and_wait
from .deps import token_ok
from .hub import Client, Filter, Hub
from .outbox import Message, Resync
from .redact import TOKEN_QUERY_NAME

__all__ = ["parse_subscription", "router"]

log = logging.getLogger(__name__)
router = APIRouter()

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_IDS = 1000
_TRUE = ("1", "true", "yes", "on")
#: close codes the dashboard understands (4000-4999 are the application's)
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400


def _ids(value: Any, what: str) -> list[int]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or len(value) > _MAX_IDS:
        raise ValueError(f"{what} must be a list of at most {_MAX_IDS} job ids")
    ids = []
    for v in value:
        if isinstance(v, str):
            ids.append(parse_id(v, f"{what} entry"))
        elif isinstance(v, int) and not isinstance(v, bool):
            ids.append(check_id(v, f"{what} entry"))
        else:
            raise ValueError(f"{what} must hold integer job ids, got {v!r}")
    return ids


def _types(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(
        isinstance(v, str) and _TYPE_RE.match(v) for v in value
    ):
        raise ValueError(f"event types must be a list of names like 'log', got {value!r}")
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in _TRUE


def parse_subscription(hub: Hub, params: Mapping[str, Any]) -> Filter:
    """A filter from query parameters or a ``subscribe`` message (ValueError if bad)."""
    types = params.get("event_types", params.get("types", []))
    return hub.make_filter(
        _types(types),
        _ids(params.get("job_ids", []), "job_ids"),
        _flag(params.get("tree", False)),
        _flag(params.get("top_level", False)),
    )


def _parse_after(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"after must be a non-negative integer seq, got {value!r}")
    if len(value) > 19 or int(value) > MAX_INT:
        raise ValueError(f"after must be at most {MAX_INT}, got {value[:25]!r}")
    return int(value)


def _control(hub: Hub, client: Client, kind: str, payload: dict[str, Any]) -> str:
    return _message(kind, hub.cursor(client), payload)


def _message(kind: str, seq: int, payload: dict[str, Any]) -> str:
    return json.dumps({"type": kind, "seq": seq, "payload": payload}, separators=(",", ":"))


@router.websocket("/ws")
async def websocket_endpoint(ws: WebSocket) -> None:
    settings: Settings = ws.app.state.settings
    hub: Hub = ws.app.state.hub
    # Host and Origin were checked by the SecurityGuard middleware
    await ws.accept()
    if not token_ok(
        settings, ws.headers.get("authorization"), ws.query_params.get(TOKEN_QUERY_NAME)
    ):
        await ws.close(code=CLOSE_UNAUTHORIZED, reason="missing or invalid API token")
        return
    try:
        after = _parse_after(ws.query_params.get("after"))
        flt = parse_subscription(hub, ws.query_params)
    except ValueError as exc:
        await ws.send_text(_message("error", 0, {"detail": str(exc)}))
        await ws.close(code=CLOSE_BAD_REQUEST, reason=str(exc)[:100])
        return
    client = hub.new_client(flt)
    try:
        await hub.attach(client, after, ws.send_text)
        ready = {"filter": client.filter.to_dict(), "after": after}
        client.outbox.control(functools.partial(_control, hub, client, "ready", ready))
        tasks = [
            asyncio.create_task(_send_loop(ws, hub, client)),
            asyncio.create_task(_receive_loop(ws, hub, client)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # not 'suppress(CancelledError): await t': a cancel of this handler (the
            # server shutting down) must propagate, and a send stuck on a dead peer
            # must not hold it
            await cancel_and_wait(tasks, what="WebSocket loop")
    except (WebSocketDisconnect, OSError, RuntimeError) as exc:
        log.debug("WebSocket closed: %r", exc)
    finally:
        hub.detach(client)


async def _send_loop(ws: WebSocket, hub: Hub, client: Client) -> None:
    counter = hub.metrics.ws_messages
    while True:
        item = await client.outbox.get()
        if isinstance(item, Message):
            await ws.send_text(item.text)
            counter.inc()
        elif isinstance(item, Resync):
            snap = await hub.snapshot(client)
            await ws.send_text(_message("snapshot", item.seq, {"reason": item.reason, **snap}))
            hub.metrics.ws_resyncs.labels(item.reason).inc()
        else:
            await ws.send_text(item)


async def _receive_loop(ws: WebSocket, hub: Hub, client: Client) -> None:
    def reply(kind: str, payload: dict[str, Any]) -> None:
        # rendered when sent, in order with the events: its seq is the client's cursor then
        client.outbox.control(functools.partial(_control, hub, client, kind, payload))

    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        text = msg.get("text")
        try:
            data = json.loads(text) if text is not None else None
            if not isinstance(data, dict):
                raise ValueError("messages must be JSON objects with a 'type'")
            kind = data.get("type")
            if kind == "ping":
                reply("pong", {})
            elif kind == "subscribe":
                hub.set_filter(client, parse_subscription(hub, data))
                reply("subscribed", {"filter": client.filter.to_dict()})
            else:
                raise ValueError(f"unknown message type {kind!r} (use ping or subscribe)")
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            reply("error", {"detail": str(exc)})
