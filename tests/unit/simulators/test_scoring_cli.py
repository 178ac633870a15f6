"""`cargowatch score` from the command line: the report, --json, --plot, and one-line refusals."""

import json

import pytest

from cargowatch.cli import main

LABELS = [
    {
        "device_id": "trk-1",
        "shipment_id": "SHP-1",
        "scenario": "reefer_failure",
        "start": "2026-01-05T01:00:00Z",
        "end": "2026-01-05T03:00:00Z",
        "kinds": ["temp_breach_predicted", "temp_excursion"],
        "breach_at": "2026-01-05T02:00:00Z",
        "params": {},
    },
    {
        "device_id": "trk-2",
        "shipment_id": "SHP-2",
        "scenario": "tracker_silence",
        "start": "2026-01-05T01:00:00Z",
        "end": "2026-01-05T02:00:00Z",
        "kinds": ["silence"],
        "breach_at": None,
        "params": {},
    },
]


def alert(alert_id, kind, device, at, event="open"):
    return {"event": event, "alert_id": alert_id, "seq": 1, "kind": kind, "severity": "warning",
            "device_id": device, "shipment_id": None, "at": at, "summary": "", "evidence": {}}  # fmt: skip


ALERTS = [
    alert("w", "temp_breach_predicted", "trk-1", "2026-01-05T01:35:00Z"),
    alert("x", "temp_excursion", "trk-1", "2026-01-05T02:10:00Z"),
    alert("s", "silence", "trk-2", "2026-01-05T01:31:00Z"),
    alert("f", "shock", "trk-3", "2026-01-05T05:00:00Z"),
]
MANIFEST = {
    "shipments": [
        {
            "shipment_id": f"SHP-{i}",
            "device_id": f"trk-{i}",
            "profile": "vaccine_2_8",
            "departure": "2026-01-05T00:00:00Z",
            "arrival": "2026-01-06T00:00:00Z",
        }
        for i in (1, 2, 3, 4)
    ]
}


@pytest.fixture
def run_files(tmp_path):
    labels, alerts, fleet = (
        tmp_path / "truth.jsonl",
        tmp_path / "alerts.jsonl",
        tmp_path / "fleet.json",
    )
    labels.write_text("".join(json.dumps(x) + "\n" for x in LABELS))
    alerts.write_text("".join(json.dumps(x) + "\n" for x in ALERTS))
    fleet.write_text(json.dumps(MANIFEST))
    return labels, alerts, fleet


def score(*args):
    return main(["score", *map(str, args)])


def test_the_report_gives_each_figure(run_files, capsys):
    labels, alerts, fleet = run_files
    assert (
        score(
            "--labels",
            labels,
            "--alerts",
            alerts,
            "--shipments",
            fleet,
            "--start",
            "2026-01-05T00:00:00Z",
            "--end",
            "2026-01-05T10:00:00Z",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2 incidents, 4 alerts opened" in out
    assert "temp_breach_predicted   1.00   1/1    1.00   1/1          35 min      0" in out
    assert "silence                 1.00   1/1    1.00   1/1          31 min      0" in out
    assert "shock                              -  0.00   0/1               -      1" in out
    assert "warning lead before the breach: median 25 min, warned ahead in 1/1" in out
    assert "the breaches came a median 60 min after their incidents began" in out
    assert (
        "false alerts: 1 in 40.0 device-hours (4 devices, manifest, 2026-01-05T00:00:00Z to 2026-01-05T10:00:00Z) = 25.00 per 1,000 device-hours (95 % interval 0.63 to 139.29)"
        in out
    )
    assert (
        "trk-1   reefer_failure   2026-01-05T01:00:00Z  temp_breach_predicted, temp_excursion  temp_breach_predicted +35, temp_excursion +70  25 min of 60 min"
        in out
    )


def test_without_a_manifest_device_hours_are_the_named_devices_over_the_span(run_files, capsys):
    labels, alerts, _ = run_files
    assert score("--labels", labels, "--alerts", alerts) == 0
    # trk-1, trk-2 and trk-3 from 01:00 (the labels' start) to 05:00 (the last alert)
    assert "1 in 12.0 device-hours (3 devices, devices x span" in capsys.readouterr().out


def test_json_holds_the_whole_result(run_files, tmp_path, capsys):
    labels, alerts, fleet = run_files
    out = tmp_path / "score.json"
    assert score("--labels", labels, "--alerts", alerts, "--shipments", fleet, "--json", out) == 0
    doc = json.loads(out.read_text())
    kinds = {k["kind"]: k for k in doc["kinds"]}
    assert kinds["temp_excursion"] == {
        "kind": "temp_excursion", "expected": 1, "detected": 1, "recall": 1.0, "opened": 1,
        "matched": 1, "precision": 1.0, "false_alerts": 0, "median_delay_min": 70.0, "delays_min": [70.0],
    }  # fmt: skip
    assert doc["lead"] == {
        "breaches": 1, "warned": 1, "warned_ahead": 1, "median_min": 25.0,
        "median_onset_to_breach_min": 60.0,
    }  # fmt: skip
    assert doc["false_alerts"] == 1
    assert doc["exposure"]["device_hours"] == 16.0  # 4 devices, 01:00 to 05:00
    # One alert in 16 device-hours: a Poisson mean of 0.0253 to 5.57 (Garwood's interval).
    low, high = doc["false_per_1000_device_hours_95"]
    assert (round(low, 2), round(high, 1)) == (1.58, 348.2)
    assert doc["incidents"][0]["opened"] == {
        "temp_breach_predicted": "2026-01-05T01:35:00Z",
        "temp_excursion": "2026-01-05T02:10:00Z",
    }
    assert doc["incidents"][1]["lead_min"] is None
    assert (
        doc["incidents"][0]["onset_to_breach_min"],
        doc["incidents"][1]["onset_to_breach_min"],
    ) == (
        60.0,
        None,
    )


def test_plot_writes_a_png(run_files, tmp_path, capsys):
    labels, alerts, _ = run_files
    out = tmp_path / "score.png"
    assert score("--labels", labels, "--alerts", alerts, "--plot", out) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_says_how_device_hours_are_counted(capsys):
    with pytest.raises(SystemExit):
        score("--help")
    help_text = " ".join(capsys.readouterr().out.split())
    assert (
        "with --shipments, each shipment from departure to arrival, clipped to the period"
        in help_text
    )
    assert "without, every device the labels and alerts name for the whole period" in help_text


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(
            ["--labels", "{tmp}/none.jsonl", "--alerts", "{alerts}"],
            "{tmp}/none.jsonl: No such file or directory",
            id="missing labels",
        ),
        pytest.param(
            ["--labels", "{labels}", "--alerts", "{tmp}"],
            "{tmp}: Is a directory",
            id="alerts that are a directory",
        ),
        pytest.param(
            ["--labels", "{bad_labels}", "--alerts", "{alerts}"],
            "{bad_labels}:2: unknown label field 'kind'",
            id="a label with an unknown field",
        ),
        pytest.param(
            ["--labels", "{labels}", "--alerts", "{bad_alerts}"],
            "{bad_alerts}:3: not JSON: '{{oops'",
            id="a malformed alert line",
        ),
        pytest.param(
            ["--labels", "{labels}", "--alerts", "{alerts}", "--shipments", "{tmp}/none.json"],
            "--shipments {tmp}/none.json: No such file or directory",
            id="a missing manifest",
        ),
        pytest.param(
            ["--labels", "{labels}", "--alerts", "{alerts}", "--start", "monday"],
            "--start must be an RFC 3339 time, got 'monday'",
            id="a start that is no time",
        ),
        pytest.param(
            [
                "--labels",
                "{labels}",
                "--alerts",
                "{alerts}",
                "--start",
                "2026-01-05T02:00:00Z",
                "--end",
                "2026-01-05T01:00:00Z",
            ],
            "--end must be after --start",
            id="an end before the start",
        ),
        pytest.param(
            ["--labels", "{labels}", "--db-url", "sqlite:///{tmp}/none.db"],
            "--db-url sqlite:///{tmp}/none.db: no such database file",
            id="a store that does not exist",
        ),
        pytest.param(
            ["--labels", "{labels}", "--db-url", "mysql://x@y/z"],
            "--db-url mysql://x@y/z: unsupported database",
            id="a database the store does not support",
        ),
        pytest.param(
            ["--labels", "{labels}", "--alerts", "{alerts}", "--json", "{tmp}/no/such/dir.json"],
            "{tmp}/no/such/dir.json: No such file or directory",
            id="a JSON output that cannot be written",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_files, tmp_path, capsys, args, message):
    labels, alerts, _ = run_files
    bad_labels, bad_alerts = tmp_path / "bad_labels.jsonl", tmp_path / "bad_alerts.jsonl"
    bad_labels.write_text(
        json.dumps(LABELS[0]) + "\n" + json.dumps({**LABELS[1], "kind": "x"}) + "\n"
    )
    bad_alerts.write_text(json.dumps(ALERTS[0]) + "\n\n{oops\n")
    names = {
        "tmp": tmp_path,
        "labels": labels,
        "alerts": alerts,
        "bad_labels": bad_labels,
        "bad_alerts": bad_alerts,
    }
    assert score(*[a.format(**names) for a in args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"cargowatch score: {message.format(**names)}")
    assert captured.err.count("\n") == 1
