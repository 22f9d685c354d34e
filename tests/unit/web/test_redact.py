"""Tokens never reach the log, whatever their spelling, and the access log still formats."""

from __future__ import annotations

import io
import logging

import pytest
from uvicorn.logging import AccessFormatter

from quaero.web.redact import RedactTokens, redact_tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/ws?token=secret", "/ws?token=<redacted>"),
        ("/ws?after=3&token=secret&x=1", "/ws?after=3&token=<redacted>&x=1"),
        ("/ws?%74oken=secret", "/ws?%74oken=<redacted>"),
        ("/ws?%2574oken=secret", "/ws?%2574oken=<redacted>"),
        ("/ws?TOKEN=secret", "/ws?TOKEN=<redacted>"),
        ("/ws?to%6Ben=secret;a=b", "/ws?to%6Ben=<redacted>;a=b"),
        ('GET "/api/jobs?token=s3cr%20et" 200', 'GET "/api/jobs?token=<redacted>" 200'),
        ("/api/jobs?tokens=keep&mytoken=keep", "/api/jobs?tokens=keep&mytoken=keep"),
        ("no query here", "no query here"),
    ],
)
def test_every_spelling_is_redacted(text: str, expected: str) -> None:
    assert redact_tokens(text) == expected


def test_access_log_formats_with_the_filter() -> None:
    """uvicorn's AccessFormatter unpacks five arguments: the filter must keep them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    logger = logging.getLogger("test.redact.access")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.addFilter(RedactTokens())
    try:
        for path in ("/ws?token=secret", "/ws?%74oken=secret", "/api/jobs"):
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "secret" not in out and "Traceback" not in out and "Error" not in out
    assert out.splitlines() == [
        '127.0.0.1:5000 - "GET /ws?token=<redacted> HTTP/1.1" 200 OK',
        '127.0.0.1:5000 - "GET /ws?%74oken=<redacted> HTTP/1.1" 200 OK',
        '127.0.0.1:5000 - "GET /api/jobs HTTP/1.1" 200 OK',
    ]
