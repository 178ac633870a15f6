"""Unit test of `cargowatch dashboards push` against a recorded Grafana API exchange.

No Grafana runs here: grafana-client's HTTP session replays `grafana_push_exchange.json`
(two pushes, the first on an empty Grafana, the second on what it left), checking that every
request is the next recorded one, method, path and body, and answering with the recorded
response. It proves what push sends and how it reads the answers, not Grafana's behaviour.
"""

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from dashboards.catalogue import render_all
from dashboards.provisioning import InfluxSettings
from dashboards.push import PushRefused, connect, push

RECORDING = Path(__file__).with_name("grafana_push_exchange.json")
SETTINGS = InfluxSettings(url="http://influxdb:8086")


def _resolve(value: Any, boards: dict[str, dict]) -> Any:
    """The recording with each {"$dashboard": uid} replaced by that dashboard as built."""
    if isinstance(value, dict):
        if "$dashboard" in value:
            rest = {k: v for k, v in value.items() if k != "$dashboard"}
            return {**boards[value["$dashboard"]], **rest}
        return {k: _resolve(v, boards) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, boards) for v in value]
    return value


class Replay(BaseAdapter):
    def __init__(self, exchange):
        super().__init__()
        self.pending = list(exchange)

    def send(self, request, **kwargs):
        assert self.pending, f"unexpected request {request.method} {request.path_url}"
        recorded = self.pending.pop(0)
        want = recorded["request"]
        assert (request.method, request.path_url) == (want["method"], want["path"])
        if "json" in want:
            assert json.loads(request.body) == want["json"], request.path_url
        response = requests.Response()
        response.status_code = recorded["response"]["status"]
        response._content = json.dumps(recorded["response"]["json"]).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def replaying_client(exchange):
    api = connect("http://grafana.invalid:3000", "glsa_recorded")
    replay = Replay(exchange)
    api.client.s.mount("http://", replay)
    return api, replay


@pytest.fixture
def exchange():
    boards = {b["uid"]: b for b in render_all()}
    return _resolve(json.loads(RECORDING.read_text())["exchange"], boards)


def test_push_creates_everything_on_an_empty_grafana_then_changes_nothing(exchange):
    api, replay = replaying_client(exchange)
    first = push(api, SETTINGS)
    assert [str(c) for c in first[:2]] == [
        "folder cargowatch (CargoWatch): created",
        "datasource cargowatch-influxdb (CargoWatch InfluxDB): created",
    ]
    assert {c.outcome for c in first[2:]} == {"created"} and len(first) == 6
    second = push(api, SETTINGS)
    assert {c.outcome for c in second} == {"unchanged"}
    assert replay.pending == [], "push made fewer requests than recorded"


def test_a_dashboard_changed_in_code_is_updated_in_place(exchange):
    second_push = exchange[-6:]
    fleet = second_push[2]["response"]["json"]["dashboard"]
    fleet["title"] = "An older title"
    board = {k: v for k, v in fleet.items() if k not in ("id", "version")}
    board["title"] = render_all()[0]["title"]
    update = {
        "request": {
            "method": "POST",
            "path": "/api/dashboards/db",
            "json": {
                "dashboard": board,
                "folderUid": "cargowatch",
                "overwrite": True,
                "message": "cargowatch dashboards push",
            },
        },
        "response": {"status": 200, "json": {"status": "success", "version": 2}},
    }
    api, replay = replaying_client([*second_push[:3], update, *second_push[3:]])
    changes = push(api, SETTINGS)
    assert [c.outcome for c in changes] == [
        "unchanged",
        "unchanged",
        "updated",
        "unchanged",
        "unchanged",
        "unchanged",
    ]
    assert replay.pending == []


def test_a_refused_token_stops_the_push_with_grafanas_reason():
    refused = [
        {
            "request": {"method": "GET", "path": "/api/folders/cargowatch"},
            "response": {"status": 401, "json": {"message": "invalid API key"}},
        }
    ]
    api, _ = replaying_client(refused)
    with pytest.raises(PushRefused):
        push(api, SETTINGS)
