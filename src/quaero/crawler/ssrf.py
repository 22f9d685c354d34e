"""SSRF guard: refuse to connect to non-public network addresses.

A crawler fetches URLs chosen by the pages it reads, so without a guard a
page could make it request ``http://127.0.0.1:5432/``, the cloud metadata
endpoint ``http://169.254.169.254/`` or hosts on the internal network.

The guard works on *addresses*, after DNS resolution:

* :func:`is_public_address` says whether an IP address may be contacted
  (private, loopback, link-local, multicast, reserved, unspecified, shared
  (CGNAT), documentation and other special-purpose ranges are refused, for
  IPv4 and IPv6 alike; IPv4-mapped, 6to4 and NAT64 IPv6 addresses are judged
  by the IPv4 address they embed).
* :class:`GuardedResolver` is an aiohttp resolver that resolves a host name
  and raises :class:`BlockedAddressError` when any of its addresses is not
  public, so the connector can only ever connect to a checked address (the
  addresses it connects to are exactly the ones returned here).
* :func:`check_literal_host` handles hosts that aiohttp never hands to the
  resolver because they look like IP literals (``127.0.0.1``, ``[::1]``,
  ``2130706433``, ``127.1``); the fetcher calls it before every request and
  every redirect hop.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

__all__ = [
    "BlockedAddressError",
    "GuardedResolver",
    "check_literal_host",
    "is_public_address",
    "looks_like_ip_literal",
]

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_6TO4 = ipaddress.IPv6Network("2002::/16")
_EXTRA_BLOCKED_V4 = (
    ipaddress.IPv4Network("100.64.0.0/10"),  # shared address space (CGNAT)
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.IPv4Network("198.18.0.0/15"),  # benchmarking
)


#: how a user lets a crawl reach private addresses (ends every refusal's message)
ALLOW_HINT = (
    "to crawl private or local addresses, tick “Allow private networks” in the New crawl"
    " form, pass --allow-private-networks to quaero crawl, or set"
    " allow_private_networks: true in the crawl's config"
)


class BlockedAddressError(OSError):
    """A host resolved to (or is) an address the SSRF guard refuses.

    It subclasses ``OSError`` so aiohttp treats it as a connection failure
    (wrapping it in ``ClientConnectorError``); the fetcher unwraps it and
    reports ``ssrf_blocked``.
    """

    def __init__(self, host: str, address: str) -> None:
        super().__init__(
            f"refusing to connect to {host!r}: {address} is not a public address ({ALLOW_HINT})"
        )
        self.host = host
        self.address = address


def is_public_address(address: str | IPAddress) -> bool:
    """True when ``address`` is a globally routable unicast address.

    Strings that are not IP addresses return ``False`` (fail closed).
    """
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = address.ipv4_mapped
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address in _6TO4:
            embedded = address.sixtofour
        if embedded is not None:
            return is_public_address(embedded)
    else:
        if any(address in net for net in _EXTRA_BLOCKED_V4):
            return False
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    return address.is_global


def looks_like_ip_literal(host: str) -> bool:
    """Mirror of aiohttp's test for hosts it connects to without the resolver."""
    return ":" in host or host.replace(".", "").isdigit()


def _parse_literal(host: str) -> IPAddress | None:
    """Parse an IP literal the way the OS would; ``None`` when it is a name."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    try:  # inet_aton accepts the legacy forms (127.1, 2130706433, 0x7f.0.0.1)
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except (OSError, ValueError):
        pass
    if looks_like_ip_literal(bare):
        return ipaddress.IPv4Address("0.0.0.0")  # an unparseable literal: refuse
    return None


def check_literal_host(host: str) -> None:
    """Raise :class:`BlockedAddressError` when ``host`` is a non-public IP literal.

    Host names (anything aiohttp would send to the resolver) pass: they are
    checked by :class:`GuardedResolver` after resolution.
    """
    addr = _parse_literal(host)
    if addr is not None and not is_public_address(addr):
        raise BlockedAddressError(host, str(addr))


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses host names resolving to non-public addresses.

    All addresses of a name must be public; a name with one private address
    is refused entirely (an attacker-controlled DNS zone could otherwise mix
    them). ``inner`` does the actual resolution (aiohttp's default resolver
    unless given, which lets tests inject a fake one).
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner
        self._owns_inner = inner is None

    def _resolver(self) -> AbstractResolver:
        if self._inner is None:
            self._inner = DefaultResolver()
        return self._inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` and return its addresses, or raise :class:`BlockedAddressError`."""
        check_literal_host(host)
        results = await self._resolver().resolve(host, port, family)
        for result in results:
            if not is_public_address(result["host"]):
                log.warning(
                    "SSRF guard: %s resolved to non-public %s; refused", host, result["host"]
                )
                raise BlockedAddressError(host, result["host"])
        return results

    async def close(self) -> None:
        """Close the inner resolver when this object created it."""
        if self._inner is not None and self._owns_inner:
            await self._inner.close()


def find_blocked(exc: BaseException | None) -> BlockedAddressError | None:
    """Return the :class:`BlockedAddressError` in ``exc``'s cause/context chain, if any."""
    seen: set[int] = set()
    current: Any = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, BlockedAddressError):
            return current
        seen.add(id(current))
        nested = getattr(current, "os_error", None)
        if isinstance(nested, BlockedAddressError):
            return nested
        current = current.__cause__ or current.__context__
    return None
