"""Built-in job types for demos, tests and benchmarks: ``noop`` and ``fanout``."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from ..errors import InvalidJobSpec
from .context import JobContext
from .models import NewJob
from .registry import JobType, Registry, Validator

__all__ = ["MAX_ATTEMPTS", "MAX_FANOUT", "builtin_types"]

MAX_FANOUT = 10_000_000
#: the most attempts a fanout may give its children
MAX_ATTEMPTS = 1000
_SPAWN_CHUNK = 5_000


def _number(config: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJobSpec(f"{key} must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise InvalidJobSpec(f"{key} must be between {lo:g} and {hi:g}, got {value!r}")
    return value


def validate_noop(config: dict[str, Any]) -> dict[str, Any]:
    unknown = set(config) - {"sleep_ms", "fail_rate", "seed"}
    if unknown:
        raise InvalidJobSpec(f"unknown noop option(s): {', '.join(sorted(unknown))}")
    _number(config, "sleep_ms", 0, 0, 3_600_000)
    _number(config, "fail_rate", 0, 0, 1)
    return config


async def noop(ctx: JobContext) -> dict[str, Any] | None:
    """Does nothing; sleeps ``sleep_ms`` and fails with probability ``fail_rate``."""
    sleep_ms = float(ctx.config.get("sleep_ms", 0))
    if sleep_ms > 0:
        await asyncio.sleep(sleep_ms / 1000)
    fail_rate = float(ctx.config.get("fail_rate", 0))
    if fail_rate > 0 and random.random() < fail_rate:
        raise RuntimeError(f"noop failed on purpose (fail_rate={fail_rate})")
    return None


def fanout_validator(registry: Registry) -> Validator:
    """The fanout config check: its children must be jobs ``registry`` can run, with a
    config their type accepts (checked by that type's own validator)."""

    def validate_fanout(config: dict[str, Any]) -> dict[str, Any]:
        unknown = set(config) - {"children", "child_config", "child_type", "child_max_attempts"}
        if unknown:
            raise InvalidJobSpec(f"unknown fanout option(s): {', '.join(sorted(unknown))}")
        n = config.get("children", 10)
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_FANOUT:
            raise InvalidJobSpec(
                f"children must be an integer between 0 and {MAX_FANOUT}, got {n!r}"
            )
        child_type = config.get("child_type", "noop")
        if not isinstance(child_type, str) or not child_type:
            raise InvalidJobSpec(f"child_type must be a job type name, got {child_type!r}")
        try:
            registry.check_type(child_type)
        except InvalidJobSpec as exc:
            raise InvalidJobSpec(f"child_type: {exc}") from None
        child_config = config.get("child_config", {})
        if not isinstance(child_config, dict):
            raise InvalidJobSpec("child_config must be an object")
        try:
            child_config = registry.validate(child_type, child_config)
        except InvalidJobSpec as exc:
            raise InvalidJobSpec(f"child_config: {exc}") from None
        attempts = config.get("child_max_attempts")
        if attempts is not None and (
            isinstance(attempts, bool)
            or not isinstance(attempts, int)
            or not 1 <= attempts <= MAX_ATTEMPTS
        ):
            raise InvalidJobSpec(
                f"child_max_attempts must be an integer between 1 and {MAX_ATTEMPTS}, "
                f"got {attempts!r}"
            )
        return {**config, "children": n, "child_config": child_config}

    return validate_fanout


async def fanout(ctx: JobContext) -> dict[str, Any]:
    """Spawns ``children`` noop children with ``child_config``, in bulk."""
    n = int(ctx.config.get("children", 10))
    child_type = str(ctx.config.get("child_type", "noop"))
    child_config = ctx.config.get("child_config", {})
    max_attempts = ctx.config.get("child_max_attempts")
    # dedupe keys make a retried parent spawn each child once
    for start in range(0, n, _SPAWN_CHUNK):
        ctx.check_cancelled()
        await ctx.spawn(
            NewJob(
                child_type,
                child_config,
                name=f"{child_type} {i + 1}/{n}",
                dedupe_key=str(i),
                max_attempts=max_attempts,
            )
            for i in range(start, min(n, start + _SPAWN_CHUNK))
        )
    ctx.log(f"Spawned {n} children")
    return {"children": n}


def builtin_types(registry: Registry) -> list[JobType]:
    """``noop`` and ``fanout`` (whose config check consults ``registry``)."""
    return [
        JobType("noop", noop, validate_noop, description="does nothing (sleep_ms, fail_rate)"),
        JobType(
            "fanout",
            fanout,
            fanout_validator(registry),
            description="spawns N children (child_type, default noop)",
        ),
    ]
