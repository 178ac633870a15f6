"""CAP 1.2: every message ``GET /alerts/{id}.cap`` serves, and every one the Atom feed links,
validates against the official OASIS schema; msgType and references follow the alert's life;
the area is the fix or the restricted zone; device text of any kind still makes valid XML; and
a key sees the messages of exactly the alerts it may read. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from api_world import T0_MS, alert_id, manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from api.cap import CAP_KINDS, cap_message
from api.db import write_transaction
from api.keys import organisation_for
from api.models import Alert, AlertHistory
from api.shipments import save_shipment
from api.store import record_events
from detectors.alerts import KINDS, AlertEvent

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
#: The standards' own schemas are kept unchanged beside the repository (shared/standards).
XSD = ROOT.parent / "shared" / "standards" / "CAP-v1.2.xsd"
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2", "atom": "http://www.w3.org/2005/Atom"}
ZONE_RING = [[34.0, 0.5], [34.1, 0.5], [34.1, 0.6], [34.0, 0.6], [34.0, 0.5]]


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    assert XSD.is_file(), f"the OASIS CAP 1.2 schema is expected at {XSD}"
    return etree.XMLSchema(etree.parse(str(XSD)))


def valid(schema: etree.XMLSchema, document: bytes) -> etree._Element:
    """The parsed message, failing the test with the schema's reasons when it does not validate."""
    root = etree.fromstring(document)
    assert schema.validate(root), schema.error_log
    return root


def text(root: etree._Element, path: str) -> str | None:
    return root.findtext(path, namespaces=NS)


def parameters(root: etree._Element) -> dict[str, str]:
    return {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in root.iterfind("cap:info/cap:parameter", NS)
    }


def record(world, name: str, event: str, seq: int, **fields: Any) -> None:
    values: dict[str, Any] = {
        "kind": "seal_breach",
        "severity": "critical",
        "device_id": "trk-a1",
        "shipment_id": "SHP-A1",
        "at_ms": T0_MS + seq * 60_000,
        "summary": f"seal ES-1 {event}",
        "evidence": {"lat": 0.6312, "lon": 34.2405, "seal": "open", "seal_id": "ES-1"},
        **fields,
    }
    record_events(world.sessions, [(AlertEvent(event=event, alert_id=name, **values), seq)])


def cap(world, name: str, who: str = "operator") -> bytes:
    response = world.client.get(f"/alerts/{name}.cap", headers=world.headers(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cap+xml")
    return response.content


def test_a_seal_breach_goes_alert_update_cancel_with_references_and_a_circle(world, schema):
    record(world, "al_seal", "open", 1)
    first = valid(schema, cap(world, "al_seal"))
    assert text(first, "cap:msgType") == "Alert"
    assert text(first, "cap:identifier") == "cargowatch:al_seal:1"
    assert text(first, "cap:references") is None
    assert text(first, "cap:sent") == "2025-11-22T08:27:40+00:00"
    assert text(first, "cap:scope") == "Restricted"
    assert [text(first, f"cap:info/cap:{f}") for f in ("urgency", "severity", "certainty")] == [
        "Immediate",
        "Severe",
        "Observed",
    ]
    assert text(first, "cap:info/cap:category") == "Security"
    assert text(first, "cap:info/cap:area/cap:circle") == "0.631200,34.240500 1"
    assert parameters(first) == {
        "alert_id": "al_seal",
        "shipment_id": "SHP-A1",
        "device_id": "trk-a1",
        "kind": "seal_breach",
        "severity": "critical",
        "event": "open",
        "history_seq": "1",
    }

    record(world, "al_seal", "update", 2, evidence={"lat": 0.7, "lon": 34.3, "seal": "open"})
    world.client.post(
        "/alerts/al_seal/ack",
        json={"comment": "calling <the> driver"},
        headers=world.headers("operator"),
    )
    acked = valid(schema, cap(world, "al_seal"))
    assert text(acked, "cap:msgType") == "Update"
    assert "calling <the> driver" in text(acked, "cap:info/cap:description")
    # The ack has no position of its own: the area stays at the last fix the detector gave.
    assert text(acked, "cap:info/cap:area/cap:circle") == "0.700000,34.300000 1"

    record(world, "al_seal", "resolve", 3, summary="seal closed", evidence={"seal": "closed"})
    last = valid(schema, cap(world, "al_seal"))
    assert text(last, "cap:msgType") == "Cancel"
    assert text(last, "cap:info/cap:urgency") == "Past"
    assert text(last, "cap:identifier") == "cargowatch:al_seal:4"
    references = text(last, "cap:references").split(" ")
    assert [r.split(",")[1] for r in references] == [f"cargowatch:al_seal:{n}" for n in (1, 2, 3)]
    assert references[0] == "cargowatch,cargowatch:al_seal:1,2025-11-22T08:27:40+00:00"


def test_a_restricted_zone_alert_carries_the_zones_polygon(world, schema):
    zone = {"name": "Zone A", "polygon": {"type": "Polygon", "coordinates": [ZONE_RING]}}
    with write_transaction(world.sessions) as session:
        acme = organisation_for(session, "ACME")
        save_shipment(
            session,
            acme.id,
            manifest("SHP-Z1", "trk-z1", restricted_zones=[zone]),
            actor="setup",
            status="in_transit",
        )
    evidence = {"zone": "Zone A", "lat": 0.55, "lon": 34.05, "entered": "2025-11-22T08:27:40Z"}
    record(
        world,
        "al_zone",
        "open",
        1,
        kind="restricted_zone",
        device_id="trk-z1",
        shipment_id="SHP-Z1",
        evidence=evidence,
    )
    root = valid(schema, cap(world, "al_zone"))
    assert text(root, "cap:info/cap:area/cap:areaDesc") == "restricted zone Zone A"
    assert text(root, "cap:info/cap:area/cap:polygon") == (
        "0.500000,34.000000 0.500000,34.100000 0.600000,34.100000 0.600000,34.000000"
        " 0.500000,34.000000"
    )
    assert text(root, "cap:info/cap:area/cap:circle") is None


def test_an_alert_without_a_position_has_no_area(world, schema):
    root = valid(schema, cap(world, alert_id("SHP-A1")))
    assert root.find("cap:info/cap:area", NS) is None


HOSTILE = "seal \x01\x08\x1b\x7f ]]> <script>alert(1)</script> &amp; \"'\r\n\t end"


def test_hostile_device_text_still_makes_a_valid_message(world, schema):
    evidence = {"seal_id": HOSTILE, HOSTILE: [HOSTILE, {"]]>": None}], "lat": "0.1", "lon": 1e999}
    record(world, "al_hostile", "open", 1, summary=HOSTILE, evidence=evidence)
    root = valid(schema, cap(world, "al_hostile"))
    # XML parsers read a carriage return and line feed as one line feed.
    assert text(root, "cap:info/cap:headline") == (
        "seal \ufffd\ufffd\ufffd\x7f ]]> <script>alert(1)</script> &amp; \"'\n\t end"
    )
    assert "<script>" in text(root, "cap:info/cap:description")
    assert (
        root.find("cap:info/cap:area", NS) is None
    )  # a string or infinite position places nothing


def in_memory(summary: str, evidence: dict[str, Any], kind: str = "seal_breach") -> bytes:
    at = datetime(2026, 11, 22, 14, 3, 10, tzinfo=UTC)
    alert = Alert(alert_id="al_x", kind=kind, device_id="trk-1", shipment_id=summary)
    entry = AlertHistory(
        seq=1, at=at, actor="detector", action="open", severity="warning", summary=summary
    )
    entry.evidence = evidence
    return cap_message(alert, [entry])


def test_lone_surrogates_and_nul_from_a_device_still_make_a_valid_message(schema):
    root = valid(schema, in_memory("\ud800 seal \x00 \udfff", {"\udc00": "\x00"}))
    assert text(root, "cap:info/cap:headline") == "\ufffd seal \ufffd \ufffd"


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_mapping_and_makes_a_valid_message(schema, kind):
    assert kind in CAP_KINDS
    valid(schema, in_memory("summary", {"lat": 1.0, "lon": 2.0}, kind))


#: Any text, with control characters and lone surrogates drawn often rather than by luck.
ANY_TEXT = st.text(
    st.characters() | st.integers(0, 0x1F).map(chr) | st.integers(0xD800, 0xDFFF).map(chr)
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    summary=ANY_TEXT,
    evidence=st.dictionaries(
        ANY_TEXT,
        st.recursive(
            st.none() | st.booleans() | st.floats() | ANY_TEXT,
            lambda inner: st.lists(inner, max_size=3),
            max_leaves=5,
        ),
        max_size=4,
    ),
)
def test_any_summary_and_evidence_make_a_message_the_schema_accepts(schema, summary, evidence):
    valid(schema, in_memory(summary, evidence))


def test_another_organisations_alert_is_not_there_and_a_key_is_needed(world):
    name = alert_id("SHP-A1")
    response = world.client.get(f"/alerts/{name}.cap", headers=world.headers("other_operator"))
    assert response.status_code == 404
    assert "secret" not in response.text
    assert world.client.get(f"/alerts/{name}.cap").status_code == 401
    missing = world.client.get("/alerts/al_nothing.cap", headers=world.headers("admin"))
    assert missing.status_code == 404
    feed = world.client.get("/cap/alerts.atom", headers=world.headers("other_operator")).text
    assert "secret summary of al_shpa" not in feed
    assert world.client.get("/cap/alerts.atom").status_code == 401


def test_the_atom_feed_links_each_visible_alerts_message_newest_changed_first(world, schema):
    record(world, "al_seal", "open", 1, summary="the newest")
    response = world.client.get("/cap/alerts.atom", headers=world.headers("operator"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = etree.fromstring(response.content)
    entries = feed.findall("atom:entry", NS)
    assert [e.findtext("atom:summary", namespaces=NS) for e in entries] == [
        "the newest",
        "secret summary of al_shpa2",
        "secret summary of al_shpa1",
    ]
    for entry in entries:
        assert entry.findtext("atom:id", namespaces=NS).startswith("urn:uuid:")
        link = entry.find("atom:link", NS)
        assert link.get("type") == "application/cap+xml"
        path = link.get("href").removeprefix(str(world.client.base_url))
        message = valid(schema, cap(world, path.removeprefix("/alerts/").removesuffix(".cap")))
        assert text(message, "cap:info/cap:headline") == entry.findtext(
            "atom:summary", namespaces=NS
        )

    limited = world.client.get("/cap/alerts.atom?limit=1", headers=world.headers("admin"))
    assert len(etree.fromstring(limited.content).findall("atom:entry", NS)) == 1


def test_the_mapping_table_in_the_docs_is_the_one_the_code_uses():
    lines = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("<!-- cap table: checked against api.cap.CAP_KINDS -->") + 3
    rows = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        kind, *fields = (cell.strip() for cell in line.strip("|").split("|"))
        rows[kind.strip("`")] = tuple(fields)
    assert rows == {
        kind: (m.event, m.category, m.urgency, m.urgency_critical, m.certainty)
        for kind, m in CAP_KINDS.items()
    }
