"""A device's readings come back from a real InfluxDB as stored, downsampled without losing spikes,
and no device id or channel name a client sends can change what is asked of the database."""

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from api.readings_query import (
    CHANNELS,
    MAX_RANGE_MS,
    InvalidRange,
    ReadingSeries,
    ReadingsQueryError,
    SeriesPoint,
    UnknownChannel,
    bucket_interval_ms,
    readings,
    shipment_readings,
)
from detectors.profiles import PROFILES, Shipment
from ingest.decode import decode
from ingest.influx_client import InfluxClient
from ingest.line_protocol import telemetry_line

pytestmark = pytest.mark.integration

T0 = 1_763_800_000_000  # 2025-11-22T08:26:40Z
MIN = 60_000
DAY = 86_400_000
DEVICE = "trk-1"

INJECTIONS = [
    pytest.param("x' OR 1=1 --", id="a quoted OR clause"),
    pytest.param('"; DROP DATABASE x', id="a statement break and DROP DATABASE"),
    pytest.param("trk-1' OR device_id =~ /.*/ --", id="a regex match on every device"),
    pytest.param("trk-1\x00", id="the real id followed by NUL"),
    pytest.param("\x00", id="a lone NUL"),
    pytest.param("трекер-1 🚚", id="unicode"),
    pytest.param("\ud800", id="a lone surrogate"),
    pytest.param("", id="the empty string"),
    pytest.param("$device", id="a parameter placeholder"),
]


class CountingClient(InfluxClient):
    """The real client, remembering every statement it sent."""

    def __init__(self, url, database):
        super().__init__(url, database)
        self.sent = []

    def query(self, q, params=None):
        self.sent.append(q)
        return super().query(q, params)


@pytest.fixture
def client(influx_db):
    server, db = influx_db
    c = CountingClient(server.url, db)
    c.create_database()
    yield c
    c.close()


def store(client, objects, shipment_id=None):
    """Store wire-format objects as the ingester does: decode, then line protocol, then /write."""
    by_device = {}
    for obj in objects:
        by_device.setdefault(obj["device_id"], []).append(obj)
    for device, mine in by_device.items():
        for first in range(0, len(mine), 500):
            payload = json.dumps(mine[first : first + 500]).encode()
            decoded = decode(
                f"cargo/v1/{device}/telemetry", payload, now_ms=T0 + 500 * DAY, max_age_ms=None
            )
            assert decoded.rejects == [], decoded.rejects
            client.write(
                "\n".join(telemetry_line(r, shipment_id) for r in decoded.readings).encode()
            )


def points(series, channel):
    (found,) = [c for c in series.channels if c.channel == channel]
    return list(found.points)


def test_raw_readings_come_back_as_stored_for_the_channels_asked(client):
    store(
        client,
        [
            {"device_id": DEVICE, "ts": T0, "temp_c": 4, "seal": "closed", "lat": 0.5},
            {"device_id": DEVICE, "ts": T0 + MIN, "temp_c": 4.25, "door": "open"},
            {"device_id": DEVICE, "ts": T0 + 2 * MIN, "seal": "open"},
            {"device_id": DEVICE, "ts": T0 + 3 * MIN, "temp_c": -1.5},
            {"device_id": "trk-2", "ts": T0 + MIN, "temp_c": 99.0, "seal": "tampered"},
        ],
    )
    got = readings(client, DEVICE, T0, T0 + 3 * MIN, ["temp_c", "seal"])
    assert got == ReadingSeries(
        device_id=DEVICE,
        start_ms=T0,
        end_ms=T0 + 3 * MIN,
        channels=got.channels,
        downsampled=False,
        interval_ms=None,
    )
    assert [c.channel for c in got.channels] == ["temp_c", "seal"]
    # The start is inclusive, the end exclusive; a channel's gaps are left out, not nulls.
    assert points(got, "temp_c") == [SeriesPoint(T0, 4.0), SeriesPoint(T0 + MIN, 4.25)]
    assert points(got, "seal") == [SeriesPoint(T0, "closed"), SeriesPoint(T0 + 2 * MIN, "open")]
    assert all(isinstance(p.value, float) for p in points(got, "temp_c"))


def test_no_channel_list_means_every_channel_in_wire_format_order(client):
    store(client, [{"device_id": DEVICE, "ts": T0, "temp_c": 5.5, "door": "closed"}])
    got = readings(client, DEVICE, T0, T0 + 1, None)
    assert [c.channel for c in got.channels] == list(CHANNELS)
    assert points(got, "temp_c") == [SeriesPoint(T0, 5.5)]
    assert points(got, "door") == [SeriesPoint(T0, "closed")]
    assert points(got, "lat") == [] and points(got, "seal") == []


def test_a_channel_named_twice_is_returned_once(client):
    store(client, [{"device_id": DEVICE, "ts": T0, "temp_c": 5.5}])
    got = readings(client, DEVICE, T0, T0 + 1, ["temp_c", "temp_c"])
    assert [c.channel for c in got.channels] == ["temp_c"]


def test_a_device_with_nothing_stored_gets_empty_series(client):
    got = readings(client, "trk-none", T0, T0 + DAY, ["temp_c", "seal"])
    assert [c.points for c in got.channels] == [(), ()]
    assert not got.downsampled


def test_a_long_range_is_downsampled_and_keeps_the_spike_an_average_would_hide(client):
    # Three days of one reading a minute at 5 °C, one minute at 15 °C, the seal opened later.
    spike_at = T0 + 1_000 * MIN
    opened_at = T0 + 2_000 * MIN + 30 * 1_000
    objects = []
    for i in range(3 * 24 * 60):
        ts = T0 + i * MIN
        objects.append(
            {
                "device_id": DEVICE,
                "ts": ts,
                "temp_c": 15.0 if ts == spike_at else 5.0 + (i % 2) * 0.5,
                "seal": "open" if ts >= opened_at else "closed",
            }
        )
    store(client, objects)
    start, end = T0, T0 + 3 * DAY
    got = readings(client, DEVICE, start, end, ["temp_c", "seal"], max_points=100)
    assert got.downsampled and got.interval_ms == bucket_interval_ms(3 * DAY, 100) == 3_600_000
    temps = points(got, "temp_c")
    assert len(temps) == 72 and [p.at_ms for p in temps] == [
        start + h * 3_600_000 for h in range(72)
    ]
    (spiky,) = [p for p in temps if p.at_ms <= spike_at < p.at_ms + 3_600_000]
    # The bucket's 60 minutes alternate 5.0/5.5, but for one 15.0 where a 5.0 would be.
    assert spiky.max == 15.0 and spiky.min == 5.0
    assert spiky.value == pytest.approx((29 * 5.0 + 30 * 5.5 + 15.0) / 60, abs=1e-12)
    assert all(p.max == 5.5 and p.min == 5.0 for p in temps if p is not spiky)
    seals = points(got, "seal")
    assert len(seals) == 72
    (changed,) = [p for p in seals if p.at_ms <= opened_at < p.at_ms + 3_600_000]
    # A text channel's bucket reports its last state, and has no min or max.
    assert changed == SeriesPoint(changed.at_ms, "open")
    assert {p.value for p in seals if p.at_ms < changed.at_ms} == {"closed"}
    assert {p.value for p in seals if p.at_ms > changed.at_ms} == {"open"}


def test_a_range_holding_max_points_values_is_not_downsampled(client):
    store(client, [{"device_id": DEVICE, "ts": T0 + i * MIN, "temp_c": 5.0} for i in range(10)])
    assert not readings(client, DEVICE, T0, T0 + DAY, ["temp_c"], max_points=10).downsampled
    got = readings(client, DEVICE, T0, T0 + DAY, ["temp_c"], max_points=9)
    assert got.downsampled and len(points(got, "temp_c")) <= 9


@pytest.mark.parametrize("device_id", INJECTIONS)
def test_hostile_device_ids_are_bound_values_that_match_nothing_and_change_nothing(
    influx_db, client, device_id
):
    server, db = influx_db
    store(
        client,
        [
            {"device_id": DEVICE, "ts": T0 + i * MIN, "temp_c": 5.0, "seal": "closed"}
            for i in range(3)
        ],
    )
    got = readings(client, device_id, T0, T0 + DAY, None)
    assert all(c.points == () for c in got.channels)
    downsampled = readings(client, device_id, T0, T0 + DAY, ["temp_c", "seal"], max_points=1)
    assert all(c.points == () for c in downsampled.channels)
    # The database and every reading in it are still there.
    assert db in [row["name"] for row in server.query("SHOW DATABASES", db)]
    assert len(points(readings(client, DEVICE, T0, T0 + DAY, ["temp_c"]), "temp_c")) == 3


@pytest.mark.parametrize(
    "channels, named",
    [
        pytest.param(
            ["temp_c", "pressure_hpa"], "pressure_hpa", id="a sensor the wire format does not have"
        ),
        pytest.param(
            ['temp_c" FROM telemetry; DROP DATABASE x --'],
            'temp_c" FROM telemetry; DROP DATABASE x --',
            id="an identifier breaking out of its quotes",
        ),
        pytest.param(["*"], "*", id="a wildcard"),
        pytest.param(["temp_c,seal"], "temp_c,seal", id="two names in one"),
        pytest.param(["TEMP_C"], "TEMP_C", id="a name in the wrong case"),
        pytest.param(["device_id"], "device_id", id="a tag, not a channel"),
        pytest.param([""], "", id="the empty name"),
    ],
)
def test_unknown_channels_are_refused_by_name_before_any_query(client, channels, named):
    with pytest.raises(UnknownChannel) as refused:
        readings(client, DEVICE, T0, T0 + DAY, channels)
    assert refused.value.channel == named[:64]
    assert repr(named[:64]) in str(refused.value)
    assert isinstance(refused.value, ValueError)
    assert client.sent == []


@pytest.mark.parametrize(
    "start, end, error",
    [
        pytest.param(T0, T0, InvalidRange, id="an empty range"),
        pytest.param(T0 + 1, T0, InvalidRange, id="a reversed range"),
        pytest.param(T0, T0 + MAX_RANGE_MS + 1, InvalidRange, id="a range over 400 days"),
        pytest.param(-DAY, T0, InvalidRange, id="a start before 1970"),
        pytest.param(2**62, 2**62 + 1, InvalidRange, id="an end past what InfluxDB can hold"),
    ],
)
def test_ranges_that_cannot_be_asked_are_refused_before_any_query(client, start, end, error):
    with pytest.raises(error):
        readings(client, DEVICE, start, end, ["temp_c"])
    assert client.sent == []


@pytest.mark.parametrize("max_points", [0, -1, 100_001])
def test_a_point_budget_out_of_bounds_is_refused(client, max_points):
    with pytest.raises(ReadingsQueryError, match="max_points"):
        readings(client, DEVICE, T0, T0 + DAY, ["temp_c"], max_points=max_points)
    assert client.sent == []


def test_no_channels_at_all_is_refused(client):
    with pytest.raises(ReadingsQueryError, match="at least one channel"):
        readings(client, DEVICE, T0, T0 + DAY, [])


def test_a_range_of_exactly_400_days_is_allowed(client):
    got = readings(client, DEVICE, T0, T0 + MAX_RANGE_MS, ["temp_c"])
    assert got.channels[0].points == ()


def test_a_shipment_defaults_to_its_departure_to_arrival_inclusive(client):
    shipment = Shipment(
        "SHP-1", DEVICE, PROFILES["vaccine_2_8"], departure_ms=T0 + MIN, arrival_ms=T0 + 3 * MIN
    )
    store(client, [{"device_id": DEVICE, "ts": T0 + i * MIN, "temp_c": float(i)} for i in range(5)])
    got = shipment_readings(client, shipment, ["temp_c"], now_ms=T0 + DAY)
    assert [p.value for p in points(got, "temp_c")] == [1.0, 2.0, 3.0]
    # In transit (arrival still ahead): up to now, inclusive.
    got = shipment_readings(client, shipment, ["temp_c"], now_ms=T0 + 2 * MIN)
    assert [p.value for p in points(got, "temp_c")] == [1.0, 2.0]
    # An explicit range wins over the shipment's.
    got = shipment_readings(
        client, shipment, ["temp_c"], now_ms=T0 + DAY, start_ms=T0, end_ms=T0 + MIN
    )
    assert [p.value for p in points(got, "temp_c")] == [0.0]


def test_a_shipment_without_departure_shows_its_last_day(client):
    shipment = Shipment("SHP-1", DEVICE, PROFILES["vaccine_2_8"])
    store(
        client,
        [{"device_id": DEVICE, "ts": T0 + i * DAY // 2, "temp_c": float(i)} for i in range(5)],
    )
    got = shipment_readings(client, shipment, ["temp_c"], now_ms=T0 + 2 * DAY)
    assert [p.value for p in points(got, "temp_c")] == [2.0, 3.0, 4.0]


@pytest.fixture
def seeded(client):
    """The client, with a few readings of DEVICE stored once for every example of a test."""
    store(
        client,
        [
            {"device_id": DEVICE, "ts": T0 + i * MIN, "temp_c": 5.0, "seal": "closed"}
            for i in range(8)
        ],
    )
    client.sent.clear()
    return client


channel_names = st.one_of(st.sampled_from(CHANNELS), st.text(max_size=20))
# Mostly ranges InfluxDB is asked about, and some that must be refused before it is.
starts = st.one_of(st.integers(T0 - DAY, T0 + DAY), st.integers(-(2**64), 2**64))
spans = st.one_of(st.integers(1, 2 * DAY), st.integers(-(2**64), 2**64))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    device_id=st.text(max_size=80),
    channels=st.none() | st.lists(channel_names, max_size=5),
    start=starts,
    span=spans,
    max_points=st.one_of(st.integers(1, 5), st.just(2000), st.integers(-(2**31), 2**31)),
)
def test_any_device_id_channels_and_range_give_series_or_a_documented_error(
    seeded, device_id, channels, start, span, max_points
):
    sent_before = len(seeded.sent)
    try:
        got = readings(seeded, device_id, start, start + span, channels, max_points=max_points)
    except ReadingsQueryError as refused:
        event(type(refused).__name__)
        # Whatever was wrong with the request, nothing reached InfluxDB.
        assert len(seeded.sent) == sent_before
        return
    event("answered")
    if device_id != DEVICE:
        assert all(c.points == () for c in got.channels)
