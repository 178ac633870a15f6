"""Sensor-fault properties on arbitrary finite series: it never raises, and its evidence is true.

Whatever a tracker sends (values jumping between a few levels, stray readings, failure codes,
readings at the same instant), `SensorFault` returns conditions whose evidence names real
readings: a jump's `previous_c` and `temp_c` are values the probe sent at `previous_at` and
`jumped_at`, and the other faults' `previous_c` is the last plausible temperature before the
reading that raised them.
"""

import math
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.alerts import rfc3339
from detectors.reading import Reading
from detectors.sensor_fault import SensorFault, probe_plausible

#: A few levels a probe may sit at or jump between, and the failure codes of digital probes.
LEVELS = (-20.0, -75.0, 0.0, 5.0, 5.1, 15.0, 45.0, -127.0, 85.0)

temps = st.one_of(
    st.none(),
    st.sampled_from(LEVELS),
    st.floats(-200.0, 200.0, allow_nan=False),
    st.sampled_from(LEVELS).flatmap(lambda v: st.floats(v - 1.0, v + 1.0)),
)
ambients = st.one_of(st.none(), st.floats(-80.0, 100.0, allow_nan=False), st.just(25.0))
gaps_ms = st.one_of(
    st.sampled_from([0, 1_000, 60_000, 120_000, 300_000, 900_000]),
    st.integers(0, 3_600_000),
)
series = st.lists(st.tuples(gaps_ms, temps, ambients), max_size=200)


def readings(steps: list[tuple[int, float | None, float | None]]) -> list[Reading]:
    ts, out = 1_763_800_000_000, []
    for gap, temp, amb in steps:
        ts += gap
        out.append(Reading("t", ts, temp_c=temp, ambient_c=amb))
    return out


def plausible(r: Reading) -> bool:
    """A reading whose temperature the detector judges (no channel beyond its sensor's range)."""
    amb_ok = r.ambient_c is None or -60.0 <= r.ambient_c <= 85.0
    return r.temp_c is not None and probe_plausible(r.temp_c) and amb_ok


@settings(max_examples=300, deadline=None)
@given(series)
def test_any_finite_series_gives_conditions_whose_evidence_names_real_readings(steps):
    d = SensorFault()
    sent: dict[str, set[float]] = {}  # instant -> plausible temperatures sent at it
    instant: dict[str, int] = {}
    last: float | None = None
    for r in readings(steps):
        for c in d.update(r) or []:
            assert c.kind == "sensor_fault"
            if not c.active:
                continue
            e = c.evidence
            assert e["fault"] in ("out_of_range", "jump", "stuck")
            if e["fault"] == "jump":
                assert e["previous_c"] in sent[e["previous_at"]]
                assert e["temp_c"] in sent[e["jumped_at"]]
                assert instant[e["previous_at"]] <= instant[e["jumped_at"]] <= c.at_ms
                assert e["temp_c"] != e["previous_c"]
                assert all(math.isfinite(v) for v in e.values() if isinstance(v, float))
            else:
                assert e["previous_c"] == last
        if plausible(r):
            assert r.temp_c is not None
            sent.setdefault(rfc3339(r.ts_ms), set()).add(r.temp_c)
            instant[rfc3339(r.ts_ms)] = r.ts_ms
            last = r.temp_c


@settings(max_examples=100, deadline=None)
@given(series, st.integers(0, 200))
def test_a_detector_restored_mid_series_says_what_the_original_would(steps, cut):
    rs = readings(steps)
    a = SensorFault()
    for r in rs[:cut]:
        a.update(r)
    b = pickle.loads(pickle.dumps(a))
    assert [a.update(r) for r in rs[cut:]] == [b.update(r) for r in rs[cut:]]
