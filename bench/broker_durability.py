"""What saving mosquitto's queue after every change costs, against mosquitto's default.

CargoWatch ships ``autosave_on_changes true`` / ``autosave_interval 1`` so a broker killed
with SIGKILL keeps the messages queued for the ingester's persistent session (mosquitto 2.0
has no write-ahead log; the default saves every 1800 s and loses everything since). Each
save writes the whole in-memory database, so the cost grows with the backlog. Measured here,
every configuration on a fresh broker running the shipped config (password file, ACL) in the
same run:

* backlog: the ingester's session is offline (subscribed at QoS 1, disconnected) while N
  QoS 1 messages arrive, either from one gateway connection or from ``--devices`` trackers
  on connections of their own; the time is first send to last PUBACK, and for the
  per-change config also until the database file on disk holds all N. mosquitto takes one
  packet per connection per pass of its event loop and saves after every pass that changed
  anything, so one busy connection pays a whole-database save per message (300 messages
  from one connection: 300 saves in the broker's log) while many connections share saves;
* online: the session's subscriber is connected and keeps up (``mosquitto_sub``); the time
  is first send until it has received all N;
* drain: the session comes back to a backlog and acks each message as the ingester does,
  with a Receive Maximum of 10,000 (so past the first 10,000 a message goes out only once
  the broker has taken in an ack); the time is reconnect to last received.

Configurations: ``default`` (mosquitto's defaults, the reference every ratio is against),
``per-change`` (what CargoWatch ships) and ``timed`` (``write-config --autosave timed``:
``autosave_interval 1`` without ``autosave_on_changes``, a save every second or two whatever
happens; its cost, one whole-database write per save, hardly shows in runs this short). Each is run
``--runs`` times; the median is shown with the spread (min-max).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# The repository first, so `ingest` is the package and never a module of bench/ that shares its name.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broker_clients import SUCCESS, V5Client
from services import ShippedMosquittoServer

from ingest.broker_auth import Role
from ingest.broker_config import DURABLE, NON_DURABLE, TIMED, Durability
from simulators.publisher import Publisher, parse_mqtt_url

CONFIGS: dict[str, Durability] = {
    "default": NON_DURABLE,
    "per-change": DURABLE,
    "timed": TIMED,
}
SESSION_ID = "bench-ingest"
TELEMETRY = "cargo/v1/+/telemetry"


def messages(n: int, devices: int = 100) -> list[tuple[str, bytes]]:
    """N telemetry messages of a realistic size (about 120 bytes), each payload unique."""
    out = []
    for i in range(n):
        device = f"trk-{i % devices:05d}"
        payload = (
            f'{{"device_id":"{device}","ts":{1_700_000_000_000 + i},"seq":{i},'
            f'"lat":-1.283333,"lon":36.816667,"temp_c":4.52,"battery_v":3.912}}'
        )
        out.append((f"cargo/v1/{device}/telemetry", payload.encode()))
    return out


def register_session(broker: ShippedMosquittoServer, password: str) -> None:
    """Subscribe the service user's persistent session at QoS 1, then disconnect it."""
    client = V5Client(broker, "cargowatch", password, SESSION_ID)
    if client.connect(clean_start=False, session_expiry_s=3600) != SUCCESS:
        raise RuntimeError(f"the service user was refused\n{broker.log_tail()}")
    client.subscribe(TELEMETRY)
    client.disconnect()


def publish(url: str, batch: Sequence[tuple[str, bytes]]) -> float:
    """Publish over one pipelined connection; seconds from the first send to the last PUBACK."""
    publisher = Publisher(parse_mqtt_url(url), qos=1)
    packets = [publisher.encode(topic, payload) for topic, payload in batch]
    publisher.connect()
    started = time.perf_counter()
    for packet in packets:
        publisher.publish_encoded(packet)
    publisher.close()
    return time.perf_counter() - started


def publish_fleet(urls: Sequence[str], batch: Sequence[tuple[str, bytes]]) -> float:
    """Each device publishes its own messages over its own connection, all at once; seconds
    from the first send to the last device's last PUBACK."""
    publishers = [Publisher(parse_mqtt_url(url), qos=1) for url in urls]
    shares: list[list[bytes]] = [[] for _ in urls]
    for i, (topic, payload) in enumerate(batch):
        shares[i % len(urls)].append(publishers[i % len(urls)].encode(topic, payload))
    for publisher in publishers:
        publisher.connect()
    errors: list[BaseException] = []

    def run(publisher: Publisher, packets: list[bytes]) -> None:
        try:
            for packet in packets:
                publisher.publish_encoded(packet)
            publisher.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(p, share))
        for p, share in zip(publishers, shares, strict=True)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def backlog_run(
    n: int, durability: Durability, tmp: Path, connections: int
) -> tuple[float, float | None, int]:
    """Queue N messages for the offline session from one gateway connection
    (``connections`` 1) or from that many devices, each on its own connection.

    Returns seconds to the last PUBACK, with autosave_on_changes seconds from the first
    send until all N are on disk (else None), and the database file's size.
    """
    batch = messages(n, devices=connections if connections > 1 else 100)
    broker = ShippedMosquittoServer(tmp, durability=durability)
    service = broker.add_user("cargowatch", Role.SERVICE)
    if connections == 1:
        urls = [broker.url_for("gateway", broker.add_user("gateway", Role.GATEWAY))]
    else:
        devices = [f"trk-{d:05d}" for d in range(connections)]
        urls = [broker.url_for(d, broker.add_user(d)) for d in devices]
    with broker:
        register_session(broker, service)
        started = time.perf_counter()
        acked_s = publish(urls[0], batch) if connections == 1 else publish_fleet(urls, batch)
        last = batch[-1][1]

        def saved() -> bool:
            try:
                return last in broker.persistence_path.read_bytes()
            except FileNotFoundError:
                return False

        on_disk_s = None
        if durability.autosave_on_changes and wait_until(saved, 60):
            on_disk_s = time.perf_counter() - started
        size = broker.persistence_path.stat().st_size if broker.persistence_path.exists() else 0
    return acked_s, on_disk_s, size


def online_run(n: int, durability: Durability, tmp: Path) -> float:
    """Seconds from the first send until a connected QoS 1 subscriber has all N messages."""
    batch = messages(n)
    binary = shutil.which("mosquitto_sub")
    if binary is None:
        raise FileNotFoundError("mosquitto_sub not found (Debian package mosquitto-clients)")
    broker = ShippedMosquittoServer(tmp, durability=durability)
    service = broker.add_user("cargowatch", Role.SERVICE)
    gateway = broker.add_user("gateway", Role.GATEWAY)
    with broker:
        register_session(broker, service)
        base = [binary, "-h", broker.host, "-p", str(broker.port), "-i", SESSION_ID]
        base += ["-u", "cargowatch", "-P", service, "-q", "1", "-t", TELEMETRY, "-c"]
        subscriber = subprocess.Popen(
            [*base, "-C", str(n)], stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        try:
            # The session is registered, so nothing is lost whenever the process connects.
            started = time.perf_counter()
            publish(broker.url_for("gateway", gateway), batch)
            subscriber.wait(timeout=600)
            elapsed = time.perf_counter() - started
        finally:
            if subscriber.poll() is None:
                subscriber.kill()
                subscriber.wait()
        if subscriber.returncode != 0:
            raise RuntimeError(f"mosquitto_sub exited with {subscriber.returncode}")
    return elapsed


def drain_run(n: int, durability: Durability, tmp: Path, devices: int) -> float:
    """Seconds from the session's reconnect until it has received N queued messages.

    The backlog comes from ``devices`` trackers while the session is away; the subscriber
    then connects as the ingester does (Receive Maximum 10,000) and acks each message, so the
    broker sends message k+10,000 only once it has taken in the ack of message k.
    """
    batch = messages(n, devices=devices)
    broker = ShippedMosquittoServer(tmp, durability=durability)
    service = broker.add_user("cargowatch", Role.SERVICE)
    urls = [
        broker.url_for(d, broker.add_user(d)) for d in sorted({t.split("/")[2] for t, _ in batch})
    ]
    with broker:
        register_session(broker, service)
        publish_fleet(urls, batch)
        subscriber = V5Client(broker, "cargowatch", service, SESSION_ID)
        started = time.perf_counter()
        code = subscriber.connect(clean_start=False, session_expiry_s=3600, receive_maximum=10_000)
        if code != SUCCESS:
            raise RuntimeError(f"the service user was refused: {code}")
        try:
            for _ in range(n):
                subscriber.receive()
            elapsed = time.perf_counter() - started
        finally:
            subscriber.disconnect()
    return elapsed


def rate_table(title: str, n: int, runs: int, measure: Callable[[Durability, Path], float]) -> None:
    print(f"\n{title}\n(median msg/s, min-max over {runs} runs; ratio of medians against default)")
    rates: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(runs):
        for name, durability in CONFIGS.items():
            with tempfile.TemporaryDirectory(prefix="bench-durability-") as tmp:
                rates[name].append(n / measure(durability, Path(tmp)))
    reference = statistics.median(rates["default"])
    for name in CONFIGS:
        median = statistics.median(rates[name])
        print(
            f"  {name:<10} {median:>8,.0f} msg/s ({spread(rates[name])})"
            f"  x{median / reference:.3f}",
            flush=True,
        )


def spread(values: Sequence[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


def backlog_table(title: str, sizes: Sequence[int], connections: int, runs: int) -> None:
    print(
        f"\n{title}\n(median msg/s to the last PUBACK, min-max over {runs} runs; ratio of medians against default)"
    )
    for n in sizes:
        rates: dict[str, list[float]] = {name: [] for name in CONFIGS}
        to_disk: list[float] = []
        db_bytes: dict[str, int] = {}
        for _ in range(runs):
            for name, durability in CONFIGS.items():
                with tempfile.TemporaryDirectory(prefix="bench-durability-") as tmp:
                    acked_s, on_disk_s, size = backlog_run(n, durability, Path(tmp), connections)
                rates[name].append(n / acked_s)
                db_bytes[name] = max(size, db_bytes.get(name, 0))
                if on_disk_s is not None:
                    to_disk.append(on_disk_s)
        reference = statistics.median(rates["default"])
        for name in CONFIGS:
            median = statistics.median(rates[name])
            line = (
                f"  N={n:>7,}  {name:<10} {median:>8,.0f} msg/s ({spread(rates[name])})"
                f"  x{median / reference:.4f}  db file {db_bytes[name] / 1e6:.1f} MB"
            )
            if name == "per-change" and to_disk:
                line += f", all {n:,} in it {statistics.median(to_disk):.2f} s after the first send"
            print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--gateway-backlog", default="1000,5000", help="backlog sizes from one connection"
    )
    parser.add_argument(
        "--fleet-backlog", default="10000,50000", help="backlog sizes from --devices connections"
    )
    parser.add_argument("--devices", type=int, default=100, help="device connections")
    parser.add_argument("--online", type=int, default=20_000, help="messages, online case")
    parser.add_argument("--drain", type=int, default=15_000, help="backlog, drain case")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    def sizes(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x]

    backlog_table(
        "Backlog for an offline persistent session, from one gateway connection",
        sizes(args.gateway_backlog),
        1,
        args.runs,
    )
    backlog_table(
        f"Backlog for an offline persistent session, from {args.devices} devices on their own "
        "connections",
        sizes(args.fleet_backlog),
        args.devices,
        args.runs,
    )

    n = args.online
    rate_table(
        f"Online: the session's subscriber connected and keeping up (mosquitto_sub), {n:,} QoS 1 "
        "messages from one gateway connection; first send to last received",
        n,
        args.runs,
        lambda durability, tmp: online_run(n, durability, tmp),
    )
    d = args.drain
    rate_table(
        f"Drain: the session comes back to a backlog of {d:,} messages from {args.devices} "
        "devices, Receive Maximum 10,000, acking each; reconnect to last received",
        d,
        args.runs,
        lambda durability, tmp: drain_run(d, durability, tmp, args.devices),
    )


if __name__ == "__main__":
    main()
