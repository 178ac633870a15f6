"""A product that settles at the start of a trip does not hide the failure that comes later.

The trend leaves the warm-up as the least-squares slope of its readings, and a warning needs a
calm seen since (the onset of a rise must be seen). A product that settles a few tenths of a
degree upwards in the first half hour leaves a steep fitted slope, which the smoothed trend
sheds only over hours while the readings hold still: a failure starting an hour later was
never warned of at all. A level that has held still for a trend's time constant is a calm,
whatever the smoothed trend still says.
"""

from detectors.predicted_breach import PredictedBreach
from detectors.reading import Reading

MIN = 60_000


def readings(settle_c, flat_min, step_min=5):
    """Settle up by `settle_c` over 20 min, hold at -19.4 °C, then warm at 3.6 °C/h.

    (A smooth settling like this leaves a gentler fitted slope than the recorded one below,
    and was warned ahead before the change as well.)
    """
    out, m = [], 0
    while True:
        if m < 20:
            t = -19.4 - settle_c + settle_c * m / 20
        elif m < 20 + flat_min:
            t = -19.4 + (0.1 if (m // step_min) % 3 == 0 else 0.0)  # a probe's last digit
        else:
            t = -19.4 + 3.6 * (m - 20 - flat_min) / 60
        out.append(Reading("t", m * MIN, temp_c=round(t, 1)))
        if t > -15.0:
            return out
        m += step_min


def first_warning_lead_min(readings_):
    d = PredictedBreach(-25.0, -15.0)
    breach = next(r.ts_ms for r in readings_ if r.temp_c > -15.0)
    for r in readings_:
        if any(c.active for c in d.update(r) or []):
            return (breach - r.ts_ms) / MIN
    return None


#: A frozen load read every 5 min from the start of its trip: it settles 0.8 °C upwards in the
#: first 20 min, holds at -19.4 °C for an hour and warms from the power cut after that.
SETTLED_THEN_CUT = [
    -20.1, -20.0, -19.7, -19.5, -19.3, -19.5, -19.4, -19.4, -19.5, -19.5, -19.4, -19.3, -19.6,
    -19.5, -19.4, -19.4, -19.3, -19.3, -19.1, -18.8, -18.7, -18.4, -18.2, -18.1, -17.7, -17.2,
    -17.2, -16.6, -16.2, -16.1, -15.4, -15.1, -14.8,
]  # fmt: skip


def test_a_power_cut_an_hour_after_a_settling_start_is_warned_ahead():
    # The trend fitted to the warm-up (+2.5 °C/h) was still +0.7 °C/h when the cut came, and
    # no warning opened before the breach: the level held still for an hour before it.
    series = [Reading("t", i * 5 * MIN, temp_c=t) for i, t in enumerate(SETTLED_THEN_CUT)]
    lead = first_warning_lead_min(series)
    assert lead is not None and lead >= 10, lead


def test_a_trip_that_starts_still_is_warned_as_before():
    lead = first_warning_lead_min(readings(0.0, 70))
    assert lead is not None and lead >= 10, lead


def test_a_rise_under_way_from_the_start_is_still_not_a_seen_onset():
    # Warming at 1.2 °C/h from the first reading, never still: no calm, so no warning (the
    # excursion check has it), as for a thermostat's first rise seen from its middle.
    rising = [
        Reading("t", m * MIN, temp_c=round(-19.4 + 1.2 * m / 60, 1)) for m in range(0, 300, 5)
    ]
    d = PredictedBreach(-25.0, -15.0)
    assert not any(c.active for r in rising for c in d.update(r) or [])
