"""Recorded readings, read back for offline replay, and the files a replay writes.

Two input formats: JSON Lines of wire-format readings (objects or
store-and-forward arrays, one message per line), validated by the same
decoder as live ingestion so a recording is judged exactly as the ingester
would have judged it, its rejects counted by reason; and a CSV of
`timestamp,value` for one numeric channel, the format of public streaming
anomaly benchmarks. A recording is judged on its own times: nothing in it is
too old or in the future. Two outputs: alert events as JSON Lines, in the
shape webhooks and MQTT carry, and a CSV with an anomaly score per reading.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from detectors.alerts import AlertEvent
from detectors.reading import Reading
from ingest.decode import UTF8_BOM, decode_unrouted

_FAR_FUTURE_MS = 2**62  # a recording is judged on its own times, not on today's clock
_DEVICE_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class RecordingError(ValueError):
    """The recording cannot be read; the message says which line and why."""


def read_jsonl(path: Path, rejected: dict[str, int]) -> Iterator[Reading]:
    """The valid readings of a JSON Lines recording, counting each reject's reason in `rejected`.

    A line is one message without its topic: it is judged as if published on the topic of
    the device it names, so a line naming no device is rejected for that, as it would be
    live. A leading UTF-8 byte order mark is ignored, as the wire format says (editors and
    some exporters start a file with one): a line holding nothing else is a blank line.
    """
    with path.open("rb") as f:
        for line in f:
            # The decoder drops a leading mark itself; the line goes to it as read.
            if not line.removeprefix(UTF8_BOM).strip():
                continue
            decoded = decode_unrouted(line, _FAR_FUTURE_MS, max_age_ms=None)
            for reject in decoded.rejects:
                rejected[reject.reason] = rejected.get(reject.reason, 0) + 1
            # Past the detailed ones, a hostile line's rejects are only counted: count them too.
            for reason, n in decoded.more_rejects.items():
                rejected[reason] = rejected.get(reason, 0) + n
            yield from decoded.readings


def read_csv(path: Path, channel: str, device: str | None) -> Iterator[Reading]:
    """Readings of one device (by default named after the file) with `channel` set per row.

    Raises `RecordingError` at the first row that is not a time and a number.
    """
    device_id = device or _DEVICE_SAFE.sub("_", path.stem)[:64]
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
            raise RecordingError(f"{path}: a CSV input starts with the header timestamp,value")
        for n, row in enumerate(rows, 2):
            if not row:
                continue
            try:
                ts = parse_time(row[0])
                value = float(row[1])
            except (ValueError, IndexError):
                raise RecordingError(f"{path}:{n}: cannot read {row!r:.80}") from None
            fields: dict[str, Any] = {channel: value}
            yield Reading(device_id, ts, **fields)


def parse_time(text: str) -> int:
    """Epoch ms from epoch ms, RFC 3339, or the benchmark's `YYYY-MM-DD HH:MM:SS` (UTC).

    >>> parse_time("2014-02-14 14:30:00"), parse_time("1392388200000")
    (1392388200000, 1392388200000)
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def write_alerts(events: Iterable[AlertEvent], out: TextIO) -> None:
    """One alert event per line, in the contract's shape."""
    for e in events:
        out.write(json.dumps(e.to_json(), ensure_ascii=False, sort_keys=False) + "\n")


def write_scores(scores: list[tuple[str, int, float, float]], path: Path) -> None:
    """`timestamp,value,anomaly_score` per (device, ts, value, score), as benchmarks score them.

    A device column is added only when there is more than one device, so a
    benchmark's single-series file comes back in the benchmark's own shape.
    """
    multi_device = len({s[0] for s in scores}) > 1
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["timestamp", "value", "anomaly_score", *(["device_id"] if multi_device else [])]
        )
        for device, ts, value, score in scores:
            stamp = datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
            row: list[Any] = [stamp, "" if value != value else value, f"{score:.6f}"]
            if multi_device:
                row.append(device)
            w.writerow(row)
