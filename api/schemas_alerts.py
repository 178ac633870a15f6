"""Request and response bodies of ``/alerts``, named for their role: `AlertPublic` in listings,
`AlertDetail` with evidence and history, `AlertsPublic` for a page, and one request body per
action (`AckRequest`, `AssignRequest`, `CommentRequest`, `ResolveRequest`). Requests refuse
unknown fields, so a misspelt ``coment`` is a 422 naming it rather than a missing comment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.models import Alert, AlertHistory
from api.schemas import AlertState, Comment, Name, Severity


class AlertPublic(BaseModel):
    """An alert as listings show it."""

    alert_id: str
    kind: str = Field(examples=["temp_excursion"])
    severity: Severity
    state: AlertState
    device_id: str
    shipment_id: str | None
    summary: str
    assignee: str | None
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, alert: Alert) -> AlertPublic:
        return cls.model_validate(_fields(alert, cls))


class HistoryEntryPublic(BaseModel):
    """One entry of an alert's history: a detector event or a person's action."""

    seq: int = Field(description="The entry's place in the alert's history, from 1.")
    action: str = Field(
        description="open, update, resolve (the detector); ack, assign, comment, close (people)."
    )
    actor: str = Field(description="`detector`, or the name and prefix of the key that acted.")
    at: datetime = Field(description="Event time for detector events, wall clock for actions.")
    recorded_at: datetime
    severity: Severity
    summary: str
    comment: str | None
    assignee: str | None
    evidence: dict[str, Any] | None

    @classmethod
    def of(cls, entry: AlertHistory) -> HistoryEntryPublic:
        return cls.model_validate(_fields(entry, cls))


class AlertDetail(AlertPublic):
    """An alert with its evidence and full history."""

    evidence: dict[str, Any]
    value: float | None
    predicted_breach_at: datetime | None
    confidence: float | None
    history: list[HistoryEntryPublic]

    @classmethod
    def with_history(cls, alert: Alert, history: list[AlertHistory]) -> AlertDetail:
        fields = _fields(alert, cls, skip={"history"})
        fields["history"] = [HistoryEntryPublic.of(entry) for entry in history]
        return cls.model_validate(fields)


class AlertsPublic(BaseModel):
    """One page of alerts, newest first."""

    data: list[AlertPublic]
    count: int = Field(description="Alerts matching the filters, over every page.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AckRequest(_Request):
    """Acknowledge: say what is being done about it (mandatory, for attributable decisions)."""

    comment: Comment


class AssignRequest(_Request):
    """Give the alert to someone, or to nobody with null."""

    assignee: Name | None
    comment: Comment | None = None


class CommentRequest(_Request):
    """Add a note, in any state (evidence found after the alert was resolved included)."""

    comment: Comment


class ResolveRequest(_Request):
    """Close the alert by hand, saying why (mandatory)."""

    reason: Comment


def _fields(
    row: object, model: type[BaseModel], skip: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    return {name: getattr(row, name) for name in model.model_fields if name not in skip}
