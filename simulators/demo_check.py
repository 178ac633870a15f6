"""What `cargowatch demo --check` verifies, through the HTTP API as any client would.

Per staged incident, the alert kinds its label expects are listed by ``GET /alerts`` for its
tracker; one of them is acknowledged with ``POST /alerts/{id}/ack`` and then reads as
acknowledged; the console page ``/`` loads as HTML. `incident_results` is pure, so what
"every expected alert arrived" means is tested without servers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Result:
    """One line of the check: whether it passed, and what it says."""

    ok: bool
    text: str

    def line(self) -> str:
        return f"  {'ok  ' if self.ok else 'FAIL'}  {self.text}"


def incident_results(
    labels: Iterable[Mapping[str, Any]], alerts: Iterable[Mapping[str, Any]]
) -> list[Result]:
    """One result per incident that expects alerts: every expected kind opened on its tracker.

    >>> labels = [{"device_id": "trk-1", "scenario": "seal_tamper", "kinds": ["seal_breach"]},
    ...           {"device_id": "trk-2", "scenario": "reefer_failure", "kinds": []}]
    >>> [r.ok for r in incident_results(labels, [{"device_id": "trk-1", "kind": "seal_breach"}])]
    [True]
    >>> incident_results(labels, [])[0].text
    'trk-1 seal_tamper: seal_breach (missing: seal_breach)'
    """
    raised: dict[str, set[str]] = {}
    for alert in alerts:
        raised.setdefault(str(alert["device_id"]), set()).add(str(alert["kind"]))
    results = []
    for label in labels:
        kinds = [str(k) for k in label["kinds"]]
        if not kinds:
            continue  # e.g. a reefer failure that does not breach within the run
        missing = [k for k in kinds if k not in raised.get(str(label["device_id"]), set())]
        text = f"{label['device_id']} {label['scenario']}: {', '.join(kinds)}"
        results.append(
            Result(not missing, text + (f" (missing: {', '.join(missing)})" if missing else ""))
        )
    return results


def all_expected_arrived(
    labels: Sequence[Mapping[str, Any]], alerts: Iterable[Mapping[str, Any]]
) -> bool:
    return all(r.ok for r in incident_results(labels, alerts))


class RegistrationFailed(RuntimeError):
    """The API refused a shipment of the fleet; the message has its answer."""


class DemoApi:
    """The calls the demo makes with one API key."""

    def __init__(
        self, api_url: str, key: str, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = api_url
        self._client = httpx.Client(
            base_url=api_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10.0,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert the key sees, newest first, following the cursor."""
        found: list[dict[str, Any]] = []
        params: dict[str, str | int] = {"limit": 500}
        while True:
            response = self._client.get("/alerts", params=params)
            response.raise_for_status()
            page = response.json()
            found += page["data"]
            if not page.get("next_cursor"):
                return found
            params["cursor"] = page["next_cursor"]

    def register(self, shipments: Iterable[Mapping[str, Any]]) -> None:
        """Create the fleet's shipments in the key's organisation, in transit."""
        for shipment in shipments:
            name = shipment["shipment_id"]
            created = self._client.post("/shipments", json=dict(shipment))
            # In transit, the shipment's alerts are also the customs key's to see.
            moved = self._client.patch(f"/shipments/{name}", json={"status": "in_transit"})
            for response in (created, moved):
                if not response.is_success:
                    raise RegistrationFailed(
                        f"{response.request.method} {response.request.url.path}:"
                        f" {response.status_code} {response.text[:300]}"
                    )

    def acknowledge(self, alerts: Sequence[Mapping[str, Any]]) -> Result | None:
        """Acknowledge the newest open alert, then read it back.

        An alert listed open may resolve before its ack lands (a stop ends as soon as the
        truck is seen moving again): the API then refuses the ack with 409 and the alert reads
        back resolved. That is a race, not a failure, so the next open alert is tried; None
        when every one of them resolved first, for the caller to list again and retry.
        """
        candidates = [a for a in alerts if a["state"] == "open"]
        if not candidates:
            return Result(False, "no open alert to acknowledge")
        comment = {"comment": "demo: crew called, checking the cargo"}
        for candidate in candidates:
            alert_id = candidate["alert_id"]
            acked = self._client.post(f"/alerts/{alert_id}/ack", json=comment)
            alert = self._client.get(f"/alerts/{alert_id}").json()
            # The history, not the state, is the proof: the incident may end (and the alert
            # resolve) between the two requests.
            in_history = any(e.get("action") == "ack" for e in alert.get("history", []))
            if acked.status_code == 409 and alert.get("state") == "resolved" and not in_history:
                continue
            text = (
                f"POST /alerts/{alert_id}/ack ({alert.get('kind')} on {alert.get('device_id')})"
                f" answered {acked.status_code}; its history "
                + ("holds the ack" if in_history else "has no ack")
            )
            return Result(acked.status_code == 200 and in_history, text)
        return None

    def console(self) -> Result:
        """The console page at ``/`` (after its redirect, if any) is HTML."""
        try:
            response = self._client.get("/", follow_redirects=True)
        except httpx.HTTPError as exc:
            return Result(False, f"GET / failed: {exc}")
        kind = response.headers.get("content-type", "")
        ok = response.status_code == 200 and kind.startswith("text/html")
        return Result(ok, f"the console at {self.url}/ answers {response.status_code} {kind}")
