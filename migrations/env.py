"""Alembic environment: runs on a connection handed over by ``hub.migrate``."""

from __future__ import annotations

from alembic import context

import catalog.sync_models  # noqa: F401  (its tables belong to the metadata too)
from catalog.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `hub db upgrade`, which supplies the connection")
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
