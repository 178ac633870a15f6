"""The breach warning weighs how many readings its trend rests on, and what an open door means.

The trend's memory spans at least three reporting intervals, so a rise seen through a
scattering probe at one reading every 15 minutes is stated less sure than the same rise seen
every minute. While the door is open the warming it lets in can stop at any moment, so the
same rise is less sure than behind a shut door.
"""

import random

import pytest

from detectors.predicted_breach import PredictedBreach
from detectors.reading import Reading

MIN = 60_000


def opens(d, rs):
    return [r for r in rs for c in d.update(r) or [] if c.active]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_same_rise_is_less_sure_at_15_minute_readings_than_at_1_minute(seed):
    # A probe scattering by 0.3 °C, steady at 4 °C for 5 h, then warming 2 °C/h: an hour
    # into the rise, five readings have said less about its slope than sixty-one have.
    def raw(step_min):
        rng = random.Random(seed)
        d = PredictedBreach(2.0, 8.0)
        for m in range(0, 6 * 60 + 1):
            c = 4.0 + rng.choice((-0.3, 0.0, 0.3)) + max(0.0, 2.0 * (m - 300) / 60)
            if m % step_min == 0:
                d.update(Reading("t", m * MIN, temp_c=round(c, 1)))
        assert d.raw_confidence is not None
        return d.raw_confidence

    assert raw(15) < raw(1)


def test_a_rise_is_less_sure_while_the_door_is_open_than_behind_a_shut_door():
    # The same readings, once with the door reported open through the rise, once shut.
    def raw(door):
        d = PredictedBreach(2.0, 8.0)
        for m in range(0, 330):
            rising = m >= 240
            c = 4.0 + max(0.0, 2.0 * (m - 240) / 60)
            d.update(Reading("t", m * MIN, temp_c=c, door=door if rising else "closed"))
        assert d.raw_confidence is not None
        return d.raw_confidence

    assert raw("open") < raw("closed")
