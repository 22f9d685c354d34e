"""URL normalisation, link resolution and crawl-scope filtering.

Every URL the crawler stores, de-duplicates or fetches goes through
:func:`normalize` first, so two spellings of one page compare equal:

* scheme and host lower-cased, IDNA (punycode) host, trailing dot removed,
  numeric IPv4 spellings (``0x7f.1``, ``2130706433``) rewritten dotted-quad,
  IPv6 literals compressed;
* default ports (80 for http, 443 for https) removed;
* ``.`` and ``..`` path segments resolved, empty path turned into ``/``,
  backslashes in the path read as ``/`` (as browsers do);
* percent-encoding normalised: escapes of unreserved characters decoded,
  hex digits upper-cased, characters that must be escaped (spaces, non-ASCII
  as UTF-8, quotes, ...) escaped, stray ``%`` escaped as ``%25``;
* fragment stripped, an empty query (``?``) dropped;
* optionally (:class:`NormalizeOptions`) query parameters matching a list of
  names / wildcards / regexes dropped and the remaining ones sorted.

:func:`resolve` turns an ``href`` into an absolute normalised http(s) URL or
``None`` (non-HTTP schemes, malformed links); it never raises.
:class:`UrlFilter` decides whether a URL is in a crawl's scope and, when it is
not, says why with a :class:`SkipReason`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from urllib.parse import unquote_plus, urljoin, urlsplit

__all__ = [
    "DEFAULT_TRACKING_PARAMS",
    "InvalidURL",
    "NormalizeOptions",
    "SkipReason",
    "UrlFilter",
    "host_of",
    "is_http_url",
    "normalize",
    "resolve",
    "try_normalize",
]

#: Common tracking parameters; pass as ``NormalizeOptions(drop_params=...)`` to drop them.
DEFAULT_TRACKING_PARAMS: tuple[str, ...] = (
    "utm_*",
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_hsenc",
    "_hsmi",
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Characters kept as-is in a path (RFC 3986 pchar + "/"); "%" is handled apart.
_PATH_SAFE = r"A-Za-z0-9\-._~!$&'()*+,;=:@/"
_QUERY_SAFE = _PATH_SAFE + r"?"
_PATH_CHECK_RE = re.compile(f"[^{_PATH_SAFE}]|%")
_QUERY_CHECK_RE = re.compile(f"[^{_QUERY_SAFE}]|%")
_PATH_FIX_RE = re.compile(f"%[0-9A-Fa-f]{{2}}|[^{_PATH_SAFE}]")
_QUERY_FIX_RE = re.compile(f"%[0-9A-Fa-f]{{2}}|[^{_QUERY_SAFE}]")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HOST_OK_RE = re.compile(r"^[a-z0-9\-._~!$&'()*+,;=%]+$")
_IPV4ISH_RE = re.compile(r"(?:^|\.)(?:0[xX][0-9a-fA-F]*|[0-9]+)\.?$")
_CONTROL_RE = re.compile(r"[\t\n\r]")


class InvalidURL(ValueError):
    """Raised by :func:`normalize` for a URL that is not a valid http(s) URL."""


class SkipReason(StrEnum):
    """Why a URL is not crawled (the value is the machine string stored/logged)."""

    OUT_OF_SCOPE = "out_of_scope"
    EXCLUDED = "excluded"
    NOT_INCLUDED = "not_included"
    ROBOTS = "robots"
    BUDGET = "budget"
    NON_HTTP = "non_http"
    INVALID = "invalid"
    DEPTH = "depth"


def _compile_param_rules(rules: Iterable[str]) -> re.Pattern[str] | None:
    parts: list[str] = []
    for rule in rules:
        if rule.startswith("re:"):
            parts.append(f"(?:{rule[3:]})")
        elif any(c in rule for c in "*?["):
            parts.append(fnmatch.translate(rule))
        else:
            parts.append(re.escape(rule))
    if not parts:
        return None
    return re.compile("|".join(f"(?:{p})" for p in parts))


@dataclass(frozen=True, slots=True)
class NormalizeOptions:
    """Optional query rules for :func:`normalize`.

    ``drop_params`` entries are exact parameter names (``fbclid``), shell-style
    wildcards (``utm_*``) or regular expressions written ``re:<pattern>``; all
    must match the whole (decoded) parameter name and are case-sensitive.
    ``sort_query`` sorts the remaining parameters by name, then value (stable).
    """

    drop_params: tuple[str, ...] = ()
    sort_query: bool = False
    _drop_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "drop_params", tuple(self.drop_params))
        object.__setattr__(self, "_drop_re", _compile_param_rules(self.drop_params))

    @property
    def active(self) -> bool:
        """True when the options change query strings at all."""
        return self.sort_query or self._drop_re is not None


_NO_OPTIONS = NormalizeOptions()


def _fix_escape(m: re.Match[str]) -> str:
    s = m.group(0)
    if len(s) == 3:  # a valid escape: decode if unreserved, else upper-case it
        ch = chr(int(s[1:], 16))
        return ch if ch in _UNRESERVED else s.upper()
    if s == "%":  # a stray percent sign
        return "%25"
    return "".join(f"%{b:02X}" for b in s.encode("utf-8", "surrogatepass"))


def _normalize_escapes(text: str, check: re.Pattern[str], fix: re.Pattern[str]) -> str:
    if check.search(text) is None:
        return text
    return fix.sub(_fix_escape, text)


def _remove_dot_segments(path: str) -> str:
    if "." not in path:
        return path
    segments = path.split("/")
    if not any(s in (".", "..") for s in segments):
        return path
    out: list[str] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    if not result.startswith("/"):
        result = "/" + result
    return result


def _normalize_host(host: str) -> str:
    if not host:
        raise InvalidURL("empty host")
    if host.startswith("["):
        if not host.endswith("]"):
            raise InvalidURL(f"bad IPv6 literal {host!r}")
        inner = host[1:-1]
        try:
            addr = ipaddress.IPv6Address(inner.split("%", 1)[0])
        except ValueError as exc:
            raise InvalidURL(f"bad IPv6 literal {host!r}") from exc
        return f"[{addr.compressed}]"
    if not host.isascii():
        host = _idna_encode(host)
    host = host.lower()
    if ".." in host or host.startswith("."):
        raise InvalidURL(f"bad host {host!r}")
    if host.endswith("."):
        host = host[:-1]
    if _IPV4ISH_RE.search(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError as exc:
            raise InvalidURL(f"bad IPv4 address {host!r}") from exc
    if not _HOST_OK_RE.match(host):
        raise InvalidURL(f"bad host {host!r}")
    return host


def _idna_encode(host: str) -> str:
    try:
        import idna

        return str(idna.encode(host, uts46=True).decode("ascii"))
    except Exception:
        try:
            return host.encode("idna").decode("ascii")
        except Exception as exc:
            raise InvalidURL(f"bad international host {host!r}") from exc


def _rewrite_query(query: str, options: NormalizeOptions) -> str:
    parts = [p for p in query.split("&") if p]
    drop = options._drop_re
    if drop is not None:
        parts = [p for p in parts if not drop.fullmatch(unquote_plus(p.split("=", 1)[0]))]
    if options.sort_query:
        parts.sort(key=lambda p: (p.split("=", 1)[0], p))
    return "&".join(parts)


@lru_cache(maxsize=65536)
def _normalize_cached(url: str, options: NormalizeOptions) -> str:
    url = url.strip(
        " \x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11"
        "\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
    )
    if "\t" in url or "\n" in url or "\r" in url:
        url = _CONTROL_RE.sub("", url)
    m = _SCHEME_RE.match(url)
    if m is None:
        raise InvalidURL(f"not an absolute URL: {url[:200]!r}")
    scheme = m.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"not an http(s) URL: {url[:200]!r}")
    rest = url[m.end() :]
    # The fragment is dropped; browsers read backslashes as slashes before the query.
    rest = rest.partition("#")[0]
    head, sep, tail = rest.partition("?")
    if "\\" in head:
        rest = head.replace("\\", "/") + sep + tail
    if not rest.startswith("//"):
        raise InvalidURL(f"no host in URL: {url[:200]!r}")
    try:
        parts = urlsplit(scheme + ":" + rest)
    except ValueError as exc:
        raise InvalidURL(str(exc)) from exc
    netloc = parts.netloc
    userinfo = ""
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        userinfo = (
            _normalize_escapes(userinfo, _PATH_CHECK_RE, _PATH_FIX_RE)
            .replace("@", "%40")
            .replace("/", "%2F")
        )
        userinfo += "@"
    host, port_str = netloc, ""
    if netloc.startswith("["):
        close = netloc.find("]")
        if close < 0:
            raise InvalidURL("bad IPv6 literal")
        host, port_str = netloc[: close + 1], netloc[close + 1 :]
        if port_str and not port_str.startswith(":"):
            raise InvalidURL("garbage after IPv6 literal")
        port_str = port_str[1:]
    elif ":" in netloc:
        host, _, port_str = netloc.rpartition(":")
    host = _normalize_host(host)
    port = ""
    if port_str:
        if not port_str.isascii() or not port_str.isdigit() or int(port_str) > 65535:
            raise InvalidURL(f"bad port {port_str[:20]!r}")
        if int(port_str) != _DEFAULT_PORTS[scheme]:
            port = f":{int(port_str)}"
    path = parts.path or "/"
    path = _remove_dot_segments(_normalize_escapes(path, _PATH_CHECK_RE, _PATH_FIX_RE))
    query = parts.query
    if query:
        query = _normalize_escapes(query, _QUERY_CHECK_RE, _QUERY_FIX_RE)
        if options.active:
            query = _rewrite_query(query, options)
    return f"{scheme}://{userinfo}{host}{port}{path}{'?' + query if query else ''}"


def normalize(url: str, options: NormalizeOptions | None = None) -> str:
    """Return the canonical spelling of an absolute http(s) URL.

    Raises :class:`InvalidURL` (a ``ValueError``) for anything that is not a
    valid absolute http or https URL. The result is idempotent:
    ``normalize(normalize(u)) == normalize(u)``. Results are memoised.
    """
    return _normalize_cached(url, options or _NO_OPTIONS)


def try_normalize(url: str, options: NormalizeOptions | None = None) -> str | None:
    """Like :func:`normalize` but return ``None`` instead of raising."""
    try:
        return _normalize_cached(url, options or _NO_OPTIONS)
    except Exception:
        return None


def is_http_url(url: str) -> bool:
    """True when ``url`` has an ``http`` or ``https`` scheme (case-insensitive)."""
    m = _SCHEME_RE.match(url.lstrip())
    return m is not None and m.group(1).lower() in _DEFAULT_PORTS


@lru_cache(maxsize=65536)
def _resolve_cached(base: str, href: str, options: NormalizeOptions) -> str | None:
    try:
        joined = urljoin(base, href)
        return _normalize_cached(joined, options)
    except Exception:
        return None


def resolve(base: str, href: str, options: NormalizeOptions | None = None) -> str | None:
    """Resolve ``href`` against the absolute URL ``base`` and normalise it.

    Returns ``None`` for links that cannot be crawled: other schemes
    (``mailto:``, ``javascript:``, ``tel:``, ``data:``, ``file:``, ``ftp:``,
    ...), malformed URLs (``http://[::1``), or a malformed ``base``. An empty
    href or a fragment-only href resolves to ``base`` itself (without its
    fragment). Never raises.
    """
    try:
        opts = options or _NO_OPTIONS
        href = href.strip(" \t\n\r\x0c\x00")
        if "\t" in href or "\n" in href or "\r" in href:
            href = _CONTROL_RE.sub("", href)
        m = _SCHEME_RE.match(href)
        if m is not None:
            if m.group(1).lower() not in _DEFAULT_PORTS:
                return None
            return _resolve_cached("", href, opts)
        if not href or href[0] in "?#":
            return _resolve_cached(base, href, opts)
        head, sep, tail = href.partition("?")
        if "\\" in head:
            href = head.replace("\\", "/") + sep + tail
        # The result of a relative reference only depends on the base up to
        # its last "/", which makes the memo hit across pages of one folder.
        if not href.startswith("/"):
            qpos = base.find("?")
            trimmed = base if qpos < 0 else base[:qpos]
            fpos = trimmed.find("#")
            if fpos >= 0:
                trimmed = trimmed[:fpos]
            slash = trimmed.rfind("/")
            if slash > trimmed.find("//") + 1:
                base = trimmed[: slash + 1]
        else:
            m2 = _SCHEME_RE.match(base)
            if m2 is not None and base.startswith("//", m2.end()):
                end = base.find("/", m2.end() + 2)
                if end > 0:
                    base = base[: end + 1]
        return _resolve_cached(base, href, opts)
    except Exception:
        return None


def host_of(url: str) -> str:
    """Return the host name of a normalised URL (no port, no userinfo, lower case)."""
    start = url.find("//")
    if start < 0:
        return ""
    end = url.find("/", start + 2)
    netloc = url[start + 2 :] if end < 0 else url[start + 2 : end]
    if "@" in netloc:
        netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1].lower()
    return netloc.partition(":")[0].lower()


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


@dataclass(frozen=True, slots=True)
class UrlFilter:
    """Decides whether a normalised URL belongs to a crawl.

    Scope: when ``allowed_domains`` is empty, a URL is in scope when its host
    equals one of ``hosts`` (the start URLs' hosts), ignoring a leading
    ``www.`` on either side; otherwise when its host equals an allowed domain
    or is a subdomain of one. Ports and http/https are not part of scope.
    Then ``exclude`` patterns (regexes searched in the full URL) reject, and
    when ``include`` patterns are given at least one must match.

    robots.txt and the page budget are checked elsewhere (they need I/O or
    crawl state); their reasons are in :class:`SkipReason` for uniform logs.
    """

    hosts: frozenset[str] = frozenset()
    allowed_domains: tuple[str, ...] = ()
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def from_config(
        cls,
        start_urls: Sequence[str] | str,
        *,
        allowed_domains: Iterable[str] | None = None,
        include_patterns: Iterable[str] | None = None,
        exclude_patterns: Iterable[str] | None = None,
    ) -> UrlFilter:
        """Build a filter from crawl settings.

        ``allowed_domains`` entries may be host names or URLs; invalid
        regexes raise ``re.error`` (validate configs early with this).
        """
        if isinstance(start_urls, str):
            start_urls = [start_urls]
        hosts = set()
        for url in start_urls:
            norm = try_normalize(url)
            if norm is not None:
                hosts.add(_strip_www(host_of(norm)))
        domains: list[str] = []
        for d in allowed_domains or ():
            d = d.strip()
            if "//" in d:
                norm = try_normalize(d)
                d = host_of(norm) if norm else ""
            else:
                d = d.strip(".").lower()
                if d and not d.isascii():
                    d = _idna_encode(d)
            if d:
                domains.append(d)
        return cls(
            hosts=frozenset(hosts),
            allowed_domains=tuple(domains),
            include=tuple(re.compile(p) for p in include_patterns or ()),
            exclude=tuple(re.compile(p) for p in exclude_patterns or ()),
        )

    def in_scope(self, url: str) -> bool:
        """True when the host of the normalised ``url`` is in scope."""
        host = host_of(url)
        if self.allowed_domains:
            return any(host == d or host.endswith("." + d) for d in self.allowed_domains)
        if not self.hosts:
            return True
        return _strip_www(host) in self.hosts

    def check(self, url: str) -> SkipReason | None:
        """Return why ``url`` (normalised) must be skipped, or ``None`` to crawl it."""
        if not is_http_url(url):
            return SkipReason.NON_HTTP
        if not self.in_scope(url):
            return SkipReason.OUT_OF_SCOPE
        for pattern in self.exclude:
            if pattern.search(url):
                return SkipReason.EXCLUDED
        if self.include and not any(p.search(url) for p in self.include):
            return SkipReason.NOT_INCLUDED
        return None

    def check_raw(
        self, url: str, options: NormalizeOptions | None = None
    ) -> tuple[str | None, SkipReason | None]:
        """Normalise then check; returns ``(normalised_url_or_None, reason_or_None)``."""
        if not is_http_url(url):
            return None, SkipReason.NON_HTTP
        norm = try_normalize(url, options)
        if norm is None:
            return None, SkipReason.INVALID
        return norm, self.check(norm)

    def allows(self, url: str) -> bool:
        """True when :meth:`check` finds no reason to skip ``url``."""
        return self.check(url) is None
