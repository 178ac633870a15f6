"""An Atom 1.0 feed of alerts' current CAP messages, the way CAP aggregators poll for them.

One entry per alert, newest changed first: its ``id`` is a UUID derived from the current CAP
message's identifier, so every new message of an alert is a new entry to a feed reader, and its
``link`` (``rel="alternate"``, ``application/cap+xml``) is the alert's ``/alerts/{id}.cap``,
which serves that message. The entry's title is the kind and the summary. Strings pass through
`api.cap.xml_text` like the messages', since summaries come from device data. Pure: the caller
gives the alerts, the feed's own URL and the base the links are built on; it reads them newest
changed first through the alerts' ``(updated_at, alert_id)`` index (behind the organisation for
an operator's feed), so a poll reads `limit` index entries, not every alert.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

from api.cap import CAP_KINDS, MEDIA_TYPE, SENDER_NAME, UNKNOWN_KIND, identifier, xml_text
from api.models import Alert

ATOM_NS: Final = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE: Final = "application/atom+xml"
#: The namespace feed and entry UUIDs are derived in, so they are the same on every server.
_IDS: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:cargowatch:cap")


def atom_time(at: datetime) -> str:
    """RFC 3339 in UTC, as Atom's date constructs want it.

    >>> atom_time(datetime(2026, 11, 22, 14, 3, 10, 250_000, tzinfo=UTC))
    '2026-11-22T14:03:10.250000Z'
    """
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cap_path(alert_id: str) -> str:
    """The path of an alert's CAP message, its id escaped for a URL.

    >>> cap_path("al_53b857b7b5a07420")
    'alerts/al_53b857b7b5a07420.cap'
    """
    return f"alerts/{quote(alert_id, safe='')}.cap"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = xml_text(text)
    return element


def atom_feed(alerts: Sequence[Alert], *, self_url: str, base_url: str, now: datetime) -> bytes:
    """The feed of `alerts` (newest first); `base_url` ends with ``/``; `now` dates an empty
    feed, otherwise the feed is as new as its newest entry."""
    # Unqualified names under an xmlns attribute: ElementTree's default_namespace option
    # refuses the unqualified attributes (rel, href) every Atom link has.
    feed = ET.Element("feed", xmlns=ATOM_NS)
    _sub(feed, "id", _IDS.urn)
    _sub(feed, "title", f"{SENDER_NAME} alerts (CAP 1.2)")
    newest = max((alert.updated_at for alert in alerts), default=now)
    _sub(feed, "updated", atom_time(newest))
    author = _sub(feed, "author")
    _sub(author, "name", SENDER_NAME)
    _sub(feed, "link", rel="self", type=ATOM_MEDIA_TYPE, href=xml_text(self_url))
    for alert in alerts:
        message = identifier(alert.alert_id, alert.history_length)
        event = CAP_KINDS.get(alert.kind, UNKNOWN_KIND).event
        entry = _sub(feed, "entry")
        _sub(entry, "id", uuid.uuid5(_IDS, message).urn)
        _sub(entry, "title", f"{event} ({alert.severity}, {alert.state}): {alert.summary}")
        _sub(entry, "updated", atom_time(alert.updated_at))
        _sub(entry, "published", atom_time(alert.opened_at))
        href = xml_text(base_url + cap_path(alert.alert_id))
        _sub(entry, "link", rel="alternate", type=MEDIA_TYPE, href=href)
        _sub(entry, "summary", alert.summary)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
