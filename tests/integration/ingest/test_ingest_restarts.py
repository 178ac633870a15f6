"""The detectors carry on across restarts, clean or SIGKILL, as if they had never stopped.

The same readings go through one ingester without interruption, and through another that is
stopped (SIGTERM or SIGKILL) mid-excursion and restarted; the SQL stores must end with the
same alerts, in the same states, with the same detector events in their histories: nothing
lost, nothing doubled, nothing left dangling open.
"""

import json
import os
import signal
import time

import pytest
from ingest_process import encode, publish, topic, wait_for

pytestmark = pytest.mark.integration
MIN = 60_000


def rows(ingester, query):
    return sorted(ingester.store_rows(query))


def stored(influx, db):
    found = influx.query("SELECT count(seq) FROM telemetry", db)
    return found[0]["count"] if found else 0


def alerts(ingester):
    return rows(ingester, "SELECT alert_id, kind, state FROM alerts")


def detector_history(ingester):
    return rows(
        ingester,
        "SELECT alert_id, event_seq, action, severity FROM alert_history"
        " WHERE event_seq IS NOT NULL",
    )


def journey(device: str, start_ms: int) -> list[tuple[str, bytes]]:
    """Two hours of a vaccine shipper, one reading per 5 min: fine, 40 min too warm, fine."""
    temps = [5.0] * 8 + [9.5] * 8 + [5.0] * 8
    return [
        (
            topic(device),
            encode({"device_id": device, "ts": start_ms + i * 5 * MIN, "seq": i, "temp_c": t}),
        )
        for i, t in enumerate(temps)
    ]


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text(
        json.dumps(
            {
                "shipments": [
                    {"shipment_id": "SHP-R", "device_id": "trk-r", "profile": "vaccine_2_8"}
                ]
            }
        )
    )
    return path


def run(
    start_ingester,
    mosquitto,
    influx,
    db,
    manifest,
    messages,
    stop_after=None,
    how=None,
    store=False,
):
    settings = {"lateness_s": "0", "state_snapshot_s": "1"}
    # From a manifest file, or from the store (as POST /shipments saves it): the store's
    # shipments reach the detectors only once the ingester runs.
    settings |= {"default_profile": "none"} if store else {"shipments": str(manifest)}
    ingester = start_ingester(mosquitto.url, influx.url, db, **settings)
    if store:
        ingester.save_shipment(
            {"shipment_id": "SHP-R", "device_id": "trk-r", "profile": "vaccine_2_8"}
        )
    if stop_after is None:
        publish(mosquitto.port, messages)
    else:
        publish(mosquitto.port, messages[:stop_after])
        wait_for(
            lambda: stored(influx, db) == stop_after,
            30,
            "the readings before the stop to be stored (and acked)",
        )
        if how == "kill-detectors":
            (child,) = ingester.detector_processes()
            os.kill(child, signal.SIGKILL)
            wait_for(
                lambda: "detector process restarted" in ingester.log(),
                60,
                "the detector process to be restarted",
            )
        else:
            if how == "kill":
                ingester.kill()
            else:
                assert ingester.terminate() == 0
            ingester.start()
        publish(mosquitto.port, messages[stop_after:])
    wait_for(
        lambda: (
            [state for _, kind, state in alerts(ingester) if kind == "temp_excursion"]
            == ["resolved"]
        ),
        60,
        "the excursion alert to resolve",
    )
    assert ingester.terminate() == 0
    return ingester


@pytest.mark.parametrize(
    "how, stop_after, store",
    [
        pytest.param("sigterm", 12, False, id="SIGTERM mid-excursion"),
        pytest.param("kill", 4, False, id="SIGKILL before the excursion"),
        pytest.param("kill", 12, False, id="SIGKILL mid-excursion"),
        pytest.param("kill", 18, False, id="SIGKILL while the excursion waits to resolve"),
        pytest.param("kill-detectors", 12, False, id="detector process SIGKILLed mid-excursion"),
        pytest.param("sigterm", 12, True, id="SIGTERM mid-excursion, shipment in the store"),
        pytest.param("kill", 12, True, id="SIGKILL mid-excursion, shipment in the store"),
        pytest.param(
            "kill-detectors", 12, True, id="detector process SIGKILLed, shipment in the store"
        ),
    ],
)
def test_a_restart_ends_with_the_same_alerts_and_histories_as_no_restart(
    mosquitto, influx_db, start_ingester, manifest, how, stop_after, store
):
    influx, db = influx_db
    start_ms = (int(time.time() * 1000) // MIN) * MIN - 2 * 60 * MIN
    messages = journey("trk-r", start_ms)
    unbroken = run(start_ingester, mosquitto, influx, db, manifest, messages, store=store)
    influx.drop_database(db)
    influx.create_database(db)
    restarted = run(
        start_ingester, mosquitto, influx, db, manifest, messages, stop_after, how, store
    )
    assert alerts(restarted) == alerts(unbroken)
    assert detector_history(restarted) == detector_history(unbroken)
    assert [a for a in alerts(restarted) if a[2] != "resolved"] == []


def test_a_silence_open_when_the_ingester_is_killed_is_the_one_that_resolves_after_the_restart(
    mosquitto, influx_db, start_ingester, tmp_path
):
    influx, db = influx_db
    manifest = tmp_path / "quiet.json"
    # A gap of 3 s counts as silence here, so the test need not wait half an hour.
    element = {"shipment_id": "SHP-Q", "device_id": "trk-q", "profile": "vaccine_2_8"}
    manifest.write_text(json.dumps({"shipments": [{**element, "max_gap_min": 0.05}]}))
    settings = {"shipments": str(manifest), "lateness_s": "0", "state_snapshot_s": "1"}
    ingester = start_ingester(mosquitto.url, influx.url, db, **settings)

    def now_reading(seq):
        r = {"device_id": "trk-q", "ts": int(time.time() * 1000), "seq": seq, "temp_c": 5.0}
        return [(topic("trk-q"), encode(r))]

    publish(mosquitto.port, now_reading(0))
    wait_for(
        lambda: ("silence", "open") in [(k, s) for _, k, s in alerts(ingester)],
        60,
        "the silence alert",
    )
    state = ingester.workdir / "state" / "detectors.state"
    opened_at = state.stat().st_mtime_ns
    wait_for(lambda: state.stat().st_mtime_ns > opened_at, 30, "a snapshot after the open")
    ingester.kill()
    ingester.start()
    publish(mosquitto.port, now_reading(1))
    wait_for(
        lambda: (
            [(k, s) for _, k, s in alerts(ingester) if k == "silence"] == [("silence", "resolved")]
        ),
        60,
        "the same silence alert to resolve",
    )
    assert ingester.terminate() == 0
    (silence,) = [a for a in alerts(ingester) if a[1] == "silence"]
    history = [
        (seq, action)
        for alert_id, seq, action, _ in detector_history(ingester)
        if alert_id == silence[0]
    ]
    # One open, one resolve, each event once and in order (an escalation may come between).
    assert [seq for seq, _ in history] == list(range(1, len(history) + 1))
    actions = [action for _, action in history]
    assert actions[0] == "open" and actions[-1] == "resolve"
    assert actions.count("open") == 1 and actions.count("resolve") == 1


def test_a_killed_ingester_takes_its_detector_process_with_it(
    mosquitto, influx_db, start_ingester, manifest
):
    influx, db = influx_db
    ingester = start_ingester(mosquitto.url, influx.url, db, shipments=str(manifest))
    (child,) = ingester.detector_processes()
    ingester.kill()
    # A detector process left behind would go on snapshotting over the next run's state.
    wait_for(lambda: not os.path.exists(f"/proc/{child}"), 30, "the detector process to end")
