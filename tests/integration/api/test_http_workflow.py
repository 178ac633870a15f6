"""The customs officer's day through the API, on SQLite and PostgreSQL: a shipment is created,
the detectors record alerts on it, the officer filters and pages through them (every alert
exactly once, even while new ones arrive), acknowledges (a comment is mandatory), assigns,
comments and resolves, and the alert's history holds every step with who, when and what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from api_world import T0_MS, World, event, manifest

from api.store import record_events
from detectors.alerts import KINDS

pytestmark = pytest.mark.integration


def record(world: World, names: range, *, shipment: str = "SHP-W1", minute0: int = 0) -> None:
    """Alerts on the shipment's device as the detectors record them, one a minute."""
    events = []
    for n in names:
        kind = KINDS[n % len(KINDS)]
        severity = ("info", "warning", "critical")[n % 3]
        at = T0_MS + (minute0 + n) * 60_000
        events.append(
            (event(shipment, "trk-w1", f"al_w{n:03d}", kind=kind, severity=severity, at_ms=at), 1)
        )
    record_events(world.sessions, events)


def pages(world: World, who: str, limit: int, between=None, **filters) -> list[list[str]]:
    """Every page of `GET /alerts`, calling `between()` after each page."""
    found: list[list[str]] = []
    cursor = None
    while True:
        params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = world.client.get("/alerts", params=params, headers=world.headers(who))
        assert response.status_code == 200, response.text
        found.append([a["alert_id"] for a in response.json()["data"]])
        cursor = response.json()["next_cursor"]
        if between is not None:
            between(len(found))
        if cursor is None:
            return found


@pytest.fixture
def shipment(world: World) -> str:
    created = world.client.post(
        "/shipments", json=manifest("SHP-W1", "trk-w1"), headers=world.headers("operator")
    )
    assert created.status_code == 201, created.text
    departed = world.client.patch(
        "/shipments/SHP-W1", json={"status": "in_transit"}, headers=world.headers("operator")
    )
    assert departed.json()["status"] == "in_transit" and departed.json()["version"] == 2
    return "SHP-W1"


def test_paging_returns_every_alert_exactly_once_even_while_new_ones_arrive(world, shipment):
    record(world, range(23))
    arrived = iter(range(100, 110))

    def more_alerts(page: int) -> None:
        # Newer alerts and, as a replay would, older ones too, between every two pages.
        n = next(arrived, None)
        if n is not None:
            record(world, range(n, n + 1), minute0=-200 if n % 2 else 0)

    seen = [
        a
        for page in pages(world, "customs", 5, between=more_alerts, shipment_id=shipment)
        for a in page
    ]
    assert len(seen) == len(set(seen)), "an alert was served twice"
    assert {f"al_w{n:03d}" for n in range(23)} <= set(seen)
    # Newest opened first.
    opened = [
        world.client.get(f"/alerts/{a}", headers=world.headers("admin")).json()["opened_at"]
        for a in seen[:5]
    ]
    assert opened == sorted(opened, reverse=True)


def test_filters_narrow_the_listing_and_count(world, shipment):
    record(world, range(30))
    admin = world.headers("admin")

    def listed(**params) -> tuple[set[str], int]:
        response = world.client.get("/alerts", params={**params, "limit": 500}, headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        return {a["alert_id"] for a in body["data"]}, body["count"]

    ours = {f"al_w{n:03d}" for n in range(30)}
    assert listed(shipment_id=shipment) == (ours, 30)
    assert listed(device_id="trk-w1")[0] == ours
    critical = {f"al_w{n:03d}" for n in range(30) if n % 3 == 2}
    assert listed(shipment_id=shipment, severity="critical") == (critical, len(critical))
    assert listed(kind=KINDS[0], shipment_id=shipment)[0] == {"al_w000", "al_w016"}
    since = datetime.fromtimestamp((T0_MS + 10 * 60_000) / 1000, UTC).isoformat()
    until = datetime.fromtimestamp((T0_MS + 20 * 60_000) / 1000, UTC).isoformat()
    window = {f"al_w{n:03d}" for n in range(10, 20)}
    assert listed(shipment_id=shipment, since=since, until=until) == (window, 10)
    assert listed(shipment_id=shipment, state="acknowledged") == (set(), 0)


def test_an_alert_is_acknowledged_assigned_commented_and_resolved_with_every_step_recorded(
    world, shipment
):
    record(world, range(1))
    alert, customs = "al_w000", world.headers("customs")
    url = f"/alerts/{alert}"

    before = world.counts()
    for missing in ({}, {"comment": ""}, {"comment": "  \n "}):
        refused = world.client.post(f"{url}/ack", json=missing, headers=customs)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "comment"]
    assert world.counts() == before

    acked = world.client.post(f"{url}/ack", json={"comment": "Calling the driver"}, headers=customs)
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    again = world.client.post(f"{url}/ack", json={"comment": "twice"}, headers=customs)
    assert again.status_code == 409 and "acknowledged" in again.json()["detail"]
    assigned = world.client.post(
        f"{url}/assign", json={"assignee": "ana@customs", "comment": "border team"}, headers=customs
    )
    assert assigned.json()["assignee"] == "ana@customs"
    world.client.post(
        f"{url}/comment", json={"comment": "Seal photo attached"}, headers=world.headers("operator")
    )
    resolved = world.client.post(
        f"{url}/resolve", json={"reason": "Seal replaced at Malaba"}, headers=customs
    )
    assert resolved.json()["state"] == "resolved" and resolved.json()["resolved_at"]
    late = world.client.post(f"{url}/comment", json={"comment": "Report filed"}, headers=customs)
    assert late.status_code == 200
    refused = world.client.post(f"{url}/assign", json={"assignee": "bob"}, headers=customs)
    assert refused.status_code == 409

    history = world.client.get(url, headers=world.headers("viewer")).json()["history"]
    customs_actor, operator_actor = "customs@Customs", "operator@ACME"
    assert [
        (h["seq"], h["action"], h["actor"].split(" (key ")[0], h["comment"]) for h in history
    ] == [
        (1, "open", "detector", None),
        (2, "ack", customs_actor, "Calling the driver"),
        (3, "assign", customs_actor, "border team"),
        (4, "comment", operator_actor, "Seal photo attached"),
        (5, "close", customs_actor, "Seal replaced at Malaba"),
        (6, "comment", customs_actor, "Report filed"),
    ]
    assert history[2]["assignee"] == "ana@customs"
    # The key's prefix names which of the organisation's keys acted.
    assert history[1]["actor"] == f"{customs_actor} (key {world.keys['customs'][3:11]})"
    assert all(h["recorded_at"] for h in history)
    page = world.client.get(f"/shipments/{shipment}", headers=customs).json()
    assert page["open_alerts"] == [] and page["risk"] == {"score": 0.0, "contributions": []}


def test_a_shipment_page_scores_its_open_alerts_and_a_closed_shipment_refuses_changes(
    world, shipment
):
    record_events(
        world.sessions,
        [
            (event(shipment, "trk-w1", "al_seal", kind="seal_breach", severity="critical"), 1),
            (event(shipment, "trk-w1", "al_route", kind="route_deviation", severity="warning"), 1),
        ],
    )
    page = world.client.get(f"/shipments/{shipment}", headers=world.headers("customs")).json()
    assert page["risk"]["score"] == 78.1
    assert [(c["alert_id"], c["points"]) for c in page["risk"]["contributions"]] == [
        ("al_seal", 70.0),
        ("al_route", 27.0),
    ]
    assert page["conditions"] == {
        "last_position": None,
        "last_temperature_c": None,
        "mkt_c": None,
        "stability_budget_used_min": None,
    }
    operator = world.headers("operator")
    closed = world.client.post(
        f"/shipments/{shipment}/close", json={"status": "cancelled"}, headers=operator
    )
    assert closed.json()["status"] == "cancelled"
    for method, body in (("PATCH", {"corridor_m": 10}), ("POST", None)):
        path = f"/shipments/{shipment}" + ("/close" if method == "POST" else "")
        assert world.client.request(method, path, json=body, headers=operator).status_code == 409
    versions = world.client.get(f"/shipments/{shipment}", headers=operator).json()["version"]
    assert versions == 3


def test_a_patch_changes_only_the_fields_it_names_and_null_removes_one(world, shipment):
    operator = world.headers("operator")
    changed = world.client.patch(
        f"/shipments/{shipment}", json={"corridor_m": 5000, "route": None}, headers=operator
    ).json()
    assert changed["manifest"]["corridor_m"] == 5000 and "route" not in changed["manifest"]
    assert changed["manifest"]["departure"] == "2025-11-22T06:00:00Z"
    unchanged = world.client.patch(f"/shipments/{shipment}", json={}, headers=operator).json()
    assert unchanged["version"] == changed["version"]
    required = world.client.patch(
        f"/shipments/{shipment}", json={"device_id": None}, headers=operator
    )
    assert required.status_code == 422 and "device_id" in required.text
    taken = world.client.post("/shipments", json=manifest(shipment, "trk-zz"), headers=operator)
    assert taken.status_code == 409
    mismatch = world.client.put(
        f"/shipments/{shipment}", json=manifest("SHP-OTHER", "trk-w1"), headers=operator
    )
    assert mismatch.status_code == 422 and mismatch.json()["detail"][0]["loc"] == [
        "body",
        "shipment_id",
    ]


def test_a_shipment_may_set_how_long_it_may_stop_and_the_value_is_kept(world, shipment):
    # A corridor with long border queues: stops under 45 min are not worth an alert.
    operator = world.headers("operator")
    changed = world.client.patch(
        f"/shipments/{shipment}", json={"unscheduled_stop_min": 45}, headers=operator
    )
    assert changed.status_code == 200
    assert changed.json()["manifest"]["unscheduled_stop_min"] == 45
    again = world.client.get(f"/shipments/{shipment}", headers=operator).json()
    assert again["manifest"]["unscheduled_stop_min"] == 45
    refused = world.client.patch(
        f"/shipments/{shipment}", json={"unscheduled_stop_min": 0}, headers=operator
    )
    assert refused.status_code == 422 and "unscheduled_stop_min" in refused.text
    # A finite number no clock could count is refused here, not failed on in the detectors.
    endless = world.client.patch(
        f"/shipments/{shipment}", json={"unscheduled_stop_min": 1e308}, headers=operator
    )
    assert endless.status_code == 422 and "at most 5256000 min" in endless.text


def test_a_shipment_may_declare_a_static_hold_receiver_and_null_takes_it_back(world, shipment):
    # Trackers whose receiver pins its fix while parked: the flag is a manifest field like
    # any other, strict JSON true or false.
    operator = world.headers("operator")
    path = f"/shipments/{shipment}"
    changed = world.client.patch(path, json={"gps_static_hold": True}, headers=operator)
    assert changed.status_code == 200
    assert world.client.get(path, headers=operator).json()["manifest"]["gps_static_hold"] is True
    refused = world.client.patch(path, json={"gps_static_hold": "true"}, headers=operator)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "gps_static_hold"]
    removed = world.client.patch(path, json={"gps_static_hold": None}, headers=operator)
    assert removed.status_code == 200 and "gps_static_hold" not in removed.json()["manifest"]


def test_a_shipment_may_ask_for_every_stop_to_be_reported(world, shipment):
    # Roadside places are learnt by default; a shipment whose every halt matters turns them off.
    operator = world.headers("operator")
    path = f"/shipments/{shipment}"
    changed = world.client.patch(path, json={"roadside_places": False}, headers=operator)
    assert changed.status_code == 200
    assert world.client.get(path, headers=operator).json()["manifest"]["roadside_places"] is False
    refused = world.client.patch(path, json={"roadside_places": "false"}, headers=operator)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "roadside_places"]
    removed = world.client.patch(path, json={"roadside_places": None}, headers=operator)
    assert removed.status_code == 200 and "roadside_places" not in removed.json()["manifest"]


def test_a_shipment_may_declare_an_air_probe_and_its_lag_only_with_one(world, shipment):
    # A reefer's return-air probe: its product is simulated, with the time constant given.
    operator = world.headers("operator")
    path = f"/shipments/{shipment}"
    lagged_alone = world.client.patch(path, json={"product_lag_min": 45}, headers=operator)
    assert lagged_alone.status_code == 422
    (error,) = lagged_alone.json()["detail"]
    assert error["type"] == "manifest" and 'applies only to "probe": "air"' in error["msg"]
    changed = world.client.patch(
        path, json={"probe": "air", "product_lag_min": 45}, headers=operator
    )
    assert changed.status_code == 200
    kept = world.client.get(path, headers=operator).json()["manifest"]
    assert (kept["probe"], kept["product_lag_min"]) == ("air", 45)
    refused = world.client.patch(path, json={"probe": "return_air"}, headers=operator)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "probe"]
    too_slow = world.client.patch(path, json={"product_lag_min": 1440}, headers=operator)
    assert too_slow.status_code == 422 and "at most 720" in too_slow.text


def test_shipments_are_listed_a_page_at_a_time_and_filtered_by_status(world, shipment):
    operator = world.headers("operator")
    for n in range(7):
        world.client.post("/shipments", json=manifest(f"SHP-P{n}", f"trk-p{n}"), headers=operator)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = world.client.get("/shipments", params=params, headers=operator).json()
        seen += [s["shipment_id"] for s in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == body["count"] == 10
    transit = world.client.get(
        "/shipments", params={"status": "in_transit"}, headers=operator
    ).json()
    assert {s["shipment_id"] for s in transit["data"]} == {"SHP-A1", shipment}
