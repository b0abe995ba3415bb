"""One text form for a moment on every interface (finding 17)."""

from __future__ import annotations


def test_every_interface_writes_a_moment_as_iso_8601_utc_with_z() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from dialerd.domain.clock import iso_utc

    assert iso_utc(datetime(2026, 3, 2, 10, tzinfo=UTC)) == "2026-03-02T10:00:00Z"
    berlin = timezone(timedelta(hours=1))
    assert iso_utc(datetime(2026, 3, 2, 11, 0, 0, 5, tzinfo=berlin)) == (
        "2026-03-02T10:00:00.000005Z"
    )
    assert iso_utc(datetime(2026, 3, 2, 10)) == "2026-03-02T10:00:00Z"  # naive: stored UTC
