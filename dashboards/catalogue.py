"""The dashboards CargoWatch ships, built and rendered to the JSON Grafana stores.

`DASHBOARDS` maps each module's name to its builder function; `render` turns a built dashboard
into plain JSON through the SDK's own encoder, so what is written to disk, pushed to Grafana
and checked by the tests is the same document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import customs, fleet, ingest_health, shipment

DASHBOARDS: Final[dict[str, Callable[[], dash.Dashboard]]] = {
    fleet.NAME: fleet.build,
    shipment.NAME: shipment.build,
    customs.NAME: customs.build,
    ingest_health.NAME: ingest_health.build,
}


def render(board: dash.Dashboard) -> dict[str, Any]:
    """The dashboard's JSON model as Grafana stores it (numbered panels, no instance id)."""
    data: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for number, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = number  # Grafana needs panel ids unique within a dashboard
    return data


def render_all() -> list[dict[str, Any]]:
    return [render(build()) for build in DASHBOARDS.values()]
