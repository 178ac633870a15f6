"""The unscheduled-stop threshold set per shipment: a corridor where queues and rests are routine.

A customs corridor with border queues or mandated drivers' rests sees trucks stand still for
half an hour on every trip; at the profiles' 10 minutes each of those stops is an alert. The
manifest's `unscheduled_stop_min` sets the threshold per shipment; the stop turns critical at
60 min, or at twice the threshold where that is longer.
"""

import dataclasses
import pickle

import pytest
from detector_checks import feed

from detectors.engine import same_watch
from detectors.profiles import (
    PROFILES,
    UNSCHEDULED_STOP_MIN,
    ManifestError,
    Profile,
    parse_shipment,
)
from detectors.reading import Reading
from detectors.unscheduled_stop import make_unscheduled_stop

MIN = 60_000
T0 = 1_763_800_000_000
ROUTE = {"type": "LineString", "coordinates": [[33.0, 0.0], [34.0, 0.0]]}


def shipment(**fields: object):
    return parse_shipment(
        {
            "shipment_id": "SHP-1",
            "device_id": "trk-1",
            "profile": "customs_transit",
            "route": ROUTE,
            **fields,
        }
    )


def parked(minutes: int, step_min: int = 5) -> list[Reading]:
    """A truck standing on the route mid-way, a live receiver's metre of noise on each fix."""
    return [
        Reading("trk-1", T0 + m * MIN, lat=0.0001 * (m % 3), lon=33.5 + 0.00001 * (m % 2))
        for m in range(0, minutes + 1, step_min)
    ]


def opened(events: list[tuple[int, object]]) -> list[tuple[int, str]]:
    """(minute, severity) of every active condition."""
    return [(i * 5, c.severity) for i, c in events if c.active]


def test_by_default_a_stop_of_10_min_opens_and_turns_critical_at_60():
    d = make_unscheduled_stop(shipment())
    assert opened(feed(d, parked(70))) == [(10, "warning"), (60, "critical")]


def test_a_shipment_that_allows_45_min_is_told_of_its_stop_at_45_and_critical_at_90():
    s = shipment(unscheduled_stop_min=45)
    assert s.profile.unscheduled_stop_min == 45.0
    assert feed(make_unscheduled_stop(s), parked(40)) == []  # a 40-minute queue: nothing
    assert opened(feed(make_unscheduled_stop(s), parked(100))) == [
        (45, "warning"),
        (90, "critical"),
    ]


def test_a_threshold_under_the_default_opens_sooner_and_keeps_60_for_critical():
    d = make_unscheduled_stop(shipment(unscheduled_stop_min=5))
    assert opened(feed(d, parked(60))) == [(5, "warning"), (60, "critical")]


@pytest.mark.parametrize("value", [0, -10, "30", True, None, float("inf")])
def test_a_threshold_that_is_not_a_positive_number_is_refused_naming_the_key(value):
    with pytest.raises(ManifestError, match="unscheduled_stop_min must be a positive number"):
        shipment(unscheduled_stop_min=value)


def test_every_profile_defaults_to_10_min():
    assert UNSCHEDULED_STOP_MIN == 10.0
    assert {p.unscheduled_stop_min for p in PROFILES.values()} == {10.0}


def test_a_profile_pickled_before_the_threshold_existed_restores_and_keeps_its_devices():
    # A snapshot of the release before holds each profile's values in field order, without
    # this one (`max_speed_kmh` last): restored, it is today's profile, so `same_watch` keeps
    # what the device's detectors learnt across the upgrade.
    current = shipment()
    names = [f.name for f in dataclasses.fields(Profile)]
    old_state = [
        v
        for name, v in zip(names, current.profile.__getstate__(), strict=True)
        if name != "unscheduled_stop_min"
    ]
    restored = Profile.__new__(Profile)
    restored.__setstate__(old_state)
    assert restored == current.profile
    held = dataclasses.replace(current, profile=restored)
    assert same_watch(current, pickle.loads(pickle.dumps(held)))
