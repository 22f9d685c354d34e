"""Character-set detection and decoding of fetched HTML.

Order of precedence (a simplified HTML5 "encoding sniffing" algorithm):

1. a byte-order mark (UTF-8, UTF-16 LE/BE);
2. the ``charset`` parameter of the ``Content-Type`` header;
3. ``<meta charset=...>`` or ``<meta http-equiv="Content-Type" content="...; charset=...">``
   within the first 4 KiB of the body;
4. UTF-8 when the body is valid UTF-8, else the encoding ``charset-normalizer`` detects
   (undeclared Windows-1252 ``Price \x805`` reads ``Price €5``, not ``Price �5``).

Labels are mapped as browsers do (``iso-8859-1``, ``latin1`` and ``ascii``
decode as ``windows-1252``); unknown labels fall back to UTF-8. Decoding
never fails: undecodable bytes become U+FFFD (``errors="replace"``).
"""

from __future__ import annotations

import codecs
import re

__all__ = [
    "charset_from_content_type",
    "decode_html",
    "decode_text",
    "media_type",
    "sniff_meta_charset",
]

_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.IGNORECASE
)
_CT_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?\s*([^"';\s]+)""", re.IGNORECASE)
_SNIFF_BYTES = 4096
# WHATWG Encoding Standard: these labels mean windows-1252 on the web.
_LABEL_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "windows-1252": "cp1252",
    "x-user-defined": "cp1252",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-sjis": "shift_jis",
    "gb2312": "gbk",
}


def media_type(content_type: str | None) -> str:
    """Return the lower-case media type of a Content-Type value (``""`` when absent)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _LABEL_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return name


def charset_from_content_type(content_type: str | None) -> str | None:
    """Return the Python codec named by a Content-Type ``charset`` parameter, if valid."""
    if not content_type or "charset" not in content_type.lower():
        return None
    m = _CT_CHARSET_RE.search(content_type)
    return _codec_name(m.group(1)) if m else None


def sniff_meta_charset(body: bytes) -> str | None:
    """Return the codec declared by a ``<meta>`` tag in the first 4 KiB of ``body``."""
    head = body[:_SNIFF_BYTES]
    m = _META_CHARSET_RE.search(head)
    if m is None:
        return None
    name = _codec_name(m.group(1).decode("ascii", "replace"))
    if name is not None and name.startswith("utf-16"):
        return "utf-8"
    return name


def _bom_charset(body: bytes) -> tuple[str, int] | None:
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if body.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if body.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    return None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode an HTML body; return ``(text, codec_name)``. Never raises."""
    bom = _bom_charset(body)
    if bom is not None:
        return body[bom[1] :].decode(bom[0], errors="replace"), bom[0]
    charset = charset_from_content_type(content_type) or sniff_meta_charset(body)
    if charset is None:
        charset = _detect(body)
    try:
        return body.decode(charset, errors="replace"), charset
    except (LookupError, ValueError):
        return body.decode("utf-8", errors="replace"), "utf-8"


def _detect(body: bytes) -> str:
    """UTF-8 when the bytes are valid UTF-8 (ASCII included), else the detected codec."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    from charset_normalizer import from_bytes

    sample = body[:65536]
    best = from_bytes(sample).best()
    if best is None or _is_windows_1252_text(sample):
        return "cp1252"
    return _codec_name(best.encoding) or "cp1252"


def _is_windows_1252_text(sample: bytes) -> bool:
    """Whether an undeclared non-UTF-8 body reads as Latin text in windows-1252, the web's
    default (WHATWG): then a detector's guess of another single-byte code page (cp437,
    cp1250, ...) on a short text is not trusted. Cyrillic, Greek, ... bodies decode to
    words of accented letters only, and are left to the detector."""
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        return False  # bytes windows-1252 leaves undefined
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    high = sum(1 for c in letters if ord(c) > 0x7F)
    # Western text has a minority of accented letters; other scripts decoded as
    # windows-1252 are almost all accented letters
    return high < 0.4 * len(letters)


def decode_text(body: bytes, content_type: str | None = None) -> str:
    """Decode a non-HTML text body (robots.txt): BOM, header charset, else UTF-8."""
    bom = _bom_charset(body)
    if bom is not None:
        return body[bom[1] :].decode(bom[0], errors="replace")
    charset = charset_from_content_type(content_type) or "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except (LookupError, ValueError):
        return body.decode("utf-8", errors="replace")
