"""Brings shipments created or changed in the SQL store to the running detectors within seconds.

A worker thread compares every shipment's current version number with the one it last
handed on (one narrow query per poll) and reads only the versions that changed. A
planned or in-transit shipment goes to `on_change` as the detectors' `Shipment`; a
delivered or cancelled one goes to `on_close` with its device id, so the device stops
being watched under it. The first poll hands on every open shipment, so a restarted
ingester watches what the store holds without a manifest file. Each shipment carries its
organisation's name, so trackers of two organisations that name the same `room` are never
neighbours.
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
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="cw-shipments", daemon=True)

    def start(self) -> None:
        self.poll()  # before the first reading, so no reading meets a device unwatched
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def poll(self) -> int:
        """Hand on every version that changed since the last poll; return how many."""
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
            if not self._failing:
                log.warning("cannot read shipments from the SQL store (%s); will retry", exc)
                self._failing = True
            return 0
        if self._failing:
            log.warning("reading shipments from the SQL store again")
            self._failing = False
        latest = {
            v.shipment_pk: (v, organisation)
            for v, organisation in versions
            if v.version == current[v.shipment_pk]
        }
        for pk, (version, organisation) in latest.items():
            self._hand_on(version, organisation)
            self._applied[pk] = version.version
        return len(latest)

    def _hand_on(self, version: ShipmentVersion, organisation: str) -> None:
        if version.status not in OPEN_STATUSES:
            self._on_close(version.device_id)
            return
        try:
            # The organisation is never a manifest key: the store says whose shipment it is.
            shipment = replace(parse_shipment(version.manifest), organisation=organisation)
        except ManifestError as exc:
            # The store checked it when it was saved; a release with stricter rules may not.
            log.error("shipment version %s cannot be watched: %s", version.id, exc)
            return
        self._on_change(shipment)
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
