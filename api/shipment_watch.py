"""Brings shipments created or changed in the SQL store to the running detectors within seconds.

A worker thread compares every shipment's current version number with the one it last
handed on (one narrow query per poll) and reads only the versions that changed. A
planned or in-transit shipment goes to `on_change` as the detectors' `Shipment`; a
delivered or cancelled one goes to `on_close` with its device id, so the device stops
being watched under it. The first poll hands on every open shipment, so a restarted
ingester watches what the store holds without a manifest file. Each shipment carries its
organisation's name, so trackers of two organisations that name the same `room` are never
neighbours.

Trackers are reused: one device may have delivered shipments, and even two open ones. A
device is watched under the open shipment last saved for it (versions are handed on in the
order they were saved), and closing a shipment closes its device only while the device is
watched under that shipment, so a former trip delivered late (or met first at start-up)
never stops the watch of the current one. A shipment moved to another tracker stops its
former tracker's watch.
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
    """Polls the store for shipment versions it has not handed on yet; `start` and `stop`."""

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
        self._applied: dict[int, int] = {}
        #: Device -> the store's key of the shipment it was last handed on under, and back.
        self._watching: dict[str, int] = {}
        self._device_of: dict[int, str] = {}
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="cw-shipments", daemon=True)

    def start(self) -> None:
        self.poll()  # before the first reading, so no reading meets a device unwatched
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def poll(self, *, strict: bool = False) -> int:
        """Hand on every version that changed since the last poll; return how many.

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
        # In the order they were saved, so the open shipment saved last for a device wins.
        latest = sorted(
            (
                (v, organisation)
                for v, organisation in versions
                if v.version == current[v.shipment_pk]
            ),
            key=lambda pair: pair[0].id,
        )
        for version, organisation in latest:
            self._hand_on(version, organisation)
            self._applied[version.shipment_pk] = version.version
        return len(latest)

    def _hand_on(self, version: ShipmentVersion, organisation: str) -> None:
        key = version.shipment_pk
        closed = version.status not in OPEN_STATUSES
        # The device this shipment was handed on for, when it closes or moves to another one.
        former = self._device_of.get(key)
        if former is not None and (closed or former != version.device_id):
            del self._device_of[key]
            if self._watching.get(former) == key:  # not since watched under a newer one
                del self._watching[former]
                self._on_close(former)
                log.info(
                    "no longer watching %s on %s (version %d, %s)",
                    version.manifest.get("shipment_id"),
                    former,
                    version.version,
                    version.status,
                )
        if closed:
            return
        try:
            # The organisation is never a manifest key: the store says whose shipment it is.
            shipment = replace(parse_shipment(version.manifest), organisation=organisation)
        except ManifestError as exc:
            # The store checked it when it was saved; a release with stricter rules may not.
            log.error("shipment version %s cannot be watched: %s", version.id, exc)
            return
        self._on_change(shipment)
        self._watching[shipment.device_id] = key
        self._device_of[key] = shipment.device_id
        log.info(
            "watching %s on %s (version %d, %s)",
            shipment.shipment_id,
            shipment.device_id,
            version.version,
            version.status,
        )

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.poll()
