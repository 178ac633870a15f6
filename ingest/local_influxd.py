"""A real InfluxDB 1.x ``influxd`` on free loopback ports, and a small client for checking it.

The config pins every section that could bind a port or write outside its directory; the
helpers (`query`, `count`, `write`) speak the v1 HTTP API, for the demo's checks and the
tests' assertions on what actually landed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from ingest.local_servers import ServerProcess, find_executable, free_port


class InfluxQueryError(RuntimeError):
    """InfluxDB answered a query or write with an error."""


class InfluxServer(ServerProcess):
    """An InfluxDB 1.x ``influxd`` on 127.0.0.1 with its data in a temp directory.

    The HTTP API (``url``) and the RPC (backup) port are both free ephemeral ports; data
    survives ``restart()``. Helper methods speak the v1 HTTP API for assertions in tests.
    """

    name = "influxd"
    start_timeout_s = 30.0

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        rpc_port: int | None = None,
        data_options: dict[str, int] | None = None,
    ) -> None:
        super().__init__(directory, port)
        #: Extra ``[data]`` settings, e.g. ``{"max-values-per-tag": 10}`` to reach a limit fast.
        self.data_options = data_options or {}
        self._rpc_port = rpc_port if rpc_port is not None else free_port()
        self.config_path = self.directory / "influxdb.conf"
        self._binary = find_executable("influxd")
        self._client: httpx.Client | None = None

    @property
    def rpc_port(self) -> int:
        return self._rpc_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _command(self) -> list[str]:
        return [self._binary, "-config", str(self.config_path)]

    def _write_config(self) -> None:
        d = self.directory
        extra_data = "".join(f"  {k} = {v}\n" for k, v in self.data_options.items())
        # Every section that could bind a port or write outside the temp dir is pinned or off.
        config = f"""\
reporting-disabled = true
reporting-enabled = false
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{d}/meta"
  logging-enabled = false

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  index-version = "inmem"
{extra_data}
[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  log-enabled = false
  pprof-enabled = false
  unix-socket-enabled = false
  bind-socket = "{d}/influxdb.sock"

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false

[ifql]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""
        self.config_path.write_text(config)

    def _is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 204
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self._close_client()
        super().stop()

    def kill(self) -> None:
        self._close_client()
        super().kill()

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def http(self) -> httpx.Client:
        """A keep-alive HTTP client bound to this server (recreated after a restart)."""
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=30.0)
        return self._client

    def create_database(self, db: str) -> None:
        """Create ``db`` if it does not exist yet."""
        self._post_query(f"CREATE DATABASE {quote_ident(db)}")

    def drop_database(self, db: str) -> None:
        """Drop ``db`` and all of its data."""
        self._post_query(f"DROP DATABASE {quote_ident(db)}")

    def write(self, db: str, lines: str | Iterable[str], precision: str = "ms") -> None:
        """Write line-protocol points, raising InfluxQueryError on anything but 204."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        response = self.http.post(
            "/write", params={"db": db, "precision": precision}, content=body.encode()
        )
        if response.status_code != 204:
            raise InfluxQueryError(f"write to {db} failed: {response.status_code} {response.text}")

    def query(self, q: str, db: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one InfluxQL statement and return its rows as dicts, times in epoch ms.

        Rows of all series are concatenated; with GROUP BY each row also carries the series'
        tags as keys. ``params`` are bound parameters (``$name`` in the query).
        """
        request: dict[str, str] = {"q": q, "db": db, "epoch": "ms"}
        if params:
            request["params"] = json.dumps(params)
        response = self.http.get("/query", params=request)
        results = self._results(response, q)
        rows: list[dict[str, Any]] = []
        for series in results[0].get("series", []):
            tags = series.get("tags") or {}
            for values in series.get("values", []):
                row = dict(zip(series["columns"], values, strict=True))
                row.update(tags)
                rows.append(row)
        return rows

    def count(self, measurement: str, db: str, field: str = "*") -> int:
        """Number of points in ``measurement``, counted on ``field``.

        A named field counts the points that have it, which is every point when the field is
        always written (``seq`` for telemetry). ``"*"`` counts every field and returns the
        largest count, which equals the number of points when at least one field is always
        present. Points that differ only in tag values are counted separately; duplicates of
        the same series and timestamp are stored once and so counted once.
        """
        target = "*" if field == "*" else quote_ident(field)
        rows = self.query(f"SELECT count({target}) FROM {quote_ident(measurement)}", db)
        if not rows:
            return 0
        counts = [int(v) for k, v in rows[0].items() if k != "time" and v is not None]
        return max(counts, default=0)

    def _post_query(self, q: str) -> None:
        response = self.http.post("/query", params={"q": q})
        self._results(response, q)

    @staticmethod
    def _results(response: httpx.Response, q: str) -> list[dict[str, Any]]:
        if response.status_code != 200:
            raise InfluxQueryError(f"{q!r} failed: {response.status_code} {response.text}")
        results: list[dict[str, Any]] = response.json().get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxQueryError(f"{q!r} failed: {result['error']}")
        return results or [{}]


def quote_ident(name: str) -> str:
    """Quote an InfluxQL identifier (database, measurement, field)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
