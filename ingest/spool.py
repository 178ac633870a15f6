"""A bounded, verified, crash-safe disk queue of line-protocol batches, for when InfluxDB is away.

Each batch is one file `NNNNNNNNNNNN.lp`: a one-line text header (`CWSPOOL 2 readings=R
bytes=B sha256=H`: magic and format version, the batch's telemetry readings, the body length
and the body's SHA-256), then the body, the batch's line protocol. `append` writes the whole
file to a temporary name (looping until every byte is written), fsyncs it, reads it back and
verifies it, renames it and fsyncs the directory; only then does it report STORED, the moment
the MQTT messages behind the batch may be acked. Any OS error on the way (disk full, quota,
I/O error) removes the temporary file and reports DISK_REFUSED, distinct from FULL (the byte
bound that turns a long outage into back-pressure); `append` never raises, so the caller can
hold acks and retry instead of dying. Every file is verified again at start-up and when it is
loaded for replay: a damaged one (bad magic, truncated, checksum mismatch, not UTF-8) is moved
to `quarantine/`, logged with the reason and the readings it held, never deleted automatically,
and the rest replays oldest first. Files of the previous, headerless format
(`NNNNNNNNNNNN-COUNT.lp`) still replay when they are UTF-8, every line ends in a plausible
integer timestamp and they hold COUNT telemetry lines; otherwise they are quarantined too.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Final

from ingest.decode import MIN_TS_MS
from ingest.durable_files import fsync_directory
from ingest.line_protocol import TELEMETRY

log = logging.getLogger(__name__)

MAGIC: Final = b"CWSPOOL"
#: Version 1 was the headerless format; its files are still read (see `_check_legacy`).
VERSION: Final = 2
QUARANTINE: Final = "quarantine"

_NAME_RE: Final = re.compile(r"(\d{12})\.lp")
_LEGACY_NAME_RE: Final = re.compile(r"(\d{12})-(\d+)\.lp")
_HEADER_RE: Final = re.compile(
    rb"CWSPOOL 2 readings=(\d{1,12}) bytes=(\d{1,15}) sha256=([0-9a-f]{64})"
)
#: Longer than any header `encode_batch` writes; a file with no newline before it is damaged.
_MAX_HEADER: Final = 160

# Line protocol as InfluxDB splits it: a line break inside a quoted string field value (a
# reject's payload may hold one) does not end the line; a quote in the measurement or tags is
# an ordinary character. Possessive quantifiers keep malformed input from backtracking.
_HEAD: Final = r"(?:[^ \n\\]|\\.)"
_FIELDS: Final = r'(?:[^ "\n\\]|\\.|"(?:[^"\\]|\\.)*+")'
_LINE_RE: Final = re.compile(_HEAD + r'*+(?: (?:[^"\n\\]|\\.|"(?:[^"\\]|\\.)*+")*+)?', re.S)
_POINT_RE: Final = re.compile(_HEAD + "++ " + _FIELDS + r"++ (\d{1,19})", re.S)
#: Every point CargoWatch writes is timestamped after this (nanoseconds); a smaller number at
#: the end of a headerless file is a timestamp cut short.
_MIN_TS_NS: Final = MIN_TS_MS * 1_000_000


class AppendStatus(Enum):
    """STORED: durable, ack away. FULL: the byte bound. DISK_REFUSED: the OS refused a step."""

    STORED = "stored"
    FULL = "spool full"
    DISK_REFUSED = "disk refused"


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What `append` did; true only when the batch is verifiably on disk."""

    status: AppendStatus
    #: For DISK_REFUSED, what the operating system said (e.g. "No space left on device (ENOSPC)").
    detail: str = ""

    def __bool__(self) -> bool:
        return self.status is AppendStatus.STORED


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """One verified batch on disk; `readings` is how many telemetry points it holds."""

    path: Path
    readings: int
    size: int


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A spool file that failed verification and was moved aside; its readings are lost."""

    name: str
    reason: str
    #: From the header (or the legacy name); None when that was unreadable too.
    readings: int | None


@dataclass(frozen=True, slots=True)
class _Verdict:
    readings: int | None
    lines: list[str] | None = None
    reason: str = ""


def encode_batch(body: bytes, readings: int) -> bytes:
    """The content of a spool file for `body`: header line, then the body unchanged."""
    digest = hashlib.sha256(body).hexdigest().encode()
    return (
        b"%s %d readings=%d bytes=%d sha256=%s\n"
        % (
            MAGIC,
            VERSION,
            readings,
            len(body),
            digest,
        )
        + body
    )


def split_lines(text: str) -> list[str] | None:
    r"""Split line protocol into points as InfluxDB does; None if a quote is left open.

    >>> split_lines('a x="1\n2" 5\nb y=1 6')
    ['a x="1\n2" 5', 'b y=1 6']
    """
    lines = []
    pos, end = 0, len(text)
    while True:
        match = _LINE_RE.match(text, pos)
        stop = match.end() if match else pos
        if stop < end and text[stop] != "\n":
            return None
        lines.append(text[pos:stop])
        if stop >= end:
            return lines
        pos = stop + 1


class Spool:
    """Append-only directory of verified batches with a total size bound in bytes."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.quarantine_dir = directory / QUARANTINE
        directory.mkdir(parents=True, exist_ok=True)
        # A crash between write and rename leaves a temporary file; its
        # messages were never acked, so the broker will redeliver them.
        for leftover in directory.glob("*.tmp"):
            leftover.unlink()
        #: Files found damaged (and quarantined) by the start-up scan.
        self.damaged_at_start: list[Quarantined] = []
        self._index: dict[Path, SpooledBatch] = {}
        self._bytes = 0
        found = sorted(self._scan())
        self._next = found[-1][0] + 1 if found else 0
        for _, path, legacy_count in found:
            try:
                data = path.read_bytes()
            except OSError as exc:
                verdict = _Verdict(legacy_count, reason=f"unreadable: {_describe(exc)}")
            else:
                verdict = _check(data, legacy_count, split=False)
            if verdict.reason:
                self.damaged_at_start.append(self._quarantine(path, verdict))
            else:
                self._index[path] = SpooledBatch(path, verdict.readings or 0, len(data))
                self._bytes += len(data)

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._index)

    def append(self, body: bytes, readings: int) -> AppendResult:
        """Durably add a batch, or report why not (nothing left behind); never raises OSError."""
        data = encode_batch(body, readings)
        if self._bytes + len(data) > self.max_bytes:
            return AppendResult(AppendStatus.FULL)
        final = self.directory / f"{self._next:012d}.lp"
        tmp = final.with_suffix(".tmp")
        # Never reuse a number: after a failed directory fsync the final file may be left.
        self._next += 1
        renamed = False
        try:
            _write_verified(tmp, data)
            os.rename(tmp, final)
            renamed = True
            fsync_directory(self.directory)
        except OSError as exc:
            # Not durable, so not acked: the broker redelivers these messages. Should the
            # unlink of a renamed file fail too, a later replay stores them twice, which
            # overwrites them with themselves.
            with contextlib.suppress(OSError):
                (final if renamed else tmp).unlink()
            return AppendResult(AppendStatus.DISK_REFUSED, _describe(exc))
        self._index[final] = SpooledBatch(final, readings, len(data))
        self._bytes += len(data)
        return AppendResult(AppendStatus.STORED)

    def batches(self) -> Iterator[SpooledBatch]:
        """Spooled batches, oldest first (safe to `load` and `remove` while iterating)."""
        return iter(list(self._index.values()))

    def load(self, batch: SpooledBatch) -> list[str] | Quarantined:
        """The batch's lines, verified; or, if the file is damaged, where it went and why."""
        try:
            data = batch.path.read_bytes()
        except OSError as exc:
            verdict = _Verdict(None, reason=f"unreadable: {_describe(exc)}")
        else:
            legacy = _LEGACY_NAME_RE.fullmatch(batch.path.name)
            verdict = _check(data, int(legacy[2]) if legacy else None, split=True)
        if verdict.lines is not None:
            return verdict.lines
        self._forget(batch)
        if verdict.readings is None:
            # The header is gone, but this process verified (or wrote) the file earlier.
            verdict = _Verdict(batch.readings, reason=verdict.reason)
        return self._quarantine(batch.path, verdict)

    def remove(self, batch: SpooledBatch) -> None:
        """Forget a batch once it is in InfluxDB."""
        batch.path.unlink()
        fsync_directory(self.directory)
        self._forget(batch)

    def _forget(self, batch: SpooledBatch) -> None:
        if self._index.pop(batch.path, None) is not None:
            self._bytes -= batch.size

    def _scan(self) -> Iterator[tuple[int, Path, int | None]]:
        for path in self.directory.iterdir():
            if m := _NAME_RE.fullmatch(path.name):
                yield int(m[1]), path, None
            elif m := _LEGACY_NAME_RE.fullmatch(path.name):
                yield int(m[1]), path, int(m[2])

    def _quarantine(self, path: Path, verdict: _Verdict) -> Quarantined:
        readings = "unknown" if verdict.readings is None else f"{verdict.readings:,}"
        try:
            self.quarantine_dir.mkdir(exist_ok=True)
            target = self.quarantine_dir / path.name
            n = 0
            while target.exists():  # quarantined files are evidence: never overwrite one
                n += 1
                target = self.quarantine_dir / f"{path.name}.{n}"
            os.rename(path, target)
            fsync_directory(self.quarantine_dir)
            fsync_directory(self.directory)
        except OSError as exc:
            log.error(
                "spool file %s is damaged (%s) but could not be moved to %s (%s); "
                "it is left in place and not replayed, readings lost: %s",
                path.name,
                verdict.reason,
                self.quarantine_dir,
                _describe(exc),
                readings,
            )
        else:
            log.warning(
                "spool file %s is damaged (%s); moved it to %s, readings lost: %s",
                path.name,
                verdict.reason,
                target,
                readings,
            )
        return Quarantined(path.name, verdict.reason, verdict.readings)


def _write_verified(path: Path, data: bytes) -> None:
    """Write all of `data` to `path`, fsync, and read it back; OSError if any step falls short."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        written = 0
        while written < len(data):
            n = os.write(fd, view[written:])
            if n <= 0:
                raise OSError(
                    errno.EIO, f"write stored nothing with {len(data) - written} bytes to go"
                )
            written += n
        os.fsync(fd)
        chunks = []
        offset = 0
        while chunk := os.pread(fd, 1 << 20, offset):
            chunks.append(chunk)
            offset += len(chunk)
        verdict = _check_current(b"".join(chunks), split=False)
        if verdict.reason:
            raise OSError(
                errno.EIO, f"the file read back is not what was written: {verdict.reason}"
            )
    finally:
        os.close(fd)


def _check(data: bytes, legacy_count: int | None, *, split: bool) -> _Verdict:
    if legacy_count is not None:
        return _check_legacy(data, legacy_count)
    return _check_current(data, split=split)


def _check_current(data: bytes, *, split: bool) -> _Verdict:
    if not data.startswith(MAGIC + b" "):
        return _Verdict(None, reason="bad magic")
    end = data.find(b"\n", 0, _MAX_HEADER)
    if end < 0:
        cut = len(data) < _MAX_HEADER
        return _Verdict(None, reason="truncated in its header" if cut else "damaged header")
    header = _HEADER_RE.fullmatch(data, 0, end)
    if header is None:
        version = data[len(MAGIC) + 1 : end].split(b" ", 1)[0]
        if version.isdigit() and int(version) != VERSION:
            return _Verdict(None, reason=f"unsupported format version {version.decode()}")
        return _Verdict(None, reason="damaged header")
    readings, length = int(header[1]), int(header[2])
    body = data[end + 1 :]
    if len(body) < length:
        return _Verdict(readings, reason=f"truncated: {len(body):,} of {length:,} body bytes")
    if len(body) > length:
        return _Verdict(readings, reason=f"{len(body) - length:,} unexpected bytes after the body")
    if hashlib.sha256(body).hexdigest().encode() != header[3]:
        return _Verdict(readings, reason="checksum mismatch")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Verdict(readings, reason=f"not UTF-8 (at body byte {exc.start:,})")
    if not split:
        return _Verdict(readings, lines=[])
    # The checksum vouches for the bytes; splitting only decides where a refused batch is cut.
    return _Verdict(readings, lines=split_lines(text) or text.split("\n"))


def _check_legacy(data: bytes, count: int) -> _Verdict:
    """A headerless file: only its shape can tell a complete batch from a cut one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Verdict(count, reason=f"not UTF-8 (at byte {exc.start:,})")
    lines = split_lines(text)
    if lines is None:
        return _Verdict(count, reason="cut short inside a quoted string or an escape")
    telemetry = 0
    for i, line in enumerate(lines, 1):
        point = _POINT_RE.fullmatch(line)
        if point is None:
            return _Verdict(count, reason=f"line {i:,} does not end in a timestamp")
        if int(point[1]) < _MIN_TS_NS:
            return _Verdict(count, reason=f"line {i:,} has a timestamp cut short ({point[1]})")
        telemetry += line.startswith((TELEMETRY + ",", TELEMETRY + " "))
    if telemetry != count:
        return _Verdict(
            count, reason=f"{telemetry:,} telemetry lines where its name says {count:,}"
        )
    return _Verdict(count, lines=lines)


def _describe(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text
