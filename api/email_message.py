"""An alert notice as an e-mail: a plain-text part and an HTML part with the same content (the
summary, the severity, the shipment and device, the evidence as a table, a link to the alert in
the console). Pure: the sender (`api.email_sender`) gives it what to say and to whom.

The ``Message-ID`` is made from the delivery's id and its history entry's event id
(``{alert_id}.{history_seq}``, the webhook id of the same entry), so every attempt at one delivery
carries the same one and a receiver, or a test, can drop repeats.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import quote

import orjson

#: What each kind of entry says in the subject line.
_VERBS: Final = {
    "open": "opened",
    "update": "updated",
    "resolve": "resolved",
    "close": "closed",
    "escalate": "escalated",
    "remind": "still unacknowledged",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One history entry of an alert, as an e-mail tells it."""

    delivery_id: int
    alert_id: str
    history_seq: int
    action: str
    kind: str
    severity: str
    state: str
    device_id: str
    shipment_id: str | None
    summary: str
    evidence: Mapping[str, Any]
    at: datetime
    #: The escalation level, for escalations and reminders.
    level: int | None = None

    @property
    def event_id(self) -> str:
        return f"{self.alert_id}.{self.history_seq}"


def message_id(notice: Notice, domain: str) -> str:
    """A Message-ID stable across attempts; the event id escaped to what the header allows.

    >>> message_id(Notice(7, "trk-1:temp:1", 3, "open", "k", "info", "open", "d", None, "s",
    ...                   {}, datetime(2025, 1, 1)), "example.com")
    '<7.trk-1%3Atemp%3A1%2E3@example.com>'
    """
    local = quote(notice.event_id, safe="").replace(".", "%2E")
    return f"<{notice.delivery_id}.{local}@{domain}>"


def subject(notice: Notice) -> str:
    where = notice.shipment_id or notice.device_id
    verb = _VERBS.get(notice.action, notice.action)
    level = f" (level {notice.level})" if notice.level is not None else ""
    return f"[{notice.severity.upper()}] {notice.kind} on {where}: {verb}{level}"


def evidence_rows(evidence: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The evidence as (name, value) rows; nested values as compact JSON, long ones cut.

    >>> evidence_rows({"temp_c": 9.1, "readings": [[1, 2.5]]})
    [('temp_c', '9.1'), ('readings', '[[1,2.5]]')]
    """
    rows = []
    for name, value in evidence.items():
        text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
        rows.append((str(name), text if len(text) <= 500 else text[:499] + "…"))
    return rows


def build(
    notice: Notice, *, sender: str, recipient: str, console_url: str, domain: str
) -> EmailMessage:
    """The e-mail for `notice` to `recipient`, with its text and HTML parts."""
    link = f"{console_url.rstrip('/')}/alerts/{quote(notice.alert_id, safe='')}"
    facts = [
        ("Severity", notice.severity),
        ("Kind", notice.kind),
        ("State", notice.state),
        ("Shipment", notice.shipment_id or "-"),
        ("Device", notice.device_id),
        ("At", notice.at.isoformat()),
        ("Alert", notice.alert_id),
    ]
    if notice.level is not None:
        facts.append(("Escalation level", str(notice.level)))
    rows = evidence_rows(notice.evidence)
    message = EmailMessage()
    message["Subject"] = subject(notice)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(notice.at)
    message["Message-ID"] = message_id(notice, domain)
    message["X-CargoWatch-Event-Id"] = notice.event_id
    message.set_content(_text(notice, facts, rows, link))
    message.add_alternative(_html(notice, facts, rows, link), subtype="html")
    return message


def _text(
    notice: Notice, facts: list[tuple[str, str]], rows: list[tuple[str, str]], link: str
) -> str:
    lines = [notice.summary, ""]
    lines += [f"{name}: {value}" for name, value in facts]
    if rows:
        lines += ["", "Evidence:"]
        lines += [f"  {name}: {value}" for name, value in rows]
    lines += ["", f"Open the alert: {link}", ""]
    return "\n".join(lines)


def _html(
    notice: Notice, facts: list[tuple[str, str]], rows: list[tuple[str, str]], link: str
) -> str:
    e = html.escape

    def table(pairs: list[tuple[str, str]]) -> str:
        body = "".join(f'<tr><th align="left">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in pairs)
        return f"<table>{body}</table>"

    parts = [
        "<!DOCTYPE html><html><body>",
        f"<p><strong>{e(notice.summary)}</strong></p>",
        table(facts),
    ]
    if rows:
        parts += ["<h3>Evidence</h3>", table(rows)]
    parts += [f'<p><a href="{e(link)}">Open the alert</a></p>', "</body></html>"]
    return "\n".join(parts)
