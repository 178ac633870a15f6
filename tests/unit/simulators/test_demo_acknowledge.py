"""The demo check's acknowledgement: an alert that resolves between listing and ack is a race.

The API is an in-memory stand-in behind `httpx.MockTransport`: it refuses the ack of a
resolved alert with 409, as the real one does (the real one is driven by the demo test).
"""

import json
from typing import Any

import httpx

from simulators.demo_check import DemoApi


class _Alerts:
    """Alerts by id; those in `resolve_first` resolve just before their ack arrives."""

    def __init__(self, resolve_first: set[str]) -> None:
        self.state = {"al_1": "open", "al_2": "open"}
        self.history: dict[str, list[dict[str, Any]]] = {"al_1": [], "al_2": []}
        self.resolve_first = resolve_first
        self.acks: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        alert_id = request.url.path.split("/")[2]
        if request.method == "POST":
            self.acks.append(alert_id)
            if alert_id in self.resolve_first:
                self.state[alert_id] = "resolved"
            if self.state[alert_id] != "open":
                return httpx.Response(409, json={"detail": f"alert {alert_id!r} is resolved"})
            self.state[alert_id] = "acknowledged"
            comment = json.loads(request.content)["comment"]
            self.history[alert_id].append({"action": "ack", "comment": comment})
            return httpx.Response(200, json={"state": "acknowledged"})
        body = {
            "alert_id": alert_id,
            "kind": "unscheduled_stop",
            "device_id": "trk-1",
            "state": self.state[alert_id],
            "history": self.history[alert_id],
        }
        return httpx.Response(200, json=body)


def _listed() -> list[dict[str, Any]]:
    return [{"alert_id": "al_1", "state": "open"}, {"alert_id": "al_2", "state": "open"}]


def test_an_alert_resolved_before_its_ack_lands_makes_the_check_try_the_next_open_one():
    alerts = _Alerts(resolve_first={"al_1"})
    api = DemoApi("http://api", "key", transport=httpx.MockTransport(alerts.handle))
    result = api.acknowledge(_listed())
    assert result is not None and result.ok, result
    assert alerts.acks == ["al_1", "al_2"]
    assert alerts.state == {"al_1": "resolved", "al_2": "acknowledged"}
    assert "al_2" in result.text and "holds the ack" in result.text


def test_when_every_listed_alert_resolved_first_the_caller_is_told_to_list_again():
    alerts = _Alerts(resolve_first={"al_1", "al_2"})
    api = DemoApi("http://api", "key", transport=httpx.MockTransport(alerts.handle))
    assert api.acknowledge(_listed()) is None
    assert alerts.acks == ["al_1", "al_2"]


def test_a_refused_ack_on_an_alert_still_open_is_a_failure_not_a_race():
    alerts = _Alerts(resolve_first=set())
    alerts.state["al_1"] = "acknowledged"  # someone else acked it: 409, and not resolved
    api = DemoApi("http://api", "key", transport=httpx.MockTransport(alerts.handle))
    result = api.acknowledge(_listed())
    assert result is not None and not result.ok
    assert "answered 409" in result.text and "has no ack" in result.text
    assert alerts.acks == ["al_1"]


def test_no_open_alert_is_a_failure():
    api = DemoApi("http://api", "key", transport=httpx.MockTransport(_Alerts(set()).handle))
    result = api.acknowledge([{"alert_id": "al_1", "state": "resolved"}])
    assert result is not None and not result.ok
    assert result.text == "no open alert to acknowledge"
