"""Checks shared by the detector unit tests: feeding readings, and resuming after a pickle."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Any


def feed(detector: Any, readings: Sequence[Any]) -> list[tuple[int, Any]]:
    """(index of the reading, condition) for every condition the readings raise."""
    return [(i, c) for i, r in enumerate(readings) for c in detector.update(r) or []]


def assert_resumes_after_pickle(make: Callable[[], Any], readings: Sequence[Any], cut: int) -> None:
    """A detector pickled after `cut` readings carries on exactly as one never interrupted,
    and every clear it reports follows an active condition."""
    straight = feed(make(), readings)
    interrupted = make()
    first = feed(interrupted, readings[:cut])
    resumed = pickle.loads(pickle.dumps(interrupted))
    second = [(i + min(cut, len(readings)), c) for i, c in feed(resumed, readings[cut:])]
    assert first + second == straight
    active = False
    for _, c in straight:
        assert c.active or active, "a clear only follows an active condition"
        active = c.active
