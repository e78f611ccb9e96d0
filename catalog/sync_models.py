"""Tables of connectors and their runs (DESIGN.md §7). The engine in ``connectors/`` writes
them; the API and the command line read them.

Invariants: a connector's definition holds no secret (secrets are one encrypted envelope
beside it); a run's counts, its quarantined rows, its cursor and the record versions of a
batch commit in one transaction; ``search_outbox`` rows are written in the transaction that
writes the versions they announce.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import Base


class Connector(Base):
    """A connector definition as added from its file, without its secrets."""

    __tablename__ = "connectors"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    dataset_code: Mapped[str] = mapped_column(ForeignKey("datasets.code"))
    kind: Mapped[str] = mapped_column(String(16))
    schedule: Mapped[str | None] = mapped_column(Text)
    # The file's content with secret values replaced by "<secret>" markers.
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # One AES-GCM envelope (catalog.crypto) of the JSON object of secret source values.
    secrets: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The cursor of the last committed batch (incremental connectors), as JSON.
    cursor: Mapped[Any | None] = mapped_column(JSONB)
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SyncRun(Base):
    """One run of a connector, or one push batch (``connector`` is then ``push:<dataset>``)."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    connector: Mapped[str] = mapped_column(String(80))
    dataset_code: Mapped[str] = mapped_column(String(63))
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule | api | push
    status: Mapped[str] = mapped_column(String(16))  # RUNNING | SUCCEEDED | FAILED
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    worker: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str | None] = mapped_column(Text)
    read: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    inserted: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    unchanged: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    deleted: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    rejected: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cursor_from: Mapped[Any | None] = mapped_column(JSONB)
    cursor_to: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    unresolved: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    disagreeing: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        Index("ix_sync_runs_connector", "connector", "id"),
        Index("ix_sync_runs_running", "status", postgresql_where="status = 'RUNNING'"),
    )


class QuarantinedRow(Base):
    """A source row that failed validation: kept with the reason and where it came from."""

    __tablename__ = "sync_quarantine"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"))
    connector: Mapped[str] = mapped_column(String(80))
    dataset_code: Mapped[str] = mapped_column(String(63))
    position: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    row: Mapped[dict[str, Any]] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_sync_quarantine_run", "run_id", "id"),)


class ReconciliationFinding(Base):
    """One disagreement with master data found by a run: a reference resolving to nothing in
    the authoritative dataset, or a copied value that differs from the authoritative one."""

    __tablename__ = "sync_reconciliation"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"))
    connector: Mapped[str] = mapped_column(String(80))
    dataset_code: Mapped[str] = mapped_column(String(63))
    field: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(24))  # UNRESOLVED_REFERENCE | DISAGREES
    authority: Mapped[str] = mapped_column(String(63))  # the authoritative dataset
    key: Mapped[str] = mapped_column(Text)  # the record's key in the connector's dataset
    value: Mapped[str | None] = mapped_column(Text)  # the connector's value, as stored

    __table_args__ = (Index("ix_sync_reconciliation_run", "run_id", "id"),)


class SyncRowHash(Base):
    """A digest of a connector's source row as last read and the hash of the record it
    produced: a re-read with the same digest, the record still at that hash, is unchanged."""

    __tablename__ = "sync_row_hashes"

    connector: Mapped[str] = mapped_column(String(63), primary_key=True)
    key: Mapped[str] = mapped_column(Text(collation="C"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    record_hash: Mapped[str] = mapped_column(String(64))


class SearchOutbox(Base):
    """A record version waiting to be indexed (DESIGN.md §8); consumed by the search indexer."""

    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    dataset_code: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
