"""Waiting on a condition in tests: poll until it holds, fail naming it when it never does.

Tests on real servers and threads must wait for what they expect to happen, never for a fixed
time: on a busy machine a sleep that was long enough yesterday is short today, and a sleep
long enough for the worst day wastes every other. One helper, so every test waits the same
way and says what it waited for when it gives up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], object], timeout_s: float = 30.0, what: str = "the condition"
) -> None:
    """Return once `condition()` is true, polling; raise AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        pause.wait(0.005)
