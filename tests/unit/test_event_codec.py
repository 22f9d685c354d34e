"""The embedded store's compact event payloads read back exactly as written."""

from __future__ import annotations

import orjson
import pytest

from quaero.jobs.models import iso
from quaero.store.event_codec import decode_payload, encode_payload

NOW = 1796034037.3242211
TS = iso(NOW)


def dumps(v: object) -> str:
    return orjson.dumps(v).decode()


def roundtrip(type_: str, job_id: int, payload: dict) -> tuple[str, dict]:
    stored = encode_payload(type_, job_id, payload, TS, dumps)
    return stored, decode_payload(type_, job_id, NOW, stored, orjson.loads)


def test_status_change_is_stored_compactly_and_rebuilt_in_order() -> None:
    p = {"job_id": 7, "status": "completed", "job_type": "noop", "parent_id": 1, "timestamp": TS}
    stored, back = roundtrip("job_status_change", 7, p)
    assert stored == '["completed","noop",1]'
    assert back == p and list(back) == list(p)


def test_progress_with_extra_fields() -> None:
    p = {
        "job_id": 1, "progress_text": "1 pending, 2 running, 3 completed, 4 failed",
        "status": "running", "timestamp": TS, "total_children": 10, "pending_children": 1,
        "running_children": 2, "completed_children": 3, "failed_children": 4,
        "cancelled_children": 0, "descendants": {"total": 12},
    }  # fmt: skip
    stored, back = roundtrip("parent_job_progress", 1, p)
    assert stored.startswith("[") and len(stored) < 80
    assert back == p and list(back) == list(p)


@pytest.mark.parametrize(
    ("type_", "job_id", "payload"),
    [
        ("job_status_change", 7, {"job_id": 8, "status": "x", "job_type": "t", "parent_id": None,
                                  "timestamp": TS}),
        ("job_status_change", 7, {"job_id": 7, "status": "x", "job_type": "t", "parent_id": None,
                                  "timestamp": "2020-01-01T00:00:00Z"}),
        ("job_status_change", 7, {"job_id": 7, "status": "x"}),
        ("parent_job_progress", 1, {"job_id": 1, "progress_text": "not the counts",
                                    "status": "running", "timestamp": TS, "total_children": 1,
                                    "pending_children": 1, "running_children": 0,
                                    "completed_children": 0, "failed_children": 0,
                                    "cancelled_children": 0}),
        ("log", 1, {"job_id": 1, "timestamp": TS, "level": "info", "message": "m"}),
    ],
)  # fmt: skip
def test_anything_not_derivable_is_stored_as_it_is(type_: str, job_id: int, payload: dict) -> None:
    stored, back = roundtrip(type_, job_id, payload)
    assert orjson.loads(stored) == payload and back == payload
