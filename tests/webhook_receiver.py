"""A real HTTP webhook receiver for the tests, on a loopback port, that fails on purpose.

Each request is recorded (headers and body) as it arrives, then answered as the next scripted
behaviour says: ``ok`` (204), a status code such as ``500``, or ``hang`` (hold the connection
until the receiver is released or stopped, so the sender times out). `stop` takes it off the
network (connections are refused) and `start` brings it back on the same port.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int | str


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/hook"
        self.received: list[Received] = []
        self.script: deque[int | str] = deque()
        self.default: int | str = "ok"
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    answer = receiver.script.popleft() if receiver.script else receiver.default
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(headers, body, answer))
                if answer == "hang":
                    receiver._release.wait(30)
                    return
                self.send_response(204 if answer == "ok" else int(answer))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivered(self) -> list[Received]:
        """The requests answered with a 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.received if r.answered == "ok"]

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.received)
