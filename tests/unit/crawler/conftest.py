"""Fixtures for crawler unit tests: the generated test site and fetchers."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# Make ``tests.support`` importable however pytest was started.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from quaero.crawler.fetch import FetchConfig, Fetcher  # noqa: E402
from tests.support.site import TestSite  # noqa: E402


@pytest.fixture
async def site() -> AsyncIterator[TestSite]:
    """The generated site, served on 127.0.0.1 for one test."""
    async with TestSite(slow_delay=0.5) as s:
        yield s


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    """A real aiohttp fetcher allowed to reach the loopback test site."""
    f = Fetcher(FetchConfig(allow_private_networks=True, timeout=5.0))
    try:
        yield f
    finally:
        await f.close()
