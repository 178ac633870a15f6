"""The HTTP side of CargoWatch: the SQL store of record and, to come, the FastAPI app and alert
delivery.

The store (SQLite by default, PostgreSQL supported) holds what people act on: organisations and
their hashed API keys (`api.keys`), versioned shipments (`api.shipments`), and alerts with an
append-only history of detector events and human actions plus the delivery outbox written in the
same transactions (`api.store`, `api.actions`, payloads in `api.timeline`). Tables are typed
models in `api.models`; the schema is created and changed only by the Alembic migrations in
``api/migrations``, run by ``cargowatch db upgrade`` (`api.schema`); engines and transactions
come from `api.db`.
"""
