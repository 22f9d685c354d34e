"""Numbered schema migrations: ``NNNN_name.sql`` (SQLite) and ``postgres/NNNN_name.sql``."""

from __future__ import annotations

from importlib import resources

__all__ = ["load_migrations"]


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """``(version, sql)`` pairs in version order for ``sqlite`` or ``postgres``."""
    base = resources.files(__package__)
    folder = base if dialect == "sqlite" else base / dialect
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(out)
