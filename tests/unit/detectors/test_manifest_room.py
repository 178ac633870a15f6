"""The manifest's `room`: which trackers share a space, validated naming the shipment and the key."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from detector_checks import room_entry
from hypothesis import given
from hypothesis import strategies as st

from detectors.profiles import ManifestError, Shipment, parse_manifest, parse_shipment
from detectors.reading import SHIPMENT_ID_RE


def shipment(device: str, room: str | None = "chiller-2") -> Shipment:
    return parse_shipment(room_entry(device, room))


def test_a_snapshot_written_before_shipments_had_rooms_still_restores() -> None:
    old = Shipment.__new__(Shipment)
    new = shipment("log-1", room=None)
    state = [getattr(new, f.name) for f in dataclasses.fields(new)]
    old.__setstate__(state[:-2])  # as pickled before `room` and `organisation` existed
    assert old == shipment("log-1", room=None)
    assert pickle.loads(pickle.dumps(shipment("log-1"))) == shipment("log-1")


def test_the_manifest_declares_the_room_and_leaving_it_out_declares_none() -> None:
    doc = {
        "shipments": [
            {"shipment_id": "S1", "device_id": "t1", "profile": "chilled_reefer", "room": "A/1"},
            {"shipment_id": "S2", "device_id": "t2", "profile": "chilled_reefer", "room": None},
            {"shipment_id": "S3", "device_id": "t3", "profile": "chilled_reefer"},
        ]
    }
    assert [s.room for s in parse_manifest(doc)] == ["A/1", None, None]
    assert all(s.organisation is None for s in parse_manifest(doc))


@pytest.mark.parametrize(
    "room, shown",
    [
        pytest.param("", "''", id="empty"),
        pytest.param("chiller 2", "'chiller 2'", id="a space"),
        pytest.param("r\n1", "'r\\n1'", id="a line break"),
        pytest.param("x" * 65, "'" + "x" * 40 + "'...", id="over 64 characters"),
        pytest.param(7, "7", id="a number"),
        pytest.param(["r1"], "an array", id="an array"),
        pytest.param({"id": "r1"}, "an object", id="an object"),
    ],
)
def test_a_room_that_is_not_a_plain_id_is_refused_naming_the_shipment_and_the_key(
    room: object, shown: str
) -> None:
    element = {"shipment_id": "S1", "device_id": "t1", "profile": "chilled_reefer", "room": room}
    with pytest.raises(ManifestError) as refused:
        parse_shipment(element)
    assert str(refused.value) == (
        f"shipment 'S1': room must match [A-Za-z0-9._:/#-]{{1,64}}, got {shown}"
    )


@given(st.one_of(st.text(max_size=70), st.from_regex(SHIPMENT_ID_RE, fullmatch=True)))
def test_any_room_string_is_kept_as_given_or_refused_naming_the_key(room: str) -> None:
    try:
        parsed = shipment("log-1", room)
    except ManifestError as exc:
        assert "room must match" in str(exc)
        assert not SHIPMENT_ID_RE.fullmatch(room)
    else:
        assert parsed.room == room and SHIPMENT_ID_RE.fullmatch(room)
