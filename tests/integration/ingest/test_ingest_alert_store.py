"""Alert events reach the SQL store once, and go out from its outbox, through a real ingester.

The path is one way: readings -> detectors -> SQL store (history + outbox, one
transaction) -> delivery (MQTT and the InfluxDB `alerts` measurement).
"""

import json
import os
import signal

import pytest
from ingest_process import (
    T0_MS,
    AlertListener,
    encode,
    publish,
    refused_start_up,
    topic,
    wait_for,
)

pytestmark = pytest.mark.integration
MIN = 60_000


def excursion_and_seal(device):
    temps = [5.0] * 12 + [9.5] * 4
    readings = [
        {"device_id": device, "ts": T0_MS + i * 5 * MIN, "seq": i, "temp_c": t}
        for i, t in enumerate(temps)
    ]
    readings.append(
        {"device_id": device, "ts": T0_MS + 80 * MIN, "seq": 16, "temp_c": 9.5, "seal": "tampered"}
    )
    return [(topic(device), encode(r)) for r in readings]


def test_alert_events_are_stored_once_and_delivered_and_a_redelivery_after_a_restart_adds_nothing(
    mosquitto, influx_db, start_ingester, tmp_path
):
    influx, db = influx_db
    manifest = tmp_path / "fleet.json"
    manifest.write_text(
        json.dumps(
            {
                "shipments": [
                    {"shipment_id": "SHP-7", "device_id": "trk-7", "profile": "vaccine_2_8"}
                ]
            }
        )
    )
    listener = AlertListener(mosquitto.port)
    ingester = start_ingester(
        mosquitto.url, influx.url, db, shipments=str(manifest), lateness_s="0"
    )
    readings = excursion_and_seal("trk-7")
    publish(mosquitto.port, readings)
    wait_for(
        lambda: {m[1]["kind"] for m in listener.messages} >= {"temp_excursion", "seal_breach"},
        30,
        "the alerts to come out of the outbox onto MQTT",
    )
    assert ingester.terminate() == 0
    alerts = ingester.store_rows("SELECT alert_id, kind, state FROM alerts ORDER BY kind")
    assert {kind for _, kind, _ in alerts} >= {"temp_excursion", "seal_breach"}
    history = ingester.store_rows(
        "SELECT alert_id, seq, event_seq, action FROM alert_history ORDER BY 1, 2"
    )
    assert ingester.store_rows("SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == [(0,)]
    stored = influx.query("SELECT count(alert_id) FROM alerts", db)
    assert stored and stored[0]["count"] == len(history)

    # Everything delivered again after a restart (a broker redelivery, a tracker's re-upload):
    # the detectors raise the same events again, and the store takes none of them twice.
    ingester.start()
    marker = {"device_id": "trk-marker", "ts": T0_MS, "seq": 0}
    publish(mosquitto.port, [*readings, (topic("trk-marker"), encode(marker))])
    wait_for(
        lambda: influx.query("SELECT count(seq) FROM telemetry WHERE device_id = 'trk-marker'", db),
        30,
        "the marker published after the redelivered readings",
    )
    assert ingester.terminate() == 0
    assert (
        ingester.store_rows(
            "SELECT alert_id, seq, event_seq, action FROM alert_history ORDER BY 1, 2"
        )
        == history
    )
    listener.close()


def test_an_ingester_with_an_unmigrated_store_stops_at_start_up_with_one_line(
    mosquitto, influx_db, tmp_path
):
    influx, db = influx_db
    line = refused_start_up(
        mqtt_url=mosquitto.url,
        influx_url=influx.url,
        influx_db=db,
        db_url=f"sqlite:///{tmp_path / 'new.db'}",
        spool_dir=str(tmp_path / "spool"),
    )
    assert "cargowatch db upgrade" in line


def test_a_shipment_saved_in_the_store_reaches_the_running_detectors_within_seconds(
    mosquitto, influx_db, start_ingester
):
    influx, db = influx_db
    listener = AlertListener(mosquitto.port)
    # No default profile: a device is watched only once a shipment names it.
    ingester = start_ingester(mosquitto.url, influx.url, db, default_profile="none", lateness_s="0")
    ingester.save_shipment({"shipment_id": "SHP-9", "device_id": "trk-9", "profile": "vaccine_2_8"})
    publish(mosquitto.port, excursion_and_seal("trk-9"))
    wait_for(
        lambda: any(m[1]["kind"] == "temp_excursion" for m in listener.messages),
        30,
        "an excursion alert under the new shipment",
    )
    opened = [m[1] for m in listener.messages if m[1]["event"] == "open"]
    assert {a["shipment_id"] for a in opened} == {"SHP-9"}
    tagged = influx.query(
        "SELECT count(seq) FROM telemetry WHERE shipment_id = 'SHP-9' AND device_id = 'trk-9'", db
    )
    assert tagged and tagged[0]["count"] == 17, "readings are tagged with the shipment too"
    assert ingester.terminate() == 0
    listener.close()


@pytest.mark.parametrize(
    ("change", "status", "said"),
    [
        pytest.param({"corridor_m": 5000}, "in_transit", "manifest changed", id="changed"),
        pytest.param({}, "delivered", "no longer watched", id="closed"),
        pytest.param({"shipment_id": "SHP-8B"}, "planned", "no longer watched", id="next trip"),
    ],
)
def test_a_shipment_changed_or_ended_in_the_store_resolves_what_its_detectors_held_open(
    mosquitto, influx_db, start_ingester, change, status, said
):
    influx, db = influx_db
    ingester = start_ingester(mosquitto.url, influx.url, db, default_profile="none", lateness_s="0")
    element = {"shipment_id": "SHP-8", "device_id": "trk-8", "profile": "vaccine_2_8"}
    ingester.save_shipment(element)
    publish(mosquitto.port, excursion_and_seal("trk-8")[:16])
    excursions = "SELECT alert_id, state FROM alerts WHERE kind = 'temp_excursion'"
    wait_for(lambda: ingester.store_rows(excursions), 30, "the excursion alert in the store")
    ingester.save_shipment({**element, **change}, status=status)
    # The detectors that raised it are dropped: without the resolve it stayed open (and was
    # escalated) for ever, beside any new one the next detectors opened.
    wait_for(
        lambda: [s for _, s in ingester.store_rows(excursions)] == ["resolved"],
        30,
        "the excursion to resolve",
    )
    (summary,) = ingester.store_rows(
        "SELECT h.summary FROM alert_history h JOIN alerts a ON a.alert_id = h.alert_id"
        " WHERE a.kind = 'temp_excursion' AND h.action = 'resolve'"
    )
    assert said in summary[0]
    assert ingester.terminate() == 0


def test_a_tracker_whose_shipments_are_closed_is_not_watched_under_the_default_profile(
    mosquitto, influx_db, start_ingester
):
    # Before, a delivered tracker fell back to the default profile (customs_transit): its seal
    # opened at unloading raised a seal_breach that belonged to no organisation.
    influx, db = influx_db
    ingester = start_ingester(mosquitto.url, influx.url, db, lateness_s="0")
    element = {"shipment_id": "SHP-7", "device_id": "trk-7", "profile": "customs_transit"}
    ingester.save_shipment(element)
    ingester.save_shipment(element, status="delivered")
    seals = "SELECT device_id FROM alerts WHERE kind = 'seal_breach' ORDER BY device_id"

    def seals_opened(devices, minute):
        """trk-7's seal opened, then a tracker no shipment ever named (watched under the
        default profile): its alert in the store says trk-7's reading went through too."""
        reading = {"ts": T0_MS + minute * MIN, "seal": "open"}
        publish(mosquitto.port, [(topic(d), encode({**reading, "device_id": d})) for d in devices])
        wait_for(
            lambda: (devices[-1],) in ingester.store_rows(seals),
            30,
            f"the seal alert of {devices[-1]}",
        )
        assert ingester.store_rows(seals) == [(d,) for d in sorted(control)]

    control = {"trk-6"}
    seals_opened(["trk-7", "trk-6"], 0)
    # A restarted ingester knows it from the store, and so does a restarted detector process.
    assert ingester.terminate() == 0
    ingester.start()
    control.add("trk-5")
    seals_opened(["trk-7", "trk-5"], 1)
    (child,) = ingester.detector_processes()
    os.kill(child, signal.SIGKILL)
    wait_for(
        lambda: "detector process restarted" in ingester.log(), 60, "the detector process restart"
    )
    control.add("trk-4")
    seals_opened(["trk-7", "trk-4"], 2)
    # The tracker's next trip watches it again.
    ingester.save_shipment({**element, "shipment_id": "SHP-7B"})
    control.add("trk-7")
    seals_opened(["trk-7"], 3)
    assert ingester.terminate() == 0
