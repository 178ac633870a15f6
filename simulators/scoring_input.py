"""What the scorer reads: labels and alert events as JSON Lines, a manifest, the SQL alert store.

Every problem with the input is a `ScoreError` whose message is one line naming the file
and, for JSON Lines, the line, so a test engineer can fix it without reading a traceback.
Labels are checked strictly (an unknown field is most likely a typo or a labels file of
another version, and scoring it would silently score the wrong thing); alert events only for
the fields scoring uses, because the alert contract adds fields over time and MQTT
consumers see a few more (`history_seq`, `state`). An alert is reduced to when it opened and
resolved; a repeated open of one alert (delivery is at least once) counts once, and events
of an alert whose open is not in the input are left out, as it opened before the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from detectors.alerts import AlertEvent
from simulators.scoring import Label, RaisedAlert, ScoreError

_LABEL_REQUIRED: Final = ("device_id", "start", "end", "kinds")
_LABEL_OPTIONAL: Final = ("shipment_id", "scenario", "breach_at", "params")
_EVENTS: Final = ("open", "update", "resolve")


@dataclass(frozen=True, slots=True)
class _Event:
    event: str
    alert_id: str
    kind: str
    device_id: str
    shipment_id: str | None
    at_ms: int


def read_labels(path: Path) -> list[Label]:
    """Every label of a `cargowatch simulate --labels` file."""
    return [parse_label(obj, where) for where, obj in _json_lines(path)]


def read_alerts(path: Path) -> list[RaisedAlert]:
    """The alerts of a `cargowatch backtest --alerts` file (or any file of alert events)."""
    return collect_alerts(_parse_event(obj, where) for where, obj in _json_lines(path))


def parse_label(obj: object, where: str) -> Label:
    """One label as the simulator writes it; raises `ScoreError` naming `where`."""
    if not isinstance(obj, dict):
        raise ScoreError(f"{where}: a label is a JSON object, got {_kind_of(obj)}")
    unknown = [k for k in obj if k not in _LABEL_REQUIRED and k not in _LABEL_OPTIONAL]
    if unknown:
        raise ScoreError(f"{where}: unknown label field {unknown[0]!r}")
    missing = [k for k in _LABEL_REQUIRED if k not in obj]
    if missing:
        raise ScoreError(f"{where}: label has no {missing[0]!r}")
    kinds = obj["kinds"]
    if not isinstance(kinds, list) or not all(isinstance(k, str) and k for k in kinds):
        raise ScoreError(f"{where}: label 'kinds' must be a list of alert kinds")
    start, end = parse_time(obj["start"], where, "start"), parse_time(obj["end"], where, "end")
    if end < start:
        raise ScoreError(f"{where}: label ends before it starts")
    breach = obj.get("breach_at")
    params = obj.get("params", {})
    if not isinstance(params, dict):
        raise ScoreError(f"{where}: label 'params' must be an object")
    return Label(
        device_id=_text(obj["device_id"], where, "device_id"),
        start_ms=start,
        end_ms=end,
        kinds=tuple(kinds),
        scenario=_text(obj.get("scenario", ""), where, "scenario", empty=True),
        shipment_id=_optional_text(obj.get("shipment_id"), where, "shipment_id"),
        breach_at_ms=None if breach is None else parse_time(breach, where, "breach_at"),
    )


def alerts_from_events(events: Iterable[AlertEvent]) -> list[RaisedAlert]:
    """The alerts of the detector engine's own events (an in-process replay)."""
    return collect_alerts(
        _Event(e.event, e.alert_id, e.kind, e.device_id, e.shipment_id, e.at_ms) for e in events
    )


def collect_alerts(events: Iterable[_Event]) -> list[RaisedAlert]:
    """Alerts by their earliest open and latest resolve, in opening order."""
    opened: dict[str, _Event] = {}
    resolved: dict[str, int] = {}
    for e in events:
        if e.event == "open":
            if e.alert_id not in opened or e.at_ms < opened[e.alert_id].at_ms:
                opened[e.alert_id] = e
        elif e.event == "resolve":
            resolved[e.alert_id] = max(e.at_ms, resolved.get(e.alert_id, e.at_ms))
    return [
        RaisedAlert(
            alert_id=e.alert_id,
            kind=e.kind,
            device_id=e.device_id,
            opened_ms=e.at_ms,
            resolved_ms=resolved.get(e.alert_id),
            shipment_id=e.shipment_id,
        )
        for e in sorted(opened.values(), key=lambda e: (e.at_ms, e.alert_id))
    ]


def read_trips(path: Path) -> list[tuple[str, int | None, int | None]]:
    """(device, departure, arrival) of every shipment of a manifest file."""
    from detectors.profiles import ManifestError, parse_manifest

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        shipments = parse_manifest(doc)
    except OSError as exc:
        raise ScoreError(f"--shipments {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        # json's own errors and ManifestError are both ValueErrors; both are one line.
        what = str(exc) if isinstance(exc, ManifestError) else f"not JSON ({exc})"
        raise ScoreError(f"--shipments {path}: {what}") from None
    return [(s.device_id, s.departure_ms, s.arrival_ms) for s in shipments]


def read_store(db_url: str) -> list[RaisedAlert]:
    """The alerts a live deployment recorded, rebuilt from their stored history."""
    from simulators.scoring_store import read_alert_events

    return collect_alerts(_Event(*row) for row in read_alert_events(db_url))


def _json_lines(path: Path) -> Iterator[tuple[str, object]]:
    try:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{path}:{n}"
                try:
                    yield where, json.loads(line)
                except (ValueError, RecursionError):
                    raise ScoreError(f"{where}: not JSON: {line.strip()[:60]!r}") from None
    except OSError as exc:
        raise ScoreError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScoreError(f"{path}: not UTF-8 text") from None


def _parse_event(obj: object, where: str) -> _Event:
    if not isinstance(obj, dict):
        raise ScoreError(f"{where}: an alert event is a JSON object, got {_kind_of(obj)}")
    for name in ("event", "alert_id", "kind", "device_id", "at"):
        if name not in obj:
            raise ScoreError(f"{where}: alert event has no {name!r}")
    event = obj["event"]
    if event not in _EVENTS:
        raise ScoreError(f"{where}: 'event' must be one of {', '.join(_EVENTS)}, got {event!r:.40}")
    return _Event(
        event=event,
        alert_id=_text(obj["alert_id"], where, "alert_id"),
        kind=_text(obj["kind"], where, "kind"),
        device_id=_text(obj["device_id"], where, "device_id"),
        shipment_id=_optional_text(obj.get("shipment_id"), where, "shipment_id"),
        at_ms=parse_time(obj["at"], where, "at"),
    )


def parse_time(value: object, where: str, name: str) -> int:
    """Epoch ms of an RFC 3339 time (UTC when it names no zone); `ScoreError` otherwise.

    >>> parse_time("2026-01-05T00:00:00Z", "x", "start")
    1767571200000
    """
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            ms = dt.timestamp() * 1000
            if math.isfinite(ms):
                return round(ms)
        except (ValueError, OverflowError):
            pass
    raise ScoreError(f"{where}: {name!r} must be an RFC 3339 time, got {value!r:.40}")


def _text(value: object, where: str, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or not (value or empty):
        raise ScoreError(f"{where}: {name!r} must be a non-empty string, got {value!r:.40}")
    return value


def _optional_text(value: object, where: str, name: str) -> str | None:
    return None if value is None else _text(value, where, name)


def _kind_of(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
