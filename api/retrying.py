"""What every delivery worker shares: a thread that polls the store for due deliveries, and the
retry schedule (exponential backoff with full jitter, up to a deadline, then a dead letter).

A delivery row (webhook, e-mail or outbox entry) carries ``attempts``, ``next_attempt_at``,
``retry_since``, ``delivered_at`` and ``dead_at``; `RetryingWorker.outcome_values` says what
they become after an attempt. The wait before attempt n+1 is a random share of ``base * 2**n``
(capped), so receivers back from an outage are not hit by every sender at once; the last attempt
is made at the deadline, counted from ``retry_since`` (a redelivery starts a new round; a row
whose ``retry_since`` is still empty starts its round at its first failure).

A worker whose deliveries all go through one channel that can be down as a whole (the outbox's
broker and InfluxDB) raises `ChannelUnavailable` from its pass instead of failing each row: no
row is charged an attempt, and the worker itself waits before the next pass, a random share of
a doubling wait (never less than half of it, so a down channel is not hammered), up to
``outage_max_s``. It logs the outage once, and once when the channel is back.

A worker given a `DeliveryLease` (`api.delivery_lease`) asks it at the start of each pass and
sends nothing while another process holds it, so that several processes on one store deliver
each row once between them; it keeps polling, and takes over once the holder is gone.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from api.db import StoreUnavailable
from api.delivery_lease import DeliveryLease
from api.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """How long a delivery is retried and how the waits between attempts grow."""

    deadline_s: float = 86_400.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 3_600.0
    poll_s: float = 0.5
    #: The longest wait between passes while a whole channel is down (`ChannelUnavailable`).
    outage_max_s: float = 10.0


class ChannelUnavailable(Exception):
    """A worker's pass found its channel down as a whole: retried later, no row charged."""


def send_again(row: Any, now: datetime) -> None:
    """Put a delivery row (webhook or e-mail, delivered or dead) back in line from `now`, with
    a new deadline: what an admin's redeliver does."""
    row.delivered_at = row.dead_at = None
    row.next_attempt_at = row.retry_since = now


class RetryingWorker:
    """A worker thread that calls `send_due` until stopped; `start` and `stop` like every stage.

    `clock` is the time retries are scheduled and deadlines judged by (tests drive it).
    Subclasses implement `send_due` (one pass; returns how many it tried, or raises
    `ChannelUnavailable`) and may override `open` and `close` for the connection they hold
    while running. Without a `lease` the worker always delivers (one process on its store).
    """

    name = "cw-delivery"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        schedule: RetrySchedule,
        *,
        clock: Callable[[], datetime] = utcnow,
        jitter: Callable[[], float] = random.random,
        lease: DeliveryLease | None = None,
    ) -> None:
        self._sessions = sessions
        self._lease = lease
        self._left = False
        self.schedule = schedule
        self._clock = clock
        self._jitter = jitter
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._drain_until = 0.0
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        #: Passes that found the channel down (`ChannelUnavailable`), since start.
        self.outages = 0

    def open(self) -> None:
        """Prepare what sending needs (a client); called by `start`, before the thread runs."""

    def close(self) -> None:
        """Release what `open` made; called once the thread has ended."""

    def send_due(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        self.open()
        if self._lease is not None:
            self._lease.join()
        self._thread.start()

    def stop(self, timeout_s: float = 10.0, *, drain_s: float = 0.0) -> bool:
        """Stop after the delivery in flight; True if the thread ended within `timeout_s`.

        With `drain_s`, passes go on while they find something to send, for up to that long,
        so what is due goes out before a clean stop. Nothing is held in memory: what is not yet
        delivered stays in the store for the next start.
        """
        self._drain_until = time.monotonic() + drain_s
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:  # a worker never started has nothing to join
            self._thread.join(timeout_s + drain_s)
        if not self._thread.is_alive():
            self.close()
            if self._lease is not None and self._thread.ident is not None and not self._left:
                self._left = True
                self._lease.leave()  # the last of the process's workers releases it
        return not self._thread.is_alive()

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll (after moving the clock)."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def draining(self) -> bool:
        """Stopping, but still sending what is due (see `stop`'s `drain_s`)."""
        return self._stop.is_set() and time.monotonic() < self._drain_until

    def _run(self) -> None:
        store_down = False
        outages = 0
        while not self._stop.is_set() or self.draining:
            wait = self.schedule.poll_s
            try:
                # Standing by (another process holds the lease) is a pass that found nothing.
                sent = self.send_due() if self._lease is None or self._lease.held() else 0
            except StoreUnavailable as exc:
                if not store_down:
                    log.warning("%s: SQL store unavailable (%s); retrying", self.name, exc)
                    store_down = True
                sent = -1
            except ChannelUnavailable as exc:
                self.outages += 1
                if outages == 0:
                    log.warning("%s: %s; retrying with backoff", self.name, exc)
                wait = self.outage_wait(outages)
                outages += 1
                sent = -1
            else:
                if store_down:
                    log.warning("%s: SQL store available again", self.name)
                    store_down = False
                if outages:
                    log.warning("%s: delivery resumed after %d failed passes", self.name, outages)
                    outages = 0
            if sent > 0:
                continue
            if not self._stop.is_set():
                self._wake.wait(wait)
                self._wake.clear()
            elif sent == 0:
                return  # draining, and nothing is due any more
            else:
                # The wake event stays set once stopping: back off on the clock instead, for
                # no longer than the drain has left.
                time.sleep(max(0.0, min(wait, self._drain_until - time.monotonic())))

    def outage_wait(self, outages_before: int) -> float:
        """Seconds to wait after the channel was found down `outages_before + 1` times in a row:
        half a doubling wait plus a random share of the other half, capped at `outage_max_s`."""
        cap = min(self.schedule.outage_max_s, self.schedule.poll_s * 2.0**outages_before)
        return cap / 2 + cap / 2 * float(self._jitter())

    def outcome_values(
        self, attempts_before: int, retry_since: datetime | None, delivered: bool
    ) -> dict[str, Any]:
        """The delivery row's new values after an attempt: delivered, dead, or due again.

        A `retry_since` of None (a row never failed before) starts the round now.
        """
        now = self._clock()
        values: dict[str, Any] = {"attempts": attempts_before + 1}
        if delivered:
            values["delivered_at"] = now
            return values
        if retry_since is None:
            retry_since = values["retry_since"] = now
        deadline = retry_since + timedelta(seconds=self.schedule.deadline_s)
        if now >= deadline:
            values["dead_at"] = now
        else:
            values["next_attempt_at"] = min(deadline, now + self.backoff(attempts_before))
        return values

    def backoff(self, attempts_before: int) -> timedelta:
        """The wait before the next attempt: full jitter over an exponentially growing cap."""
        cap = min(self.schedule.backoff_max_s, self.schedule.backoff_base_s * 2**attempts_before)
        return timedelta(seconds=cap * self._jitter())
