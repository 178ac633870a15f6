"""`cargowatch dashboards push`: bring a Grafana's CargoWatch folder, data source and dashboards up.

Through Grafana's HTTP API with grafana-client. Each object is read first and written only if
it differs (or is missing), so a second push changes nothing and says so: the report names
every object as created, updated or unchanged. Objects are matched by their stable uids, never
by title, so renaming a dashboard in code updates it in place. A data source with a secret is
always written, since Grafana never returns secrets to compare with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from grafana_client import GrafanaApi  # type: ignore[import-untyped]
from grafana_client.client import GrafanaClientError  # type: ignore[import-untyped]

from dashboards.catalogue import render_all
from dashboards.common import FOLDER_TITLE, FOLDER_UID
from dashboards.provisioning import DATASOURCE_UID, InfluxSettings, datasource

#: What Grafana adds to a stored dashboard that is not part of what we push.
_SERVER_KEYS: Final = ("id", "version")
#: Data source keys compared to decide whether it needs an update.
_DATASOURCE_KEYS: Final = ("name", "type", "access", "url", "user", "jsonData")
MESSAGE: Final = "cargowatch dashboards push"


@dataclass(frozen=True)
class Change:
    """What a push did to one object."""

    kind: str  # folder | datasource | dashboard
    uid: str
    title: str
    outcome: str  # created | updated | unchanged

    def __str__(self) -> str:
        return f"{self.kind} {self.uid} ({self.title}): {self.outcome}"


class PushRefused(RuntimeError):
    """Grafana refused a request (bad token, no permission, invalid object): do not retry."""


def _get(call: Any, *args: Any) -> dict[str, Any] | None:
    """A GET that answers None for 404 (the object is not there yet)."""
    try:
        found: dict[str, Any] = call(*args)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise PushRefused(f"Grafana refused {call.__name__}: {exc.message}") from None
    return found


def _write(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except GrafanaClientError as exc:
        raise PushRefused(f"Grafana refused {call.__name__}: {exc.message}") from None


def push_folder(api: GrafanaApi) -> Change:
    found = _get(api.folder.get_folder, FOLDER_UID)
    if found is None:
        _write(api.folder.create_folder, FOLDER_TITLE, uid=FOLDER_UID)
        return Change("folder", FOLDER_UID, FOLDER_TITLE, "created")
    if found.get("title") == FOLDER_TITLE:
        return Change("folder", FOLDER_UID, FOLDER_TITLE, "unchanged")
    _write(api.folder.update_folder, FOLDER_UID, title=FOLDER_TITLE, overwrite=True)
    return Change("folder", FOLDER_UID, FOLDER_TITLE, "updated")


def push_datasource(api: GrafanaApi, settings: InfluxSettings, secret: str | None) -> Change:
    wanted = datasource(settings, secret)
    title = wanted["name"]
    found = _get(api.datasource.get_datasource_by_uid, DATASOURCE_UID)
    if found is None:
        _write(api.datasource.create_datasource, wanted)
        return Change("datasource", DATASOURCE_UID, title, "created")
    same = all(found.get(k, "") == wanted.get(k, "") for k in _DATASOURCE_KEYS)
    if same and "secureJsonData" not in wanted:
        return Change("datasource", DATASOURCE_UID, title, "unchanged")
    _write(api.datasource.update_datasource_by_uid, DATASOURCE_UID, wanted)
    return Change("datasource", DATASOURCE_UID, title, "updated")


def push_dashboard(api: GrafanaApi, board: dict[str, Any]) -> Change:
    uid, title = board["uid"], board["title"]
    found = _get(api.dashboard.get_dashboard, uid)
    if found is not None:
        stored = {k: v for k, v in found["dashboard"].items() if k not in _SERVER_KEYS}
        if stored == board and found.get("meta", {}).get("folderUid") == FOLDER_UID:
            return Change("dashboard", uid, title, "unchanged")
    body = {"dashboard": board, "folderUid": FOLDER_UID, "overwrite": True, "message": MESSAGE}
    _write(api.dashboard.update_dashboard, body)
    return Change("dashboard", uid, title, "created" if found is None else "updated")


def push(
    api: GrafanaApi,
    settings: InfluxSettings,
    secret: str | None = None,
    boards: Iterable[dict[str, Any]] | None = None,
) -> list[Change]:
    """Folder, then data source, then every dashboard (into the folder); what each push did."""
    changes = [push_folder(api), push_datasource(api, settings, secret)]
    changes += [push_dashboard(api, board) for board in (boards or render_all())]
    return changes


def connect(grafana_url: str, token: str, timeout_s: float = 10.0) -> GrafanaApi:
    """A client for `grafana_url` with a service account token (or `user:password`)."""
    credential: str | tuple[str, str] = token
    if ":" in token and not token.startswith("glsa_"):
        user, password = token.split(":", 1)
        credential = (user, password)
    return GrafanaApi.from_url(grafana_url, credential=credential, timeout=timeout_s)
