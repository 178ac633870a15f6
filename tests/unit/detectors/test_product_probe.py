"""Air probes: a tracker that reads the air is judged on the product it simulates.

A reefer's air swings with its thermostat and spikes with every door opened; the product in its
packaging follows slowly. A shipment declared `"probe": "air"` has its excursions, budget and
breach forecast judged on a first-order lag of the air (`detectors.product_probe`), so the
swings the product never felt raise nothing, while a failed unit still does.
"""

import math
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.door_open import DoorOpen
from detectors.predicted_breach import PredictedBreach
from detectors.product_probe import ProductLag
from detectors.profiles import ManifestError, parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.sensor_fault import make_sensor_fault
from detectors.temperature import TempExcursion

MIN = 60_000
T0 = 1_763_800_000_000
TEMPERATURE_KINDS = {"temp_excursion", "temp_breach_predicted", "stability_budget"}


def shipment(probe: str | None, interval_min: int = 1, **more: object):
    fields: dict[str, object] = {
        "shipment_id": "SHP-AIR",
        "device_id": "trk-air",
        "profile": "vaccine_2_8",
        "expected_interval_s": interval_min * 60,
        **more,
    }
    if probe is not None:
        fields["probe"] = probe
    return parse_shipment(fields)


def reefer_air(minute: float, fails_at: float | None = None, doors: bool = True) -> float:
    """A reefer's return air: a 30-min thermostat cycle from 3.2 to 7.6 °C (20 min warming, 10
    cooling), a door opened for 8 min every 3 h letting in 13 °C air; after `fails_at` the unit
    is dead and the air warms 4 °C an hour from where it was."""
    if fails_at is not None and minute >= fails_at:
        return reefer_air(fails_at - 1e-9) + 4.0 * (minute - fails_at) / 60
    if doors and 100 <= minute % 180 < 108:
        return 13.0
    phase = minute % 30
    return 3.2 + 4.4 * phase / 20 if phase < 20 else 7.6 - 4.4 * (phase - 20) / 10


def run(s, minutes: range, fails_at: float | None = None, doors: bool = True) -> list:
    engine = build_engine([s], lateness_ms=0)
    events = []
    for m in minutes:
        r = Reading("trk-air", T0 + m * MIN, temp_c=round(reefer_air(m, fails_at, doors), 1))
        events += engine.process(r, T0 + m * MIN)
    return [e for e in events + engine.flush() if e.kind in TEMPERATURE_KINDS]


def opened(events: list) -> list[tuple[str, float]]:
    """(kind, minute) of every alert opened."""
    return [(e.kind, (e.at_ms - T0) / MIN) for e in events if e.event == "open"]


@pytest.mark.parametrize("interval", [1, 5, 15])
def test_thermostat_cycles_and_door_gusts_in_the_air_are_no_excursion_of_the_product(interval):
    day = range(0, 24 * 60, interval)
    air = opened(run(shipment("air", interval, product_lag_min=30), day))
    # A 30-min product (a carton) took a door's 8 min of 13 °C air as under 2 °C: no
    # excursion, no budget spent.
    # At 1-min reporting the first gust's rise towards the limit is warned of once (the
    # later ones are the same rise again, `forecast_cycles`).
    assert {kind for kind, _ in air} <= {"temp_breach_predicted"} and len(air) <= 1
    # The same air read as if it were the product: every gust the readings catch for 5 min
    # is an excursion (a 15-min logger reads one reading of each, none), and the time out of
    # range spends the budget.
    kinds = [kind for kind, _ in opened(run(shipment(None, interval), day))]
    if interval < 15:
        assert kinds.count("temp_excursion") >= 8
    assert "stability_budget" in kinds


@pytest.mark.parametrize("interval", [1, 5, 15])
def test_a_dead_unit_behind_an_air_probe_raises_its_product_excursion_a_lag_later(interval):
    fails_at = 12 * 60 + 10
    events = run(
        shipment("air", interval, product_lag_min=30),
        range(0, 20 * 60, interval),
        fails_at,
        doors=False,
    )
    first = dict(reversed(opened(events)))
    # The product, 30 min behind air warming 4 °C/h, leaves 2-8 °C about 30 min after the air;
    # the excursion opens once it has been out 5 min (two readings at 15-min reporting).
    air_out = fails_at + (8.0 - reefer_air(fails_at - 1e-9)) / 4.0 * 60
    assert air_out + 25 <= first["temp_excursion"] <= air_out + 35 + 2 * interval
    excursion = next(e for e in events if e.kind == "temp_excursion" and e.event == "open")
    assert "simulated product (air " in excursion.summary
    assert excursion.evidence["air_c"] > excursion.evidence["temp_c"] > 8.0
    # Warned of before the product leaves its range (15 min ahead or more here; the forecast
    # is of the lagged product, whose rise begins slowly).
    assert first["temp_breach_predicted"] <= first["temp_excursion"] - 20
    warning = next(e for e in events if e.kind == "temp_breach_predicted")
    assert "simulated product (air " in warning.summary and "air_c" in warning.evidence


def test_a_door_gust_in_a_late_upload_starts_from_the_product_the_live_readings_left():
    # Live every 5 min; the 40 min from minute 120 come late, the door open in their first 15.
    def air(m: int) -> float:
        return 13.0 if 120 <= m < 135 else 5.0

    def events_of(s) -> list:
        engine = build_engine([s], lateness_ms=0)
        out = []
        late = [Reading("trk-air", T0 + m * MIN, temp_c=air(m)) for m in range(120, 160, 5)]
        for m in [*range(0, 120, 5), *range(160, 240, 5)]:
            out += engine.process(Reading("trk-air", T0 + m * MIN, temp_c=air(m)), T0 + m * MIN)
            if m == 170:
                for r in late:
                    out += engine.process(r, T0 + 171 * MIN)
        return [e for e in out + engine.flush() if e.kind in TEMPERATURE_KINDS]

    # 15 min of 13 °C air warm a 30-min product from 5 °C to about 8.1 °C, then 5 min of cool
    # air take it back: no 5 minutes out. Read as the product, the gust is an excursion.
    assert opened(events_of(shipment("air", 5, product_lag_min=30))) == []
    assert [k for k, _ in opened(events_of(shipment(None, 5)))] == ["temp_excursion"]


def test_a_door_open_warms_the_air_a_degree_at_once_but_the_product_slowly():
    # Open 12 min with no fix (a warning only at 15 min), the air warming a degree a minute
    # from 5 °C to 12 °C.
    def door(lag: float | None) -> list[tuple[int, str, str]]:
        d = DoorOpen(temp_rise_c=1.0, high_c=8.0, product_lag_min=lag)
        out = []
        for m in range(0, 60):
            shut = m < 30 or m >= 42
            air = 5.0 if shut else min(12.0, 6.0 + m - 30)
            r = Reading("t", T0 + m * MIN, temp_c=air, door="closed" if shut else "open")
            out += [(m, c.severity, c.summary) for c in d.update(r) or [] if c.active]
        return out

    assert [(m, sev) for m, sev, _ in door(None)] == [(31, "critical")]
    assert door(120.0) == []  # the product warmed about 0.6 °C in the 12 min
    # A 10-min product (a vial) does warm a degree: the door check says so, in its terms.
    ((minute, severity, summary),) = door(10.0)
    assert severity == "critical" and 32 <= minute <= 35 and "the cargo warmed 1." in summary


def test_a_door_opened_in_a_late_upload_warms_the_product_the_live_readings_left():
    # Live every 5 min at 5 °C, door shut; the 30 min from minute 120 come late: the door
    # opened with 13 °C air from their first reading. A 10-min product warms past a degree.
    def events_of(lag: float) -> list:
        s = shipment("air", 5, product_lag_min=lag)
        engine = build_engine([s], lateness_ms=0)

        def at(m: int, late: bool = False) -> Reading:
            if late:
                return Reading("trk-air", T0 + m * MIN, temp_c=13.0, door="open")
            return Reading("trk-air", T0 + m * MIN, temp_c=5.0, door="closed")

        out = []
        for m in [*range(0, 120, 5), *range(150, 200, 5)]:
            out += engine.process(at(m), T0 + m * MIN)
            if m == 160:
                for late in range(120, 150, 5):
                    out += engine.process(at(late, True), T0 + 161 * MIN)
        return [e for e in out + engine.flush() if e.kind == "door_open" and e.event == "open"]

    (warmed,) = events_of(10.0)
    assert warmed.severity == "critical" and warmed.evidence["temp_at_open_c"] < 6.0
    assert "from a late upload" in warmed.summary and warmed.evidence["air_c"] == 13.0
    # A 120-min product barely moved in those 30 min: the door is only a warning (open 15 min
    # with no position), not a warmed cargo.
    assert [e.severity for e in events_of(120.0)] == ["warning"]


def test_an_air_probes_jumps_are_the_airs_but_its_failure_values_are_still_faults():
    # A defrost: the air steps from 5 to 9 °C within a reading and holds there for 20 min.
    air = [5.0] * 10 + [9.0] * 20 + [5.0] * 10 + [-127.0] * 3
    readings = [Reading("trk-air", T0 + m * MIN, temp_c=t) for m, t in enumerate(air)]

    def faults(s) -> list[str]:
        d = make_sensor_fault(s)
        return [c.evidence["fault"] for r in readings for c in d.update(r) or [] if c.active]

    assert faults(shipment(None))[:1] == ["jump"] and faults(shipment(None))[-1] == "out_of_range"
    assert faults(shipment("air")) == ["out_of_range"]


@given(
    steps=st.lists(st.integers(1, 3_600), min_size=1, max_size=40),
    slope=st.floats(-20.0, 20.0),
    start=st.floats(-30.0, 30.0),
    lag_min=st.floats(1.0, 720.0),
)
def test_air_changing_at_a_steady_rate_gives_the_exact_lagged_product(steps, slope, start, lag_min):
    # Under air moving linearly, the first-order lag has a closed form; the step between
    # readings is exact for any interval, so irregular reporting changes nothing.
    lag = ProductLag(lag_min)
    tau_h = lag_min / 60
    t_s = 0
    lag.reading(Reading("t", T0, temp_c=start))
    for dt in steps:
        t_s += dt
        air = start + slope * t_s / 3600
        if not -90.0 < air < 80.0:
            break  # beyond what a probe can read: left to the sensor checks, tested below
        got = lag.reading(Reading("t", T0 + t_s * 1000, temp_c=air)).temp_c
        want = air - slope * tau_h + slope * tau_h * math.exp(-t_s / 3600 / tau_h)
        assert got == pytest.approx(want, abs=0.006)


@given(
    air=st.lists(st.floats(-40.0, 60.0), min_size=1, max_size=30),
    steps=st.lists(st.integers(0, 7_200_000), min_size=30, max_size=30),
    lag_min=st.floats(0.5, 720.0),
)
def test_the_product_never_leaves_the_range_of_the_air_it_was_in(air, steps, lag_min):
    lag = ProductLag(lag_min)
    ts = T0
    for value, step in zip(air, steps, strict=False):
        ts += step
        product = lag.reading(Reading("t", ts, temp_c=value)).temp_c
        assert product is not None
        assert min(air) - 0.005 <= product <= max(air) + 0.005


def test_readings_no_probe_can_give_pass_through_and_a_repeated_instant_moves_nothing():
    lag = ProductLag(30.0)
    lag.reading(Reading("t", T0, temp_c=5.0))
    assert lag.reading(Reading("t", T0 + 10 * MIN, temp_c=-127.0)).temp_c == -127.0
    assert lag.reading(Reading("t", T0 + 10 * MIN, temp_c=None)).temp_c is None
    assert math.isnan(lag.reading(Reading("t", T0 + 10 * MIN, temp_c=math.nan)).temp_c or 0.0)
    warm = lag.reading(Reading("t", T0 + 20 * MIN, temp_c=9.0)).temp_c
    # The -127 °C never entered: the air is taken to have moved from 5 to 9 over 20 min.
    assert warm == pytest.approx(9 - 4 * 1.5 + 4 * 1.5 * math.exp(-20 / 30), abs=0.006)
    again = lag.reading(Reading("t", T0 + 20 * MIN, temp_c=30.0)).temp_c
    assert again == warm and lag.air_c == 9.0


def test_the_manifest_declares_an_air_probe_and_its_product_lag():
    assert shipment(None).product_lag_min is None
    assert shipment("product").product_lag_min is None
    assert shipment("air").product_lag_min == 120.0  # a loaded reefer's pallets
    assert shipment("air", product_lag_min=90).product_lag_min == 90.0
    refusals = [
        ({"probe": "return_air"}, "probe must be one of ['product', 'air'], got 'return_air'"),
        ({"probe": ["air"]}, "probe must be one of ['product', 'air'], got an array"),
        ({"product_lag_min": 45}, 'product_lag_min applies only to "probe": "air"'),
        ({"probe": "product", "product_lag_min": 45}, "applies only to"),
        ({"probe": "air", "product_lag_min": 0}, "product_lag_min must be a positive number"),
        ({"probe": "air", "product_lag_min": 1440}, "product_lag_min must be at most 720"),
        ({"probe": "air", "product_lag_min": "30"}, "must be a positive number, got '30'"),
    ]
    for fields, message in refusals:
        probe = fields.pop("probe", None)
        with pytest.raises(ManifestError, match="shipment 'SHP-AIR'") as refused:
            shipment(probe, **fields)  # type: ignore[arg-type]
        assert message in str(refused.value)


@pytest.mark.parametrize("cls", [TempExcursion, PredictedBreach])
def test_a_detector_pickled_before_air_probes_restores_as_a_product_probe(cls):
    detector = cls(2.0, 8.0, 120.0) if cls is TempExcursion else cls(2.0, 8.0)
    none, slots = detector.__reduce_ex__(2)[2]
    assert none is None and "product" in slots
    del slots["product"]
    restored = cls.__new__(cls)
    restored.__setstate__((None, slots))
    assert restored.product is None
    if cls is TempExcursion:
        # It judges the readings as they come, as before.
        out = [
            c
            for m in (0, 5, 10)
            for c in restored.update(Reading("t", T0 + m * MIN, temp_c=9.5)) or []
        ]
        assert out and out[0].summary.startswith("9.5 °C, 1.5 °C above")
    air = (
        cls(2.0, 8.0, 120.0, product_lag_min=30.0)
        if cls is TempExcursion
        else cls(2.0, 8.0, product_lag_min=30.0)
    )
    air.update(Reading("t", T0, temp_c=5.0))
    again = pickle.loads(pickle.dumps(air))
    assert again.product is not None and again.product.air_c == 5.0


def defrost_air(minute: float) -> float:
    """A cold room's air at 2 °C, defrosting from the third hour: 5.5 °C above it within 10
    min, held 10 min, back over 30 min; read at 0.5 °C steps."""
    into = minute - 180
    if 0 <= into < 10:
        rise = 5.5 * into / 10
    elif 10 <= into < 20:
        rise = 5.5
    elif 20 <= into < 50:
        rise = 5.5 * (50 - into) / 30
    else:
        rise = 0.0
    return round((2.0 + rise) * 2) / 2


@pytest.mark.parametrize("interval", [1, 2, 5])
def test_no_breach_warning_opens_on_a_rise_the_air_no_longer_drives(interval: int) -> None:
    # A 0-4 °C product two hours behind its air: the defrost's warm air lifts it by about a
    # degree, and its smoothed trend still points up, and steeply, while the air is on its way
    # back down and drives the product ever more slowly (then cools it). It never reaches 4,
    # and the trend alone warned of it at every one of these intervals.
    d = PredictedBreach(0.0, 4.0, horizon_min=90, product_lag_min=120)
    lag = ProductLag(120)
    warned, highest = [], -math.inf
    for m in range(0, 8 * 60, interval):
        r = Reading("trk-air", T0 + m * MIN, temp_c=defrost_air(m))
        highest = max(highest, lag.reading(r).temp_c or -math.inf)
        warned += [m for c in d.update(r) or [] if c.active]
    assert 2.9 < highest < 4.0, "the product warmed by about a degree, short of its limit"
    assert warned == []


def test_a_warning_open_on_a_failing_unit_outlasts_a_moments_cold_air() -> None:
    # Dead unit, air warming 4 °C/h; once warned, a 4-minute gust of cold air (the unit
    # kicking in once more) drives the product down for those minutes, but the warning is
    # kept on its trend: it neither clears nor opens again.
    d = PredictedBreach(2.0, 8.0, horizon_min=90, product_lag_min=30)
    events = []
    dip = None
    for m in range(0, 10 * 60):
        air = 4.0 if m < 6 * 60 else 4.0 + 4.0 * (m - 6 * 60) / 60
        if dip is None and any(c.active for c in events):
            dip = m + 5
        if dip is not None and dip <= m < dip + 4:
            air = 2.0
        out = d.update(Reading("trk-air", T0 + m * MIN, temp_c=round(air, 1)))
        events += [c for c in out or [] if c.kind == "temp_breach_predicted"]
    assert dip is not None, "the failure was warned of"
    clears = [c for c in events if not c.active]
    assert clears and clears[0].at_ms > T0 + (dip + 4) * MIN
    assert "range left" in clears[0].summary, "cleared by the breach itself, not the gust"
