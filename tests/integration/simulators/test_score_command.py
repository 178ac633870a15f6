"""`cargowatch score` on a real run: simulated, replayed, and scored from a file or the SQL store.

The commands run as a test engineer runs them, as subprocesses: `cargowatch simulate` records
a small mixed fleet with its manifest and labels, `cargowatch backtest` replays it into alert
events, `cargowatch score` scores them. The same events are then recorded in a real SQL store
the way the detector process records them (with a person acknowledging and closing one alert
by hand, which is no detector's doing), and scoring the store must give exactly the result
scoring the file gave.
"""

import json
import subprocess
import sys
from collections import Counter

import pytest

from api.actions import acknowledge, close
from api.db import make_engine, session_factory, write_transaction
from api.store import record_events
from detectors.alerts import AlertEvent
from simulators.scoring_input import parse_time

pytestmark = pytest.mark.integration


def cargowatch(*args, check=True):
    done = subprocess.run(
        [sys.executable, "-m", "cargowatch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A recorded fleet with incidents, its manifest, labels, and the backtest's alert events."""
    d = tmp_path_factory.mktemp("run")
    cargowatch(
        "simulate", "--devices", 12, "--scenario", "mixed", "--duration", "48h", "--seed", 5,
        "--out", d / "readings.jsonl", "--manifest", d / "fleet.json", "--labels", d / "truth.jsonl",
    )  # fmt: skip
    cargowatch(
        "backtest",
        d / "readings.jsonl",
        "--shipments",
        d / "fleet.json",
        "--alerts",
        d / "alerts.jsonl",
    )
    return d


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_backtest_is_scored_against_its_labels(run):
    done = cargowatch(
        "score", "--labels", run / "truth.jsonl", "--alerts", run / "alerts.jsonl",
        "--shipments", run / "fleet.json", "--json", run / "score.json", "--plot", run / "score.png",
    )  # fmt: skip
    labels, events = rows(run / "truth.jsonl"), rows(run / "alerts.jsonl")
    result = json.loads((run / "score.json").read_text())
    opened = {e["alert_id"] for e in events if e["event"] == "open"}
    assert labels, "the mixed fleet staged no incident"
    assert opened, "the backtest raised no alert"

    assert len(result["incidents"]) == len(labels)
    assert [i["device_id"] for i in result["incidents"]] == [x["device_id"] for x in labels]
    expected = Counter(k for x in labels for k in x["kinds"])
    assert {k["kind"]: k["expected"] for k in result["kinds"] if k["expected"]} == expected
    assert result["alerts_opened"] == len(opened)
    assert sum(k["opened"] for k in result["kinds"]) == len(opened)
    assert result["lead"]["breaches"] == sum(1 for x in labels if x["breach_at"])
    # The manifest's 12 shipments, each from departure to arrival, within the scored period.
    assert result["exposure"]["devices"] == 12 and result["exposure"]["basis"] == "manifest"
    assert 0 < result["exposure"]["device_hours"] <= 12 * 48
    assert (run / "score.png").read_bytes()[:4] == b"\x89PNG"

    out = done.stdout
    assert f"{len(labels)} incidents, {len(opened)} alerts opened" in out
    assert "per 1,000 device-hours" in out
    for label in labels:
        assert f"{label['device_id']}  " in out and label["scenario"] in out


def event_of(row):
    """An alert event as `cargowatch backtest --alerts` wrote it, back as the engine's object."""
    breach = row.get("predicted_breach_at")
    return AlertEvent(
        event=row["event"],
        alert_id=row["alert_id"],
        kind=row["kind"],
        severity=row["severity"],
        device_id=row["device_id"],
        shipment_id=row["shipment_id"],
        at_ms=parse_time(row["at"], "", "at"),
        summary=row["summary"],
        evidence=row["evidence"],
        value=row.get("value"),
        predicted_breach_at_ms=None if breach is None else parse_time(breach, "", "at"),
        confidence=row.get("confidence"),
        seq=row["seq"],
    )


def test_the_alerts_a_deployment_stored_score_as_the_same_alerts_in_a_file(run, sql_url, tmp_path):
    events = [event_of(row) for row in rows(run / "alerts.jsonl")]
    sessions = session_factory(make_engine(sql_url))
    # Stored in batches out of file order, as the detector process's batches arrive.
    for batch in (events[1::2], events[0::2]):
        record_events(sessions, [(e, e.seq) for e in batch])
    resolved = {e.alert_id for e in events if e.event == "resolve"}
    still_open = [e.alert_id for e in events if e.event == "open" and e.alert_id not in resolved]
    assert still_open, "every alert of the run resolved; pick a run that leaves one open"
    with write_transaction(sessions) as session:
        acknowledge(session, still_open[0], "ops@example", "calling the driver")
    with write_transaction(sessions) as session:
        # Resolved by hand at the wall clock, which must move neither the alert's times nor
        # the scored period.
        close(session, still_open[0], "ops@example", "driver confirmed, false alarm")
    sessions.kw["bind"].dispose()

    common = ["--labels", run / "truth.jsonl", "--shipments", run / "fleet.json"]
    cargowatch("score", *common, "--alerts", run / "alerts.jsonl", "--json", tmp_path / "file.json")
    stored = cargowatch("score", *common, "--db-url", sql_url, "--json", tmp_path / "store.json")
    from_store = json.loads((tmp_path / "store.json").read_text())
    assert from_store == json.loads((tmp_path / "file.json").read_text())
    assert from_store["alerts_opened"] == len({e.alert_id for e in events if e.event == "open"})
    assert "per 1,000 device-hours" in stored.stdout


def test_an_empty_store_scores_every_incident_as_missed(sql_url, run, tmp_path):
    done = cargowatch(
        "score", "--labels", run / "truth.jsonl", "--db-url", sql_url, "--json", tmp_path / "s.json"
    )
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["alerts_opened"] == 0
    assert all(k["detected"] == 0 and k["recall"] == 0.0 for k in result["kinds"])
    assert "(missed)" in done.stdout


def test_a_store_without_the_schema_is_one_line_and_exit_2(empty_sql_url, run):
    if empty_sql_url.startswith("sqlite"):
        # The fixture names a file it has not created; a store that exists but is empty is meant.
        make_engine(empty_sql_url).connect().close()
    done = cargowatch(
        "score", "--labels", run / "truth.jsonl", "--db-url", empty_sql_url, check=False
    )
    assert done.returncode == 2
    assert done.stderr.startswith("cargowatch score: --db-url ")
    assert "cannot read alerts" in done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stdout == ""
