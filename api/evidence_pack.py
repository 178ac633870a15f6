"""A shipment's evidence pack: one zip a third party can check offline, `build_pack`.

What it holds (docs/evidence.md):

* ``readings.jsonl`` — every reading of the shipment's device over the trip as InfluxDB stored
  it: every field and tag of the point, its own timestamp as ``ts`` (epoch ms), one per line;
* ``history.jsonl`` — the shipment's evidence chain's alert history entries, one per line: the
  record that is hashed (`api.evidence_chain.history_record`) with ``prev_hash``,
  ``entry_hash`` and the row ``id``;
* ``manifest_versions.json`` — every manifest version of the shipment (each is in force from
  its ``created_at_ms`` until the next), with its link in the same chain;
* ``report.pdf`` and ``report.csv`` — the release report (`api.report_render`);
* ``epcis.jsonld`` — the trip's readings and alert conditions as the EPCIS 2.0 document
  (`api.epcis_export`) a partner's system takes in, over the same window as the readings;
* ``manifest.json`` — what the pack is: shipment, organisation, when it was made, the chain's
  key, length and head hash, and the SHA-256 of every other file;
* ``SHA256SUMS`` — the SHA-256 of every file above, in the format ``sha256sum -c`` reads.

The chain's head is read first and only the entries up to it are taken, so a pack is one
consistent cut of the chain even while entries are being appended. The trip's readings are read
from InfluxDB once (`TripPass`) and handed to the report and the EPCIS document, which state
what they would have read themselves over the same window (the EPCIS document asks InfluxDB
only when a channel holds more values than it lists, for the time buckets InfluxDB computes).
A pack is checked by `api.evidence_pack_verify`.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any, Final

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.epcis_export import DEFAULT_MAX_EVENTS, shipment_epcis_bytes
from api.epcis_readings import ChannelsPass
from api.evidence_chain import chain_length, shipment_chain_key
from api.evidence_verify import Link, history_links, version_links
from api.models import Organisation, Shipment
from api.report_data import trip_window
from api.report_render import render_report
from api.report_telemetry import TelemetryPass, TripTelemetry
from detectors.profiles import Place, parse_shipment
from ingest.influx_client import InfluxClient
from ingest.line_protocol import TELEMETRY

PACK_FORMAT: Final = "cargowatch-evidence-pack/1"
READINGS: Final = "readings.jsonl"
HISTORY: Final = "history.jsonl"
VERSIONS: Final = "manifest_versions.json"
REPORT_PDF: Final = "report.pdf"
REPORT_CSV: Final = "report.csv"
EPCIS: Final = "epcis.jsonld"
MANIFEST: Final = "manifest.json"
SUMS: Final = "SHA256SUMS"
#: What a pack line or version carries besides its hashed record.
LINK_FIELDS: Final = ("id", "prev_hash", "entry_hash")
#: Readings per InfluxDB query; a trip is read in pages of this many, in time order.
READINGS_PAGE: Final = 10_000
# Fixed member times, so the same content makes the same zip.
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)


class PackShipmentNotFound(LookupError):
    """No shipment with that id in that organisation."""


def build_pack(
    session: Session,
    influx: InfluxClient,
    organisation_id: int,
    shipment_id: str,
    *,
    now_ms: int | None = None,
) -> bytes:
    """The shipment's evidence pack as zip bytes.

    Raises `PackShipmentNotFound`, `detectors.profiles.ManifestError` when the current
    manifest no longer parses, and the InfluxDB client's `InfluxError` (retry later).
    """
    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    shipment = session.scalars(
        select(Shipment).where(
            Shipment.organisation_id == organisation_id, Shipment.shipment_id == shipment_id
        )
    ).one_or_none()
    organisation = session.get(Organisation, organisation_id)
    if shipment is None or organisation is None:
        raise PackShipmentNotFound(f"no shipment {shipment_id!r} in organisation {organisation_id}")
    key = shipment_chain_key(organisation_id, shipment_id)
    # The head first: entries appended after it are left out, so the cut is consistent.
    length = chain_length(session, key)
    versions = [v for v in version_links(session, key) if v.record["chain_seq"] <= length]
    history = [h for h in history_links(session, key) if h.record["chain_seq"] <= length]
    links = sorted([*versions, *history], key=lambda link: int(link.record["chain_seq"]))
    head = links[-1].entry_hash if links else None
    current = max(versions, key=lambda v: int(v.record["version"])) if versions else None
    manifest_element = (
        current.record["manifest"] if current is not None else _current_manifest(session, shipment)
    )
    trip = parse_shipment(manifest_element)
    start_ms, end_ms = trip_window(trip.departure_ms, trip.arrival_ms, now_ms)
    # The trip's readings are read from InfluxDB once, for all three files that state them.
    read = TripPass(trip.device_id, start_ms, end_ms, trip.authorised_stops)
    readings = read.run(influx)
    report = render_report(
        session, influx, organisation_id, shipment_id, now_ms=now_ms, telemetry=read.telemetry()
    )
    files: dict[str, bytes] = {
        READINGS: readings,
        HISTORY: b"".join(_line(_pack_entry(h)) for h in history),
        VERSIONS: orjson.dumps(
            {"chain_key": key, "versions": [_pack_entry(v) for v in versions]},
            option=orjson.OPT_INDENT_2,
        ),
        REPORT_PDF: report.pdf,
        REPORT_CSV: report.csv,
        EPCIS: _epcis(session, influx, shipment, organisation.name, now_ms, read.channels),
    }
    files[MANIFEST] = orjson.dumps(
        {
            "format": PACK_FORMAT,
            "shipment_id": shipment_id,
            "organisation": organisation.name,
            "organisation_id": organisation_id,
            "device_id": trip.device_id,
            "created_at_ms": now_ms,
            "readings_from_ms": start_ms,
            "readings_to_ms": end_ms,
            "chain_key": key,
            "chain_length": len(links),
            "chain_head": head,
            "files": {name: sha256(body) for name, body in sorted(files.items())},
        },
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
    )
    files[SUMS] = "".join(
        f"{sha256(body)}  {name}\n" for name, body in sorted(files.items())
    ).encode()
    return _zip(files)


def _current_manifest(session: Session, shipment: Shipment) -> dict[str, Any]:
    # A store whose versions are not chained (written around the chain): the current version.
    from api.shipments import current_shipment

    version = current_shipment(session, shipment.organisation_id, shipment.shipment_id)
    if version is None:
        raise PackShipmentNotFound(f"shipment {shipment.shipment_id!r} has no version")
    return dict(version.manifest)


def _epcis(
    session: Session,
    influx: InfluxClient,
    shipment: Shipment,
    organisation: str,
    now_ms: int,
    channels: ChannelsPass,
) -> bytes:
    # What GET /shipments/{id}/epcis.jsonld serves, over the pack's window (its end inclusive).
    from api.shipments import current_shipment

    version = current_shipment(session, shipment.organisation_id, shipment.shipment_id)
    if version is None:
        raise PackShipmentNotFound(f"shipment {shipment.shipment_id!r} has no version")
    series = channels.series() if channels.device_id == version.device_id else None
    return shipment_epcis_bytes(
        session,
        influx,
        shipment,
        version,
        organisation,
        now_ms=now_ms,
        start_ms=channels.start_ms,
        end_ms=channels.end_ms,
        series=series,
    )


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _line(value: Mapping[str, Any]) -> bytes:
    return orjson.dumps(value) + b"\n"


def _pack_entry(link: Link) -> dict[str, Any]:
    entry_id = int(link.source.rsplit(" ", 1)[-1])
    return {
        **link.record,
        "id": entry_id,
        "prev_hash": link.prev_hash,
        "entry_hash": link.entry_hash,
    }


class TripPass:
    """One read of a device's readings with start_ms <= ts <= end_ms, in time order, that
    writes them as JSON Lines (`run`) and feeds the report's pass (`telemetry`) and the EPCIS
    document's (`channels`) on the way, so none of them reads them again."""

    def __init__(
        self, device_id: str, start_ms: int, end_ms: int, stops: tuple[Place, ...]
    ) -> None:
        self.device_id = device_id
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.stops = stops
        self._report = TelemetryPass(stops)
        # The document's range ends before its end_ms: one past the pack's last millisecond.
        self.channels = ChannelsPass(device_id, start_ms, end_ms + 1, DEFAULT_MAX_EVENTS)

    def run(self, influx: InfluxClient) -> bytes:
        """`raw_readings` as JSON Lines, written line by line into one buffer: a long trip's
        readings are held once, not once as lines and again joined."""
        out = io.BytesIO()
        for reading in raw_readings(influx, self.device_id, self.start_ms, self.end_ms):
            out.write(_line(reading))
            self._report.add(reading["ts"], reading)
            self.channels.add(reading["ts"], reading)
        # The buffer's own bytes when nothing else holds them: no second copy.
        return out.getvalue()

    def telemetry(self) -> TripTelemetry:
        """What the report keeps of the readings `run` read."""
        return TripTelemetry(
            self.device_id, self.start_ms, self.end_ms, self.stops, self._report.result()
        )


def raw_readings(
    influx: InfluxClient, device_id: str, start_ms: int, end_ms: int
) -> Iterator[dict[str, Any]]:
    """Every stored reading of a device with start_ms <= ts <= end_ms, in time order: each
    point's fields and tags as stored, and its timestamp as ``ts`` (epoch ms)."""
    after_ns = start_ms * 1_000_000 - 1
    end_ns = end_ms * 1_000_000
    while True:
        # Only bound parameters reach the query; the page size is ours.
        series = influx.query(
            f"SELECT * FROM {TELEMETRY} WHERE device_id = $device AND time > $after"
            f" AND time <= $end ORDER BY time LIMIT {READINGS_PAGE}",
            {"device": device_id, "after": after_ns, "end": end_ns},
        )
        rows = [
            dict(zip(s["columns"], values, strict=True)) for s in series for values in s["values"]
        ]
        rows.sort(key=lambda row: int(row["time"]))
        for row in rows:
            ts = int(row.pop("time"))
            yield {"ts": ts, **{k: v for k, v in sorted(row.items()) if v is not None}}
            after_ns = ts * 1_000_000
        if len(rows) < READINGS_PAGE:
            return


def _zip(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in (MANIFEST, SUMS, *sorted(set(files) - {MANIFEST, SUMS})):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()
