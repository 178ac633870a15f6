"""Brings shipments created or changed in the SQL store to the running detectors within seconds.

A worker thread compares every shipment's current version number with the one it last
took (one narrow query per poll) and reads only the versions that changed. A device
watched under a planned or in-transit shipment goes to `on_change` as the detectors'
`Shipment`; a device no longer watched under the shipment it was handed on with goes to
`on_close` with its id, as does every device that a version of a shipment named and no
open shipment names now: its trips are over, and it is not watched under the default
profile either. The first poll hands on every open shipment and closes every such device,
so a restarted ingester watches what the store holds without a manifest file. Each
shipment carries its organisation's name, so trackers of two organisations that name the
same `room` are never neighbours.

Trackers are reused: one device may have delivered shipments, and even two open ones. A
device is watched under its newest open shipment (the one created last); its other open
ones wait, and one of them takes over when the newer closes or moves to another tracker.
What is watched thus depends only on what the store holds, never on the order the
versions were met in, so a restarted ingester watches what the running one did, and a
former trip delivered late never stops the watch of the current one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.models import Organisation, ShipmentVersion
from api.models import Shipment as StoredShipment
from detectors.profiles import ManifestError, Shipment, parse_shipment

log = logging.getLogger(__name__)

OPEN_STATUSES: Final = frozenset({"planned", "in_transit"})


class ShipmentsUnreadable(RuntimeError):
    """The store's shipments could not be read (a strict poll); the message is one line."""


class ShipmentWatcher:
    """Polls the store for shipment versions it has not taken yet; `start` and `stop`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        on_change: Callable[[Shipment], None],
        on_close: Callable[[str], None],
        poll_s: float = 2.0,
    ) -> None:
        self._sessions = sessions
        self._on_change = on_change
        self._on_close = on_close
        self._poll_s = poll_s
        #: The store's key of each shipment -> the version number last taken.
        self._applied: dict[int, int] = {}
        #: Every open shipment that can be watched: key -> (version row id, `Shipment`).
        self._open: dict[int, tuple[int, Shipment]] = {}
        #: Device -> the keys of its open shipments.
        self._on_device: dict[str, set[int]] = {}
        #: Device -> (key, version row id, shipment id) of what it was last handed on under.
        self._handed: dict[str, tuple[int, int, str]] = {}
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="cw-shipments", daemon=True)

    def start(self) -> None:
        self.poll()  # before the first reading, so no reading meets a device unwatched
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def watching(self) -> dict[str, str]:
        """Device -> the id of the shipment it is watched under, as handed on."""
        return {d: shipment_id for d, (_, _, shipment_id) in self._handed.items()}

    def poll(self, *, strict: bool = False) -> int:
        """Take every version that changed since the last poll; return how many.

        A store that cannot be read is logged and retried at the next poll; with `strict`
        (at start-up, where the detectors' snapshot must not meet a device before its
        shipment) it raises `ShipmentsUnreadable` instead.
        """
        try:
            with self._sessions() as session:
                current = dict(
                    session.execute(select(StoredShipment.id, StoredShipment.current_version)).all()
                )
                changed = [pk for pk, v in current.items() if self._applied.get(pk) != v]
                versions = (
                    [
                        (version, organisation)
                        for version, organisation in session.execute(
                            select(ShipmentVersion, Organisation.name)
                            .join(StoredShipment, ShipmentVersion.shipment_pk == StoredShipment.id)
                            .join(Organisation, StoredShipment.organisation_id == Organisation.id)
                            .where(ShipmentVersion.shipment_pk.in_(changed))
                        )
                    ]
                    if changed
                    else []
                )
        except SQLAlchemyError as exc:
            if strict:
                raise ShipmentsUnreadable(
                    f"cannot read shipments from the SQL store: {exc}"
                ) from None
            if not self._failing:
                log.warning("cannot read shipments from the SQL store (%s); will retry", exc)
                self._failing = True
            return 0
        if self._failing:
            log.warning("reading shipments from the SQL store again")
            self._failing = False
        latest = [
            (v, organisation) for v, organisation in versions if v.version == current[v.shipment_pk]
        ]
        taken = {version.shipment_pk for version, _ in latest}
        was_open = taken & self._open.keys()
        # Every device a shipment first met here named in any version (one moved to another
        # tracker): a first poll must find the trackers a running watcher let go.
        touched = {v.device_id for v, _ in versions if v.shipment_pk not in self._applied}
        for version, organisation in latest:
            touched |= self._take(version, organisation)
            self._applied[version.shipment_pk] = version.version
        for device_id in sorted(touched):
            self._hand_on(device_id, taken)
        for version, _ in latest:
            self._log_taken(version, was_open)
        return len(latest)

    def _take(self, version: ShipmentVersion, organisation: str) -> set[str]:
        """Note a shipment's current version; return the devices whose watch it may change."""
        pk = version.shipment_pk
        shipment = None
        if version.status in OPEN_STATUSES:
            try:
                # The organisation is never a manifest key: the store says whose shipment it is.
                shipment = replace(parse_shipment(version.manifest), organisation=organisation)
            except ManifestError as exc:
                # The store checked it when it was saved; a release with stricter rules may
                # not. The version watched before (if any) goes on being watched.
                log.error("shipment version %s cannot be watched: %s", version.id, exc)
                return set()
        touched = {version.device_id}
        former = self._open.pop(pk, None)
        if former is not None:
            touched.add(former[1].device_id)
            self._on_device[former[1].device_id].discard(pk)
        if shipment is not None:
            self._open[pk] = (version.id, shipment)
            self._on_device.setdefault(shipment.device_id, set()).add(pk)
        return touched

    def _hand_on(self, device_id: str, taken: set[int]) -> None:
        """Hand on the device's newest open shipment if it is not what the device has;
        `taken` are the shipments whose versions this poll took (and logs)."""
        pks = self._on_device.get(device_id) or set()
        newest = max(pks, default=None)  # keys grow as shipments are created
        handed = self._handed.get(device_id)
        if (
            newest is not None
            and handed is not None
            and handed[:2] == (newest, self._open[newest][0])
        ):
            return
        if handed is not None and (newest is None or handed[0] != newest):
            # Another shipment (or none): the detectors of the former one end with it.
            del self._handed[device_id]
            self._on_close(device_id)
            if handed[0] not in taken:
                log.info("no longer watching %s on %s: a newer shipment", handed[2], device_id)
        if newest is None:
            self._on_device.pop(device_id, None)
            if handed is None:
                # Named by no open shipment (the history a first poll meets, a trip entered
                # and closed between two polls, or moved to another tracker): its trips are
                # over, and it is not watched under the default profile either.
                self._on_close(device_id)
            return
        row, shipment = self._open[newest]
        self._on_change(shipment)
        self._handed[device_id] = (newest, row, shipment.shipment_id)
        if newest not in taken:
            log.info(
                "watching %s on %s again: its newer shipment ended", shipment.shipment_id, device_id
            )

    def _log_taken(self, version: ShipmentVersion, was_open: set[int]) -> None:
        """One line per version taken, once the detectors have been told; none for a closed
        shipment that was not open before (the history a first poll meets)."""
        pk, device_id = version.shipment_pk, version.device_id
        shipment_id = version.manifest.get("shipment_id")
        what = f"{shipment_id} on {device_id} (version {version.version}, {version.status})"
        if version.status not in OPEN_STATUSES:
            if pk in was_open:
                log.info("no longer watching %s", what)
            return
        entry = self._open.get(pk)
        if entry is None or entry[0] != version.id:
            return  # it could not be watched: said already
        handed = self._handed.get(device_id)
        if handed is not None and handed[:2] == (pk, version.id):
            log.info("watching %s", what)
        else:
            newer = handed[2] if handed is not None else "another"
            log.info(
                "not watching %s: %s is watched under its newer shipment %s", what, device_id, newer
            )

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.poll()
