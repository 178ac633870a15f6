"""The InfluxDB v1 HTTP API adapter: ping, create database, write line protocol, query.

It speaks the one dialect served by InfluxDB 1.x, by 2.x's v1 compatibility
API and by 3.x. It turns every HTTP outcome into one of four decisions and lets
no httpx exception past it: `InfluxUnavailable` (retry later: refused
connection, timeout, 5xx), `InfluxRejected` (the server read the request and
refused points in it: isolate them), `InfluxCapacity` (the server refused
points for lack of room, not for what they hold: keep them and retry once an
operator has made room) and `InfluxAuthFailed` (credentials wrong: an operator
must act).
"""

from __future__ import annotations

import json
from typing import Any, Final

import httpx

#: Clients report their own name, which shows in InfluxDB's logs.
_USER_AGENT: Final = "cargowatch"
#: How InfluxDB 1.x words a write refused by `[data] max-values-per-tag` or
#: `max-series-per-database`; 2.x and 3.x answer such writes with their own texts.
_CAPACITY_MARKERS: Final = (
    "max-values-per-tag limit exceeded",
    "max-series-per-database limit exceeded",
    "series limit exceeded",
    "cardinality limit",
)


class InfluxError(Exception):
    """Base of the adapter's errors."""


class InfluxUnavailable(InfluxError):
    """The server could not be reached or failed; the same request may succeed later."""


class InfluxAuthFailed(InfluxUnavailable):
    """401/403: retrying will not help until the credentials change; waiting loses nothing."""


class InfluxCapacity(InfluxUnavailable):
    """A configured limit (series, tag values) refused new points: valid data, kept for later."""


class InfluxRejected(InfluxError):
    """The server refused (some of) the points; resending the same body will fail the same way."""


class InfluxClient:
    """A thin, typed client for one database on one InfluxDB server."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        headers = {"User-Agent": _USER_AGENT}
        auth: httpx.Auth | None = None
        if token:
            headers["Authorization"] = f"Token {token}"
        elif username:
            auth = httpx.BasicAuth(username, password or "")
        self.url = url.rstrip("/")
        self.database = database
        self._http = httpx.Client(base_url=self.url, headers=headers, auth=auth, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def ping(self) -> None:
        """Raise `InfluxUnavailable` unless the server answers /ping."""
        self._check(self._request("GET", "/ping"))

    def create_database(self) -> None:
        """Create the database if it is missing (idempotent on InfluxDB 1.x)."""
        # Identifiers cannot be bound parameters in InfluxQL; quote and escape instead.
        name = self.database.replace("\\", "\\\\").replace('"', '\\"')
        self._check(self._request("POST", "/query", data={"q": f'CREATE DATABASE "{name}"'}))

    def write(self, body: bytes) -> None:
        """POST line protocol (nanosecond timestamps) to /write."""
        response = self._request(
            "POST",
            "/write",
            params={"db": self.database, "precision": "ns"},
            content=body,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        if response.status_code == 404 and b"database not found" in response.content:
            self.create_database()
            response = self._request(
                "POST", "/write", params={"db": self.database, "precision": "ns"}, content=body
            )
        self._check(response)

    def query(self, q: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run InfluxQL with bound parameters; return the statement results' series."""
        args: dict[str, str] = {"db": self.database, "q": q, "epoch": "ms"}
        if params:
            args["params"] = json.dumps(params)
        response = self._request("POST", "/query", data=args)
        self._check(response)
        series: list[dict[str, Any]] = []
        for result in response.json().get("results", []):
            if "error" in result:
                raise InfluxRejected(str(result["error"]))
            series.extend(result.get("series", []))
        return series

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise InfluxUnavailable(f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def _check(response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        text = response.text[:500]
        if status in (401, 403):
            raise InfluxAuthFailed(f"HTTP {status}: {text}")
        if status in (400, 413, 422):
            # InfluxDB 1.x says only in words which points a limit dropped; this adapter is
            # the one place that reads them, so no caller ever has to.
            if any(marker in text for marker in _CAPACITY_MARKERS):
                raise InfluxCapacity(f"HTTP {status}: {text}")
            raise InfluxRejected(f"HTTP {status}: {text}")
        raise InfluxUnavailable(f"HTTP {status}: {text}")
