"""The shipment release report, through the app and the command line, on a real InfluxDB and SQL
store: the PDF read back (pages, footers, statistics, acknowledgement, the plot's drawing), the
CSV's numbers equal to the PDF's and to the readings', the caller's visibility, and InfluxDB
away."""

import csv
import io
import itertools
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import T0_MS, World, build_world, manifest
from fastapi.testclient import TestClient
from httpx import Response
from pypdf import PdfReader
from pypdf.generic import ContentStream, DictionaryObject
from report_checks import page_texts, plot_form
from services import InfluxServer, free_port
from sqlalchemy import select

from api.app import create_app
from api.db import write_transaction
from api.evidence_chain import chain_head, shipment_chain_key
from api.models import Organisation
from api.report_drawings import ROUTE_FORM, TEMPERATURE_FORM
from api.shipments import save_shipment
from api.store import record_events
from cargowatch.cli import main
from detectors.alerts import AlertEvent
from detectors.reading import Reading
from ingest.influx_client import InfluxClient
from ingest.line_protocol import telemetry_line

pytestmark = pytest.mark.integration

MIN = 60_000
#: (minutes after T0, °C, seal) at irregular intervals; the range is 2 to 8 °C.
READINGS = [
    (0, 5.0, "closed"),
    (5, 5.5, None),
    (9, 6.0, None),
    (15, 8.6, None),
    (18, 9.4, None),
    (26, 8.9, None),
    (31, 6.5, "open"),
    (40, 5.0, "closed"),
    (47, 4.0, None),
    (55, 1.5, None),
    (58, 3.0, None),
    (70, 4.5, "open"),
]
#: Out of range at 15, 18 and 26 min (back in at 31): 3 + 8 + 5 min; at 55 (back at 58): 3.
EXCURSION_MINUTES = ["16.0", "3.0"]
BUDGET_MIN = 30
START, STOP = (39.66, -4.04), (34.27, 0.63)
STOPS = [{"name": "Malaba border", "lon": STOP[0], "lat": STOP[1], "radius_m": 500}]
ACK_COMMENT = "Door shut, lot on hold"
TEMP_ALERT = "trk-a1:temp_excursion:report"
ROUTE_ALERT = "trk-a1:route_deviation:report"


def position(minutes: int) -> tuple[float, float]:
    # Along a straight line from Mombasa to the border, arriving at the last reading.
    f = minutes / READINGS[-1][0]
    return START[0] + (STOP[0] - START[0]) * f, START[1] + (STOP[1] - START[1]) * f


Influx = tuple[InfluxServer, str, InfluxClient]


@pytest.fixture
def influx(influx_db: tuple[InfluxServer, str]) -> Iterator[Influx]:
    server, db = influx_db
    client = InfluxClient(server.url, db)
    client.create_database()
    lines = []
    for minutes, temp, seal in READINGS:
        lon, lat = position(minutes)
        reading = Reading("trk-a1", T0_MS + minutes * MIN, lat=lat, lon=lon, temp_c=temp, seal=seal)
        lines.append(telemetry_line(reading, "SHP-A1"))
    client.write("\n".join(lines).encode())
    yield server, db, client
    client.close()


def alert_event(
    event: str,
    alert_id: str,
    kind: str,
    minutes: int,
    severity: str = "warning",
    evidence: dict[str, Any] | None = None,
) -> AlertEvent:
    return AlertEvent(
        event=event,
        alert_id=alert_id,
        kind=kind,
        severity=severity,
        device_id="trk-a1",
        shipment_id="SHP-A1",
        at_ms=T0_MS + minutes * MIN,
        summary=f"{kind} {event} at {minutes} min",
        evidence=evidence or {},
    )


@pytest.fixture
def world(sql_url: str, influx: Influx) -> Iterator[World]:
    _, _, client = influx
    world = build_world(sql_url)
    with write_transaction(world.sessions) as session:
        acme = session.scalars(select(Organisation).where(Organisation.name == "ACME")).one()
        save_shipment(
            session,
            acme.id,
            manifest(
                "SHP-A1",
                "trk-a1",
                arrival="2025-11-22T12:00:00Z",
                stability_budget_min=BUDGET_MIN,
                authorised_stops=STOPS,
                seal_id="ES-1",
            ),
            actor="planner@ACME",
            status="in_transit",
        )
    lon, lat = position(31)
    record_events(
        world.sessions,
        [
            (alert_event("open", TEMP_ALERT, "temp_excursion", 18), 1),
            (
                alert_event(
                    "open", ROUTE_ALERT, "route_deviation", 31, evidence={"lon": lon, "lat": lat}
                ),
                1,
            ),
        ],
    )
    with TestClient(create_app(world.sessions, influx=client)) as http:
        world.client = http
        acked = http.post(
            f"/alerts/{TEMP_ALERT}/ack",
            json={"comment": ACK_COMMENT},
            headers=world.headers("operator"),
        )
        assert acked.status_code == 200, acked.text
        record_events(
            world.sessions, [(alert_event("resolve", TEMP_ALERT, "temp_excursion", 31, "info"), 2)]
        )
        yield world
    world.close()


def get(world: World, who: str, path: str) -> Response:
    assert world.client is not None
    answer: Response = world.client.get(path, headers=world.headers(who))
    return answer


def rows_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def one(rows: list[dict[str, str]], section: str, item: str) -> dict[str, str]:
    (row,) = [r for r in rows if r["section"] == section and r["item"] == item]
    return row


def expected_mkt() -> float:
    # The documented formula, written out here: each reading weighs the time to the next one
    # (every interval here is under the 15 min cap), the last one nothing.
    times = [m * MIN for m, _, _ in READINGS]
    weights = [b - a for a, b in itertools.pairwise(times)] + [0]
    s = sum(
        w * math.exp(-10_000 / (t + 273.15)) for w, (_, t, _) in zip(weights, READINGS, strict=True)
    )
    return 10_000 / -math.log(s / sum(weights)) - 273.15


def test_the_csv_states_the_readings_figures(world: World) -> None:
    answer = get(world, "operator", "/shipments/SHP-A1/report.csv")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    rows = rows_of(answer.content)
    temps = [t for _, t, _ in READINGS]
    assert one(rows, "temperature", "readings")["value"] == str(len(READINGS))
    assert one(rows, "temperature", "min_c")["value"] == f"{min(temps):.2f}"
    assert one(rows, "temperature", "max_c")["value"] == f"{max(temps):.2f}"
    assert one(rows, "temperature", "mkt_c")["value"] == f"{expected_mkt():.2f}"
    assert [r["value"] for r in rows if r["section"] == "excursion"] == EXCURSION_MINUTES
    total = sum(float(m) for m in EXCURSION_MINUTES)
    assert one(rows, "budget", "out_of_range_min")["value"] == f"{total:.1f}"
    assert one(rows, "budget", "used_pct")["value"] == f"{100 * total / BUDGET_MIN:.1f}"
    ack = [r for r in rows if r["section"] == "alert_history" and r["value"] == "ack"]
    assert [(r["item"], r["comment"]) for r in ack] == [(TEMP_ALERT, ACK_COMMENT)]
    assert ack[0]["actor"].startswith("operator@ACME")
    assert len([r for r in rows if r["section"] == "manifest_version"]) == 2


def test_an_air_probes_report_states_the_product_the_alerts_judged(world: World) -> None:
    # The same readings from a probe in the air: the 15-31 min warm spell is air that a
    # product with a two-hour time constant barely felt, so no excursion and no budget used.
    assert world.client is not None
    changed = world.client.patch(
        "/shipments/SHP-A1", json={"probe": "air"}, headers=world.headers("operator")
    )
    assert changed.status_code == 200, changed.text
    rows = rows_of(get(world, "operator", "/shipments/SHP-A1/report.csv").content)
    assert one(rows, "header", "probe")["value"] == "air"
    assert one(rows, "header", "product_lag_min")["value"] == "120.0"
    assert [r for r in rows if r["section"] == "excursion"] == []
    assert one(rows, "budget", "out_of_range_min")["value"] == "0.0"
    assert 5.0 <= float(one(rows, "temperature", "max_c")["value"]) < 6.0
    assert one(rows, "temperature", "readings")["value"] == str(len(READINGS))
    _, texts = page_texts(get(world, "operator", "/shipments/SHP-A1/report.pdf").content)
    assert "every temperature figure of this report is of the product simulated" in re.sub(
        r"\s+", " ", " ".join(texts)
    )
    # A probe in the product, as the manifest said before: the readings' own figures.
    world.client.patch("/shipments/SHP-A1", json={"probe": None}, headers=world.headers("operator"))
    rows = rows_of(get(world, "operator", "/shipments/SHP-A1/report.csv").content)
    assert one(rows, "header", "probe")["value"] == "product"
    assert [r["value"] for r in rows if r["section"] == "excursion"] == EXCURSION_MINUTES


def test_seal_changes_are_placed_against_the_authorised_stops(world: World) -> None:
    rows = rows_of(get(world, "customs", "/shipments/SHP-A1/report.csv").content)
    seals = [r for r in rows if r["section"] == "seal"]
    assert [r["value"] for r in seals] == [s for _, _, s in READINGS if s is not None]
    assert "outside every authorised stop" in seals[1]["detail"]
    assert "at authorised stop Malaba border" in seals[3]["detail"]
    (customs,) = [r for r in rows if r["section"] == "customs"]
    assert customs["item"] == ROUTE_ALERT and customs["lat"]
    risk = [float(r["value"]) for r in rows if r["section"] == "risk"]
    assert risk[0] == 0.0 and max(risk) > 0


def test_the_pdf_carries_the_same_numbers_the_footer_and_the_acknowledgement(
    world: World,
) -> None:
    answer = get(world, "operator", "/shipments/SHP-A1/report.pdf")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    _, texts = page_texts(answer.content)
    with world.sessions() as session:
        acme = session.scalars(select(Organisation).where(Organisation.name == "ACME")).one()
        head = chain_head(session, shipment_chain_key(acme.id, "SHP-A1"))
    assert head is not None and re.fullmatch("[0-9a-f]{64}", head)
    chain = f"chain head: {head}"
    assert len(texts) >= 2
    for n, text in enumerate(texts, 1):
        assert f"page {n} of {len(texts)}" in text
        assert chain in text
    whole = " ".join(texts)
    csv_rows = rows_of(get(world, "operator", "/shipments/SHP-A1/report.csv").content)
    for section in ("temperature", "excursion", "excursion_peak", "budget"):
        for row in (r for r in csv_rows if r["section"] == section):
            assert row["value"] in whole, (section, row["item"], row["value"])
    assert re.search(
        r"MKT \(mean kinetic temperature\) " + re.escape(f"{expected_mkt():.2f}"), whole
    )
    assert ACK_COMMENT in whole
    assert "Verdict" in whole


def test_the_pdf_draws_every_reading_in_the_temperature_plot(world: World) -> None:
    reader, _ = page_texts(get(world, "viewer", "/shipments/SHP-A1/report.pdf").content)
    forms = [form for page in reader.pages if (form := plot_form(page)) is not None]
    assert len(forms) == 1
    operations = ContentStream(forms[0], reader).operations
    # The longest path of straight segments is the temperature line: one vertex per reading.
    paths, current = [], []
    for operands, operator in operations:
        if operator == b"m":
            current = [operands]
            paths.append(current)
        elif operator == b"l" and current:
            current.append(operands)
        else:
            current = []
    line = max(paths, key=len)
    assert len(line) == len(READINGS)
    ys = [float(y) for _, y in line]
    temps = [t for _, t, _ in READINGS]
    # Vertices are the temperatures in order, up to the plot's scale and offset.
    scale = (ys[1] - ys[0]) / (temps[1] - temps[0])
    assert [pytest.approx(ys[0] + scale * (t - temps[0]), abs=0.05) for t in temps] == ys


@pytest.mark.parametrize("who, status", [("other_operator", 404), ("customs", 200), ("admin", 200)])
def test_the_report_is_for_those_who_may_see_the_shipment(
    world: World, who: str, status: int
) -> None:
    for suffix in ("pdf", "csv"):
        answer = get(world, who, f"/shipments/SHP-A1/report.{suffix}")
        assert answer.status_code == status
        if status == 404:
            assert "trk-a1" not in answer.text


def test_no_key_no_report(world: World) -> None:
    assert world.client is not None
    assert world.client.get("/shipments/SHP-A1/report.pdf").status_code == 401


def test_an_unknown_shipment_is_a_404(world: World) -> None:
    assert get(world, "operator", "/shipments/SHP-NONE/report.pdf").status_code == 404


def test_with_influxdb_away_the_report_is_a_503_that_says_why(sql_url: str) -> None:
    world = build_world(sql_url)
    away = InfluxClient(f"http://127.0.0.1:{free_port()}", "none", timeout_s=2)
    with TestClient(create_app(world.sessions, influx=away)) as client:
        for suffix in ("pdf", "csv"):
            answer = client.get(
                f"/shipments/SHP-A1/report.{suffix}", headers=world.headers("operator")
            )
            assert answer.status_code == 503 and answer.headers["Retry-After"]
            assert "InfluxDB unavailable" in answer.json()["detail"]
    world.close()


def test_the_command_writes_the_report_the_api_serves(
    world: World,
    influx: Influx,
    sql_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, db, _ = influx
    settings = ["--db-url", sql_url, "--influx-url", server.url, "--influx-db", db]
    out = tmp_path / "shp-a1.csv"
    assert main(["report", "SHP-A1", "--org", "ACME", "-o", str(out), *settings]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    served = rows_of(get(world, "operator", "/shipments/SHP-A1/report.csv").content)

    def without_clock(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [r for r in rows if r["item"] != "generated_at"]

    assert without_clock(rows_of(out.read_bytes())) == without_clock(served)
    pdf = tmp_path / "shp-a1.pdf"
    assert main(["report", "SHP-A1", "-o", str(pdf), *settings]) == 0
    assert PdfReader(pdf).pages[0].extract_text().startswith("Shipment release report")


def test_the_command_names_a_shipment_it_cannot_find(
    world: World,
    influx: Influx,
    sql_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, db, _ = influx
    settings = ["--db-url", sql_url, "--influx-url", server.url, "--influx-db", db]
    assert main(["report", "SHP-NONE", "-o", str(tmp_path / "x.pdf"), *settings]) == 1
    assert "no shipment 'SHP-NONE'" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()


def test_a_shipment_without_readings_gets_a_report_that_says_so(world: World) -> None:
    # SHP-A2 is planned: its tracker has stored nothing.
    rows = rows_of(get(world, "operator", "/shipments/SHP-A2/report.csv").content)
    assert one(rows, "temperature", "readings")["value"] == "0"
    assert one(rows, "temperature", "mkt_c")["value"] == "n/a"
    assert [r for r in rows if r["section"] == "excursion"] == []
    _, texts = page_texts(get(world, "operator", "/shipments/SHP-A2/report.pdf").content)
    assert "no temperature readings" in " ".join(texts)
    assert "No reading was outside the range." in " ".join(texts)


def test_each_report_prints_the_chain_head_of_its_moment(world: World) -> None:
    before = rows_of(get(world, "customs", "/shipments/SHP-A1/report.csv").content)
    assert world.client is not None
    commented = world.client.post(
        f"/alerts/{ROUTE_ALERT}/comment",
        json={"comment": "Checked with the carrier"},
        headers=world.headers("customs"),
    )
    assert commented.status_code == 200, commented.text
    after = rows_of(get(world, "customs", "/shipments/SHP-A1/report.csv").content)
    head_before = one(before, "header", "chain_head")["value"]
    head_after = one(after, "header", "chain_head")["value"]
    assert re.fullmatch("[0-9a-f]{64}", head_after) and head_after != head_before
    _, texts = page_texts(get(world, "customs", "/shipments/SHP-A1/report.pdf").content)
    assert all(f"chain head: {head_after}" in text for text in texts)


def test_the_command_says_when_influxdb_is_away(
    world: World, sql_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    away = ["--influx-url", f"http://127.0.0.1:{free_port()}", "--influx-timeout-s", "2"]
    out = tmp_path / "x.pdf"
    assert main(["report", "SHP-A1", "-o", str(out), "--db-url", sql_url, *away]) == 1
    assert "InfluxDB unavailable" in capsys.readouterr().err
    assert not out.exists()


def test_an_id_that_is_no_file_name_gets_one_in_the_command_and_the_header(
    world: World,
    influx: Influx,
    sql_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    odd = "ACME/2026:#7"  # a valid shipment id, but as a file name a folder and a drive
    with write_transaction(world.sessions) as session:
        acme = session.scalars(select(Organisation).where(Organisation.name == "ACME")).one()
        save_shipment(session, acme.id, manifest(odd, "trk-a1"), actor="planner@ACME")
    server, db, _ = influx
    settings = ["--db-url", sql_url, "--influx-url", server.url, "--influx-db", db]
    monkeypatch.chdir(tmp_path)
    assert main(["report", odd, "--format", "csv", *settings]) == 0
    assert not (tmp_path / "ACME").exists()
    assert odd in (tmp_path / "ACME_2026_#7-report.csv").read_text()
    named = get(world, "operator", "/shipments/SHP-A1/report.csv").headers["content-disposition"]
    assert named == 'attachment; filename="SHP-A1-report.csv"'


def test_every_figure_of_every_csv_section_is_in_the_pdf(world: World) -> None:
    _, texts = page_texts(get(world, "operator", "/shipments/SHP-A1/report.pdf").content)
    whole = re.sub(r"\s+", " ", " ".join(texts))
    rows = rows_of(get(world, "operator", "/shipments/SHP-A1/report.csv").content)
    sections = {r["section"] for r in rows}
    assert {"alert", "alert_history", "seal", "customs", "risk", "manifest_version"} <= sections
    for row in rows:
        if row["item"] == "generated_at":
            continue  # each rendering has its own clock
        for column in ("value", "start", "end", "actor", "comment", "lat", "lon"):
            cell = row.get(column) or ""
            assert cell in whole, (row["section"], row["item"], column, cell)


def form_operations(reader: PdfReader, form_name: str) -> list[tuple[Any, bytes]]:
    """The drawing operations of the named form, which the report draws exactly once."""
    forms = []
    for page in reader.pages:
        resources = page["/Resources"].get_object()
        assert isinstance(resources, DictionaryObject)
        xobjects = resources.get("/XObject")
        if xobjects is not None and f"/FormXob.{form_name}" in xobjects.get_object():
            forms.append(xobjects.get_object()[f"/FormXob.{form_name}"].get_object())
    assert len(forms) == 1, f"{form_name} drawn {len(forms)} times"
    operations: list[tuple[Any, bytes]] = ContentStream(forms[0], reader).operations
    return operations


def rectangles(operations: list[tuple[Any, bytes]]) -> list[tuple[tuple[float, ...], float, float]]:
    """(fill colour, width, height) of every rectangle drawn."""
    fill: tuple[float, ...] = ()
    found = []
    for operands, operator in operations:
        if operator == b"rg":
            fill = tuple(round(float(v), 2) for v in operands)
        elif operator == b"re":
            found.append((fill, round(float(operands[2]), 1), round(float(operands[3]), 1)))
    return found


def test_the_plot_shades_the_band_and_each_excursion_and_the_map_marks_stops_and_seals(
    world: World,
) -> None:
    reader, _ = page_texts(get(world, "customs", "/shipments/SHP-A1/report.pdf").content)
    plot = rectangles(form_operations(reader, TEMPERATURE_FORM))
    band = [r for r in plot if r[0] == (0.8, 0.93, 0.8)]
    shaded = [r for r in plot if r[0] == (1.0, 0.8, 0.8)]
    assert len(band) == 1 and len(shaded) == len(EXCURSION_MINUTES)
    route = form_operations(reader, ROUTE_FORM)
    seal_marks = [r for r in rectangles(route) if r[1:] == (5.0, 5.0)]
    seals = [s for _, _, s in READINGS if s is not None]
    assert len(seal_marks) == len(seals)
    orange = (1.0, 0.65, 0.0)
    assert [m[0] == orange for m in seal_marks] == [s == "open" for s in seals]
    assert any(b"Malaba border" in str(operands).encode() for operands, _ in route)
