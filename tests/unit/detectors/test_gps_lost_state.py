"""`GpsLost` keeps its last reporting gaps bounded, and reads a snapshot that kept them in a deque."""

from __future__ import annotations

import pickle
from collections import deque

from detectors.gps_lost import _GAPS, GpsLost
from detectors.reading import Reading


def _readings(start: int, n: int, step_ms: int) -> list[Reading]:
    # A fix that freezes after the first 5 readings: the rule needs the reporting interval.
    return [
        Reading("t1", (start + i) * step_ms, lat=-4.0 + (0.001 * i if i < 5 else 0.005), lon=39.6)
        for i in range(n)
    ]


def _feed(d: GpsLost, readings: list[Reading]) -> list[tuple[bool, str] | None]:
    out: list[tuple[bool, str] | None] = []
    for r in readings:
        conditions = d.update(r)
        out.append(None if not conditions else (conditions[0].active, conditions[0].summary))
    return out


def test_only_the_last_gaps_are_kept():
    d = GpsLost()
    _feed(d, _readings(0, 40, 60_000))
    assert len(d._gaps) == _GAPS


def test_a_snapshot_holding_the_former_deque_answers_as_the_current_state():
    current = GpsLost()
    _feed(current, _readings(0, 4, 900_000))
    former = pickle.loads(pickle.dumps(current))
    former._gaps = deque(current._gaps, maxlen=_GAPS)  # type: ignore[assignment]
    later = _readings(4, 12, 900_000)
    answers = _feed(current, later)
    assert any(a is not None and a[0] for a in answers)  # the frozen fix is raised
    assert _feed(former, later) == answers
