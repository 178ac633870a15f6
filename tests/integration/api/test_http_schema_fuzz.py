"""The OpenAPI document tells the truth: schemathesis generates requests for every operation from
the app's own ``/openapi.json`` (valid and invalid bodies, parameters and paths) and sends them
to the real app, on a real SQLite store holding the API tests' world and a real InfluxDB with a
shipment's readings, once with an admin key and once with an operator's. Every answer must be
no server error, carry a status code the document lists for the operation, and have a body
that matches the document's schema for that status.

Generation is derandomized (the same cases every run) and bounded per operation, so the run
takes well under a minute in CI; state built by earlier cases (shipments created, alerts
acknowledged) is part of what later cases meet, deterministically too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
import schemathesis
from api_world import T0_MS, VISIBLE, TestClient, World, alert_id, build_world
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from services import InfluxServer

from api.app import create_app
from api.conditions import influx_conditions
from api.db import make_engine, session_factory
from api.routes import stream as stream_route
from api.schema import upgrade
from detectors.reading import Reading
from ingest.influx_client import InfluxClient
from ingest.line_protocol import telemetry_line

pytestmark = pytest.mark.integration

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
#: Objects of the world both keys see. Generated ids almost never name one, so about every other
#: case with ids in its path is pointed at these, to reach the answers real objects give (200s,
#: 409s of a second acknowledgement, readings from InfluxDB) as well as the 404s.
KNOWN_IDS = {"alert_id": alert_id("SHP-A1"), "shipment_id": "SHP-A1"}
#: Cases per operation and key: enough to reach every parameter, few enough for CI.
EXAMPLES = 15
#: The alert stream never ends by itself. A generated case's stream is ended by the app once
#: it has read the store once (`_one_read`), so the read deadline only guards against a hang:
#: as a pace it failed on a busy machine, where one second did not always see the answer start.
#: The stream with events is read to its last event by `test_the_alert_streams_events_...`.
STREAM_DEADLINE_S = 60.0


@pytest.fixture(params=["admin", "operator"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path, influx_db: tuple[InfluxServer, str]
) -> Iterator[tuple[World, str]]:
    """The API tests' world behind a real app, and which of its keys calls."""
    server, db = influx_db
    influx = InfluxClient(server.url, db)
    influx.create_database()
    influx.write(
        "\n".join(
            telemetry_line(
                Reading("trk-a1", T0_MS + i * 300_000, i, lat=-4.0, lon=39.6, temp_c=5.0 + i / 10),
                "SHP-A1",
            )
            for i in range(12)
        ).encode()
    )
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    world = build_world(url)
    app = create_app(world.sessions, influx=influx, conditions=influx_conditions(influx))
    with TestClient(app) as client:
        world.client = client
        yield world, request.param
    influx.close()
    world.close()


# The document is built from the routes alone, so an app on an empty in-memory store has the
# same one (served only to a key, so it is taken from the app itself); the cases are then
# sent to each test's app on its own world (`app=` below).
schema = schemathesis.openapi.from_dict(
    create_app(session_factory(make_engine("sqlite://"))).openapi()
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    # Times vary with the machine, and no example database: the same cases every run.
    deadline=None,
    database=None,
    # The world is a fixture per test, not per case, on purpose (see the module docstring).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_is_one_the_openapi_document_describes(case, fuzzed) -> None:
    world, who = fuzzed
    assert world.client is not None
    if case.path_parameters and len(repr(case.path_parameters)) % 2:
        case.path_parameters = {k: KNOWN_IDS.get(k, v) for k, v in case.path_parameters.items()}
    app = world.client.app
    if case.path != "/alerts/stream":
        case.call_and_validate(headers=world.headers(who), checks=CHECKS, app=app)
        return
    with _one_read(app):
        case.call_and_validate(
            headers=world.headers(who), checks=CHECKS, app=app, timeout=STREAM_DEADLINE_S
        )


@contextmanager
def _one_read(app: Any) -> Iterator[None]:
    """Alert streams that end after their first read of the store, as at the app's shutdown:
    what one read finds is sent, then the stream closes, however slow the machine."""
    stopping = app.state.stopping
    read = stream_route._read

    def read_once(*args: Any) -> Any:
        rows = read(*args)
        stopping.set()
        return rows

    try:
        with mock.patch.object(stream_route, "_read", read_once):
            yield
    finally:
        stopping.clear()


def test_the_alert_streams_events_are_the_ones_the_document_describes(
    fuzzed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Generated cases rarely ask for the stream from its first event (`after=0`), the one case
    # whose answer holds events: each event is checked against the document's schema for it.
    # The stream is read up to the last event the key may see (one per visible shipment), so
    # it ends on that event and not on a read deadline.
    world, who = fuzzed
    assert world.client is not None
    monkeypatch.setattr(schema.config, "max_stream_events", len(VISIBLE[who]))
    case = schema["/alerts/stream"]["GET"].Case(query={"after": 0})
    response = case.call_and_validate(
        headers=world.headers(who), checks=CHECKS, app=world.client.app
    )
    assert response.status_code == 200
    assert response.text.count("data: {") == len(VISIBLE[who])
