"""The retry schedule every delivery worker shares (`api.retrying`): waits grow exponentially,
are spread by jitter so senders back from an outage do not all retry at once, stop at the
deadline, and a whole-channel outage waits on its own schedule without charging any row."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import sessionmaker

from api.retrying import RetryingWorker, RetrySchedule

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def worker(jitter: float | None = None, *, now: datetime = T0, **schedule: float) -> RetryingWorker:
    draw = random.Random(7).random if jitter is None else (lambda: jitter)
    return RetryingWorker(sessionmaker(), RetrySchedule(**schedule), clock=lambda: now, jitter=draw)


def test_the_wait_before_a_retry_is_a_random_share_of_a_doubling_cap():
    schedule = {"backoff_base_s": 2.0, "backoff_max_s": 1_000.0}
    spread = worker(**schedule)
    draws = {spread.backoff(3) for _ in range(50)}
    assert len(draws) > 40, "jitter spreads the retries of many rows failing together"
    assert all(timedelta(0) <= w <= timedelta(seconds=2.0 * 2**3) for w in draws)
    assert worker(1.0, **schedule).backoff(3) == timedelta(seconds=16)
    assert worker(1.0, **schedule).backoff(4) == 2 * worker(1.0, **schedule).backoff(3)


def test_the_wait_is_capped():
    assert worker(1.0, backoff_base_s=1.0, backoff_max_s=60.0).backoff(30) == timedelta(seconds=60)


def test_a_first_failure_starts_the_round_and_schedules_the_next_attempt_before_the_deadline():
    values = worker(0.5, deadline_s=100.0).outcome_values(0, None, delivered=False)
    assert values["retry_since"] == T0 and values["attempts"] == 1
    assert T0 < values["next_attempt_at"] <= T0 + timedelta(seconds=100)
    assert "dead_at" not in values


def test_a_failure_at_the_deadline_dead_letters_the_row():
    late = T0 + timedelta(seconds=100)
    values = worker(0.5, now=late, deadline_s=100.0).outcome_values(6, T0, delivered=False)
    assert values == {"attempts": 7, "dead_at": late}


def test_the_last_retry_is_made_at_the_deadline_not_after_it():
    near = T0 + timedelta(seconds=99)
    values = worker(1.0, now=near, deadline_s=100.0, backoff_base_s=60.0).outcome_values(
        5, T0, delivered=False
    )
    assert values["next_attempt_at"] == T0 + timedelta(seconds=100)


@pytest.mark.parametrize("draw", [0.0, 0.5, 1.0])
def test_an_outage_waits_half_a_doubling_wait_plus_a_random_share_of_the_other_half(draw):
    w = worker(draw, poll_s=0.5, outage_max_s=10.0)
    for n in range(3):
        cap = 0.5 * 2**n
        assert w.outage_wait(n) == pytest.approx(cap / 2 + cap / 2 * draw)
    assert w.outage_wait(20) == pytest.approx(5.0 + 5.0 * draw), "capped at outage_max_s"


def test_outage_waits_are_spread_by_jitter():
    w = worker(poll_s=1.0, outage_max_s=8.0)
    draws = {w.outage_wait(3) for _ in range(50)}
    assert len(draws) > 40 and all(4.0 <= d <= 8.0 for d in draws)
