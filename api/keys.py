"""Organisations and their API keys.

A key is ``cw_<prefix>_<secret>``: 256 random bits, of which the store keeps only the SHA-256
and the short public prefix that names the key in listings and logs. A key this random needs
no salt or slow hash (nothing to guess), and hashing it means a copy of the database grants
nothing. The whole key is shown once, when it is created.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import secrets
import sys
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import ROLES, ApiKey, Organisation, utcnow

KEY_PREFIX: Final = "cw_"


def create_organisation(session: Session, name: str) -> Organisation:
    """A new organisation; its name must be unique."""
    organisation = Organisation(name=name, created_at=utcnow())
    session.add(organisation)
    session.flush()
    return organisation


def hash_key(key: str) -> str:
    """The stored form of a key: hex SHA-256 of the whole key.

    >>> len(hash_key("cw_abcd1234_x"))
    64
    """
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session, organisation_id: int, role: str, name: str
) -> tuple[ApiKey, str]:
    """A new key for the organisation with `role`; returns the row and the key (shown once)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        organisation_id=organisation_id,
        prefix=prefix,
        key_hash=hash_key(key),
        role=role,
        name=name,
        created_at=utcnow(),
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    return row, key


def api_key_for(session: Session, key: str) -> ApiKey | None:
    """The unrevoked key row `key` is, or None."""
    parts = key.split("_", 2)  # the secret itself may contain "_"
    if len(parts) != 3 or f"{parts[0]}_" != KEY_PREFIX:
        return None
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == parts[1])).one_or_none()
    # Looked up by the public prefix, compared in constant time, so response times do not
    # tell an attacker how much of a hash they matched.
    if row is None or not hmac.compare_digest(row.key_hash, hash_key(key)):
        return None
    return None if row.revoked_at is not None else row


def revoke_api_key(session: Session, prefix: str) -> bool:
    """Revoke the key with `prefix`; False when there is no such unrevoked key."""
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.flush()
    return True


def organisation_for(session: Session, name: str) -> Organisation:
    """The organisation called `name`, created when there is none."""
    found = session.scalars(select(Organisation).where(Organisation.name == name)).one_or_none()
    return found if found is not None else create_organisation(session, name)


def run_command(args: argparse.Namespace, db_url: str) -> int:
    """``cargowatch keys create|revoke``: the new key alone on stdout, the rest on stderr."""
    # Imported here: the key commands need the store, the rest of this module does not.
    from api.db import StoreUnavailable, make_engine, session_factory, write_transaction
    from api.schema import SchemaNotCurrent, require_current_schema

    engine = make_engine(db_url)
    try:
        require_current_schema(engine)
        with write_transaction(session_factory(engine)) as session:
            if args.keys_command == "create":
                organisation = organisation_for(session, args.org)
                name = args.name or f"{args.role}@{args.org}"
                row, key = create_api_key(session, organisation.id, args.role, name)
                print(key)
                print(
                    f"created {row.role} key {row.prefix} ({name}) for {organisation.name}; "
                    "it is shown only this once",
                    file=sys.stderr,
                )
                return 0
            if revoke_api_key(session, args.prefix):
                print(f"revoked key {args.prefix}", file=sys.stderr)
                return 0
            print(f"cargowatch: no unrevoked key with prefix {args.prefix!r}", file=sys.stderr)
            return 1
    except (SchemaNotCurrent, StoreUnavailable) as exc:
        print(f"cargowatch: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
