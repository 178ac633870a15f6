"""Replay: recorded readings through the engine in event time, with scores, series, peak risk and a summary."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.profiles import PROFILES, parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.replay import ReplayResult, replay, replay_engine, temp_band

MIN = 60_000
VACCINE = parse_shipment({"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "vaccine_2_8"})
CUSTOMS = PROFILES["customs_transit"]


def excursion(device="trk-1"):
    temps = [5.0] * 12 + [9.0] * 6 + [5.0] * 6
    return [Reading(device, i * 5 * MIN, temp_c=t) for i, t in enumerate(temps)]


def tampering(device="trk-7"):
    closed = [Reading(device, i * 5 * MIN, seal="closed") for i in range(10)]
    return [*closed, Reading(device, 50 * MIN, seal="tampered")]


def summary(events):
    return [(e.event, e.kind, e.at_ms // MIN) for e in events]


def test_a_recorded_excursion_opens_and_resolves_at_the_event_times_it_would_have_live():
    result = replay(excursion(), replay_engine([VACCINE], None))
    assert summary(result.events) == [
        ("open", "temp_excursion", 65),
        ("update", "temp_excursion", 80),
        ("resolve", "temp_excursion", 100),
    ]
    assert result.readings == 24


def test_the_same_recording_replays_to_the_same_events():
    first = replay(excursion(), replay_engine([VACCINE], None))
    second = replay(excursion(), replay_engine([VACCINE], None))
    assert [e.to_json() for e in first.events] == [e.to_json() for e in second.events]


def test_what_the_engine_still_buffers_at_the_end_of_the_recording_is_flushed_and_raised():
    # A reorder wait longer than the recording's tail holds the tampered seal back.
    waiting = build_engine([], CUSTOMS, lateness_ms=10 * MIN)
    result = replay(tampering(), waiting)
    assert summary(result.events) == [("open", "seal_breach", 50)]


def test_a_device_no_profile_watches_is_counted_but_raises_nothing():
    result = replay(tampering(), replay_engine([], None))
    assert result.readings == 11 and result.events == []


def test_the_peak_risk_of_a_shipment_is_kept_after_its_alert_resolves():
    result = replay(excursion(), replay_engine([VACCINE], None))
    assert result.events[-1].event == "resolve"
    peak = result.risk["trk-1"]
    assert peak.score == 9.0 and [c.kind for c in peak.contributions] == ["temp_excursion"]


def test_scores_are_one_per_reading_and_zero_where_the_channel_is_missing():
    readings = [*excursion(), Reading("trk-1", 200 * MIN, seal="closed")]
    result = replay(readings, replay_engine([VACCINE], None), channel="temp_c", scores=True)
    assert len(result.scores) == len(readings)
    device, ts, value, score = result.scores[-1]
    assert (device, ts, score) == ("trk-1", 200 * MIN, 0.0) and math.isnan(value)
    assert all(0.0 <= s <= 1.0 for *_, s in result.scores)


def test_each_device_is_scored_on_its_own_readings_only():
    alone = replay(excursion("a"), replay_engine([], None), scores=True).scores
    interleaved = [r for pair in zip(excursion("a"), excursion("b"), strict=True) for r in pair]
    together = replay(interleaved, replay_engine([], None), scores=True).scores
    assert [s for s in together if s[0] == "a"] == alone


def test_the_series_for_a_plot_is_kept_only_when_asked_for_and_only_where_the_channel_is():
    readings = [*excursion(), Reading("trk-1", 200 * MIN, seal="closed")]
    assert replay(readings, replay_engine([VACCINE], None)).series == {}
    kept = replay(readings, replay_engine([VACCINE], None), series=True).series
    assert kept == {"trk-1": [(r.ts_ms, r.temp_c) for r in readings[:-1]]}


def test_a_reader_counts_its_rejects_into_the_result_it_is_given():
    result = ReplayResult(rejected={"invalid_json": 2})
    replay(excursion(), replay_engine([VACCINE], None), result)
    assert result.summary("alerts.jsonl")[0] == (
        "24 readings replayed, 1 alerts opened (3 events) -> alerts.jsonl;"
        " 2 rejects {'invalid_json': 2}"
    )


def test_the_summary_ranks_the_riskiest_devices_with_their_reasons():
    readings = [*tampering("trk-7"), *excursion("trk-1")]
    result = replay(readings, replay_engine([VACCINE], CUSTOMS))
    # trk-7 falls quiet after its seal is tampered while trk-1 reports for another hour.
    assert result.summary("out")[1:] == [
        "  peak risk  75.4  trk-7: seal_breach critical 70, silence warning 18",
        "  peak risk   9.0  trk-1: temp_excursion warning 9",
    ]


@pytest.mark.parametrize(
    "shipments, default, band",
    [
        pytest.param([VACCINE], None, (2.0, 8.0), id="the range every shipment shares"),
        pytest.param(
            [
                VACCINE,
                parse_shipment(
                    {"shipment_id": "S2", "device_id": "t2", "profile": "frozen_minus_20"}
                ),
            ],
            PROFILES["vaccine_2_8"],
            (2.0, 8.0),
            id="the default profile's range when shipments differ",
        ),
        pytest.param([], PROFILES["frozen_minus_20"], (-25.0, -15.0), id="the default's range"),
        pytest.param([], None, None, id="no range when nothing sets one"),
    ],
)
def test_the_band_to_draw_is_the_temperature_range_the_replayed_devices_share(
    shipments, default, band
):
    assert temp_band(shipments, default) == band


@settings(max_examples=60, deadline=None)
@given(
    temps=st.lists(st.sampled_from([5.0, 5.1, 9.0, 9.5, -127.0, 85.0]), min_size=12, max_size=40),
    delays_s=st.lists(st.integers(0, 29), min_size=40, max_size=40),
)
def test_readings_delivered_less_than_the_reorder_wait_behind_replay_as_in_order(
    temps: list[float], delays_s: list[int]
) -> None:
    # Two trackers reporting every 10 s; each message arrives up to 29 s after its stamp,
    # so the recording (in arrival order) holds readings behind newer ones. As live, the
    # 30 s reorder wait puts them back in order: every alert is the one the ordered recording
    # raises, at the same time, whatever the temperatures (probe faults included).
    def stamped(device: str, offset_s: int) -> list[tuple[int, Reading]]:
        out = []
        for i, t in enumerate(temps):
            ts = i * 10_000 + offset_s * 1000
            out.append((ts + delays_s[i] * 1000, Reading(device, ts, temp_c=t)))
        return out

    both = stamped("trk-1", 0) + stamped("trk-2", 5)
    arrived = [r for _, r in sorted(both, key=lambda a: a[0])]
    ordered = sorted(arrived, key=lambda r: r.ts_ms)
    shipments = [
        parse_shipment({"shipment_id": f"S-{d}", "device_id": d, "profile": "vaccine_2_8"})
        for d in ("trk-1", "trk-2")
    ]
    kept = ("temp_excursion", "sensor_fault", "temp_breach_predicted")

    def alerts(readings: list[Reading]) -> list[tuple[str, str, str, int]]:
        events = replay(readings, replay_engine(shipments, None)).events
        return [(e.device_id, e.kind, e.event, e.at_ms) for e in events if e.kind in kept]

    assert alerts(arrived) == alerts(ordered)
