"""A crawl's configuration: validated once, when the crawl job is created."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidJobSpec
from .fetch import DEFAULT_USER_AGENT, FetchConfig
from .ssrf import ALLOW_HINT, BlockedAddressError, check_literal_host
from .urls import NormalizeOptions, UrlFilter, host_of, try_normalize

__all__ = ["CrawlSettings", "validate_crawl_config"]

#: links to files with these extensions are not followed (they are not pages)
SKIP_EXTENSIONS = frozenset(
    [
        "7z",
        "apk",
        "avi",
        "bin",
        "bmp",
        "bz2",
        "css",
        "csv",
        "dmg",
        "doc",
        "docx",
        "eot",
        "epub",
        "exe",
        "flac",
        "gif",
        "gz",
        "ico",
        "iso",
        "jar",
        "jpeg",
        "jpg",
        "js",
        "json",
        "m4a",
        "m4v",
        "mkv",
        "mov",
        "mp3",
        "mp4",
        "mpeg",
        "mpg",
        "msi",
        "odp",
        "ods",
        "odt",
        "ogg",
        "otf",
        "pdf",
        "png",
        "ppt",
        "pptx",
        "ps",
        "rar",
        "rpm",
        "rss",
        "svg",
        "tar",
        "tgz",
        "tif",
        "tiff",
        "ttf",
        "txt",
        "wav",
        "webm",
        "webp",
        "wmv",
        "woff",
        "woff2",
        "xls",
        "xlsx",
        "xml",
        "xz",
        "zip",
    ]
)

_KNOWN = {
    "start_urls",
    "max_depth",
    "max_pages",
    "include_patterns",
    "exclude_patterns",
    "allowed_domains",
    "concurrency",
    "delay",
    "request_timeout",
    "max_body_size",
    "allowed_content_types",
    "user_agent",
    "headers",
    "cookies",
    "follow_robots_txt",
    "allow_private_networks",
    "max_retries",
    "drop_query_params",
    "sort_query",
    "skip_extensions",
    "max_connections_per_host",
    "sitemaps",
}


def _int(cfg: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise InvalidJobSpec(f"{key} must be an integer between {lo} and {hi}, got {v!r}")
    return v


def _float(cfg: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise InvalidJobSpec(f"{key} must be a number between {lo:g} and {hi:g}, got {v!r}")
    return float(v)


def _bool(cfg: dict[str, Any], key: str, default: bool) -> bool:
    v = cfg.get(key, default)
    if not isinstance(v, bool):
        raise InvalidJobSpec(f"{key} must be true or false, got {v!r}")
    return v


def _strings(cfg: dict[str, Any], key: str) -> list[str]:
    v = cfg.get(key, [])
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InvalidJobSpec(f"{key} must be a list of strings")
    return list(v)


def _mapping(cfg: dict[str, Any], key: str) -> dict[str, str]:
    v = cfg.get(key, {})
    if not isinstance(v, dict) or not all(
        isinstance(k, str) and isinstance(x, str) for k, x in v.items()
    ):
        raise InvalidJobSpec(f"{key} must be a table of strings")
    return dict(v)


@dataclass(frozen=True)
class CrawlSettings:
    """Everything a crawl needs, checked. Build with :meth:`from_config`."""

    start_urls: tuple[str, ...]
    max_depth: int = 3
    max_pages: int = 1000
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    concurrency: int = 8
    delay: float = 0.0
    request_timeout: float = 30.0
    max_body_size: int = 10 * 1024 * 1024
    allowed_content_types: tuple[str, ...] = ("text/html", "application/xhtml+xml")
    user_agent: str = DEFAULT_USER_AGENT
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    cookies: dict[str, str] = field(default_factory=dict, repr=False)
    follow_robots_txt: bool = True
    allow_private_networks: bool = False
    max_retries: int = 2
    drop_query_params: tuple[str, ...] = ()
    sort_query: bool = False
    skip_extensions: bool = True
    max_connections_per_host: int = 8
    #: seed from /sitemap.xml, sitemap indexes and robots.txt ``Sitemap:`` lines
    sitemaps: bool = True

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> CrawlSettings:
        """Validate a crawl job's config; raises InvalidJobSpec naming the bad key."""
        if not isinstance(cfg, dict):
            raise InvalidJobSpec("crawl config must be an object")
        unknown = set(cfg) - _KNOWN
        if unknown:
            raise InvalidJobSpec(f"unknown crawl option(s): {', '.join(sorted(unknown))}")
        starts = _strings(cfg, "start_urls")
        if not starts:
            raise InvalidJobSpec("start_urls must list at least one http(s) URL")
        if len(starts) > 10_000:
            raise InvalidJobSpec("start_urls may list at most 10000 URLs")
        normalized = []
        for u in starts:
            n = try_normalize(u.strip())
            if n is None:
                raise InvalidJobSpec(f"start URL {u!r} is not a valid http(s) URL")
            if n not in normalized:
                normalized.append(n)
        allow_private = _bool(cfg, "allow_private_networks", False)
        if not allow_private:
            for u in normalized:
                _refuse_private(u)
        for key in ("include_patterns", "exclude_patterns"):
            for p in _strings(cfg, key):
                try:
                    re.compile(p)
                except re.error as exc:
                    raise InvalidJobSpec(
                        f"{key}: invalid regular expression {p!r}: {exc}"
                    ) from None
        types = tuple(_strings(cfg, "allowed_content_types")) or cls.allowed_content_types
        return cls(
            start_urls=tuple(normalized),
            max_depth=_int(cfg, "max_depth", 3, 0, 1000),
            max_pages=_int(cfg, "max_pages", 1000, 1, 10_000_000),
            include_patterns=tuple(_strings(cfg, "include_patterns")),
            exclude_patterns=tuple(_strings(cfg, "exclude_patterns")),
            allowed_domains=tuple(_strings(cfg, "allowed_domains")),
            concurrency=_int(cfg, "concurrency", 8, 1, 1024),
            delay=_float(cfg, "delay", 0.0, 0.0, 3600.0),
            request_timeout=_float(cfg, "request_timeout", 30.0, 0.1, 3600.0),
            max_body_size=_int(cfg, "max_body_size", 10 * 1024 * 1024, 1024, 1024**3),
            allowed_content_types=types,
            user_agent=str(cfg.get("user_agent") or DEFAULT_USER_AGENT),
            headers=_mapping(cfg, "headers"),
            cookies=_mapping(cfg, "cookies"),
            follow_robots_txt=_bool(cfg, "follow_robots_txt", True),
            allow_private_networks=allow_private,
            max_retries=_int(cfg, "max_retries", 2, 0, 20),
            drop_query_params=tuple(_strings(cfg, "drop_query_params")),
            sort_query=_bool(cfg, "sort_query", False),
            skip_extensions=_bool(cfg, "skip_extensions", True),
            max_connections_per_host=_int(cfg, "max_connections_per_host", 8, 1, 1024),
            sitemaps=_bool(cfg, "sitemaps", True),
        )

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def fetch_config(self) -> FetchConfig:
        return FetchConfig(
            user_agent=self.user_agent,
            timeout=self.request_timeout,
            max_body_size=self.max_body_size,
            allowed_content_types=self.allowed_content_types,
            headers=self.headers,
            cookies=self.cookies,
            min_delay=self.delay,
            max_connections_per_host=self.max_connections_per_host,
            allow_private_networks=self.allow_private_networks,
        )

    def url_options(self) -> NormalizeOptions | None:
        if not self.drop_query_params and not self.sort_query:
            return None
        return NormalizeOptions(drop_params=self.drop_query_params, sort_query=self.sort_query)

    def url_filter(self) -> UrlFilter:
        return UrlFilter.from_config(
            list(self.start_urls),
            allowed_domains=self.allowed_domains,
            include_patterns=self.include_patterns,
            exclude_patterns=self.exclude_patterns,
        )


def _refuse_private(url: str) -> None:
    """Refuse a start URL on a loopback/private/link-local address (an IP literal or a
    ``localhost`` name) unless the crawl allows private networks. Other names are checked
    after DNS resolution, when fetched."""
    host = host_of(url)
    bare = host.rstrip(".").lower()
    try:
        if bare == "localhost" or bare.endswith(".localhost"):
            raise BlockedAddressError(host, "127.0.0.1")
        check_literal_host(host)
    except BlockedAddressError as exc:
        raise InvalidJobSpec(
            f"start URL {url} is on a private network address ({exc.address}); {ALLOW_HINT}"
        ) from None


def validate_crawl_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The registry's validator: checks, and stores normalised start URLs."""
    s = CrawlSettings.from_config(cfg)
    return {**cfg, "start_urls": list(s.start_urls)}


def has_skipped_extension(url: str) -> bool:
    path = url.split("?", 1)[0].split("#", 1)[0]
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        return False
    return last.rsplit(".", 1)[-1].lower() in SKIP_EXTENSIONS
