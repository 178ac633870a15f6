"""The API server as a stage: `start` listens and serves on a thread of its own, `stop` finishes
the requests in flight and returns whether it did in time.

uvicorn serves the app; running it on a thread (where it installs no signal handlers) lets the
process's own signal handling stop every stage in order, the same way in ``cargowatch api`` and
in ``cargowatch run``, where the ingester shares the process.
"""

from __future__ import annotations

import threading
import time
from typing import Final

import uvicorn
from fastapi import FastAPI

#: How long `start` waits for the socket to be listening.
START_TIMEOUT_S: Final = 30.0


class ServerFailed(RuntimeError):
    """The server could not start (the address is taken, not ours to bind); one line."""


class ApiServer:
    """uvicorn serving `app` on `host`:`port`, started and stopped like every other stage."""

    def __init__(self, app: FastAPI, host: str, port: int, *, log_level: str = "warning") -> None:
        # access_log off: a line per request would drown the state changes the log is for.
        config = uvicorn.Config(
            app, host=host, port=port, log_level=log_level.lower(), access_log=False
        )
        self.host, self.port = host, port
        self._app = app
        self._server = uvicorn.Server(config)
        self._stopping = False
        self._thread = threading.Thread(target=self._server.run, name="cw-api", daemon=True)

    def start(self) -> None:
        """Serve; return once listening, or raise `ServerFailed` if it cannot."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = threading.Event()
        while not self._server.started:
            if not self._thread.is_alive():
                raise ServerFailed(f"the API cannot listen on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                self._server.should_exit = True
                raise ServerFailed(f"the API did not start listening within {START_TIMEOUT_S} s")
            waiting.wait(0.01)

    @property
    def failed(self) -> bool:
        """The server stopped without being asked to."""
        started = self._thread.ident is not None
        return started and not self._stopping and not self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop taking connections, let requests in flight finish; True if done in time."""
        self._stopping = True
        # uvicorn waits for responses in flight: an event stream ends only when told to.
        stopping = getattr(self._app.state, "stopping", None)
        if stopping is not None:
            stopping.set()
        self._server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
        return not self._thread.is_alive()
