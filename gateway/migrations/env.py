"""Alembic environment of the gateway journal; migrations run through `gateway.journal.migrate`."""

from __future__ import annotations

from alembic import context

from gateway.journal_schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the journal migrations through gateway.journal.migrate()")
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
