"""A real SMTP server for the tests (aiosmtpd), on a loopback port, that fails on purpose.

Every message it accepts is parsed and kept in `messages`. While `refusing` is set it answers
the message with ``451`` (try again later); `stop` takes it off the network (connections are
refused) and `start` brings it back on the same port. With a TLS context it offers STARTTLS
and requires it (or, with `implicit_tls`, speaks TLS from the first byte), and with `logins` it requires AUTH with one of those user/password pairs.
"""

from __future__ import annotations

import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class SmtpServer:
    def __init__(
        self,
        port: int,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        logins: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.refusing = False
        self.refused = 0
        #: Recipients whose mail is answered 451, as a full mailbox or greylisting would be.
        self.refusing_recipients: set[str] = set()
        self._tls = tls_context
        self._implicit = implicit_tls
        self._logins = logins
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd calls it by this name
        with self._lock:
            if self.refusing or self.refusing_recipients & set(envelope.rcpt_tos):
                self.refused += 1
                return "451 4.3.0 not now, try again later"
            message = message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 2.0.0 accepted"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self._logins is not None:
            user, password = data.login.decode(), data.password.decode()
            return AuthResult(success=self._logins.get(user) == password, handled=False)
        return AuthResult(success=False, handled=False)

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self._tls is not None and self._implicit:
            options.update(ssl_context=self._tls)
        elif self._tls is not None:
            options.update(tls_context=self._tls, require_starttls=True)
        if self._logins is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=self._tls is not None,
            )
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)
