"""Test helper: a real `cargowatch run` process (ingest, detectors and the HTTP API), set up the
way an operator would: a key from `cargowatch keys create`, shipments and webhooks through the
API.

`RunProcess` is an `IngesterProcess` whose command is `run` with an API port, so tests keep its
SIGKILL, restart, log and store helpers; `start` returns once the ingester has subscribed and
the API answers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from ingest_process import IngesterProcess, wait_for
from services import free_port, parent_death_signal


class RunProcess(IngesterProcess):
    """`python -m cargowatch run` on a port of its own, with its log in a file."""

    def __init__(
        self, mqtt_url: str, influx_url: str, db: str, workdir: Path, **settings: str
    ) -> None:
        super().__init__(mqtt_url, influx_url, db, workdir, **settings)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.key = ""

    def cargowatch(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cargowatch", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self) -> None:
        upgrade = self.cargowatch("db", "upgrade")
        assert upgrade.returncode == 0, upgrade.stderr
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cargowatch", "run", "--api-port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=log,
                preexec_fn=parent_death_signal(),  # never outlive a crashed test run
            )
        process = self.process

        def up() -> bool:
            log = self.log()[offset:]
            started = "subscribed to" in log and "serving the HTTP API" in log
            return started or process.poll() is not None

        wait_for(up, 90, "cargowatch run to subscribe and serve")
        assert process.poll() is None, f"cargowatch run exited:\n{self.log()}"

    def operator_key(self, organisation: str) -> str:
        """An operator key of `organisation` (created with it), used by `call` from now on."""
        created = self.cargowatch("keys", "create", "--org", organisation, "--role", "operator")
        assert created.returncode == 0, created.stderr
        self.key = created.stdout.strip()
        return self.key

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
