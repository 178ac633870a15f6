"""A bounded, crash-safe disk queue of line-protocol batches, for when InfluxDB is away.

Each batch is one file, written to a temporary name, fsynced, renamed and the
directory fsynced, so a batch is either wholly in the spool or not at all and
the MQTT messages behind it may be acked the moment `append` returns True.
Files replay oldest first. The byte bound is what turns a long outage into
back-pressure: when `append` returns False the caller stops acking and the
broker keeps the rest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_NAME_RE: Final = re.compile(r"(\d{12})-(\d+)\.lp")


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """One batch on disk; `readings` is how many telemetry points it holds."""

    path: Path
    readings: int

    def read(self) -> bytes:
        return self.path.read_bytes()


class Spool:
    """Append-only directory of batches with a total size bound in bytes."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        # A crash between write and rename leaves a temporary file; its
        # messages were never acked, so the broker will redeliver them.
        for leftover in directory.glob("*.tmp"):
            leftover.unlink()
        batches = list(self._scan())
        self._next = int(_NAME_RE.fullmatch(batches[-1].path.name)[1]) + 1 if batches else 0  # type: ignore[index]
        self._bytes = sum(b.path.stat().st_size for b in batches)
        self._count = len(batches)

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return self._count

    def append(self, body: bytes, readings: int) -> bool:
        """Durably add a batch; False (and nothing written) when it would pass the bound."""
        if self._bytes + len(body) > self.max_bytes:
            return False
        final = self.directory / f"{self._next:012d}-{readings}.lp"
        tmp = final.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, final)
        self._fsync_dir()
        self._next += 1
        self._bytes += len(body)
        self._count += 1
        return True

    def batches(self) -> Iterator[SpooledBatch]:
        """Spooled batches, oldest first."""
        return self._scan()

    def remove(self, batch: SpooledBatch) -> None:
        """Forget a batch once it is in InfluxDB."""
        size = batch.path.stat().st_size
        batch.path.unlink()
        self._fsync_dir()
        self._bytes -= size
        self._count -= 1

    def _scan(self) -> Iterator[SpooledBatch]:
        found = []
        for path in self.directory.iterdir():
            m = _NAME_RE.fullmatch(path.name)
            if m:
                found.append((m[1], SpooledBatch(path, int(m[2]))))
        return (b for _, b in sorted(found, key=lambda item: item[0]))

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
