"""Alert deliveries pending when CargoWatch is SIGKILLed all go out after the restart.

A real `cargowatch run` (on SQLite and on PostgreSQL) watches shipments an operator made
through the API and sends their alerts to a webhook subscribed through the API, at a real HTTP
receiver on loopback. The readings open and resolve alerts while InfluxDB is down (so the
outbox's MQTT and InfluxDB deliveries are held) and while the receiver holds a request without
answering (so the webhook deliveries are held behind it, one of them in flight); an operator
acknowledges the alert still open; then the process is killed. After the restart every webhook
entry arrives, signed, in order per alert, repeated only under its own id; every entry is on
MQTT in order per alert, each open alert is retained on its topic and each resolved one
cleared; every entry is an `alerts` point.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from cargowatch_run import RunProcess
from ingest_process import AlertListener, encode, publish, topic, wait_for
from webhook_checks import check_received, retained_alerts

pytestmark = pytest.mark.integration
MIN = 60_000
#: Fine, 40 min too warm, fine again: an excursion that opens, updates and resolves.
RESOLVED = [5.0] * 8 + [9.5] * 8 + [5.0] * 8
#: Fine, then too warm to the end: an excursion still open when the readings stop.
STILL_OPEN = [5.0] * 8 + [9.5] * 8
JOURNEYS = {"trk-k0": RESOLVED, "trk-k1": RESOLVED, "trk-k2": RESOLVED, "trk-k3": STILL_OPEN}


def readings(start_ms: int) -> list[tuple[str, bytes]]:
    """Every device's journey, one reading per 5 min, the devices interleaved."""
    messages = []
    for i in range(max(len(temps) for temps in JOURNEYS.values())):
        for device, temps in JOURNEYS.items():
            if i < len(temps):
                reading = {"device_id": device, "ts": start_ms + i * 5 * MIN, "seq": i}
                messages.append((topic(device), encode({**reading, "temp_c": temps[i]})))
    return messages


@pytest.fixture
def service(sql_url, mosquitto, influxd, tmp_path: Path) -> Iterator[RunProcess]:
    process = RunProcess(
        mosquitto.url,
        influxd.url,
        "cargowatch",
        tmp_path / "run",
        db_url=sql_url,
        default_profile="none",
        lateness_s="0",
        state_snapshot_s="1",
        webhook_allow_private="true",
        # Long enough that the request the receiver holds is still in flight at the kill.
        webhook_timeout_s="300",
    )
    process.start()
    yield process
    process.close()


def outbox(service: RunProcess) -> list[tuple[str, int, dict]]:
    rows = service.store_rows(
        "SELECT alert_id, history_seq, payload FROM outbox ORDER BY alert_id, history_seq"
    )
    return [(a, s, p if isinstance(p, dict) else orjson.loads(p)) for a, s, p in rows]


def pending(service: RunProcess) -> tuple[int, int]:
    """Outbox entries not yet on MQTT and InfluxDB, webhook deliveries not yet delivered."""
    ((entries,),) = service.store_rows("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
    ((hooks,),) = service.store_rows(
        "SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NULL"
    )
    return entries, hooks


def test_deliveries_pending_at_a_sigkill_all_go_out_after_the_restart(
    service, mosquitto, influxd, receiver
):
    service.operator_key("ACME")
    for n, device in enumerate(JOURNEYS):
        shipment = {"shipment_id": f"SHP-K{n}", "device_id": device, "profile": "vaccine_2_8"}
        assert service.call("POST", "/shipments", json=shipment).status_code == 201
    hook = service.call("POST", "/webhooks", json={"url": receiver.url})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    for n, device in enumerate(JOURNEYS):
        wait_for(
            lambda n=n, device=device: f"watching SHP-K{n} on {device}" in service.log(),
            30,
            f"the detectors to watch {device}",
        )
    listener = AlertListener(mosquitto.port)

    # Two answers, a failure, then the receiver holds the next request without answering.
    receiver.script.extend(["ok", 500, "ok"])
    receiver.default = "hang"
    influxd.stop()
    start_ms = (int(time.time() * 1000) // MIN) * MIN - 3 * 60 * MIN
    publish(mosquitto.port, readings(start_ms))
    excursions = "SELECT state FROM alerts WHERE kind = 'temp_excursion'"
    wait_for(
        lambda: sorted(service.store_rows(excursions)) == [("open",)] + [("resolved",)] * 3,
        90,
        "three excursions to resolve and one to stay open",
    )
    wait_for(lambda: any(r.answered == "hang" for r in receiver.all()), 30, "a request to be held")
    # A person's action on the open alert joins the queue behind the detector's entries.
    ((still_open,),) = service.store_rows(
        "SELECT alert_id FROM alerts WHERE kind = 'temp_excursion' AND state = 'open'"
    )
    acked = service.call("POST", f"/alerts/{still_open}/ack", json={"comment": "driver called"})
    assert acked.status_code == 200, acked.text
    entries_pending, hooks_pending = pending(service)
    assert entries_pending > 0 and hooks_pending > 1, "nothing was pending at the kill"
    service.kill()

    influxd.start()
    receiver.default = "ok"
    service.start()
    wait_for(lambda: pending(service) == (0, 0), 120, "every delivery after the restart")
    assert service.terminate() == 0

    entries = outbox(service)
    expected = {(a, s) for a, s, p in entries}
    check_received(receiver.all(), secret, expected)
    assert any(r.answered == 500 for r in receiver.all())
    assert any(r.answered == "hang" for r in receiver.all())

    # MQTT: every entry, the first sending of each in order per alert.
    first_seen: dict[str, list[int]] = defaultdict(list)
    for _, payload in listener.messages:
        seqs = first_seen[payload["alert_id"]]
        if payload["history_seq"] not in seqs:
            seqs.append(payload["history_seq"])
    listener.close()
    assert {(a, s) for a, seqs in first_seen.items() for s in seqs} == expected
    assert all(seqs == sorted(seqs) for seqs in first_seen.values())
    latest = {p["alert_id"]: p for _, _, p in entries}  # ordered by seq: the last one wins
    open_now = {
        f"cargo/v1/alerts/{p['device_id']}/{p['kind']}": p
        for p in latest.values()
        if p["state"] != "resolved"
    }
    assert open_now["cargo/v1/alerts/trk-k3/temp_excursion"]["event"] == "ack"
    assert retained_alerts(mosquitto.port) == open_now

    points = influxd.query("SELECT alert_id, history_seq FROM alerts", "cargowatch")
    assert {(p["alert_id"], p["history_seq"]) for p in points} == expected
