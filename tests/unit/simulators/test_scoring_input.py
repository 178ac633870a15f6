"""Reading labels, alert events and manifests for the scorer: what is refused, and how.

Every refusal is a `ScoreError` with one line that names the file and the line; no input,
however malformed, raises anything else (a property test writes arbitrary JSON and text).
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.alerts import AlertEvent
from simulators.scoring import Label, RaisedAlert, ScoreError, exposure, score
from simulators.scoring_input import alerts_from_events, read_alerts, read_labels, read_trips

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
MIN = 60_000

LABEL = {
    "device_id": "trk-00001",
    "shipment_id": "SHP-00001",
    "scenario": "reefer_failure",
    "start": "2026-01-05T01:00:00Z",
    "end": "2026-01-05T03:00:00Z",
    "kinds": ["temp_excursion", "temp_breach_predicted"],
    "breach_at": "2026-01-05T02:00:00.250Z",
    "params": {"rate_c_per_h": 2.0},
}


def event(kind="temp_excursion", event="open", alert_id="a1", at="2026-01-05T01:30:00Z", **extra):
    return {
        "event": event,
        "alert_id": alert_id,
        "seq": 1,
        "kind": kind,
        "severity": "warning",
        "device_id": "trk-00001",
        "shipment_id": "SHP-00001",
        "at": at,
        "summary": "",
        "evidence": {},
        **extra,
    }


def lines(tmp_path, *rows, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_a_label_as_the_simulator_writes_it_is_read_whole(tmp_path):
    assert (
        read_labels(lines(tmp_path, LABEL, "", LABEL))
        == [
            Label(
                device_id="trk-00001",
                start_ms=T0 + 60 * MIN,
                end_ms=T0 + 180 * MIN,
                kinds=("temp_excursion", "temp_breach_predicted"),
                scenario="reefer_failure",
                shipment_id="SHP-00001",
                breach_at_ms=T0 + 120 * MIN + 250,
            )
        ]
        * 2
    )


def test_alert_events_become_alerts_opened_once_with_their_resolve(tmp_path):
    path = lines(
        tmp_path,
        event(history_seq=1, state="open"),  # MQTT's extra fields are fine
        event(at="2026-01-05T01:30:00Z"),  # at-least-once delivery repeats an open
        event(event="update", at="2026-01-05T01:40:00Z"),
        event(event="resolve", at="2026-01-05T02:10:00Z"),
        event(event="resolve", alert_id="before-the-run", at="2026-01-05T00:10:00Z"),
        event(kind="silence", alert_id="a2", at="2026-01-05T01:00:00Z"),
    )
    assert read_alerts(path) == [
        RaisedAlert("a2", "silence", "trk-00001", T0 + 60 * MIN, None, "SHP-00001"),
        RaisedAlert(
            "a1", "temp_excursion", "trk-00001", T0 + 90 * MIN, T0 + 130 * MIN, "SHP-00001"
        ),
    ]


def test_the_engines_own_events_are_read_the_same_way():
    events = [
        AlertEvent("open", "a1", "shock", "warning", "trk-1", None, T0, "", {}, seq=1),
        AlertEvent("resolve", "a1", "shock", "warning", "trk-1", None, T0 + MIN, "", {}, seq=2),
    ]
    assert alerts_from_events(events) == [RaisedAlert("a1", "shock", "trk-1", T0, T0 + MIN)]


@pytest.mark.parametrize(
    "row, message",
    [
        pytest.param(
            "{not json",
            "in.jsonl:2: not JSON: '{not json'",
            id="text that is not JSON names its line",
        ),
        pytest.param(
            [LABEL],
            "in.jsonl:2: a label is a JSON object, got an array",
            id="an array is not a label",
        ),
        pytest.param(
            {**LABEL, "kind": ["x"]},
            "in.jsonl:2: unknown label field 'kind'",
            id="an unknown field is refused by name",
        ),
        pytest.param(
            {k: v for k, v in LABEL.items() if k != "end"},
            "in.jsonl:2: label has no 'end'",
            id="a missing end is refused",
        ),
        pytest.param(
            {**LABEL, "kinds": "silence"},
            "in.jsonl:2: label 'kinds' must be a list of alert kinds",
            id="kinds must be a list",
        ),
        pytest.param(
            {**LABEL, "start": "yesterday"},
            "in.jsonl:2: 'start' must be an RFC 3339 time, got 'yesterday'",
            id="a start that is no time is refused",
        ),
        pytest.param(
            {**LABEL, "breach_at": 1767571200000},
            "in.jsonl:2: 'breach_at' must be an RFC 3339 time, got 1767571200000",
            id="epoch ms are not a label time",
        ),
        pytest.param(
            {**LABEL, "end": "2026-01-05T00:00:00Z"},
            "in.jsonl:2: label ends before it starts",
            id="an end before the start is refused",
        ),
        pytest.param(
            {**LABEL, "device_id": ""},
            "in.jsonl:2: 'device_id' must be a non-empty string, got ''",
            id="an empty device is refused",
        ),
        pytest.param(
            {**LABEL, "params": []},
            "in.jsonl:2: label 'params' must be an object",
            id="params must be an object",
        ),
    ],
)
def test_a_bad_label_line_is_refused_naming_the_line(tmp_path, row, message):
    path = lines(tmp_path, LABEL, row)
    with pytest.raises(ScoreError) as caught:
        read_labels(path)
    assert str(caught.value) == f"{tmp_path}/{message}"


@pytest.mark.parametrize(
    "row, message",
    [
        pytest.param(
            "[1, 2", "in.jsonl:2: not JSON: '[1, 2'", id="text that is not JSON names its line"
        ),
        pytest.param(
            7,
            "in.jsonl:2: an alert event is a JSON object, got a number",
            id="a number is not an event",
        ),
        pytest.param(
            {k: v for k, v in event().items() if k != "at"},
            "in.jsonl:2: alert event has no 'at'",
            id="an event without a time is refused",
        ),
        pytest.param(
            event(event="opened"),
            "in.jsonl:2: 'event' must be one of open, update, resolve, got 'opened'",
            id="an unknown event is refused",
        ),
        pytest.param(
            event(kind=None),
            "in.jsonl:2: 'kind' must be a non-empty string, got None",
            id="a kind must be text",
        ),
        pytest.param(
            event(at="2026-13-01T00:00:00Z"),
            "in.jsonl:2: 'at' must be an RFC 3339 time, got '2026-13-01T00:00:00Z'",
            id="an impossible date is refused",
        ),
    ],
)
def test_a_bad_alert_line_is_refused_naming_the_line(tmp_path, row, message):
    path = lines(tmp_path, event(), row)
    with pytest.raises(ScoreError) as caught:
        read_alerts(path)
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_a_missing_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(ScoreError, match=r"nope.jsonl: No such file or directory$"):
        read_labels(tmp_path / "nope.jsonl")


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(ScoreError, match=r"in.jsonl: not UTF-8 text$"):
        read_alerts(path)


def test_a_manifest_gives_each_shipments_trip(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text(
        json.dumps(
            {
                "shipments": [
                    {
                        "shipment_id": "S1",
                        "device_id": "t1",
                        "profile": "vaccine_2_8",
                        "departure": "2026-01-05T00:00:00Z",
                        "arrival": "2026-01-05T10:00:00Z",
                    },
                    {"shipment_id": "S2", "device_id": "t2", "profile": "vaccine_2_8"},
                ]
            }
        )
    )
    assert read_trips(path) == [("t1", T0, T0 + 600 * MIN), ("t2", None, None)]


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("{", "not JSON", id="a manifest that is not JSON"),
        pytest.param(
            '{"shipments": [{"device_id": "t1"}]}',
            "shipment",
            id="a manifest the detectors would refuse",
        ),
    ],
)
def test_a_bad_manifest_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "fleet.json"
    path.write_text(text)
    with pytest.raises(ScoreError, match=f"^--shipments {path}: .*{message}") as caught:
        read_trips(path)
    assert "\n" not in str(caught.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.timezones()
)
devices = st.sampled_from(["d1", "d2", "d3"])
kinds = st.sampled_from(["silence", "shock", "temp_breach_predicted", "temp_excursion"])


@st.composite
def good_labels(draw):
    start = draw(instants)
    # Arithmetic on aware datetimes is wall-clock arithmetic that drops `fold`, so across a
    # DST change "start + 0 min" can be an hour earlier; add in UTC, show in the drawn zone.
    utc = start.astimezone(UTC)
    end = (utc + timedelta(minutes=draw(st.integers(0, 600)))).astimezone(start.tzinfo)
    breach = draw(
        st.none()
        | st.integers(-60, 600).map(lambda m: (utc + timedelta(minutes=m)).astimezone(start.tzinfo))
    )
    return {
        "device_id": draw(devices),
        "scenario": "s",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "kinds": draw(st.lists(kinds, max_size=3)),
        "breach_at": None if breach is None else breach.isoformat(),
    }


good_events = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["open", "open", "update", "resolve"]),
        "alert_id": st.sampled_from(["a", "b", "c", "d", "e"]),
        "kind": kinds,
        "device_id": devices,
        "at": instants.map(lambda d: d.isoformat()),
    }
)


@st.composite
def spoiled(draw, good):
    """A well-formed line with one field replaced, removed or added."""
    row = dict(draw(good))
    key = draw(st.sampled_from([*row, "extra"]))
    if draw(st.booleans()):
        row[key] = draw(json_values)
    else:
        row.pop(key, None)
    return row


junk = st.one_of(
    json_values,
    st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t),
)


def jsonl(rows):
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    label_rows=st.lists(good_labels() | spoiled(good_labels()) | junk.map(json.dumps), max_size=5),
    alert_rows=st.lists(good_events | spoiled(good_events) | junk, max_size=5),
)
def test_arbitrary_lines_are_scored_or_refused_with_a_one_line_score_error(
    tmp_path, label_rows, alert_rows
):
    labels_path, alerts_path = tmp_path / "labels.jsonl", tmp_path / "alerts.jsonl"
    labels_path.write_text(jsonl(label_rows), encoding="utf-8")
    alerts_path.write_text(jsonl(alert_rows), encoding="utf-8")
    try:
        labels = read_labels(labels_path)
        alerts = read_alerts(alerts_path)
    except ScoreError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith(str(tmp_path))
        return
    score(labels, alerts, exposure(labels, alerts))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    label_rows=st.lists(good_labels(), max_size=6), alert_rows=st.lists(good_events, max_size=12)
)
def test_well_formed_lines_always_score_within_bounds(tmp_path, label_rows, alert_rows):
    labels_path, alerts_path = tmp_path / "labels.jsonl", tmp_path / "alerts.jsonl"
    labels_path.write_text(jsonl(label_rows), encoding="utf-8")
    alerts_path.write_text(jsonl(alert_rows), encoding="utf-8")
    labels, alerts = read_labels(labels_path), read_alerts(alerts_path)
    result = score(labels, alerts, exposure(labels, alerts))
    assert len(result.incidents) == len(labels)
    assert result.alerts_opened == len(alerts) == len({a.alert_id for a in alerts})
    assert result.false_alerts == sum(k.false_alerts for k in result.kinds) <= result.alerts_opened
    for k in result.kinds:
        assert k.detected <= k.expected and k.matched + k.false_alerts <= k.opened
        assert k.recall is None or 0 <= k.recall <= 1
        assert k.precision is None or 0 <= k.precision <= 1
    assert result.lead.warned_ahead <= result.lead.warned <= result.lead.breaches
    assert result.exposure.device_hours >= 0
