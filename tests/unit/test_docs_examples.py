"""The product's documents say what the code does: their examples and tables are checked here.

A fenced block in `docs/wire-format.md`, `docs/manifest.md` or `docs/alerts.md` is checked when
its info string names what it is: ```` ```json wire ```` (a tracker message the decoder takes
without a reject; ``reject=REASON`` after it: one it rejects for that reason), ```` ```json
manifest ```` (a manifest file), ```` ```json shipment ```` (one element, the body of
``POST /shipments``), ```` ```json alert ```` (a backtest alert event), ```` ```json
alert-mqtt ```` (an MQTT alert payload) and ```` ```text influx-alert ```` (the ``alerts`` point
of the MQTT payload before it). Tables marked with an HTML comment are compared with the
constants they copy. The README and the documents link only to files in the repository.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from api.delivery import alert_point, mqtt_messages
from api.models import Alert, AlertHistory
from api.schemas_shipments import ShipmentCreate
from api.timeline import action_payload, detector_payload
from detectors.alerts import KINDS, SEVERITIES, AlertEvent
from detectors.profiles import PROFILES, Profile, parse_manifest, parse_shipment
from detectors.registry import policies
from detectors.risk import KIND_POINTS
from ingest.decode import decode
from simulators.scoring_input import parse_label

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CHECKED_DOCS = ("wire-format.md", "manifest.md", "alerts.md")
_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR_FUTURE_MS = 2**62


class Block(NamedTuple):
    doc: str
    line: int
    lang: str
    tags: tuple[str, ...]
    text: str

    @property
    def where(self) -> str:
        return f"docs/{self.doc}:{self.line}"


def _blocks(doc: str) -> list[Block]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        words = m[1].split()
        lang, tags = (words[0], tuple(words[1:])) if words else ("", ())
        out.append(Block(doc, text.count("\n", 0, m.start()) + 1, lang, tags, m[2]))
    return out


ALL_BLOCKS = [b for doc in CHECKED_DOCS for b in _blocks(doc)]


def _examples(kind: str, lang: str = "json") -> list[Any]:
    found = [b for b in ALL_BLOCKS if b.lang == lang and b.tags[:1] == (kind,)]
    assert found, f"no ```{lang} {kind} example in the documents"
    return [pytest.param(b, id=b.where) for b in found]


def _ms(text: str) -> int:
    return (datetime.fromisoformat(text.replace("Z", "+00:00")) - _EPOCH) // timedelta(
        milliseconds=1
    )


def _reject_reason(block: Block) -> str | None:
    for tag in block.tags[1:]:
        if tag.startswith("reject="):
            return tag.removeprefix("reject=")
    return None


# --- every JSON example is a checked one ---------------------------------------------------------


@pytest.mark.parametrize("doc", CHECKED_DOCS)
def test_every_json_example_says_what_it_is_so_it_is_checked(doc):
    unmarked = [b.where for b in _blocks(doc) if b.lang == "json" and not b.tags]
    assert not unmarked, f"mark these ```json blocks (wire, manifest, alert, ...): {unmarked}"


# --- wire format ---------------------------------------------------------------------------------


def _wire_elements(block: Block) -> list[dict[str, Any]]:
    doc = json.loads(block.text)
    return doc if isinstance(doc, list) else [doc]


@pytest.mark.parametrize("block", _examples("wire"))
def test_a_wire_example_is_decoded_as_the_document_says(block):
    elements = _wire_elements(block)
    topic = f"cargo/v1/{elements[0]['device_id']}/telemetry"
    payload = block.text.encode()
    reason = _reject_reason(block)
    if reason is not None:
        decoded = decode(topic, payload, _FAR_FUTURE_MS, max_age_ms=None)
        assert [r.reason for r in decoded.rejects] == [reason], block.where
        assert decoded.readings == [], block.where
        return
    # Judged at the time of its newest reading, with the ingester's default age bound.
    first = decode(topic, payload, _FAR_FUTURE_MS, max_age_ms=None)
    assert first.rejects == [], block.where
    now_ms = max(r.ts_ms for r in first.readings)
    decoded = decode(topic, payload, now_ms)
    assert decoded.rejects == [] and decoded.more_rejects == {}, block.where
    assert decoded.unknown_fields == [], block.where
    assert len(decoded.readings) == len(elements), block.where


# --- manifest ------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", _examples("manifest"))
def test_a_manifest_example_is_a_manifest_the_detectors_take(block):
    doc = json.loads(block.text)
    assert len(parse_manifest(doc)) == len(doc["shipments"]), block.where


@pytest.mark.parametrize("block", _examples("shipment"))
def test_a_shipment_example_is_a_body_post_shipments_takes(block):
    element = json.loads(block.text)
    assert parse_shipment(element).shipment_id == element["shipment_id"], block.where
    assert ShipmentCreate.model_validate(element).manifest() is not None, block.where


def _table_after(doc: str, marker: str) -> list[list[str]]:
    """The rows of the Markdown table following `<!-- marker ... -->`, header first."""
    lines = (DOCS / doc).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"<!-- {marker}"))
    rows = []
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not all(set(c) <= set("-: ") for c in cells):
            rows.append(cells)
    return rows


def _profile_cell(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, tuple):
        return "[" + ", ".join(f"{x:g}" for x in v) + "]"
    return f"{v:g}"


def test_the_profiles_table_holds_the_values_of_the_code():
    header, *rows = _table_after("manifest.md", "profiles table")
    fields = [f.name for f in dataclasses.fields(Profile) if f.name != "name"]
    assert header == ["profile", *(f"`{f}`" for f in fields)]
    expected = [
        [f"`{p.name}`", *(_profile_cell(getattr(p, f)) for f in fields)] for p in PROFILES.values()
    ]
    assert rows == expected


def test_the_readmes_label_example_is_one_the_scorer_takes():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text[text.index("The labels file holds one JSON object per line") :]
    block = re.search(r"```json\n(.*?)```", after, re.S)
    assert block is not None
    label = parse_label(json.loads(block[1]), "README")
    assert (label.device_id, label.kinds, label.scenario) == (
        "trk-00001",
        ("temp_breach_predicted", "temp_excursion"),
        "reefer_failure",
    )
    assert label.breach_at_ms is not None and label.start_ms < label.breach_at_ms < label.end_ms


# --- alerts --------------------------------------------------------------------------------------


def _event(payload: dict[str, Any]) -> AlertEvent:
    breach = payload.get("predicted_breach_at")
    return AlertEvent(
        event=payload["event"],
        alert_id=payload["alert_id"],
        kind=payload["kind"],
        severity=payload["severity"],
        device_id=payload["device_id"],
        shipment_id=payload["shipment_id"],
        at_ms=_ms(payload["at"]),
        summary=payload["summary"],
        evidence=payload["evidence"],
        value=payload.get("value"),
        predicted_breach_at_ms=_ms(breach) if breach else None,
        confidence=payload.get("confidence"),
        seq=payload["seq"],
    )


def _check_vocabulary(payload: dict[str, Any], where: str) -> None:
    assert payload["kind"] in KINDS, where
    assert payload["severity"] in SEVERITIES, where
    assert re.fullmatch(r"al_[0-9a-f]{16}", payload["alert_id"]), where
    if payload["event"] == "open":
        # An alert's id is a digest of its device, kind and opening time.
        key = f"{payload['device_id']}|{payload['kind']}|{_ms(payload['at'])}".encode()
        digest = hashlib.sha1(key, usedforsecurity=False).hexdigest()[:16]
        assert payload["alert_id"] == f"al_{digest}", where


@pytest.mark.parametrize("block", _examples("alert"))
def test_an_alert_example_is_exactly_what_the_backtest_writes(block):
    payload = json.loads(block.text)
    _check_vocabulary(payload, block.where)
    assert payload["event"] in ("open", "update", "resolve"), block.where
    written = _event(payload).to_json()
    assert list(written) == list(payload), block.where
    assert written == payload, block.where


def _mqtt_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """What the delivery would send for the entry the example describes."""
    if payload["event"] in ("open", "update", "resolve"):
        return detector_payload(
            _event(payload), payload["seq"], payload["history_seq"], payload["state"]
        )
    alert = Alert(
        alert_id=payload["alert_id"],
        kind=payload["kind"],
        severity=payload["severity"],
        device_id=payload["device_id"],
        shipment_id=payload["shipment_id"],
        state=payload["state"],
        summary=payload["summary"],
    )
    entry = AlertHistory(
        seq=payload["history_seq"],
        action=payload["event"],
        actor=payload["actor"],
        at=datetime.fromisoformat(payload["at"].replace("Z", "+00:00")),
        comment=payload["comment"],
        assignee=payload["assignee"],
    )
    return action_payload(alert, entry)


@pytest.mark.parametrize("block", _examples("alert-mqtt"))
def test_an_mqtt_alert_example_is_exactly_what_the_delivery_sends(block):
    payload = json.loads(block.text)
    _check_vocabulary(payload, block.where)
    assert payload["state"] in ("open", "acknowledged", "resolved"), block.where
    sent = _mqtt_payload(payload)
    assert sorted(sent) == sorted(payload), block.where
    assert sent == payload, block.where


def _messages_cell(payload: dict[str, Any]) -> str:
    said = []
    for _, body, retain in mqtt_messages(payload):
        what = "the payload" if body else "an empty payload"
        said.append(f"{what}, {'retained' if retain else 'not retained'}")
    return "; then ".join(said)


def test_the_mqtt_messages_table_says_what_the_delivery_sends_for_each_entry():
    header, *rows = _table_after("alerts.md", "mqtt messages table")
    assert header[1] == "messages on `cargo/v1/alerts/{device_id}/{kind}`"
    assert rows, "the table has no rows"
    for entry, said in rows:
        event, state = (word.strip("` ") for word in entry.split(","))
        payload = {"event": event, "state": state, "device_id": "trk-1", "kind": "door_open"}
        assert said == _messages_cell(payload), entry
        assert {t for t, _, _ in mqtt_messages(payload)} == {"cargo/v1/alerts/trk-1/door_open"}


@pytest.mark.parametrize("block", _examples("influx-alert", lang="text"))
def test_an_influx_alert_example_is_the_point_of_the_mqtt_example_before_it(block):
    before = [
        b
        for b in ALL_BLOCKS
        if b.doc == block.doc and b.line < block.line and b.tags[:1] == ("alert-mqtt",)
    ]
    assert before, f"{block.where}: no alert-mqtt example before it"
    assert block.text.strip() == alert_point(json.loads(before[0].text)), block.where


def test_the_kinds_table_lists_every_kind_with_its_quiet_period_and_risk_points():
    header, *rows = _table_after("alerts.md", "kinds table")
    assert header[0] == "kind" and "quiet period" in header[3] and header[4] == "risk points"
    assert [r[0] for r in rows] == [f"`{k}`" for k in KINDS]
    damping = policies(
        parse_shipment({"shipment_id": "S", "device_id": "d", "profile": "vaccine_2_8"})
    )
    for kind, row in zip(KINDS, rows, strict=True):
        assert float(row[3]) == damping[kind].resolve_after_ms / 60_000, kind
        assert float(row[4]) == KIND_POINTS[kind], kind


# --- what the documents point at -----------------------------------------------------------------

PRODUCT_DOCS = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in PRODUCT_DOCS])
def test_the_product_docs_do_not_point_outside_the_repository(path):
    text = path.read_text(encoding="utf-8")
    assert "ARCHITECTURE.md" not in text, path.name
    assert "../shared" not in text, path.name


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in PRODUCT_DOCS])
def test_every_relative_link_in_the_product_docs_names_a_file_that_exists(path):
    text = path.read_text(encoding="utf-8")
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part) if file_part else path
        unknown_anchor = bool(anchor) and linked.is_file() and anchor not in _anchors(linked)
        if not linked.exists() or unknown_anchor:
            missing.append(target)
    assert not missing, f"{path.name} links to {missing}"


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {
        re.sub(r"[^\w\- ]", "", m[1].strip().lower()).replace(" ", "-")
        for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)
    }
