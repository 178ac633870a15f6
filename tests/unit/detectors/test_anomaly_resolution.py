"""A coarse probe's next count up or down is rounding, not an anomaly.

A probe that reports in 0.5 °C steps and has read 5.0 °C for a day has a history with no
spread at all: its first 5.5 °C is a record surprise by any ratio, yet it says only that the
true temperature crossed a rounding boundary. A reading within one resolution step (the
smallest change the channel has shown) of its recent level never raises `anomaly`; a
larger change on the same probe still does.
"""

import pickle

import pytest

from detectors.anomaly import Anomaly
from detectors.reading import Reading

MIN = 60_000


def flat_then(tail):
    """A 0.5 °C probe pulled down to 5.0 °C, then reading 5.0 °C each minute for 30 h."""
    values = [8.0, 7.5, 7.0, 6.5, 6.0, 5.5, 5.0, 5.5, 5.0] + [5.0] * (30 * 60) + tail
    return [Reading("t", i * MIN, temp_c=v) for i, v in enumerate(values)]


def opened(d, rs):
    return [r.temp_c for r in rs for c in d.update(r) or [] if c.active]


@pytest.mark.parametrize("tail", [[5.5, 5.0, 5.0], [4.5, 5.0], [5.5, 5.5, 5.5, 5.5]])
def test_one_count_up_or_down_on_a_quiet_coarse_probe_raises_nothing(tail):
    assert opened(Anomaly("temp_c"), flat_then(tail)) == []


@pytest.mark.parametrize("jump", [6.5, 9.0])
def test_a_change_of_several_counts_on_the_same_probe_still_raises_it(jump):
    assert opened(Anomaly("temp_c"), flat_then([jump, jump])) == [jump]


def test_the_resolution_is_the_smallest_step_the_probe_has_shown():
    d = Anomaly("temp_c")
    for r in flat_then([])[:20]:
        d.update(r)
    assert d._resolution == 0.5
    assert Anomaly("temp_c")._resolution == float("inf")


def test_a_snapshot_from_before_the_resolution_restores_and_runs():
    d = Anomaly("temp_c")
    rs = flat_then([5.5])
    for r in rs[:100]:
        d.update(r)
    state = d.__reduce_ex__(2)[2]
    slots = dict(state[1])
    for name in ("_level", "_prev", "_resolution"):
        slots.pop(name)
    old = Anomaly.__new__(Anomaly)
    old.__setstate__((None, slots))
    again = pickle.loads(pickle.dumps(old))
    assert [c for r in rs[100:] for c in again.update(r) or [] if c.active] == []
