"""Every key sees and does exactly what its role allows, on SQLite and PostgreSQL: every allowed
call works, and every other call answers 401, 403 or 404 with nothing but a one-sentence
``detail``, never a shipment's or an alert's data. Another organisation's object is a 404
(the same answer as an object that does not exist), a visible object the role may not change
a 403."""

from __future__ import annotations

import pytest
from api_world import (
    ACT_ON_ALERTS,
    KEYS,
    MANAGE_SHIPMENTS,
    SHIPMENTS,
    VISIBLE,
    alert_id,
    manifest,
    secrets_of,
)
from sqlalchemy import update

from api.db import write_transaction
from api.models import ApiKey, utcnow

pytestmark = pytest.mark.integration


def refused_without_data(response, status: int, hidden: set[str]) -> None:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"detail"}
    assert isinstance(response.json()["detail"], str)
    for secret in secrets_of(hidden):
        assert secret not in response.text


def calls_on_shipment(shipment_id: str) -> list[tuple[str, str, dict | None]]:
    """Changes to a shipment, in an order each of which succeeds after the one before."""
    _, device, _ = SHIPMENTS[shipment_id]
    return [
        ("PATCH", f"/shipments/{shipment_id}", {"corridor_m": 5000}),
        ("PUT", f"/shipments/{shipment_id}", manifest(shipment_id, device, corridor_m=3000)),
        ("POST", f"/shipments/{shipment_id}/close", {"status": "delivered"}),
    ]


def calls_on_alert(name: str) -> list[tuple[str, str, dict | None]]:
    """Actions on an alert, in an order each of which succeeds after the one before."""
    return [
        ("POST", f"/alerts/{name}/comment", {"comment": "seen at the gate"}),
        ("POST", f"/alerts/{name}/assign", {"assignee": "ana", "comment": "hers"}),
        ("POST", f"/alerts/{name}/ack", {"comment": "calling the driver"}),
        ("POST", f"/alerts/{name}/resolve", {"reason": "seal replaced, photo on file"}),
    ]


@pytest.mark.parametrize("who", list(KEYS))
def test_a_key_lists_and_reads_exactly_what_its_role_may_see(world, who):
    client, headers, visible = world.client, world.headers(who), VISIBLE[who]
    hidden = set(SHIPMENTS) - visible

    listed = client.get("/shipments", headers=headers)
    assert listed.status_code == 200
    assert {s["shipment_id"] for s in listed.json()["data"]} == visible
    assert listed.json()["count"] == len(visible)
    alerts = client.get("/alerts", headers=headers)
    assert alerts.status_code == 200
    assert {a["alert_id"] for a in alerts.json()["data"]} == {alert_id(s) for s in visible}
    for secret in secrets_of(hidden):
        assert secret not in listed.text + alerts.text

    for shipment_id in SHIPMENTS:
        page = client.get(f"/shipments/{shipment_id}", headers=headers)
        alert = client.get(f"/alerts/{alert_id(shipment_id)}", headers=headers)
        if shipment_id in visible:
            assert page.status_code == 200 and page.json()["shipment_id"] == shipment_id
            assert [a["alert_id"] for a in page.json()["open_alerts"]] == [alert_id(shipment_id)]
            assert page.json()["risk"]["score"] == 70.0
            assert alert.status_code == 200 and alert.json()["history"][0]["action"] == "open"
        else:
            refused_without_data(page, 404, hidden)
            refused_without_data(alert, 404, hidden)


@pytest.mark.parametrize("who", list(KEYS))
def test_a_key_changes_shipments_and_acts_on_alerts_only_where_its_role_allows(world, who):
    client, headers, visible = world.client, world.headers(who), VISIBLE[who]
    hidden = set(SHIPMENTS) - visible
    for shipment_id in SHIPMENTS:
        for method, path, body in calls_on_alert(alert_id(shipment_id)):
            before = world.counts()
            response = client.request(method, path, json=body, headers=headers)
            if shipment_id not in visible:
                refused_without_data(response, 404, hidden)
            elif who not in ACT_ON_ALERTS:
                refused_without_data(response, 403, hidden)
            else:
                assert response.status_code == 200, (path, response.text)
                assert response.json()["history"][-1]["actor"].startswith(f"{who}@")
                continue
            assert world.counts() == before
        for method, path, body in calls_on_shipment(shipment_id):
            before = world.counts()
            response = client.request(method, path, json=body, headers=headers)
            if shipment_id not in visible:
                refused_without_data(response, 404, hidden)
            elif who not in MANAGE_SHIPMENTS:
                refused_without_data(response, 403, hidden)
            else:
                assert response.status_code == 200, (path, response.text)
                assert response.json()["updated_by"].startswith(f"{who}@")
                continue
            assert world.counts() == before


@pytest.mark.parametrize("who", list(KEYS))
def test_only_admins_and_operators_create_shipments_and_only_admins_read_metrics(world, who):
    before = world.counts()
    created = world.client.post(
        "/shipments", json=manifest("SHP-NEW", "trk-new"), headers=world.headers(who)
    )
    if who in MANAGE_SHIPMENTS:
        assert created.status_code == 201, created.text
        assert created.json()["organisation"] == KEYS[who][0]
    else:
        refused_without_data(created, 403, set())
        assert world.counts() == before
    metrics = world.client.get("/metrics", headers=world.headers(who))
    if who == "admin":
        assert metrics.status_code == 200
        assert 'cargowatch_alerts{kind="seal_breach",state="open"} 4.0' in metrics.text
    else:
        refused_without_data(metrics, 403, set(SHIPMENTS))


def every_endpoint() -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/shipments", None),
        ("POST", "/shipments", manifest("SHP-X", "trk-x")),
        ("GET", "/shipments/SHP-A1", None),
        *calls_on_shipment("SHP-A1"),
        ("GET", "/alerts", None),
        ("GET", f"/alerts/{alert_id('SHP-A1')}", None),
        *calls_on_alert(alert_id("SHP-A1")),
        ("GET", "/metrics", None),
    ]


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no Authorization header"),
        pytest.param("Bearer", id="a Bearer with no key"),
        pytest.param("Basic YWRtaW46YWRtaW4=", id="another scheme"),
        pytest.param("Bearer cw_00000000_" + "x" * 43, id="a key that does not exist"),
        pytest.param("Bearer ' OR '1'='1", id="SQL in the key"),
        pytest.param("Bearer " + "cw_" + "a" * 5000, id="an overlong key"),
    ],
)
def test_without_a_valid_key_nothing_but_health_answers(world, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    before = world.counts()
    for method, path, body in every_endpoint():
        response = world.client.request(method, path, json=body, headers=headers)
        refused_without_data(response, 401, set(SHIPMENTS))
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert world.counts() == before
    assert world.client.get("/health", headers=headers).status_code == 200
    assert world.client.get("/health/live", headers=headers).status_code == 200


def test_a_revoked_key_is_refused_like_an_unknown_one(world):
    assert world.client.get("/alerts", headers=world.headers("operator")).status_code == 200
    with write_transaction(world.sessions) as session:
        session.execute(update(ApiKey).values(revoked_at=utcnow()))
    for method, path, body in every_endpoint():
        response = world.client.request(method, path, json=body, headers=world.headers("operator"))
        refused_without_data(response, 401, set(SHIPMENTS))


def test_customs_stop_seeing_a_shipment_and_its_alerts_once_it_is_delivered(world):
    customs = world.headers("customs")
    assert world.client.get("/shipments/SHP-A1", headers=customs).status_code == 200
    closed = world.client.post("/shipments/SHP-A1/close", headers=world.headers("operator"))
    assert closed.status_code == 200 and closed.json()["status"] == "delivered"
    refused_without_data(world.client.get("/shipments/SHP-A1", headers=customs), 404, {"SHP-A1"})
    alert = world.client.get(f"/alerts/{alert_id('SHP-A1')}", headers=customs)
    refused_without_data(alert, 404, {"SHP-A1"})


def test_a_shipment_id_two_organisations_use_is_named_by_organisation_for_an_admin(world):
    acme = world.client.post(
        "/shipments", json=manifest("SHP-SAME", "trk-s1"), headers=world.headers("operator")
    )
    globex = world.client.post(
        "/shipments", json=manifest("SHP-SAME", "trk-s2"), headers=world.headers("other_operator")
    )
    assert (acme.status_code, globex.status_code) == (201, 201)
    admin = world.headers("admin")
    ambiguous = world.client.get("/shipments/SHP-SAME", headers=admin)
    refused_without_data(ambiguous, 409, set())
    named = world.client.get("/shipments/SHP-SAME?organisation=GLOBEX", headers=admin)
    assert (named.status_code, named.json()["device_id"]) == (200, "trk-s2")
    # An operator sees only its own, with no need to name it.
    own = world.client.get("/shipments/SHP-SAME", headers=world.headers("operator"))
    assert (own.status_code, own.json()["device_id"]) == (200, "trk-s1")
