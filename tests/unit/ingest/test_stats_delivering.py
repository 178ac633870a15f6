"""The ingester's stats say whether this process is the one delivering alerts from the store."""

from __future__ import annotations

from ingest.stats import IngestStats


def test_a_process_with_nothing_to_deliver_reports_no_delivering_field() -> None:
    stats = IngestStats()
    assert "delivering" not in stats.snapshot()
    assert "delivering" not in stats.summary()


def test_the_delivering_field_follows_the_lease_at_every_snapshot() -> None:
    holding = [True]
    stats = IngestStats(delivering=lambda: holding[0])
    assert stats.snapshot()["delivering"] == 1
    assert stats.summary().endswith(", delivering yes")
    holding[0] = False  # another process took the lease over
    assert stats.snapshot()["delivering"] == 0
    assert stats.summary().endswith(", delivering no")
