"""Per-shipment excursion minimum and breach horizon: set in the manifest, validated, used."""

import pytest

from detectors.predicted_breach import make_predicted_breach
from detectors.profiles import ManifestError, parse_manifest, parse_shipment
from detectors.reading import Reading
from detectors.registry import build_engine
from detectors.silence import make_silence
from detectors.temperature import make_temp_excursion

MIN = 60_000


def shipment(**fields: object):
    return parse_shipment(
        {"shipment_id": "SHP-1", "device_id": "trk-1", "profile": "vaccine_2_8", **fields}
    )


def test_the_manifest_sets_the_excursion_minimum_and_the_breach_horizon():
    s = shipment(excursion_min_duration_min=15, breach_horizon_min=45)
    assert s.profile.excursion_min_duration_min == 15.0 and s.profile.breach_horizon_min == 45.0
    assert make_temp_excursion(s).min_duration_ms == 15 * 60_000
    assert make_predicted_breach(s).horizon_h == 0.75


def test_without_them_the_profile_applies_and_zero_minimum_opens_on_the_first_reading():
    s = shipment()
    assert (s.profile.excursion_min_duration_min, s.profile.breach_horizon_min) == (5.0, 90.0)
    assert shipment(excursion_min_duration_min=0).profile.excursion_min_duration_min == 0.0


def silence_opened(s, readings_min, until_min):
    """Whether `silence` opens for readings at these minutes, the clock judged just before each."""
    d = make_silence(s)
    for t in readings_min:
        if d.advance(round(t * MIN) - 1):
            return True
        d.update(Reading("trk-1", round(t * MIN)))
        d.advance(round(t * MIN))
    return bool(d.advance(round(until_min * MIN)))


def test_a_logger_reporting_every_15_min_is_not_silent_on_two_lost_readings():
    # 00:00, then 00:15 and 00:30 lost, and 00:45 arriving 40 s late: the profile's 30 min
    # alone would have called that silence.
    logger = shipment(expected_interval_s=900)
    assert logger.profile.max_gap_min == 55.0
    assert not silence_opened(logger, [0, 45 + 40 / 60], 45 + 40 / 60)
    assert silence_opened(shipment(expected_interval_s=900, max_gap_min=30), [0, 45.7], 45.7)
    # Three lost in a row is silence: no reading for over 55 min.
    assert silence_opened(logger, [0], 56)


def test_the_silence_default_follows_the_interval_only_where_the_profile_is_shorter():
    assert shipment(expected_interval_s=600).profile.max_gap_min == 40.0
    assert shipment(expected_interval_s=300).profile.max_gap_min == 30.0
    assert shipment(expected_interval_s=60).profile.max_gap_min == 30.0
    # Given, it is taken as given, however short against the interval.
    assert shipment(expected_interval_s=900, max_gap_min=20).profile.max_gap_min == 20.0


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"excursion_min_duration_min": -1}, "excursion_min_duration_min must be a number >= 0"),
        ({"excursion_min_duration_min": "5"}, "excursion_min_duration_min must be a number >= 0"),
        ({"breach_horizon_min": 0}, "breach_horizon_min must be a positive number"),
        ({"breach_horizon_min": True}, "breach_horizon_min must be a positive number"),
        ({"breach_horizon": 60}, "unknown key 'breach_horizon'"),
    ],
)
def test_bad_values_are_refused_naming_the_field(fields, message):
    with pytest.raises(ManifestError, match=message):
        shipment(**fields)


ZONE_OPEN = [[34.0, 0.5], [34.1, 0.5], [34.1, 0.6], [34.0, 0.6]]


@pytest.mark.parametrize(
    "fields, message",
    [
        # json.loads gives 1e400 as infinity: a budget that never runs out is a typo.
        ({"stability_budget_min": float("inf")}, "stability_budget_min must be a positive number"),
        ({"breach_horizon_min": 10**400}, "got an integer of 1329 bits"),
        ({"temp_range_c": [2, float("inf")]}, "temp_range_c must be \\[low, high\\]"),
        (
            {"departure": "2026-11-03T18:00:00Z", "arrival": "2026-11-03T08:00:00Z"},
            "arrival must be after departure",
        ),
        (
            {"expected_interval_s": 900, "max_gap_min": 5},
            "max_gap_min \\(5 min\\) must be longer than the reporting interval",
        ),
        (
            {"route": {"type": "LineString", "coordinates": [[35.0, 139.66], [36.0, 1.0]]}},
            "got \\[35, 139.66\\] \\(latitude 139.66 is outside -90 to 90\\)",
        ),
        (
            {
                "restricted_zones": [
                    {"name": "Z", "polygon": {"type": "Polygon", "coordinates": [ZONE_OPEN]}}
                ]
            },
            "a zone's ring must end at its first point",
        ),
    ],
)
def test_contradictions_and_unbounded_values_are_refused_saying_what_is_wrong(fields, message):
    with pytest.raises(ManifestError, match=message):
        shipment(**fields)


def test_a_shipment_id_given_twice_in_one_manifest_is_refused():
    doc = {
        "shipments": [
            {"shipment_id": "SHP-1", "device_id": d, "profile": "vaccine_2_8"}
            for d in ("trk-1", "trk-2")
        ]
    }
    with pytest.raises(ManifestError, match="shipment 'SHP-1' is in the manifest more than once"):
        parse_manifest(doc)


DURATIONS = [
    ("stability_budget_min", 5_256_000),
    ("expected_interval_s", 315_360_000),
    ("max_gap_min", 5_256_000),
    ("excursion_min_duration_min", 5_256_000),
    ("breach_horizon_min", 5_256_000),
    ("unscheduled_stop_min", 5_256_000),
]


@pytest.mark.parametrize(("key", "decade"), DURATIONS)
def test_a_duration_longer_than_ten_years_is_refused_and_ten_years_is_watched(key, decade):
    # 1e308 is a finite number a float holds, but no count of milliseconds: before, it parsed
    # and every reading of the device then failed in the detectors.
    with pytest.raises(ManifestError, match=f"{key} must be at most {decade} .* got 1e\\+308"):
        shipment(**{key: 1e308})
    s = shipment(**{key: decade}, departure="2026-01-01T00:00:00Z")
    engine = build_engine([s])
    at = 1_767_225_600_000 + MIN
    engine.process(Reading("trk-1", at, temp_c=5.0, lat=0.5, lon=34.0), at)
    engine.advance(at + 30 * 86_400_000)  # every timer judged, none overflowing
    assert getattr(engine.devices["trk-1"].shipment.profile, key) == decade
