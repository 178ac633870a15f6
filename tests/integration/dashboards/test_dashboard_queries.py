"""Every query of every dashboard, expanded as Grafana expands it, runs on a real influxd loaded
by the real ingester with a simulated fleet, and returns the columns its panel reads: rows
wherever the fleet (and the alert store, for alert panels) says there is something to show."""

from datetime import UTC, datetime

import pytest

from dashboards.catalogue import render_all
from dashboards.customs import CUSTOMS_KINDS
from dashboards.queries import ALL, DashboardQuery, Expander, Variable, queries_of
from detectors.profiles import PROFILES
from simulators.timeutil import parse_instant_ms

pytestmark = pytest.mark.integration

QUERIES = {q.key: q for board in render_all() for q in queries_of(board)}


def columns(series):
    """What a Grafana table frame of the series holds: the series' tags and its columns."""
    found = set()
    for s in series:
        found |= set(s.get("tags") or {}) | set(s["columns"])
    return found


def values(series, column):
    return [
        row[s["columns"].index(column)] if column in s["columns"] else s["tags"][column]
        for s in series
        for row in s["values"]
    ]


@pytest.fixture(scope="module")
def expander(fleet):
    """The variables as Grafana resolves them: query variables from their own query's result."""
    # A failing reefer whose product left its range two hours or more before the run ended, so
    # its excursion is among the alerts at whatever hour the tests run: the simulated physics
    # follow the time of day and the run ends a minute ago, so an incident whose breach falls
    # in its last minutes (a door left open, some hours) has no excursion yet.
    run_end_ms = fleet.start_ms + 12 * 3_600_000
    reefer = next(
        t
        for t in fleet.truth
        if t["scenario"] == "reefer_failure"
        and t["breach_at"] is not None
        and parse_instant_ms(t["breach_at"]) <= run_end_ms - 2 * 3_600_000
    )
    (shipment,) = [s for s in fleet.manifest["shipments"] if s["device_id"] == reefer["device_id"]]
    first = Expander(fleet.start_ms, fleet.end_ms, {"shipment": Variable(shipment["shipment_id"])})

    def options(name):
        return [row[1] for s in fleet.query(first.expand(QUERIES[name])) for row in s["values"]]

    shipments = options("cargowatch-shipment/variable/shipment/")
    devices = options("cargowatch-shipment/variable/device/")
    instances = options("cargowatch-ingest/variable/instance/")
    profiles = options("cargowatch-shipment/variable/profile/")
    assert shipment["shipment_id"] in shipments and devices == [reefer["device_id"]]
    assert profiles == [shipment["profile"]]  # as the ingester recorded it, not picked by hand
    assert len(instances) == 1
    fleet.chosen_device = devices[0]
    return Expander(
        fleet.start_ms,
        fleet.end_ms,
        {
            "shipment": Variable(shipment["shipment_id"], shipments),
            "device": Variable(devices[0], devices),
            "profile": Variable(profiles[0], profiles),
            "kind": Variable(ALL, CUSTOMS_KINDS),
            "instance": Variable(ALL, instances),
        },
    )


def kinds_of(fleet, device):
    return {k for (k,) in fleet.store(f"SELECT kind FROM alerts WHERE device_id = '{device}'")}


def reports(fleet, device, *channels):
    """Did the device send any of these channels at all? (Not every tracker has a seal.)"""
    fields = ", ".join(f'count("{c}")' for c in channels)
    series = fleet.query(f"SELECT {fields} FROM telemetry WHERE device_id = '{device}'")
    return any(v for s in series for row in s["values"] for v in row[1:])


def open_kinds(fleet):
    return {k for (k,) in fleet.store("SELECT kind FROM alerts WHERE state <> 'resolved'")}


def all_kinds(fleet):
    return {k for (k,) in fleet.store("SELECT kind FROM alerts")}


# Per query: the columns its panel reads, and when it must have rows (given the fleet).
ALWAYS = lambda fleet: True  # noqa: E731
EXPECTED = {
    "cargowatch-fleet/panel/Trackers: last position, coloured by worst open alert/A": (
        {"device_id", "lat", "lon", "shipment_id"},
        ALWAYS,
    ),
    "cargowatch-fleet/panel/Trackers: last position, coloured by worst open alert/B": (
        {"device_id", "worst_open_severity"},
        lambda f: bool(open_kinds(f)),
    ),
    "cargowatch-fleet/panel/Open alerts by kind and severity/A": ({"kind", "info"}, None),
    "cargowatch-fleet/panel/Open alerts by kind and severity/B": ({"kind", "warning"}, None),
    "cargowatch-fleet/panel/Open alerts by kind and severity/C": ({"kind", "critical"}, None),
    "cargowatch-fleet/panel/Shipments ranked by customs risk/A": (
        {"shipment_id", "risk", "open_alerts"},
        lambda f: bool(open_kinds(f)),
    ),
    "cargowatch-fleet/panel/Trackers gone silent/A": (
        {"shipment_id", "device_id", "state", "summary", "assignee"},
        lambda f: "silence" in open_kinds(f),
    ),
    "cargowatch-fleet/panel/Open alerts: state and assignee/A": (
        {"shipment_id", "device_id", "kind", "state", "assignee", "summary", "alert_id"},
        ALWAYS,
    ),
    "cargowatch-fleet/panel/Latest reading per shipment/A": (
        {"shipment_id", "device_id", "temp_c", "battery_v", "seal", "door", "lat", "lon"},
        ALWAYS,
    ),
    "cargowatch-shipment/panel/Product temperature against the profile's band/A": (
        {"time"},
        ALWAYS,
    ),
    "cargowatch-shipment/panel/Product temperature against the profile's band/B": (
        {"time", "band low", "band high"},
        ALWAYS,
    ),
    "cargowatch-shipment/panel/Ambient temperature and humidity/A": (
        {"time", "ambient_c", "humidity_pct"},
        ALWAYS,
    ),
    "cargowatch-shipment/panel/Tracker battery/A": ({"time", "battery_v"}, ALWAYS),
    "cargowatch-shipment/panel/Seal and door/A": (
        {"time", "seal", "door"},
        lambda f: reports(f, f.chosen_device, "seal", "door"),
    ),
    "cargowatch-shipment/panel/Shock/A": ({"time", "shock_g"}, None),
    "cargowatch-shipment/panel/Route travelled/A": ({"time", "lat", "lon"}, ALWAYS),
    "cargowatch-shipment/panel/Alerts: open to resolved/A": ({"time", "kind", "state"}, ALWAYS),
    "cargowatch-shipment/panel/Predicted breach/A": (
        {"predicted_breach_at", "confidence", "state", "summary"},
        lambda f: "temp_breach_predicted" in kinds_of(f, f.chosen_device),
    ),
    "cargowatch-shipment/panel/Alert history/A": (
        {"time", "kind", "severity", "event", "state", "summary"},
        ALWAYS,
    ),
    "cargowatch-shipment/variable/shipment/": ({"key", "value"}, ALWAYS),
    "cargowatch-shipment/variable/device/": ({"key", "value"}, ALWAYS),
    "cargowatch-shipment/variable/profile/": ({"key", "value"}, ALWAYS),
    "cargowatch-shipment/annotation/Alerts/": ({"time", "summary", "event", "state"}, ALWAYS),
    "cargowatch-shipment/annotation/Alert periods/": (
        {"time", "summary", "resolved_at_ms", "kind"},
        ALWAYS,
    ),
    "cargowatch-customs/panel/Shipments ranked by customs risk/A": (
        {"shipment_id", "risk", "open_alerts"},
        lambda f: bool(open_kinds(f) & set(CUSTOMS_KINDS)),
    ),
    "cargowatch-customs/panel/Where each alert opened/A": (
        {"kind", "shipment_id", "lat", "lon", "summary", "severity_rank"},
        lambda f: bool(all_kinds(f) & set(CUSTOMS_KINDS)),
    ),
    "cargowatch-customs/panel/Open customs alerts, by risk/A": (
        {"shipment_id", "device_id", "kind", "risk_points", "state", "assignee", "lat", "lon"},
        lambda f: bool(open_kinds(f) & set(CUSTOMS_KINDS)),
    ),
    "cargowatch-customs/panel/Customs alerts opened/A": (
        {"time", "kind", "opened"},
        lambda f: bool(all_kinds(f) & set(CUSTOMS_KINDS)),
    ),
    "cargowatch-ingest/panel/Messages received and readings stored/A": (
        {"time", "instance", "messages received/s", "readings stored/s"},
        ALWAYS,
    ),
    "cargowatch-ingest/panel/Rejects by reason/A": (
        {"time", "instance", "non_negative_difference_rejected_invalid_json"},
        ALWAYS,
    ),
    "cargowatch-ingest/panel/Spool: backlog and replay/A": (
        {"time", "waiting in spool", "spooled/s", "replayed/s"},
        ALWAYS,
    ),
    "cargowatch-ingest/panel/InfluxDB write latency/A": ({"time", "max", "mean"}, ALWAYS),
    "cargowatch-ingest/panel/Alerts opened/A": ({"time", "severity", "opened"}, ALWAYS),
    "cargowatch-ingest/panel/Lost, refused, unverified, duplicates/A": (
        {"lost", "refused", "unverified", "duplicates"},
        ALWAYS,
    ),
    "cargowatch-ingest/variable/instance/": ({"key", "value"}, ALWAYS),
}


def test_every_dashboard_query_has_an_expectation():
    assert set(QUERIES) == set(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_the_query_runs_and_returns_what_its_panel_reads(fleet, expander, key):
    query: DashboardQuery = QUERIES[key]
    wanted, must_have_rows = EXPECTED[key]
    if "cargowatch_stats" in query.query or '"shipments"' in query.query:
        # The ingester's own counters and its shipment points span its life in this test, not
        # the fleet's twelve hours: look at them over that life, as an operator would zoom in.
        expander = Expander(fleet.ingest_start_ms - 60_000, fleet.end_ms, expander.variables)
    series = fleet.query(expander.expand(query))
    if must_have_rows is ALWAYS or (must_have_rows is not None and must_have_rows(fleet)):
        assert series, f"no rows for {key}:\n{expander.expand(query)}"
    if series:
        assert wanted <= columns(series), f"{key}: missing {wanted - columns(series)}"


def test_the_temperature_series_carry_the_profile_name_the_band_override_matches(fleet, expander):
    series = fleet.query(
        expander.expand(
            QUERIES["cargowatch-shipment/panel/Product temperature against the profile's band/A"]
        )
    )
    profile = expander.variables["profile"].value
    assert {f"{profile} min", f"{profile} max"} <= columns(series)


def test_the_acknowledged_and_assigned_alert_shows_in_the_fleet_and_customs_tables(fleet, expander):
    series = fleet.query(
        expander.expand(QUERIES["cargowatch-fleet/panel/Open alerts: state and assignee/A"])
    )
    rows = {
        alert_id: (state, assignee)
        for alert_id, state, assignee in zip(
            values(series, "alert_id"),
            values(series, "state"),
            values(series, "assignee"),
            strict=True,
        )
    }
    assert rows[fleet.assigned_alert] == ("acknowledged", "bob")
    open_in_store = fleet.store("SELECT alert_id FROM alerts WHERE state <> 'resolved'")
    assert set(rows) == {a for (a,) in open_in_store}


def test_the_reefer_failure_is_annotated_with_its_excursion(fleet, expander):
    series = fleet.query(expander.expand(QUERIES["cargowatch-shipment/annotation/Alerts/"]))
    summaries = values(series, "summary")
    events = values(series, "event")
    assert "open" in events
    kinds = {
        k
        for s in fleet.query(expander.expand(QUERIES["cargowatch-shipment/panel/Alert history/A"]))
        for k in [s["tags"]["kind"]]
    }
    assert "temp_excursion" in kinds and summaries


def test_every_alert_of_the_device_is_a_region_from_its_open_to_its_resolve(fleet, expander):
    series = fleet.query(expander.expand(QUERIES["cargowatch-shipment/annotation/Alert periods/"]))
    regions = {
        (kind, start): end
        for kind, start, end in zip(
            values(series, "kind"),
            values(series, "time"),
            values(series, "resolved_at_ms"),
            strict=True,
        )
    }
    stored = fleet.store(
        f"SELECT kind, opened_at, resolved_at FROM alerts WHERE device_id = '{fleet.chosen_device}'"
    )
    assert stored and any(resolved is not None for _, _, resolved in stored)

    def ms(at):  # SQLite hands back text, PostgreSQL an aware datetime
        when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        return round(when.replace(tzinfo=when.tzinfo or UTC).timestamp() * 1000)

    assert regions == {
        (kind, ms(opened)): None if resolved is None else ms(resolved)
        for kind, opened, resolved in stored
    }


def test_the_band_drawn_is_the_one_in_force_for_the_shipment(fleet, expander):
    query = QUERIES["cargowatch-shipment/panel/Product temperature against the profile's band/B"]
    wide = Expander(fleet.ingest_start_ms - 60_000, fleet.end_ms + 3_600_000, expander.variables)
    series = fleet.query(wide.expand(query))
    (shipment,) = [s for s in fleet.manifest["shipments"] if s["device_id"] == fleet.chosen_device]
    band = tuple(shipment.get("temp_range_c") or PROFILES[shipment["profile"]].temp_range_c)
    drawn = set(zip(values(series, "band low"), values(series, "band high"), strict=True))
    assert drawn - {(None, None)} == {band}


def test_the_risk_ranking_matches_the_risk_score_of_each_shipments_open_alerts(fleet, expander):
    from detectors.risk import risk_score

    series = fleet.query(
        expander.expand(QUERIES["cargowatch-fleet/panel/Shipments ranked by customs risk/A"])
    )
    ranked = {s["tags"]["shipment_id"]: s["values"][0][s["columns"].index("risk")] for s in series}
    by_shipment: dict[str, list] = {}
    for alert_id, kind, severity, shipment in fleet.store(
        "SELECT alert_id, kind, severity, shipment_id FROM alerts WHERE state <> 'resolved'"
    ):
        by_shipment.setdefault(shipment or "", []).append((alert_id, kind, severity))
    expected = {s: risk_score(a).score for s, a in by_shipment.items()}
    assert ranked.keys() == expected.keys()
    for shipment, score in expected.items():
        assert ranked[shipment] == pytest.approx(score, abs=0.01)
