"""Alembic environment: migrations always run on a connection handed over by `db.migrate`.

There is no alembic.ini and no logging set-up here; the backend runs `upgrade head` itself at
start-up (see `medipay_backend.db.migrate`). Offline (SQL script) mode needs a URL in the
`sqlalchemy.url` main option.
"""

from __future__ import annotations

from alembic import context

from medipay_backend.models import Base

config = context.config
target_metadata = Base.metadata

if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through medipay_backend.db.migrate()")
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
