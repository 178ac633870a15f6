"""``/health`` says whether the API can serve, probing the real SQL store, broker and InfluxDB;
``/metrics`` exposes alert counts and request latency in a registry of the app's own; and the
OpenAPI document declares every answer each endpoint can give, with the bearer scheme."""

from __future__ import annotations

import pytest
from api_world import TestClient, alert_id
from services import free_port

from api.app import create_app
from api.db import make_engine, session_factory
from cargowatch.serve import broker_probe
from ingest.influx_client import InfluxClient

pytestmark = pytest.mark.integration


def health(app) -> tuple[int, dict]:
    with TestClient(app) as client:
        response = client.get("/health")
    return response.status_code, response.json()


def test_health_is_ready_when_the_store_the_broker_and_influxdb_answer(world, mosquitto, influx_db):
    server, database = influx_db
    app = create_app(
        world.sessions,
        probes={"broker": broker_probe(mosquitto.url)},
        influx=InfluxClient(server.url, database),
    )
    assert health(app) == (
        200,
        {"status": "ok", "components": {"sql": "up", "broker": "up", "influxdb": "up"}},
    )


def test_health_names_the_component_that_is_down_and_says_nothing_more(world):
    nothing_there = f"http://127.0.0.1:{free_port()}"
    app = create_app(
        world.sessions,
        probes={"broker": broker_probe(f"mqtt://127.0.0.1:{free_port()}")},
        influx=InfluxClient(nothing_there, "cargowatch", timeout_s=2),
    )
    status, body = health(app)
    assert (status, body) == (
        503,
        {
            "status": "unavailable",
            "components": {"sql": "up", "broker": "down", "influxdb": "down"},
        },
    )


def test_health_reports_an_unreachable_sql_store_and_keyed_endpoints_answer_503():
    engine = make_engine(f"postgresql://cw@127.0.0.1:{free_port()}/nothing")
    app = create_app(session_factory(engine))
    assert health(app) == (503, {"status": "unavailable", "components": {"sql": "down"}})
    with TestClient(app) as client:
        response = client.get("/alerts", headers={"Authorization": "Bearer cw_00000000_abc"})
    assert response.status_code == 503
    assert response.json() == {"detail": "the SQL store is unavailable; retry later"}
    engine.dispose()


def test_liveness_answers_whatever_the_dependencies_do():
    engine = make_engine(f"postgresql://cw@127.0.0.1:{free_port()}/nothing")
    with TestClient(create_app(session_factory(engine))) as client:
        assert client.get("/health/live").json() == {"status": "alive"}
    engine.dispose()


def test_metrics_count_alerts_by_kind_and_state_and_time_requests_by_route_template(world):
    admin = world.headers("admin")
    world.client.get(f"/alerts/{alert_id('SHP-A1')}", headers=admin)
    world.client.get("/alerts/al_nothing", headers=admin)
    world.client.get("/no/such/path/' OR 1=1", headers=admin)
    world.client.post(f"/alerts/{alert_id('SHP-A1')}/ack", json={"comment": "on it"}, headers=admin)
    text = world.client.get("/metrics", headers=admin).text
    assert 'cargowatch_alerts{kind="seal_breach",state="open"} 3.0' in text
    assert 'cargowatch_alerts{kind="seal_breach",state="acknowledged"} 1.0' in text
    bucket = "cargowatch_api_request_duration_seconds_count"
    assert f'{bucket}{{method="GET",route="/alerts/{{alert_id}}",status="200"}} 1.0' in text
    assert f'{bucket}{{method="GET",route="/alerts/{{alert_id}}",status="404"}} 1.0' in text
    assert f'{bucket}{{method="GET",route="unmatched",status="404"}} 1.0' in text
    assert f'{bucket}{{method="POST",route="/alerts/{{alert_id}}/ack",status="200"}} 1.0' in text
    assert "OR 1=1" not in text


def test_each_app_counts_its_own_requests(world):
    with TestClient(create_app(world.sessions)) as other:
        other.get("/health")
        other.get("/health")
        mine = world.client.get("/metrics", headers=world.headers("admin")).text
        theirs = other.get("/metrics", headers=world.headers("admin")).text
    health_count = (
        'cargowatch_api_request_duration_seconds_count{method="GET",route="/health",status="200"}'
    )
    assert health_count not in mine
    assert f"{health_count} 2.0" in theirs


def test_the_ingester_counters_are_exposed_when_given(world):
    app = create_app(world.sessions, ingest_stats=lambda: {"readings_stored": 12, "writes": 3})
    with TestClient(app) as client:
        text = client.get("/metrics", headers=world.headers("admin")).text
    assert "cargowatch_ingest_readings_stored 12.0" in text


def test_the_openapi_document_declares_every_answer_and_the_bearer_scheme(world):
    assert world.client.get("/openapi.json").status_code == 401
    assert world.client.get("/docs").status_code == 404
    spec = world.client.get("/openapi.json", headers=world.headers("viewer")).json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    operations = {
        operation["operationId"]: operation
        for methods in spec["paths"].values()
        for operation in methods.values()
    }
    assert set(operations) == {
        "read_liveness",
        "read_health",
        "read_metrics",
        "create_shipment",
        "list_shipments",
        "read_shipment",
        "read_shipment_readings",
        "read_shipment_epcis",
        "read_shipment_report_pdf",
        "read_shipment_report_csv",
        "read_shipment_evidence_pack",
        "replace_shipment",
        "update_shipment",
        "close_shipment",
        "list_alerts",
        "stream_alerts",
        "read_alert",
        "read_alert_cap",
        "list_alerts_cap_feed",
        "ack_alert",
        "assign_alert",
        "comment_alert",
        "resolve_alert",
        "create_webhook",
        "list_webhooks",
        "delete_webhook",
        "list_webhook_deliveries",
        "redeliver_webhook_delivery",
        "list_email_deliveries",
        "redeliver_email_delivery",
        "list_outbox_entries",
        "redeliver_outbox_entry",
        "get_preferences",
        "set_preferences",
        "create_escalation_policy",
        "list_escalation_policies",
        "delete_escalation_policy",
        "create_silence",
        "list_silences",
        "expire_silence",
    }
    expected = {
        "read_metrics": {"200", "401", "403"},
        "create_shipment": {"201", "400", "401", "403", "409", "422"},
        "list_shipments": {"200", "400", "401", "422"},
        "read_shipment": {"200", "401", "404", "409", "422"},
        "read_shipment_readings": {"200", "401", "404", "409", "422", "503"},
        "read_shipment_epcis": {"200", "401", "404", "409", "422", "503"},
        "read_shipment_report_pdf": {"200", "401", "404", "409", "422", "503"},
        "read_shipment_report_csv": {"200", "401", "404", "409", "422", "503"},
        "read_shipment_evidence_pack": {"200", "401", "404", "409", "422", "503"},
        "list_alerts": {"200", "400", "401", "422"},
        "read_alert": {"200", "401", "404", "422"},
        "stream_alerts": {"200", "400", "401", "422"},
        "read_alert_cap": {"200", "401", "404", "422"},
        "list_alerts_cap_feed": {"200", "401", "422"},
        "create_webhook": {"201", "400", "401", "403", "422"},
        "list_webhooks": {"200", "401", "403"},
        "delete_webhook": {"204", "401", "403", "404", "422"},
        "list_webhook_deliveries": {"200", "401", "403", "404", "422"},
        "redeliver_webhook_delivery": {"200", "401", "403", "404", "422"},
        "list_email_deliveries": {"200", "401", "403", "422"},
        "redeliver_email_delivery": {"200", "401", "403", "404", "422"},
        "list_outbox_entries": {"200", "401", "403", "422"},
        "redeliver_outbox_entry": {"200", "401", "403", "404", "422"},
        "get_preferences": {"200", "401", "403", "404", "422"},
        "set_preferences": {"200", "400", "401", "403", "404", "422"},
        "create_escalation_policy": {"201", "400", "401", "403", "422"},
        "list_escalation_policies": {"200", "401"},
        "delete_escalation_policy": {"204", "401", "403", "404", "422"},
        "create_silence": {"201", "400", "401", "403", "422"},
        "list_silences": {"200", "401", "422"},
        "expire_silence": {"200", "401", "403", "404", "422"},
    }
    for name in ("replace_shipment", "update_shipment", "close_shipment"):
        expected[name] = {"200", "400", "401", "403", "404", "409", "422"}
    for name in ("ack_alert", "assign_alert", "comment_alert", "resolve_alert"):
        expected[name] = {"200", "400", "401", "403", "404", "409", "422"}
    for name, operation in operations.items():
        assert operation["summary"], name
        if name.startswith(("read_health", "read_liveness")):
            assert "security" not in operation
            continue
        assert operation["security"] == [{"ApiKey": []}], name
        assert set(operation["responses"]) == expected[name], name
    stream = operations["stream_alerts"]["responses"]["200"]["content"]
    assert set(stream) == {"text/event-stream"}
    for name, media_type in (
        ("read_alert_cap", "application/cap+xml"),
        ("list_alerts_cap_feed", "application/atom+xml"),
        ("read_shipment_epcis", "application/ld+json"),
        ("read_shipment_report_pdf", "application/pdf"),
        ("read_shipment_report_csv", "text/csv"),
        ("read_shipment_evidence_pack", "application/zip"),
    ):
        assert set(operations[name]["responses"]["200"]["content"]) == {media_type}, name
