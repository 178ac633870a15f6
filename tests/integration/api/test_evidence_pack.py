"""A shipment's evidence pack from a real SQL store and InfluxDB, through the API and the command
line: it holds every stored reading as stored, the chain's entries and the head the store holds;
it reads the trip from InfluxDB once for its readings, report and EPCIS document, and each holds
what it states when built alone; it verifies offline; one flipped byte in any file, or one
history line edited with its sums made to match, fails the check naming the file or the link;
and the store check names a row changed in SQL."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_world import T0_MS, World, build_world, manifest
from fastapi.testclient import TestClient
from report_checks import page_texts, plot_form
from services import InfluxServer
from sqlalchemy import select, text

from api.app import create_app
from api.db import write_transaction
from api.epcis_export import DEFAULT_MAX_EVENTS, shipment_epcis_bytes
from api.evidence_chain import GENESIS, chain_head, link_hash, shipment_chain_key
from api.evidence_pack import (
    EPCIS,
    HISTORY,
    LINK_FIELDS,
    MANIFEST,
    READINGS,
    REPORT_CSV,
    REPORT_PDF,
    SUMS,
    VERSIONS,
    build_pack,
    raw_readings,
    sha256,
)
from api.evidence_pack_verify import PackUnreadable, verify_pack
from api.evidence_verify import CONTENT_CHANGED, ENTRY_MISSING
from api.models import Organisation
from api.queries import Scope, visible_shipment
from api.report_render import render_report
from api.shipments import save_shipment
from cargowatch.cli import main
from detectors.reading import Reading
from ingest.influx_client import InfluxClient
from ingest.line_protocol import telemetry_line

pytestmark = pytest.mark.integration

MIN = 60_000
ACK_COMMENT = "Reefer restarted, lot on hold"
TEMPS = [5.0, 5.5, 9.2, 8.7, 6.0, 4.5]


@pytest.fixture
def client(influx_db: tuple[InfluxServer, str]) -> Iterator[InfluxClient]:
    server, db = influx_db
    influx = InfluxClient(server.url, db)
    influx.create_database()
    lines = [
        telemetry_line(
            Reading(
                "trk-a1",
                T0_MS + n * 7 * MIN,
                temp_c=t,
                lat=-4.0 + n / 100,
                lon=39.6,
                seal="closed" if n < 4 else "open",
                battery_v=3.6,
            ),
            "SHP-A1",
        )
        for n, t in enumerate(TEMPS)
    ]
    influx.write("\n".join(lines).encode())
    yield influx
    influx.close()


@pytest.fixture
def world(sql_url: str, client: InfluxClient) -> Iterator[World]:
    world = build_world(sql_url)
    with write_transaction(world.sessions) as session:
        acme = session.scalars(select(Organisation).where(Organisation.name == "ACME")).one()
        # A second version: the manifest now says where the seal must stay closed.
        save_shipment(
            session, acme.id, manifest("SHP-A1", "trk-a1", seal_id="ES-1"), actor="qa@ACME",
            status="in_transit",
        )  # fmt: skip
    with TestClient(create_app(world.sessions, influx=client)) as http:
        world.client = http
        acked = http.post(
            "/alerts/al_shpa1/ack", json={"comment": ACK_COMMENT}, headers=world.headers("operator")
        )
        assert acked.status_code == 200, acked.text
        yield world
    world.close()


def pack_of(world: World, who: str = "operator") -> bytes:
    assert world.client is not None
    answer = world.client.get("/shipments/SHP-A1/evidence.zip", headers=world.headers(who))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    body: bytes = answer.content
    return body


def members(pack: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(pack: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    files = members(pack)
    change(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return out.getvalue()


def flip_one_byte(name: str) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        body = bytearray(files[name])
        body[len(body) // 2] ^= 0x01
        files[name] = bytes(body)

    return change


def acme_id(world: World) -> int:
    with world.sessions() as session:
        query = select(Organisation.id).where(Organisation.name == "ACME")
        return int(session.scalars(query).one())


def test_a_pack_holds_the_readings_as_stored_the_chain_and_its_head_and_verifies(
    world: World,
) -> None:
    pack = pack_of(world)
    files = members(pack)
    assert {READINGS, HISTORY, VERSIONS, MANIFEST, SUMS} <= set(files)
    readings = [orjson.loads(line) for line in files[READINGS].splitlines()]
    assert [r["ts"] for r in readings] == [T0_MS + n * 7 * MIN for n in range(len(TEMPS))]
    assert [r["temp_c"] for r in readings] == TEMPS
    assert {r["device_id"] for r in readings} == {"trk-a1"}
    assert {r["shipment_id"] for r in readings} == {"SHP-A1"}
    assert [r["seal"] for r in readings][3:5] == ["closed", "open"]
    history = [orjson.loads(line) for line in files[HISTORY].splitlines()]
    assert [h["action"] for h in history] == ["open", "ack"]
    assert history[1]["comment"] == ACK_COMMENT
    versions = orjson.loads(files[VERSIONS])["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    stated = orjson.loads(files[MANIFEST])
    key = shipment_chain_key(acme_id(world), "SHP-A1")
    with world.sessions() as session:
        assert stated["chain_head"] == chain_head(session, key)
    assert stated["chain_key"] == key and stated["chain_length"] == 4
    result = verify_pack(pack)
    assert result.ok, (result.problems, result.chain.breaks)
    assert result.chain.heads[key] == stated["chain_head"]


@pytest.mark.parametrize(
    "who, status", [("viewer", 200), ("customs", 200), ("other_operator", 404)]
)
def test_the_pack_is_for_whoever_may_read_the_shipment(world: World, who: str, status: int) -> None:
    assert world.client is not None
    answer = world.client.get("/shipments/SHP-A1/evidence.zip", headers=world.headers(who))
    assert answer.status_code == status


@pytest.mark.parametrize(
    "name", [READINGS, HISTORY, VERSIONS, MANIFEST, "report.pdf", "report.csv", EPCIS]
)
def test_one_flipped_byte_in_any_file_fails_the_check_naming_it(world: World, name: str) -> None:
    pack = pack_of(world)
    if name not in members(pack):
        pytest.skip(f"this pack has no {name}")
    result = verify_pack(rezip(pack, flip_one_byte(name)))
    assert not result.ok
    assert any(p.startswith(f"{name}: ") for p in result.problems), result.problems


def test_an_edited_history_line_with_its_sums_redone_fails_at_its_link(world: World) -> None:
    def edit(files: dict[str, bytes]) -> None:
        lines = files[HISTORY].splitlines()
        entry = orjson.loads(lines[1])
        entry["comment"] = "All fine, released"
        lines[1] = orjson.dumps(entry)
        files[HISTORY] = b"\n".join(lines) + b"\n"
        stated = orjson.loads(files[MANIFEST])
        stated["files"][HISTORY] = sha256(files[HISTORY])
        files[MANIFEST] = orjson.dumps(stated)
        files[SUMS] = "".join(
            f"{sha256(body)}  {n}\n" for n, body in sorted(files.items()) if n != SUMS
        ).encode()

    result = verify_pack(rezip(pack_of(world), edit))
    assert result.problems == []
    (found,) = result.chain.breaks
    assert (found.entry, found.problem) == (f"{HISTORY} line 2", CONTENT_CHANGED)


def test_the_command_line_packs_and_verifies_and_says_when_broken(
    world: World,
    sql_url: str,
    client: InfluxClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pack = tmp_path / "SHP-A1.zip"
    influx = ["--influx-url", client.url, "--influx-db", client.database]
    assert main(["evidence", "pack", "SHP-A1", "-o", str(pack), "--db-url", sql_url, *influx]) == 0
    assert main(["evidence", "verify", str(pack)]) == 0
    assert "intact" in capsys.readouterr().out
    broken = tmp_path / "broken.zip"
    broken.write_bytes(rezip(pack.read_bytes(), flip_one_byte(READINGS)))
    assert main(["evidence", "verify", str(broken)]) == 1
    assert f"{READINGS}: SHA-256 differs" in capsys.readouterr().out
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    assert main(["evidence", "verify", str(tmp_path / "junk.zip")]) == 2
    assert "not a readable zip" in capsys.readouterr().err
    with pytest.raises(PackUnreadable):
        verify_pack(tmp_path / "junk.zip")

    assert main(["evidence", "verify", "--db-url", sql_url]) == 0
    assert main(["evidence", "verify", "--db-url", sql_url, "--shipment", "SHP-A1"]) == 0
    engine = world.sessions.kw["bind"]
    with engine.begin() as connection:
        connection.execute(text("UPDATE alert_history SET comment = 'fine' WHERE action = 'ack'"))
        entry = connection.execute(text("SELECT id FROM alert_history WHERE action = 'ack'"))
        entry_id = entry.scalar_one()
    capsys.readouterr()
    assert main(["evidence", "verify", "--db-url", sql_url]) == 1
    out = capsys.readouterr().out
    assert f"alert_history id {entry_id}): content changed" in out
    assert main(["evidence", "verify", "--db-url", sql_url, "--shipment", "NOPE"]) == 2


def test_the_last_history_line_dropped_with_its_sums_redone_fails_against_the_stated_head(
    world: World,
) -> None:
    def drop_last(files: dict[str, bytes]) -> None:
        files[HISTORY] = b"".join(line + b"\n" for line in files[HISTORY].splitlines()[:-1])
        stated = orjson.loads(files[MANIFEST])
        stated["files"][HISTORY] = sha256(files[HISTORY])
        files[MANIFEST] = orjson.dumps(stated)
        files[SUMS] = "".join(
            f"{sha256(body)}  {n}\n" for n, body in sorted(files.items()) if n != SUMS
        ).encode()

    result = verify_pack(rezip(pack_of(world), drop_last))
    assert result.problems == []
    (found,) = result.chain.breaks
    assert (found.entry, found.problem, found.position) == (MANIFEST, ENTRY_MISSING, 4)


def rehashed(files: dict[str, bytes]) -> None:
    """Every link of the pack's chain recomputed and the head and sums redone: what whoever
    holds the pack (or write access to the store) can do after editing an entry."""
    lines = [orjson.loads(line) for line in files[HISTORY].splitlines()]
    versions = orjson.loads(files[VERSIONS])
    previous = GENESIS
    for entry in sorted([*lines, *versions["versions"]], key=lambda e: int(e["chain_seq"])):
        entry["prev_hash"] = previous
        record = {k: v for k, v in entry.items() if k not in LINK_FIELDS}
        entry["entry_hash"] = previous = link_hash(previous, record)
    files[HISTORY] = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    files[VERSIONS] = orjson.dumps(versions)
    stated = orjson.loads(files[MANIFEST])
    stated["chain_head"] = previous
    stated["files"] = {n: sha256(b) for n, b in files.items() if n not in (MANIFEST, SUMS)}
    files[MANIFEST] = orjson.dumps(stated)
    files[SUMS] = "".join(
        f"{sha256(body)}  {n}\n" for n, body in sorted(files.items()) if n != SUMS
    ).encode()


def test_a_history_rewritten_hashes_and_all_fails_only_against_a_head_kept_elsewhere(
    world: World, sql_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = pack_of(world)
    kept = orjson.loads(members(genuine)[MANIFEST])["chain_head"]
    first = orjson.loads(members(genuine)[VERSIONS])["versions"][0]["entry_hash"]

    def forge(files: dict[str, bytes]) -> None:
        lines = files[HISTORY].splitlines()
        entry = orjson.loads(lines[-1])
        entry["comment"] = "All fine, released"
        files[HISTORY] = b"".join(line + b"\n" for line in [*lines[:-1], orjson.dumps(entry)])
        rehashed(files)

    forged = tmp_path / "forged.zip"
    forged.write_bytes(rezip(genuine, forge))
    real = tmp_path / "real.zip"
    real.write_bytes(genuine)
    # Alone, a consistent rewrite holds: that is what the head kept elsewhere is for.
    assert verify_pack(forged).ok
    assert main(["evidence", "verify", str(forged)]) == 0
    capsys.readouterr()
    assert main(["evidence", "verify", str(forged), "--expect-head", kept]) == 1
    assert "does not pass through the expected head" in capsys.readouterr().out
    assert main(["evidence", "verify", str(real), "--expect-head", kept]) == 0
    assert "is entry 4 of 4" in capsys.readouterr().out
    # A head kept earlier still holds once the chain has grown past it.
    assert main(["evidence", "verify", str(forged), "--expect-head", first]) == 0
    assert "is entry 1 of 4" in capsys.readouterr().out

    store = ["--db-url", sql_url, "--shipment", "SHP-A1"]
    assert main(["evidence", "verify", *store, "--expect-head", kept]) == 0
    assert main(["evidence", "verify", *store, "--expect-head", "f" * 64]) == 1
    assert "does not pass through" in capsys.readouterr().out
    assert main(["evidence", "verify", "--db-url", sql_url, "--expect-head", kept]) == 2
    assert "give --shipment" in capsys.readouterr().err


def test_a_pack_holds_the_epcis_document_a_partner_takes_in_under_its_sums(world: World) -> None:
    assert world.client is not None
    files = members(pack_of(world))
    served = world.client.get("/shipments/SHP-A1/epcis.jsonld", headers=world.headers("operator"))
    assert served.status_code == 200, served.text
    packed = orjson.loads(files[EPCIS])
    events = packed["epcisBody"]["eventList"]
    assert events == served.json()["epcisBody"]["eventList"]
    reports = [r for e in events for s in e["sensorElementList"] for r in s["sensorReport"]]
    assert len(events) > len(TEMPS)  # every reading, and the alert's condition
    assert any("exception" in r for r in reports)
    assert orjson.loads(files[MANIFEST])["files"][EPCIS] == sha256(files[EPCIS])
    assert f"{sha256(files[EPCIS])}  {EPCIS}" in files[SUMS].decode().splitlines()


def test_shipment_changes_made_through_the_api_are_in_the_chain_with_who_made_them(
    world: World,
) -> None:
    assert world.client is not None
    operator = world.headers("operator")
    created = world.client.post("/shipments", json=manifest("SHP-API", "trk-api"), headers=operator)
    assert created.status_code == 201, created.text
    patched = world.client.patch(
        "/shipments/SHP-API", json={"status": "in_transit"}, headers=operator
    )
    assert patched.status_code == 200, patched.text
    closed = world.client.post("/shipments/SHP-API/close", headers=operator)
    assert closed.status_code == 200, closed.text
    answer = world.client.get("/shipments/SHP-API/evidence.zip", headers=operator)
    assert answer.status_code == 200, answer.text
    versions = orjson.loads(members(answer.content)[VERSIONS])["versions"]
    assert [(v["status"], v["chain_seq"]) for v in versions] == [
        ("planned", 1),
        ("in_transit", 2),
        ("delivered", 3),
    ]
    assert {v["actor"] for v in versions} == {created.json()["updated_by"]}
    assert created.json()["updated_by"].startswith("operator@ACME")
    result = verify_pack(answer.content)
    assert result.ok and result.chain.entries == 3, (result.problems, result.chain.breaks)


class CountingInflux(InfluxClient):
    """The client, counting the queries it sends."""

    queries = 0

    def query(self, q: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.queries += 1
        return super().query(q, params)


def pack_and_files_alone(
    world: World, client: InfluxClient
) -> tuple[int, dict[str, bytes], dict[str, bytes]]:
    """A pack's queries to InfluxDB and its files, and the same files from each one's own entry
    point (`render_report`, `shipment_epcis_bytes`, `raw_readings`) at the same moment."""
    counting = CountingInflux(client.url, client.database)
    now_ms = T0_MS + 2 * 86_400_000
    try:
        with world.sessions() as session:
            org = acme_id(world)
            files = members(build_pack(session, counting, org, "SHP-A1", now_ms=now_ms))
            stated = orjson.loads(files[MANIFEST])
            start_ms, end_ms = stated["readings_from_ms"], stated["readings_to_ms"]
            report = render_report(session, client, org, "SHP-A1", now_ms=now_ms)
            row = visible_shipment(session, Scope(org), "SHP-A1")
            assert row is not None
            epcis = shipment_epcis_bytes(
                session, client, *row, now_ms=now_ms, start_ms=start_ms, end_ms=end_ms + 1
            )
    finally:
        counting.close()
    readings = b"".join(
        orjson.dumps(r) + b"\n" for r in raw_readings(client, "trk-a1", start_ms, end_ms)
    )
    alone = {READINGS: readings, REPORT_PDF: report.pdf, REPORT_CSV: report.csv, EPCIS: epcis}
    for found in (files, alone):
        found[REPORT_PDF] = drawn(found[REPORT_PDF])
    return counting.queries, files, alone


def drawn(pdf: bytes) -> bytes:
    """What a PDF's pages show (text and drawing operators, the temperature plot's included),
    without the creation time and document id ReportLab stamps on every file."""
    reader, texts = page_texts(pdf)
    shown = []
    for page, words in zip(reader.pages, texts, strict=True):
        form = plot_form(page)
        contents = page.get_contents()
        assert contents is not None
        plot = form.get_data() if form is not None else b""
        shown.append(words.encode() + contents.get_data() + plot)
    return b"\f".join(shown)


def test_a_pack_reads_the_trip_once_and_holds_what_each_file_states_alone(
    world: World, client: InfluxClient
) -> None:
    queries, files, alone = pack_and_files_alone(world, client)
    assert queries == 1, "the trip's readings, read once for the readings, report and EPCIS"
    assert {name: files[name] for name in alone} == alone
    assert len(orjson.loads(files[EPCIS])["epcisBody"]["eventList"]) > len(TEMPS)


def test_a_trip_longer_than_the_epcis_lists_gets_its_buckets_from_influxdb(
    world: World, client: InfluxClient
) -> None:
    """Past the document's reading events the series are InfluxDB's time buckets, as the route
    serves them: only then does the pack ask InfluxDB more than its one read of the trip."""
    more = DEFAULT_MAX_EVENTS + 100
    start = T0_MS + len(TEMPS) * 7 * MIN
    lines = [
        telemetry_line(Reading("trk-a1", start + n * MIN, temp_c=4.0 + (n % 9) / 7), "SHP-A1")
        for n in range(more)
    ]
    client.write("\n".join(lines).encode())
    queries, files, alone = pack_and_files_alone(world, client)
    assert queries == 3, "the trip once, then the EPCIS count and buckets"
    assert {name: files[name] for name in alone} == alone
    assert len(files[READINGS].splitlines()) == len(TEMPS) + more
