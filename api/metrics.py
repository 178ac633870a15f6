"""The API's Prometheus metrics, in a registry of each app's own (never the process-global one,
so two apps in one process, as in tests, count separately).

- ``cargowatch_alerts{kind, state}``: alerts in the SQL store, counted at scrape time, so the
  figure is the store's, whichever process wrote the alerts.
- ``cargowatch_api_request_duration_seconds{method, route, status}``: a histogram of request
  latency by route *template* (``/alerts/{alert_id}``), so hostile or mistyped paths cannot grow
  the label set: anything no route matched is ``unmatched``, any unusual method ``other``.
- ``cargowatch_outbox_pending`` and ``cargowatch_outbox_dead``: alert entries still on their
  way to MQTT and InfluxDB, and those dead-lettered (waiting for an admin), and
  ``cargowatch_deliveries_pending{channel}``: webhook and e-mail deliveries still on their way
  (a deleted webhook's are not). Counted at scrape time from the partial indexes the delivery
  workers read, so a scrape reads the backlog, never the delivered history.
- ``cargowatch_ingest_*``: the ingester's counters, when the API runs in the ingester's process
  (``cargowatch run``) and is given them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.models import Alert, OutboxEntry, WebhookDelivery, WebhookSubscription
from api.models_notify import EmailDelivery

_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: Buckets around what an API call on a small site takes: a millisecond to a few seconds.
_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _AlertsCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "cargowatch_alerts",
            "Alerts in the SQL store by kind and state.",
            labels=["kind", "state"],
        )
        query = select(Alert.kind, Alert.state, func.count()).group_by(Alert.kind, Alert.state)
        with self._sessions() as session:
            for kind, state, count in session.execute(query):
                family.add_metric([kind, state], count)
        yield family


class _BacklogCollector(Collector):
    """What the delivery workers have still to send, and the dead letters, per channel."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        outbox_pending = select(func.count()).where(
            OutboxEntry.delivered_at.is_(None), OutboxEntry.dead_at.is_(None)
        )
        outbox_dead = select(func.count()).where(OutboxEntry.dead_at.is_not(None))
        webhooks = (
            select(func.count())
            .select_from(WebhookDelivery)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(
                WebhookDelivery.delivered_at.is_(None),
                WebhookDelivery.dead_at.is_(None),
                WebhookSubscription.active.is_(True),
            )
        )
        email = select(func.count()).where(
            EmailDelivery.delivered_at.is_(None), EmailDelivery.dead_at.is_(None)
        )
        with self._sessions() as session:
            counts = [
                session.scalar(q) or 0 for q in (outbox_pending, outbox_dead, webhooks, email)
            ]
        yield GaugeMetricFamily(
            "cargowatch_outbox_pending",
            "Alert entries not yet delivered to MQTT and InfluxDB (dead letters aside).",
            value=counts[0],
        )
        yield GaugeMetricFamily(
            "cargowatch_outbox_dead",
            "Alert entries dead-lettered after InfluxDB kept refusing them; an admin redelivers.",
            value=counts[1],
        )
        family = GaugeMetricFamily(
            "cargowatch_deliveries_pending",
            "Webhook and e-mail deliveries not yet delivered nor dead-lettered.",
            labels=["channel"],
        )
        family.add_metric(["webhook"], counts[2])
        family.add_metric(["email"], counts[3])
        yield family


class _IngestCollector(Collector):
    def __init__(self, snapshot: Callable[[], Mapping[str, float]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        for name, value in sorted(self._snapshot().items()):
            yield GaugeMetricFamily(
                f"cargowatch_ingest_{name}", f"Ingester counter {name} since start-up.", value=value
            )


class ApiMetrics:
    """One app's registry: alert counts, request latency and, optionally, ingest counters."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ingest_stats: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "cargowatch_api_request_duration_seconds",
            "Time to answer an API request, by route template and status.",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_AlertsCollector(sessions))
        self.registry.register(_BacklogCollector(sessions))
        if ingest_stats is not None:
            self.registry.register(_IngestCollector(ingest_stats))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        shown = method if method in _METHODS else "other"
        self.latency.labels(shown, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class LatencyMiddleware:
    """Times every HTTP request and files it under the route template that answered it."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            # The router writes the matched route into the scope it was given.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
