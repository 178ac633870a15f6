"""Files for `/etc/grafana/provisioning`: the data source, the dashboard provider, the JSON.

`write(out, ...)` lays out `out/datasources/cargowatch.yaml`, `out/dashboards/cargowatch.yaml`
and `out/dashboards/cargowatch/<uid>.json`, so `out` can be mounted as Grafana's provisioning
directory as it is. Secrets are never written: the data source's password or token is a
`$VARIABLE` that Grafana expands from its own environment when it reads the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from dashboards.catalogue import render_all
from dashboards.common import FOLDER_TITLE, FOLDER_UID

DATASOURCE_UID: Final = "cargowatch-influxdb"
DATASOURCE_NAME: Final = "CargoWatch InfluxDB"
PROVISIONING_ROOT: Final = "/etc/grafana/provisioning"


@dataclass(frozen=True)
class InfluxSettings:
    """Where Grafana reaches CargoWatch's InfluxDB, and how it signs in (names only, no secrets)."""

    url: str = "http://127.0.0.1:8086"
    database: str = "cargowatch"
    username: str | None = None
    #: `token`: `Authorization: Token $CARGOWATCH_INFLUX_TOKEN`; `password`: basic user/password.
    auth: str | None = None
    min_interval: str = "10s"


def datasource(settings: InfluxSettings, secret: str | None = None) -> dict[str, Any]:
    """The data source as Grafana's API and provisioning take it (InfluxQL mode)."""
    json_data: dict[str, Any] = {
        "dbName": settings.database,
        "httpMode": "GET",
        "version": "InfluxQL",
        "timeInterval": settings.min_interval,
    }
    out: dict[str, Any] = {
        "name": DATASOURCE_NAME,
        "uid": DATASOURCE_UID,
        "type": "influxdb",
        "access": "proxy",
        "url": settings.url,
        "isDefault": False,
        "jsonData": json_data,
    }
    if settings.auth == "token":
        json_data["httpHeaderName1"] = "Authorization"
        out["secureJsonData"] = {"httpHeaderValue1": f"Token {secret}"}
    elif settings.auth == "password":
        out["user"] = settings.username or ""
        out["secureJsonData"] = {"password": secret}
    return out


def datasource_yaml(settings: InfluxSettings) -> str:
    # Grafana expands $VARIABLES in provisioning files from its environment.
    variable = (
        "$CARGOWATCH_INFLUX_TOKEN" if settings.auth == "token" else "$CARGOWATCH_INFLUX_PASSWORD"
    )
    ds = datasource(settings, variable if settings.auth else None)
    ds.pop("isDefault")
    return to_yaml({"apiVersion": 1, "datasources": [{**ds, "editable": False}]})


def provider_yaml(dashboards_path: str) -> str:
    provider = {
        "name": "cargowatch",
        "orgId": 1,
        "folder": FOLDER_TITLE,
        "folderUid": FOLDER_UID,
        "type": "file",
        "disableDeletion": False,
        "allowUiUpdates": False,
        "updateIntervalSeconds": 60,
        "options": {"path": dashboards_path},
    }
    return to_yaml({"apiVersion": 1, "providers": [provider]})


def write(out: Path, settings: InfluxSettings, dashboards_path: str | None = None) -> list[Path]:
    """Write every file into `out`; return their paths. Files already there are replaced."""
    boards = out / "dashboards" / "cargowatch"
    boards.mkdir(parents=True, exist_ok=True)
    (out / "datasources").mkdir(parents=True, exist_ok=True)
    written = []
    for board in render_all():
        path = boards / f"{board['uid']}.json"
        path.write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
        written.append(path)
    files = {
        out / "datasources" / "cargowatch.yaml": datasource_yaml(settings),
        out / "dashboards" / "cargowatch.yaml": provider_yaml(
            dashboards_path or f"{PROVISIONING_ROOT}/dashboards/cargowatch"
        ),
    }
    for path, text in files.items():
        path.write_text(text)
        written.append(path)
    return written


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML of dicts, lists and scalars; strings JSON-quoted, which YAML reads as is.

    >>> print(to_yaml({"apiVersion": 1, "list": [{"a": "x", "b": True}]}), end="")
    apiVersion: 1
    list:
      - a: "x"
        b: true
    """
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:\n{to_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}\n")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}- {to_yaml(item, indent + 2).lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(item)}\n")
    return "".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)
