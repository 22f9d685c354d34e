"""Definition files: load a directory of ``<id>.toml`` (a bad file is reported, the others
still load), write one atomically, delete one.

Only ``*.toml`` files directly in the directory count; names starting with a dot (the
temporary files of :func:`write_definition`, editors' swap files) are skipped. A missing
directory simply holds no definitions.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from ..errors import InvalidJobSpec
from .models import InvalidDefinition, JobDefinition, check_id, parse_definition

__all__ = [
    "LoadResult",
    "definition_path",
    "delete_definition",
    "fingerprint",
    "load_dir",
    "load_file",
    "write_definition",
]

SUFFIX = ".toml"


@dataclass(slots=True)
class LoadResult:
    """What a directory held: good definitions by id, and an error message per bad file."""

    definitions: dict[str, JobDefinition] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def definition_path(directory: Path, definition_id: str) -> Path:
    return directory / f"{check_id(definition_id)}{SUFFIX}"


def _files(directory: Path) -> list[Path]:
    try:
        entries = sorted(directory.iterdir())
    except FileNotFoundError:
        return []
    return [p for p in entries if p.suffix == SUFFIX and not p.name.startswith(".") and p.is_file()]


def load_file(path: Path) -> JobDefinition:
    """One definition file; raises InvalidDefinition with a message about this file."""
    try:
        check_id(path.stem)
    except InvalidDefinition:
        raise InvalidDefinition(
            f"file name {path.name!r}: the id (file name without .toml) may only use "
            "a-z, 0-9, _ and - (at most 100 characters)"
        ) from None
    try:
        raw = path.read_bytes()
        updated_at = path.stat().st_mtime
    except OSError as exc:
        raise InvalidDefinition(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidDefinition("the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidDefinition(f"invalid TOML: {exc}") from None
    return parse_definition(path.stem, data, updated_at)


def load_dir(
    directory: Path, check: Callable[[JobDefinition], JobDefinition] | None = None
) -> LoadResult:
    """Every definition file in ``directory``; ``check`` (e.g. against the job types of an
    app) may refuse one by raising InvalidDefinition (or any InvalidJobSpec)."""
    result = LoadResult()
    for path in _files(directory):
        try:
            definition = load_file(path)
            if check is not None:
                definition = check(definition)
        except InvalidJobSpec as exc:
            result.errors[path.name] = str(exc)
        except Exception as exc:  # a validator's own bug must not hide the other files
            result.errors[path.name] = f"{type(exc).__name__}: {exc}"
        else:
            result.definitions[definition.id] = definition
    return result


def fingerprint(directory: Path) -> tuple[object, ...]:
    """Changes when a definition file is added, removed or rewritten (cheap: one stat a
    file), so a process notices edits made by another one or by hand."""
    out: list[object] = []
    for path in _files(directory):
        with contextlib.suppress(OSError):
            st = path.stat()
            out.append((path.name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def write_definition(directory: Path, definition: JobDefinition) -> Path:
    """Write ``<id>.toml`` atomically: a temporary file in the same directory, flushed to
    disk, then renamed over the old one (a reader sees the old file or the new one)."""
    path = definition_path(directory, definition.id)
    directory.mkdir(parents=True, exist_ok=True)
    data = tomli_w.dumps(definition.to_toml()).encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{definition.id}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)
    return path


def _mode(path: Path) -> int:
    """Keep the permissions of the file being replaced (mkstemp makes it 0600)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o644


def delete_definition(directory: Path, definition_id: str) -> bool:
    """Remove ``<id>.toml``; False if there was no such file."""
    try:
        definition_path(directory, definition_id).unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(directory)
    return True


def _fsync_dir(directory: Path) -> None:
    """Make a rename or unlink durable (best effort: not every platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
