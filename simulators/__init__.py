"""Simulated tracker fleets with labelled scenarios; they speak only the MQTT wire format.

The simulator imports nothing else of CargoWatch: it writes the wire contract of
docs/wire-format.md, so whatever consumes its output exercises the real interface. In process,
``simulate(devices=..., scenario=..., duration_s=..., seed=...)`` returns a `Fleet` with
``manifest()``, ``labels()`` and ``payloads()``/``messages()`` in arrival order; on the
command line ``python -m simulators`` (``cargowatch simulate``) publishes or records it.
"""

from simulators.fleet import Fleet, simulate
from simulators.profiles import PROFILES
from simulators.routes import LANES
from simulators.scenarios import SCENARIOS
from simulators.wire import Message

__all__ = ["LANES", "PROFILES", "SCENARIOS", "Fleet", "Message", "simulate"]
