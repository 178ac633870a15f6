"""Raises the commit signal (`api.commit_signal`) whenever a transaction that added something
to deliver commits, whoever wrote it: the detectors' alert events, an operator's ack, comment or
close through the HTTP API, the escalation worker's notices, an admin's redelivery.

`notify_on_commit` hooks a session factory: rows inserted into the outbox, the webhook
deliveries or the e-mail deliveries (through the ORM or a Core ``insert`` run by the session),
and delivery rows put back in line without an attempt (an admin's redeliver: ``next_attempt_at``
changes while ``attempts`` does not) mark the session; when its transaction commits, `notify`
is called once, and a rollback forgets the mark. The workers' own outcomes (every one counts an
attempt, or is a Core ``update``) do not mark it, so a pass never wakes the workers again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

#: The tables the delivery workers send from.
DELIVERY_TABLES: Final = frozenset({"outbox", "webhook_deliveries", "email_deliveries"})
_MARK: Final = "cargowatch_deliverable"


def notify_on_commit(sessions: sessionmaker[Session], notify: Callable[[], None]) -> None:
    """Call `notify` after each commit, by a session of `sessions`, that added deliveries."""

    def on_execute(state: ORMExecuteState) -> None:
        if state.is_insert and _table_of(state.statement) in DELIVERY_TABLES:
            state.session.info[_MARK] = True

    def on_flush(session: Session, flush_context: Any) -> None:
        if any(_is_delivery(o) for o in session.new) or any(_put_back(o) for o in session.dirty):
            session.info[_MARK] = True

    def on_commit(session: Session) -> None:
        if session.info.pop(_MARK, False):
            notify()

    def on_rollback(session: Session) -> None:
        session.info.pop(_MARK, None)

    event.listen(sessions, "do_orm_execute", on_execute)
    event.listen(sessions, "after_flush", on_flush)
    event.listen(sessions, "after_commit", on_commit)
    event.listen(sessions, "after_rollback", on_rollback)


def _table_of(statement: Any) -> str | None:
    table = getattr(statement, "table", None)
    return getattr(table, "name", None)


def _is_delivery(obj: object) -> bool:
    return getattr(type(obj), "__tablename__", None) in DELIVERY_TABLES


def _put_back(obj: object) -> bool:
    """A delivery row due again with no attempt made: what `api.retrying.send_again` does."""
    if not _is_delivery(obj):
        return False
    attrs = inspect(obj).attrs
    return bool(
        attrs.next_attempt_at.history.has_changes() and not attrs.attempts.history.has_changes()
    )
