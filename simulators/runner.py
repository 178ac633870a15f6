"""Running a fleet: recording it to a file, or publishing it paced, from one or more processes.

Publishing paces each message by its arrival time: ``speed`` simulated seconds per wall second
from ``wall_start``, and never before the wall clock has reached the message's own time, so no
reading is ever ahead of the ingester's clock. ``speed=None`` means as fast as possible.
Several workers each take a contiguous block of devices and their own connection; a device's
readings do not depend on how many workers there are, only on the seed.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators.fleet import Fleet
from simulators.plan import DevicePlan, FleetConfig
from simulators.progress import Progress
from simulators.publisher import BrokerUrl, Publisher, PublishError


@dataclass
class RunResult:
    messages: int = 0
    readings: int = 0
    bytes: int = 0
    uploads: int = 0
    malformed: int = 0
    elapsed_s: float = 0.0
    #: With workers: the longest any worker took from connecting to its last ack.
    slowest_worker_s: float = 0.0
    labels: list[dict[str, Any]] = field(default_factory=list)

    def count(self, readings: int, size: int, upload: bool) -> None:
        self.messages += 1
        self.readings += readings
        self.bytes += size
        self.uploads += upload
        self.malformed += readings == 0

    def merge(self, other: RunResult) -> None:
        for name in ("messages", "readings", "bytes", "uploads", "malformed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.labels.extend(other.labels)


def expected_readings(plans: Sequence[DevicePlan]) -> int:
    """Readings a fleet makes if nothing falls silent (for the progress bar)."""
    return sum(max(0, math.ceil((p.horizon_s - p.departure_s) / p.interval_s)) for p in plans)


def record(fleet: Fleet, path: Path, progress: Progress) -> RunResult:
    """Write one reading per line in arrival order (an upload's readings one line each)."""
    result = RunResult()
    started = time.perf_counter()
    tmp = path.with_name(path.name + ".tmp")
    try:
        readings = size = uploads = malformed = messages = 0
        with tmp.open("wb", buffering=1 << 20) as out:
            for batch in fleet.batches():
                lines: list[bytes] = []
                for m in batch:
                    body = m.body
                    if isinstance(body, bytes):
                        lines.append(body)
                        size += len(body)
                    else:
                        lines.extend(body)
                        size += len(m.payload)
                        uploads += 1
                    malformed += not m.readings
                    readings += m.readings
                messages += len(batch)
                if lines:
                    out.write(b"\n".join(lines) + b"\n")
                progress.update(readings, batch[-1].arrival_ms if batch else None)
        result.messages, result.readings, result.bytes = messages, readings, size
        result.uploads, result.malformed = uploads, malformed
    except BaseException:
        tmp.unlink(missing_ok=True)  # a stopped run leaves no half-written file behind
        raise
    tmp.replace(path)
    result.elapsed_s = time.perf_counter() - started
    result.labels = fleet.labels()
    return result


def publish(
    fleet: Fleet,
    url: BrokerUrl,
    qos: int,
    speed: float | None,
    wall_start: float,
    progress: Progress,
    client_id: str | None = None,
    counter: Any = None,
) -> RunResult:
    """Publish every message, paced; ``counter`` (a shared value) tracks readings for a parent."""
    result = RunResult()
    publisher = Publisher(url, qos, client_id)
    publisher.connect()
    started = time.perf_counter()
    start_s = fleet.start_ms / 1000.0
    try:
        for m in fleet.messages():
            arrival_s = m.arrival_ms / 1000.0
            release = arrival_s
            if speed is not None:
                release = max(wall_start + (arrival_s - start_s) / speed, arrival_s)
            if release > time.time():
                publisher.flush()
                while (delay := release - time.time()) > 0:
                    time.sleep(min(delay, 0.5))
                    publisher.keep_alive()
                    progress.update(result.readings, m.arrival_ms)
            payload = m.payload
            publisher.publish(m.topic, payload)
            result.count(m.readings, len(payload), type(m.body) is tuple)
            if result.messages % 2000 == 0:
                progress.update(result.readings, m.arrival_ms)
                if counter is not None:
                    counter.value = result.readings
        publisher.close()
    finally:
        if counter is not None:
            counter.value = result.readings
    result.elapsed_s = time.perf_counter() - started
    result.labels = fleet.labels()
    return result


def _worker(
    cfg: FleetConfig,
    indices: list[int],
    url: BrokerUrl,
    qos: int,
    speed: float | None,
    wall_start: float,
    client_id: str,
    counter: Any,
    results: Any,
    worker: int,
) -> None:
    try:
        fleet = Fleet(cfg, only=indices)
        quiet = Progress(1, enabled=False)
        result = publish(fleet, url, qos, speed, wall_start, quiet, client_id, counter)
        results.put(("ok", worker, result))
    except PublishError as exc:
        results.put(("error", worker, str(exc)))
    except BaseException:  # reported by the parent, which exits non-zero
        results.put(("error", worker, traceback.format_exc()))


def publish_parallel(
    cfg: FleetConfig,
    workers: int,
    url: BrokerUrl,
    qos: int,
    speed: float | None,
    wall_start: float,
    progress: Progress,
    client_prefix: str,
) -> RunResult:
    """Publish with ``workers`` processes, each a contiguous block of devices."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    counters = [ctx.Value("q", 0) for _ in range(workers)]
    blocks = [
        list(range(w * cfg.devices // workers, (w + 1) * cfg.devices // workers))
        for w in range(workers)
    ]
    started = time.perf_counter()
    procs = [
        ctx.Process(
            target=_worker,
            args=(
                cfg,
                blocks[w],
                url,
                qos,
                speed,
                wall_start,
                f"{client_prefix}-{w}",
                counters[w],
                results,
                w,
            ),
            name=f"simulate-{w}",
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    done: dict[int, RunResult] = {}
    errors: list[str] = []
    try:
        while len(done) + len(errors) < workers:
            try:
                status, w, payload = results.get(timeout=0.25)
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    errors.append("a worker exited without reporting")
                    break
            else:
                if status == "ok":
                    done[w] = payload
                else:
                    errors.append(f"worker {w}: {payload}")
            progress.update(sum(c.value for c in counters))
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()
    if errors:
        raise PublishError("; ".join(e.strip() for e in errors))
    # Blocks are contiguous, so worker order is device order: labels as one process gives them.
    total = RunResult()
    for w in range(workers):
        total.merge(done[w])
    total.elapsed_s = time.perf_counter() - started
    total.slowest_worker_s = max(r.elapsed_s for r in done.values())
    return total


def client_prefix() -> str:
    return f"cargowatch-sim-{os.getpid()}"
