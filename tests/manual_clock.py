"""A clock for workers that schedule by time (retries, escalations): it moves only when the
test says, so nothing in a test waits on the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0.0, *, minutes: float = 0.0) -> None:
        self.now += timedelta(seconds=seconds, minutes=minutes)

    def set(self, at: datetime) -> None:
        self.now = at
