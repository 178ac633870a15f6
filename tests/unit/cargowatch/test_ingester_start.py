"""The ingester's start-up order: shipments before the detectors' snapshot, or no start at all."""

from typing import Any, cast

import pytest

from api.shipment_watch import ShipmentsUnreadable
from cargowatch.wiring import Ingester, StartupError


class _Recorder:
    """Any stage: every call it gets is noted in the shared `calls`, by stage and method."""

    def __init__(self, name: str, calls: list[str], failing: str | None = None) -> None:
        self._name, self._calls, self._failing = name, calls, failing

    def __getattr__(self, method: str) -> Any:
        def call(*args: object, **kwargs: object) -> None:
            self._calls.append(f"{self._name}.{method}")
            # A plain poll logs and retries; only a strict one says the store is unreadable.
            if method == self._failing and kwargs.get("strict"):
                raise ShipmentsUnreadable("cannot read shipments from the SQL store: gone")

        return call


def _ingester(calls: list[str], failing_poll: bool) -> Ingester:
    stages = {
        name: _Recorder(name, calls, "poll" if failing_poll and name == "shipments" else None)
        for name in (
            "pipeline",
            "detectors",
            "publisher",
            "delivery",
            "shipments",
            "webhooks",
            "email",
            "escalation",
            "commits",
        )
    }
    return Ingester(**cast(dict[str, Any], stages))


def test_the_store_shipments_reach_the_detectors_before_their_snapshot() -> None:
    calls: list[str] = []
    _ingester(calls, failing_poll=False).start()
    assert calls.index("shipments.poll") < calls.index("detectors.restore")
    assert calls[-1] == "pipeline.start"


def test_a_store_whose_shipments_cannot_be_read_stops_start_up_before_the_snapshot() -> None:
    # Restoring without them would start every device of a stored shipment afresh.
    calls: list[str] = []
    with pytest.raises(StartupError, match="cannot read shipments"):
        _ingester(calls, failing_poll=True).start()
    assert calls == ["detectors.start", "shipments.poll"]
