"""The EPCIS 2.0 builder: any readings and alert steps the stores could hold make a document GS1's
own JSON schema accepts; each channel and alert kind lands in the field docs/epcis.md says; event
ids are the same in every export and never shared; and the schema check itself refuses broken
documents, so a passing check means something."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from epcis_checks import EXAMPLE, schema_errors
from hypothesis import given, settings
from hypothesis import strategies as st

from api.epcis import ALERT_ACTIONS, AlertStep, ShipmentRef, document_bytes, epcis_document
from api.epcis_fields import event_id, shipment_urn
from api.epcis_vocabulary import (
    ALERT_MEASURES,
    CHANNEL_MEASURES,
    EPCIS_CONTEXT,
    POSITION_CHANNELS,
    TEXT_MEASURES,
    alert_measure,
)
from api.readings_query import CHANNELS, MAX_TIME_MS, ChannelSeries, ReadingSeries, SeriesPoint
from detectors.alerts import KINDS, SEVERITIES
from detectors.reading import DOOR_STATES, FLOAT_CHANNELS, SEAL_STATES

ROOT = Path(__file__).resolve().parents[3]
T0_MS = 1_763_800_000_000  # 2025-11-22T08:26:40Z
SHIPMENT = ShipmentRef("ACME Pharma", "SHP-0001", "trk-00001")


def series(
    rows: Mapping[int, Mapping[str, float | str]], *, bucket_ms: int | None = None
) -> ReadingSeries:
    """Raw readings {at_ms: {channel: value}} as the readings query returns them."""
    points: dict[str, list[SeriesPoint]] = {c: [] for c in CHANNELS}
    for at in sorted(rows):
        for channel, value in rows[at].items():
            if bucket_ms is not None and not isinstance(value, str):
                points[channel].append(SeriesPoint(at, value, value - 1.0, value + 1.0))
            else:
                points[channel].append(SeriesPoint(at, value))
    start = min(rows, default=T0_MS)
    return ReadingSeries(
        "trk-00001",
        start,
        max(rows, default=T0_MS) + (bucket_ms or 1),
        tuple(ChannelSeries(c, tuple(points[c])) for c in CHANNELS),
        bucket_ms is not None,
        bucket_ms,
    )


def events(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["epcisBody"]["eventList"]
    return found


def reports(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for element in event.get("sensorElementList", []) for r in element["sensorReport"]]


def valid(document: dict[str, Any]) -> dict[str, Any]:
    errors = schema_errors(document)
    assert not errors, "\n".join(errors[:10])
    return document


# --- the check can fail ------------------------------------------------------------------------


def test_the_schema_accepts_gs1s_own_sensor_data_example() -> None:
    assert schema_errors(json.loads(EXAMPLE.read_text(encoding="utf-8"))) == []


def _broken(path: str, value: Any) -> dict[str, Any]:
    document = epcis_document(
        SHIPMENT,
        series({T0_MS: {"temp_c": 5.0, "lat": -4.0, "lon": 39.6}}),
        [AlertStep("al_1", "temp_excursion", "warning", "open", 1, T0_MS, "hot", {"temp_c": 9.0})],
        created_ms=T0_MS,
    )
    *parents, last = path.split("/")
    node: Any = document
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return document


_DELETE = object()
E0 = "epcisBody/eventList/0"


@pytest.mark.parametrize(
    "path, value",
    [
        pytest.param(
            f"{E0}/eventTimeZoneOffset", _DELETE, id="an event without its time zone offset"
        ),
        pytest.param(f"{E0}/eventTime", "2025-11-22 08:26", id="an eventTime that is not RFC 3339"),
        pytest.param(f"{E0}/epcList/0", "SHP 0001", id="an EPC that is not a URI"),
        pytest.param(f"{E0}/action", "LOOK", id="an action outside OBSERVE, ADD, DELETE"),
        pytest.param(
            f"{E0}/bizStep",
            "urn:epcglobal:cbv:bizstep:transporting",
            id="a bizStep in the CBV 1.x URN form",
        ),
        pytest.param(
            f"{E0}/sensorElementList/0/sensorReport/0/type",
            "Temprature",
            id="a measurement type CBV does not have",
        ),
        pytest.param(
            f"{E0}/sensorElementList/0/sensorReport/0/value",
            "5.0",
            id="a sensor value given as text",
        ),
        pytest.param(
            f"{E0}/sensorElementList/0/sensorReport", [], id="a sensor element with no report"
        ),
        pytest.param(f"{E0}/readPoint", {"geo": "geo:-4,39.6"}, id="a read point without an id"),
        pytest.param(f"{E0}/channel", 1, id="an extension property that is not a URI"),
        pytest.param("schemaVersion", "two", id="a schema version that is not a number"),
        pytest.param("creationDate", _DELETE, id="a document without its creation date"),
    ],
)
def test_the_schema_check_refuses_a_broken_document(path: str, value: Any) -> None:
    document = _broken(path, value)
    assert schema_errors(document), f"{path} = {value!r} was accepted"


def test_the_unbroken_document_of_that_check_is_valid() -> None:
    valid(_broken("schemaVersion", "2.0"))


# --- what each channel and kind becomes ----------------------------------------------------------


def test_a_reading_is_one_event_with_its_channels_as_sensor_reports_and_its_position_as_read_point() -> (
    None
):
    at = T0_MS + 60_000
    reading: dict[str, Any] = {
        "lat": -4.04,
        "lon": 39.66,
        "temp_c": 5.5,
        "ambient_c": 31.0,
        "humidity_pct": 61.0,
        "shock_g": 2.0,
        "light_lux": 120.0,
        "battery_v": 3.9,
        "seal": "closed",
        "seal_id": "ES-1",
        "door": "closed",
    }
    document = valid(epcis_document(SHIPMENT, series({at: reading}), [], created_ms=at))
    assert document["@context"][0] == EPCIS_CONTEXT and document["type"] == "EPCISDocument"
    (event,) = events(document)
    assert event["type"] == "ObjectEvent" and event["action"] == "OBSERVE"
    assert (
        event["eventTime"] == "2025-11-22T08:27:40.000Z"
        and event["eventTimeZoneOffset"] == "+00:00"
    )
    assert event["epcList"] == [shipment_urn("ACME Pharma", "SHP-0001")]
    assert event["readPoint"] == {"id": "geo:-4.04,39.66"}
    assert event["disposition"] == "container_closed"
    (element,) = event["sensorElementList"]
    assert element["sensorMetadata"] == {
        "time": "2025-11-22T08:27:40.000Z",
        "deviceID": "urn:cargowatch:device:trk-00001",
    }
    by_channel = {r["cargowatch:channel"]: r for r in reports(event)}
    assert set(by_channel) == set(reading) - set(POSITION_CHANNELS)
    for channel, measure in CHANNEL_MEASURES.items():
        report = by_channel[channel]
        assert report["type"] == measure.type and report.get("uom") == measure.uom
        assert report["value"] == pytest.approx(reading[channel] * measure.scale)
    assert by_channel["shock_g"]["value"] == pytest.approx(2.0 * 9.80665)  # g -> m/s²
    for channel, measure in TEXT_MEASURES.items():
        assert by_channel[channel] == {
            "type": measure.type,
            "stringValue": reading[channel],
            "cargowatch:channel": channel,
        }


def test_a_value_too_large_for_the_standards_unit_is_kept_as_read_not_made_infinite() -> None:
    reading: dict[str, float | str] = {"shock_g": 1e308, "temp_c": 5.0}
    document = valid(epcis_document(SHIPMENT, series({T0_MS: reading}), [], created_ms=T0_MS))
    (event,) = events(document)
    shock = next(r for r in reports(event) if r["cargowatch:channel"] == "shock_g")
    assert "value" not in shock and shock["cargowatch:value"] == {"value": 1e308}
    assert json.loads(document_bytes(document)) == document  # no Infinity in the JSON


@pytest.mark.parametrize(
    "seal, door, disposition",
    [
        pytest.param("open", "closed", "container_open", id="an open seal opens the container"),
        pytest.param("tampered", None, "container_open", id="a tampered seal opens the container"),
        pytest.param("closed", "open", "container_open", id="an open door opens the container"),
        pytest.param(None, "closed", "container_closed", id="a closed door closes it"),
        pytest.param(None, None, "in_transit", id="without seal or door it is in transit"),
    ],
)
def test_seal_and_door_states_are_the_events_disposition(
    seal: str | None, door: str | None, disposition: str
) -> None:
    reading: dict[str, float | str] = {"temp_c": 5.0}
    if seal is not None:
        reading["seal"] = seal
    if door is not None:
        reading["door"] = door
    (event,) = events(
        valid(epcis_document(SHIPMENT, series({T0_MS: reading}), [], created_ms=T0_MS))
    )
    assert event["disposition"] == disposition


def test_a_bucket_is_one_event_spanning_its_interval_with_mean_min_and_max() -> None:
    rows = {T0_MS: {"temp_c": 6.0, "lat": 0.5, "lon": 34.0}, T0_MS + 600_000: {"temp_c": 7.0}}
    document = valid(
        epcis_document(SHIPMENT, series(rows, bucket_ms=600_000), [], created_ms=T0_MS)
    )
    assert document["cargowatch:bucketMs"] == 600_000
    first, second = events(document)
    (element,) = first["sensorElementList"]
    assert element["sensorMetadata"]["startTime"] == "2025-11-22T08:26:40.000Z"
    assert element["sensorMetadata"]["endTime"] == "2025-11-22T08:36:40.000Z"
    (report,) = [r for r in reports(first) if r["cargowatch:channel"] == "temp_c"]
    assert (report["meanValue"], report["minValue"], report["maxValue"]) == (6.0, 5.0, 7.0)
    assert "value" not in report
    # The position moved within the bucket (min != max): its mean is no place to read at.
    assert "readPoint" not in first and "readPoint" not in second


@pytest.mark.parametrize("kind", KINDS)
def test_every_alert_kind_opens_with_its_sensor_alert_type_and_resolves_without_it(
    kind: str,
) -> None:
    row = ALERT_MEASURES[kind]
    evidence: dict[str, Any] = {"lat": 0.63, "lon": 34.27}
    if row.evidence_key is not None:
        evidence[row.evidence_key] = "open" if row.measure.uom is None else 12.5
    steps = [
        AlertStep("al_1", kind, "warning", "open", 1, T0_MS, "it began", evidence),
        AlertStep("al_1", kind, "critical", "update", 2, T0_MS + 60_000, "it grew", evidence),
        AlertStep("al_1", kind, "critical", "resolve", 4, T0_MS + 120_000, "it ended", {}),
    ]
    document = valid(epcis_document(SHIPMENT, series({}), steps, created_ms=T0_MS))
    opened, updated, resolved = events(document)
    assert [e["cargowatch:alertEvent"] for e in (opened, updated, resolved)] == list(ALERT_ACTIONS)
    assert opened["cargowatch:alertKind"] == kind and opened["cargowatch:alertId"] == "al_1"
    assert updated["cargowatch:alertSeverity"] == "critical"
    (report,) = reports(opened)
    assert report["type"] == row.measure.type and report["exception"] == row.exception
    if row.measure.uom is not None and row.evidence_key is not None:
        assert report["value"] == pytest.approx(12.5 * row.measure.scale)
        assert report["uom"] == row.measure.uom
    assert opened["readPoint"] == {"id": "geo:0.63,34.27"}
    (cleared,) = reports(resolved)
    assert "exception" not in cleared and "readPoint" not in resolved


def test_alarms_and_errors_follow_what_cannot_be_trusted() -> None:
    assert alert_measure("temp_excursion").exception == "ALARM_CONDITION"
    assert alert_measure("seal_breach").exception == "ALARM_CONDITION"
    for kind in ("sensor_fault", "gps_lost", "gps_implausible", "silence"):
        assert alert_measure(kind).exception == "ERROR_CONDITION", kind


def test_a_temp_excursion_is_read_where_its_evidence_puts_the_reading() -> None:
    step = AlertStep(
        "al_1",
        "temp_excursion",
        "warning",
        "open",
        1,
        T0_MS,
        "hot",
        {"temp_c": 9.2, "position": [39.66, -4.04]},  # GeoJSON order: lon, lat
    )
    (event,) = events(valid(epcis_document(SHIPMENT, series({}), [step], created_ms=T0_MS)))
    assert event["readPoint"] == {"id": "geo:-4.04,39.66"}
    assert reports(event)[0]["value"] == 9.2 and reports(event)[0]["uom"] == "CEL"


def test_a_seal_breach_opens_the_container_and_its_resolve_closes_it() -> None:
    open_, resolve = (
        AlertStep(
            "al_1", "seal_breach", "critical", action, seq, T0_MS + seq, "seal", {"seal": state}
        )
        for action, seq, state in (("open", 1, "open"), ("resolve", 2, "closed"))
    )
    opened, resolved = events(
        valid(epcis_document(SHIPMENT, series({}), [open_, resolve], created_ms=T0_MS))
    )
    assert (
        opened["disposition"] == "container_open" and resolved["disposition"] == "container_closed"
    )
    assert reports(opened)[0]["stringValue"] == "open"


def test_a_kind_added_later_still_exports_as_an_alarm_of_its_own_type() -> None:
    step = AlertStep("al_1", "reefer power/lost", "warning", "open", 1, T0_MS, "power lost", {})
    (event,) = events(valid(epcis_document(SHIPMENT, series({}), [step], created_ms=T0_MS)))
    assert reports(event)[0]["type"] == "urn:cargowatch:epcis:alert:reefer%20power%2Flost"


def test_shipment_ids_with_uri_delimiters_are_percent_encoded_in_the_epc() -> None:
    assert shipment_urn("ACME", "SHP:7/2#b") == "urn:cargowatch:shipment:ACME:SHP%3A7%2F2%23b"
    document = epcis_document(
        ShipmentRef("Ünïcode Org", "SHP:7/2#b", "trk-1"),
        series({T0_MS: {"temp_c": 1.0}}),
        [],
        created_ms=T0_MS,
    )
    valid(document)


def test_the_tables_in_docs_epcis_md_are_the_vocabulary() -> None:
    text = (ROOT / "docs" / "epcis.md").read_text(encoding="utf-8")
    rows = {
        cells[0].strip("`"): cells
        for line in text.splitlines()
        if line.startswith("| `")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    for channel, measure in {**CHANNEL_MEASURES, **TEXT_MEASURES}.items():
        assert f"`{measure.type}`" in rows[channel][1], channel
    for kind in KINDS:
        row = ALERT_MEASURES[kind]
        assert f"`{row.measure.type}`" in rows[kind][1], kind
        assert f"`{row.exception}`" in rows[kind], kind


def test_every_channel_of_the_wire_format_has_a_place() -> None:
    placed = {*CHANNEL_MEASURES, *TEXT_MEASURES, *POSITION_CHANNELS}
    assert placed == set(CHANNELS)
    assert set(ALERT_MEASURES) == set(KINDS)


# --- any data the stores could hold -----------------------------------------------------------

_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_VALUES: dict[str, st.SearchStrategy[float | str]] = {
    **{c: _finite for c in FLOAT_CHANNELS},
    "lat": st.floats(-90, 90),
    "lon": st.floats(-180, 180),
    "seal": st.sampled_from(sorted(SEAL_STATES)),
    "door": st.sampled_from(sorted(DOOR_STATES)),
    "seal_id": st.text(min_size=1, max_size=40),
}
_reading = st.fixed_dictionaries({}, optional=_VALUES)
_json = st.recursive(
    st.none() | st.booleans() | _finite | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
_evidence = st.dictionaries(
    st.sampled_from(
        ["lat", "lon", "position", "temp_c", "seal", "zone", "distance_m", "gap_min", "x"]
    ),
    _json | _finite,
    max_size=5,
)
_step = st.builds(
    AlertStep,
    alert_id=st.text(min_size=1, max_size=40),
    kind=st.sampled_from(KINDS) | st.text(min_size=1, max_size=64),
    severity=st.sampled_from(SEVERITIES),
    action=st.sampled_from(ALERT_ACTIONS),
    seq=st.integers(1, 10_000),
    at_ms=st.integers(0, MAX_TIME_MS),
    summary=st.text(max_size=80),
    evidence=_evidence,
)
_rows = st.dictionaries(st.integers(0, MAX_TIME_MS - 1_000_000), _reading, max_size=12)
_org = st.text(min_size=1, max_size=40)
_shipment_id = st.from_regex(r"[A-Za-z0-9._:/#-]{1,64}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    rows=_rows,
    bucket=st.none() | st.sampled_from([1_000, 60_000, 3_600_000]),
    steps=st.lists(_step, max_size=8, unique_by=lambda s: (s.alert_id, s.seq)),
    org=_org,
    shipment_id=_shipment_id,
    created=st.integers(0, MAX_TIME_MS),
)
def test_any_readings_and_alerts_make_a_valid_document_with_stable_unique_event_ids(
    rows: dict[int, dict[str, float | str]],
    bucket: int | None,
    steps: list[AlertStep],
    org: str,
    shipment_id: str,
    created: int,
) -> None:
    shipment = ShipmentRef(org, shipment_id, "trk-1")
    readings = series(rows, bucket_ms=bucket)
    document = valid(epcis_document(shipment, readings, steps, created_ms=created))
    ids = [e["eventID"] for e in events(document)]
    assert len(ids) == len(set(ids))
    # One event per reading time that holds any channel, one per alert step.
    assert len(ids) == sum(1 for r in rows.values() if r) + len(steps)
    # The same data exported again, at another time and in another order, has the same ids.
    again = epcis_document(shipment, readings, list(reversed(steps)), created_ms=created + 1)
    assert [e["eventID"] for e in events(again)] == ids
    # An event's id is its own: it does not change with what else the document holds.
    for step in steps:
        (alone,) = events(epcis_document(shipment, series({}), [step], created_ms=created))
        assert alone["eventID"] in ids
    # The bytes are JSON that reads back to the same document.
    assert json.loads(document_bytes(document)) == document


@settings(max_examples=30, deadline=None)
@given(rows=_rows)
def test_event_ids_are_ni_uris_of_sha_256(rows: dict[int, dict[str, float | str]]) -> None:
    for event in events(epcis_document(SHIPMENT, series(rows), [], created_ms=0)):
        assert re.fullmatch(r"ni:///sha-256;[A-Za-z0-9_-]{43}", event["eventID"])
        assert event_id(event) == event["eventID"]
        # Any change to what the event says gives another id.
        changed = copy.deepcopy(event)
        changed["epcList"] = ["urn:cargowatch:shipment:other:SHP-0001"]
        assert event_id(changed) != event["eventID"]


def test_the_example_in_docs_epcis_md_is_valid_and_its_event_ids_are_real() -> None:
    text = (ROOT / "docs" / "epcis.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```json epcis\n(.*?)^```", text, re.M | re.S)
    document = valid(json.loads(block))
    for event in events(document):
        assert event_id(event) == event["eventID"], event["eventTime"]
