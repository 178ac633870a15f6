"""Hostile input through every parameter of the API (SQL injection, NUL bytes, lone surrogates,
unicode, overlong ids, huge or negative page sizes, forged and garbage cursors, wrong JSON
types, bodies that are not JSON) gets a clear 4xx, never a server error, and changes nothing
in the store: every table holds the same rows before and after, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from api_world import TestClient, World, alert_id, build_world, manifest

from api.app import create_app
from api.cursor import Cursor, encode

pytestmark = pytest.mark.integration

ALERT = alert_id("SHP-A1")
INJECTION = "' OR '1'='1' --"
DROP = "x'; DROP TABLE alerts; --"


@pytest.fixture
def world(sql_url: str) -> Iterator[World]:
    world = build_world(sql_url)
    # raise_server_exceptions off: a server error must show as a 500 the test sees.
    with TestClient(create_app(world.sessions), raise_server_exceptions=False) as client:
        world.client = client
        yield world
    world.close()


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


HOSTILE_QUERIES = [
    {"state": INJECTION},
    {"state": "open\x00"},
    {"kind": DROP},
    {"kind": "température"},
    {"severity": "critical' OR 1=1"},
    {"shipment_id": INJECTION},
    {"shipment_id": "S" * 5000},
    {"shipment_id": "SHP\x00A1"},
    {"device_id": "trk-a1\x00"},
    {"device_id": "😀"},
    {"since": "yesterday"},
    {"since": "2025-11-22T08:00:00"},  # no offset
    {"until": "99999-01-01T00:00:00Z"},
    {"since": INJECTION},
    {"limit": "0"},
    {"limit": "-1"},
    {"limit": "501"},
    {"limit": str(10**40)},
    {"limit": "ten"},
    {"limit": "1e3"},
    {"cursor": "!!!"},
    {"cursor": "A" * 5000},
    {"cursor": b64(b"\x00\xff\xfe garbage")},
    {"cursor": b64(b'[1, "alerts", 1e999, "x"]')},
    {"cursor": b64(b'[1, "alerts", 99999999999999999999999999, "x"]')},
    {"cursor": b64(b'[1, "alerts", 5, "\\u0000"]')},
    {"cursor": b64(b'[1, "alerts", 5, "\\ud800"]')},
    {"cursor": b64(json.dumps([1, "alerts", 5, INJECTION * 20]).encode())},
    {"cursor": b64(b'[2, "alerts", 5, "x"]')},
    {"cursor": encode(Cursor("shipments", 1, "SHP-A1"))},  # another listing's
    {"cursor": b64(b"[" * 5000)},
    {"cursor": b64(b'{"a": 1}')},
]


@pytest.mark.parametrize("params", HOSTILE_QUERIES, ids=[repr(p)[:60] for p in HOSTILE_QUERIES])
def test_hostile_alert_filters_are_a_clear_4xx_and_change_nothing(world, params):
    before = world.counts()
    response = world.client.get("/alerts", params=params, headers=world.headers("admin"))
    assert response.status_code in (400, 422), response.text
    assert "detail" in response.json()
    assert world.counts() == before


SHIPMENT_QUERIES = [
    {"status": INJECTION},
    {"status": "in_transit\x00"},
    {"device_id": DROP},
    {"limit": "100000"},
    {"cursor": encode(Cursor("alerts", 1, "x"))},
    {"cursor": b64(b'[1, "shipments", true, "SHP-A1"]')},
]


@pytest.mark.parametrize("params", SHIPMENT_QUERIES, ids=[repr(p)[:60] for p in SHIPMENT_QUERIES])
def test_hostile_shipment_filters_are_a_clear_4xx_and_change_nothing(world, params):
    before = world.counts()
    response = world.client.get("/shipments", params=params, headers=world.headers("admin"))
    assert response.status_code in (400, 422), response.text
    assert world.counts() == before


HOSTILE_IDS = [
    INJECTION,
    "al_x%00y",
    "al_" + "a" * 300,
    "al_ünïcödé",
    "%F0%9F%98%80",
    "..%2F..%2Fetc%2Fpasswd",
    "%ED%A0%80",  # a lone surrogate, UTF-8 encoded
]


@pytest.mark.parametrize("raw_id", HOSTILE_IDS)
def test_hostile_ids_in_paths_are_a_clear_4xx_and_change_nothing(world, raw_id):
    admin = world.headers("admin")
    before = world.counts()
    for method, path, body in [
        ("GET", f"/alerts/{raw_id}", None),
        ("POST", f"/alerts/{raw_id}/ack", {"comment": "x"}),
        ("POST", f"/alerts/{raw_id}/resolve", {"reason": "x"}),
        ("GET", f"/shipments/{raw_id}", None),
        ("PATCH", f"/shipments/{raw_id}", {"corridor_m": 10}),
        ("POST", f"/shipments/{raw_id}/close", None),
    ]:
        response = world.client.request(method, path, json=body, headers=admin)
        assert response.status_code in (404, 405, 422), (method, path, response.text)
    assert world.counts() == before


def raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


HOSTILE_ACTION_BODIES = [
    ("ack", b""),
    ("ack", b"not json"),
    ("ack", b"[" * 100_000),
    ("ack", b'{"comment": 5}'),
    ("ack", b'{"comment": ["x"]}'),
    ("ack", b'{"comment": null}'),
    ("ack", b'{"comment": "   "}'),
    ("ack", b'{"comment": "x\\u0000y"}'),
    ("ack", b'{"comment": "\\ud800"}'),
    ("ack", b'{"comment": NaN}'),
    ("ack", b'{"coment": "typo"}'),
    ("ack", b'{"comment": "ok", "extra": 1}'),
    ("ack", raw(json.dumps({"comment": "x" * 5000}))),
    ("ack", b'"just a string"'),
    ("assign", b'{"assignee": "a\\nb"}'),
    ("assign", b'{"assignee": ""}'),
    ("assign", raw(json.dumps({"assignee": "a" * 300}))),
    ("assign", b'{"assignee": {"$ne": null}}'),
    ("comment", b'{"comment": {"nested": "object"}}'),
    ("resolve", b'{"reason": ""}'),
    ("resolve", b'{"comment": "the reason field is called reason"}'),
]


@pytest.mark.parametrize(
    "action, body", HOSTILE_ACTION_BODIES, ids=[f"{a} {b[:40]!r}" for a, b in HOSTILE_ACTION_BODIES]
)
def test_hostile_action_bodies_are_a_clear_4xx_and_change_nothing(world, action, body):
    before = world.counts()
    response = world.client.post(
        f"/alerts/{ALERT}/{action}",
        content=body,
        headers={**world.headers("operator"), "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert world.counts() == before


def shipment(**changes: object) -> dict[str, object]:
    return {**manifest("SHP-H1", "trk-h1"), **changes}


HOSTILE_SHIPMENTS = [
    shipment(shipment_id=INJECTION),
    shipment(shipment_id="S" * 100),
    shipment(device_id="trk\x00"),
    shipment(device_id=DROP),
    shipment(profile="vaccine_2_8'; --"),
    shipment(profile=None),
    shipment(temp_range_c=["2", "8"]),
    shipment(temp_range_c=[8, 2]),
    shipment(temp_range_c=[1, 2, 3]),
    shipment(stability_budget_min="120"),
    shipment(stability_budget_min=-5),
    shipment(stability_budget_min=True),
    shipment(departure="tomorrow"),
    shipment(departure="2025-11-22T06:00:00"),
    shipment(route={"type": "Point", "coordinates": [1, 2]}),
    shipment(route={"type": "LineString", "coordinates": [[200, 0], [0, 0]]}),
    shipment(route={"type": "LineString", "coordinates": [[0, 0]]}),
    shipment(restricted_zones=[{"name": "Z", "polygon": {"type": "Polygon", "coordinates": [[]]}}]),
    shipment(authorised_stops=[{"lon": 0, "lat": 0, "radius_m": 1, "colour": "red"}]),
    shipment(seal_id="ES\x00123"),
    shipment(seal_id=123),
    shipment(unknown_key=1),
    shipment(status="in_transit"),
    [shipment()],
    {"shipments": [shipment()]},
]


@pytest.mark.parametrize("body", HOSTILE_SHIPMENTS, ids=[repr(b)[-60:] for b in HOSTILE_SHIPMENTS])
def test_hostile_shipments_are_refused_naming_the_problem_and_change_nothing(world, body):
    before = world.counts()
    response = world.client.post("/shipments", json=body, headers=world.headers("operator"))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail and all(error["msg"] and error["loc"] for error in detail)
    assert world.counts() == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"shipment_id": "SHP-H1", "device_id": "trk-h1", "profile": "vaccine_2_8", "corridor_m": NaN}',
        b'{"shipment_id": "SHP-H1", "device_id": "trk-h1", "profile": "vaccine_2_8", "seal_id": "\\ud800"}',
        b'{"shipment_id": "SHP-H1", "device_id": "trk-h1", "profile": "vaccine_2_8", "corridor_m": 1e999}',
        b"[" * 100_000,
    ],
    ids=["NaN", "a lone surrogate", "infinity", "nested 100,000 deep"],
)
def test_json_that_the_store_cannot_hold_is_refused(world, body):
    before = world.counts()
    response = world.client.post(
        "/shipments",
        content=body,
        headers={**world.headers("operator"), "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert world.counts() == before


def test_a_field_error_names_the_field(world):
    response = world.client.post(
        "/shipments", json=shipment(corridor_m="wide"), headers=world.headers("operator")
    )
    assert response.status_code == 422
    assert ["body", "corridor_m"] in [error["loc"] for error in response.json()["detail"]]
    response = world.client.post(
        "/shipments",
        json=shipment(route={"type": "LineString", "coordinates": [[0, 0], [0, 95]]}),
        headers=world.headers("operator"),
    )
    assert response.status_code == 422
    assert "lat" in json.dumps(response.json()["detail"])


def test_an_organisation_query_is_matched_never_interpreted(world):
    before = world.counts()
    response = world.client.post(
        "/shipments",
        params={"organisation": INJECTION},
        json=shipment(),
        headers=world.headers("admin"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "organisation"]
    lookup = world.client.get(
        "/shipments/SHP-A1", params={"organisation": INJECTION}, headers=world.headers("admin")
    )
    assert lookup.status_code == 404
    assert world.counts() == before
