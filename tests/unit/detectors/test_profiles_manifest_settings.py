"""Per-shipment excursion minimum and breach horizon: set in the manifest, validated, used."""

import pytest

from detectors.predicted_breach import make_predicted_breach
from detectors.profiles import ManifestError, parse_shipment
from detectors.temperature import make_temp_excursion


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
