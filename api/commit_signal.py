"""Tells the delivery workers of ``cargowatch ingest`` and ``cargowatch run`` that new
deliveries were committed, so they send them at once instead of at their next poll.

The detectors record their alert events in a child process (`ingest.detector_process`), so the
signal is a `multiprocessing` event: every session factory of the process tree that writes
deliveries (the detectors' in the child; the API's, the escalation worker's and the workers' own
in the parent) carries the commit hook of `api.commit_hook`, which sets it after each commit
that added some, and a thread in the parent (`CommitFollower`) waits on it and wakes the
workers. A wake-up only makes a worker look sooner: what it sends is still what it finds in the
store, so a lost or spurious signal costs at most one poll interval or one empty pass. Entries
written by another process (a second ingester, ``cargowatch api`` on its own, an admin's
redelivery through another API instance) are found by the poll, which stays the fallback.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from multiprocessing.context import BaseContext


class CommitSignal:
    """A flag any process may raise after committing outbox entries; picklable into a spawned
    child (pass it with the child's start arguments, as `multiprocessing` requires)."""

    def __init__(self, context: BaseContext | None = None) -> None:
        self._event = (context or multiprocessing.get_context("spawn")).Event()

    def notify(self) -> None:
        """Entries were committed: wake whoever follows the signal."""
        self._event.set()

    def wait(self, timeout_s: float) -> bool:
        """Wait until notified (True) or `timeout_s` passed (False), and lower the flag.

        The flag is lowered before the caller looks at the store, so a commit notified after
        that look raises it again and is not missed.
        """
        raised = self._event.wait(timeout_s)
        if raised:
            self._event.clear()
        return raised


class CommitFollower:
    """A thread that calls every `wake` each time the signal is raised; `start` and `stop`."""

    def __init__(self, signal: CommitSignal, wake: Sequence[Callable[[], None]]) -> None:
        self._signal = signal
        self._wake = list(wake)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cw-commits", daemon=True)

    @property
    def signal(self) -> CommitSignal:
        """The signal followed: what the writers of this process tree raise."""
        return self._signal

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._signal.notify()  # ends the wait at once
        if self._thread.ident is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            # The timeout only lets a stop be seen should the notify above be lost.
            if self._signal.wait(1.0):
                for wake in self._wake:
                    wake()
