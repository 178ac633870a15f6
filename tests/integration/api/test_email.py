"""E-mail end to end on SQLite and PostgreSQL: a key's preferences set through the API, alert
entries fanned out to e-mail deliveries in the transaction that records them, and the e-mail
worker sending them to a real SMTP server started by the test (aiosmtpd) that refuses, goes
down and comes back. Each message has a text and an HTML part with the summary, the evidence,
the severity, the shipment and device and a link to the alert; every delivery arrives under its
own stable Message-ID; one that outlives its deadline is dead-lettered, listed and redelivered
by an admin. Time for retries is a clock the test moves; nothing sleeps."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_world import SHIPMENTS, World, event
from manual_clock import ManualClock
from services import free_port
from smtp_server import SmtpServer
from sqlalchemy import select

from api.email_sender import EmailSender, SmtpOptions
from api.models_notify import EmailDelivery
from api.store import record_events

pytestmark = pytest.mark.integration

CONSOLE = "https://console.example.com"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def start_sender(world: World, clock: ManualClock) -> Iterator[Callable[..., EmailSender]]:
    started: list[EmailSender] = []

    def start(port: int, **options: Any) -> EmailSender:
        settings = {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "alerts@cargowatch.example.com",
            "console_url": CONSOLE,
            "timeout_s": 5.0,
            "backoff_base_s": 1.0,
            "backoff_max_s": 120.0,
            "poll_s": 0.01,
            **options,
        }
        sender = EmailSender(world.sessions, SmtpOptions(**settings), clock=clock)
        sender.start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        assert sender.stop(timeout_s=10)


def prefer(world: World, who: str, key: str = "me", **body: Any) -> dict:
    response = world.client.put(f"/preferences/{key}", json=body, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def open_alert(world: World, shipment_id: str, name: str, **kw: Any) -> None:
    device = SHIPMENTS[shipment_id][1]
    record_events(world.sessions, [(event(shipment_id, device, name, **kw), 1)])


def email_rows(world: World) -> list[EmailDelivery]:
    with world.sessions() as session:
        return list(session.scalars(select(EmailDelivery).order_by(EmailDelivery.id)))


def drive(wait_for, clock: ManualClock, sender: EmailSender, condition, step_s=30.0) -> None:
    """Move the worker's clock on until `condition` holds: each backoff passes in a step."""

    def step() -> bool:
        if condition():
            return True
        clock.advance(step_s)
        sender.wake()
        return False

    wait_for(step, timeout_s=60)


def parts(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def test_an_alert_opening_is_emailed_with_both_parts_the_evidence_and_a_link(
    world, smtp, start_sender, clock, wait_for
):
    prefer(world, "operator", email="ops@acme.example.com")
    open_alert(world, "SHP-A1", "al_mail_1", severity="critical")
    [row] = email_rows(world)
    assert (row.address, row.reason, row.alert_id) == ("ops@acme.example.com", "alert", "al_mail_1")

    sender = start_sender(smtp.port)
    drive(wait_for, clock, sender, lambda: len(smtp.received()) == 1)
    [message] = smtp.received()
    text, html = parts(message)
    assert message["To"] == "ops@acme.example.com"
    assert message["Subject"] == "[CRITICAL] seal_breach on SHP-A1: opened"
    assert message["X-CargoWatch-Event-Id"] == f"al_mail_1.{row.history_seq}"
    assert (
        message["Message-ID"] == f"<{row.id}.al_mail_1%2E{row.history_seq}@cargowatch.example.com>"
    )
    link = f"{CONSOLE}/alerts/al_mail_1"
    for body in (text, html):
        assert "secret summary of al_mail_1" in body
        assert "critical" in body and "SHP-A1" in body and "trk-a1" in body
        assert link in body
    # The evidence ({"seal": "open", "device": "trk-a1"}) as lines and as table rows.
    assert "seal: open" in text and "device: trk-a1" in text
    assert '<tr><th align="left">seal</th><td>open</td></tr>' in html
    wait_for(lambda: email_rows(world)[0].delivered_at is not None)


def test_preferences_choose_what_is_emailed_by_severity_kind_and_channel(world, smtp):
    prefer(world, "operator", email="crit@acme.example.com", min_severity="critical")
    prefer(
        world, "viewer", email="seal@acme.example.com", min_severity="info", kinds=["seal_breach"]
    )
    prefer(
        world,
        "admin",
        key=_prefix(world, "other_operator"),
        email="g@globex.example.com",
        channels=[],
    )
    open_alert(world, "SHP-A1", "al_warn", severity="warning")
    open_alert(world, "SHP-A2", "al_temp", severity="critical", kind="temp_excursion")
    open_alert(world, "SHP-G1", "al_globex", severity="critical")
    sent = {(r.alert_id, r.address) for r in email_rows(world)}
    assert sent == {("al_warn", "seal@acme.example.com"), ("al_temp", "crit@acme.example.com")}


def _prefix(world: World, who: str) -> str:
    return world.keys[who].split("_")[1]


@pytest.mark.parametrize(
    "who, key, status",
    [
        pytest.param("viewer", "me", 200, id="a viewer key sets its own preferences"),
        pytest.param("viewer", "operator", 403, id="a viewer key may not set another key's"),
        pytest.param("operator", "viewer", 403, id="an operator key may not set another key's"),
        pytest.param("admin", "viewer", 200, id="an admin key sets another key's"),
    ],
)
def test_a_key_manages_its_own_preferences_and_an_admin_anyones(world, who, key, status):
    path = "me" if key == "me" else _prefix(world, key)
    response = world.client.put(
        f"/preferences/{path}", json={"email": "x@example.com"}, headers=world.headers(who)
    )
    assert response.status_code == status, response.text


def test_a_server_that_refuses_then_is_down_then_back_gets_each_delivery_once(
    world, smtp, start_sender, clock, wait_for
):
    prefer(world, "operator", email="ops@acme.example.com")
    prefer(world, "viewer", email="viewer@acme.example.com")
    smtp.refusing = True
    for n in range(3):
        open_alert(world, "SHP-A1", f"al_flaky_{n}")
    rows = email_rows(world)
    assert len(rows) == 6
    sender = start_sender(smtp.port)
    drive(wait_for, clock, sender, lambda: smtp.refused >= 6)
    smtp.stop()
    failed = sender.failed_attempts
    drive(wait_for, clock, sender, lambda: sender.failed_attempts >= failed + 6)
    assert smtp.received() == []
    smtp.refusing = False
    smtp.start()
    drive(wait_for, clock, sender, lambda: all(r.delivered_at for r in email_rows(world)))

    received = smtp.received()
    ids = [m["Message-ID"] for m in received]
    assert len(ids) == len(set(ids)) == len(rows)
    assert {m["X-CargoWatch-Event-Id"] for m in received} == {
        f"{r.alert_id}.{r.history_seq}" for r in rows
    }
    assert sorted(int(i[1:].split(".")[0]) for i in ids) == [r.id for r in rows]


def test_an_address_that_keeps_refusing_does_not_hold_back_mail_to_others(
    world, smtp, start_sender, clock, wait_for
):
    prefer(world, "operator", email="full@acme.example.com")
    prefer(world, "viewer", email="seal@acme.example.com", kinds=["door_open"])
    smtp.refusing_recipients = {"full@acme.example.com"}
    # A backlog for the refusing address longer than what the worker reads in one pass...
    for n in range(8):
        open_alert(world, "SHP-A1", f"al_full_{n}")
    # ...then one alert both keys want.
    open_alert(world, "SHP-A1", "al_door", kind="door_open", severity="warning")
    # A deadline far beyond the test, so the backlog can only be passed, never dead-lettered.
    sender = start_sender(smtp.port, batch=3, deadline_s=10 * 86_400)
    drive(wait_for, clock, sender, lambda: len(smtp.received()) == 1)
    (message,) = smtp.received()
    assert message["To"] == "seal@acme.example.com"
    full = [r for r in email_rows(world) if r.address.startswith("full")]
    assert all(r.delivered_at is None and r.dead_at is None for r in full)


def test_a_delivery_past_its_deadline_is_dead_lettered_listed_and_redelivered_by_an_admin(
    world, smtp, start_sender, clock, wait_for
):
    prefer(world, "operator", email="ops@acme.example.com")
    open_alert(world, "SHP-A1", "al_dead")
    smtp.stop()
    sender = start_sender(smtp.port, deadline_s=120.0)
    drive(wait_for, clock, sender, lambda: email_rows(world)[0].dead_at is not None)
    listed = world.client.get("/email/deliveries?state=dead", headers=world.headers("operator"))
    assert listed.status_code == 200
    [dead] = listed.json()["data"]
    assert dead["alert_id"] == "al_dead" and dead["state"] == "dead" and dead["last_error"]

    path = f"/email/deliveries/{dead['id']}/redeliver"
    assert world.client.post(path, headers=world.headers("operator")).status_code == 403
    smtp.start()
    again = world.client.post(path, headers=world.headers("admin"))
    assert again.status_code == 200 and again.json()["state"] == "pending"
    clock.set(max(clock.now, email_rows(world)[0].next_attempt_at))
    sender.wake()
    wait_for(lambda: len(smtp.received()) == 1)
    wait_for(lambda: email_rows(world)[0].delivered_at is not None)


def _self_signed(tmp_path) -> tuple[str, str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_starttls_and_login_are_used_and_a_wrong_password_is_retried_not_delivered(
    world, start_sender, clock, wait_for, tmp_path
):
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server = SmtpServer(free_port(), tls_context=server_tls, logins={"cw": "s3cret"})
    server.start()
    try:
        prefer(world, "operator", email="ops@acme.example.com")
        open_alert(world, "SHP-A1", "al_tls")
        client_tls = ssl.create_default_context(cafile=cert)
        wrong = start_sender(
            server.port, security="starttls", username="cw", password="nope", tls_context=client_tls
        )
        drive(wait_for, clock, wrong, lambda: wrong.failed_attempts >= 2)
        assert server.received() == [] and email_rows(world)[0].last_error.startswith(
            "login refused"
        )
        assert wrong.stop(timeout_s=10)
        right = start_sender(
            server.port,
            security="starttls",
            username="cw",
            password="s3cret",
            tls_context=client_tls,
        )
        drive(wait_for, clock, right, lambda: len(server.received()) == 1)
        assert "al_tls" in server.received()[0]["X-CargoWatch-Event-Id"]
    finally:
        server.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_implicit_tls_is_spoken_from_the_first_byte(world, start_sender, clock, wait_for, tmp_path):
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server = SmtpServer(free_port(), tls_context=server_tls, implicit_tls=True)
    server.start()
    try:
        prefer(world, "operator", email="ops@acme.example.com")
        open_alert(world, "SHP-A1", "al_smtps")
        sender = start_sender(
            server.port, security="tls", tls_context=ssl.create_default_context(cafile=cert)
        )
        drive(wait_for, clock, sender, lambda: len(server.received()) == 1)
    finally:
        server.stop()


def test_deliveries_a_stopped_worker_left_pending_go_out_from_the_next_one(
    world, smtp, start_sender, clock, wait_for
):
    prefer(world, "operator", email="ops@acme.example.com")
    smtp.stop()
    for n in range(3):
        open_alert(world, "SHP-A1", f"al_restart_{n}")
    first = start_sender(smtp.port)
    drive(wait_for, clock, first, lambda: first.failed_attempts >= 3)
    assert first.stop(timeout_s=10)
    smtp.start()
    second = start_sender(smtp.port)
    drive(wait_for, clock, second, lambda: all(r.delivered_at for r in email_rows(world)))
    assert sorted(m["X-CargoWatch-Event-Id"] for m in smtp.received()) == sorted(
        f"{r.alert_id}.{r.history_seq}" for r in email_rows(world)
    )
