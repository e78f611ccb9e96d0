"""SQLAlchemy models of the system of record. PostgreSQL is the only store that counts.

Invariants kept here: a dataset code is unique; a record is stored once per (dataset, key);
record versions and audit events are append-only (never updated in place).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from catalog.audit_lists import unpack as unpack_keys


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB, list[str]: ARRAY(Text)}


class Agency(Base):
    """A state body (Sở, district or commune People's Committee) that owns or uses data."""

    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("agencies.code"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Dataset(Base):
    """A shared dataset of the catalogue (danh mục dữ liệu dùng chung)."""

    __tablename__ = "datasets"

    code: Mapped[str] = mapped_column(String(63), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    sector: Mapped[str] = mapped_column(String(64))
    owner_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    steward: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="DRAFT")
    sensitivity: Mapped[str] = mapped_column(String(16), default="INTERNAL")
    entity_kind: Mapped[str] = mapped_column(String(32), default="other")
    key_field: Mapped[str] = mapped_column(String(63))
    reference_of: Mapped[str | None] = mapped_column(ForeignKey("datasets.code"))
    update_frequency: Mapped[str | None] = mapped_column(Text)
    licence: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    graphql_single: Mapped[str] = mapped_column(String(63))
    graphql_list: Mapped[str] = mapped_column(String(70))
    deprecation_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    fields: Mapped[list[DatasetField]] = relationship(
        back_populates="dataset",
        order_by="DatasetField.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class DatasetField(Base):
    """One field of a dataset; its attributes drive validation, policy, GraphQL and search."""

    __tablename__ = "dataset_fields"

    dataset_code: Mapped[str] = mapped_column(
        ForeignKey("datasets.code", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    sensitivity: Mapped[str] = mapped_column(String(16), default="INTERNAL")
    pii_kind: Mapped[str | None] = mapped_column(String(32))
    searchable: Mapped[bool] = mapped_column(Boolean, default=False)
    filterable: Mapped[bool] = mapped_column(Boolean, default=False)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    references: Mapped[str | None] = mapped_column(String(63))
    enum_values: Mapped[list[str] | None] = mapped_column(ARRAY(Text))

    dataset: Mapped[Dataset] = relationship(back_populates="fields")


class ApiClient(Base):
    """A client of the embedded token issuer (OAuth2 client credentials)."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text))
    secret_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Grant(Base):
    """An owner agency's decision that a grantee agency may read part of a dataset."""

    __tablename__ = "grants"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    dataset_code: Mapped[str] = mapped_column(ForeignKey("datasets.code"))
    grantee_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    row_filter: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="REQUESTED")
    requested_by: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_grants_grantee_dataset", "grantee_code", "dataset_code"),)


class Record(Base):
    """The current version of one record. ``key`` is the blind index when the key is encrypted.

    The table is partitioned by dataset (``catalog.indexes.ensure_partition``); keys compare
    bytewise (collation "C"), which is both the fastest and the code-point order.
    """

    __tablename__ = "records"

    dataset_code: Mapped[str] = mapped_column(String(63, collation="C"), primary_key=True)
    key: Mapped[str] = mapped_column(Text(collation="C"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    blind: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")

    __table_args__ = (
        Index("ix_records_dataset_updated", "dataset_code", "updated_at", "key"),
        Index("ix_records_blind", "blind", postgresql_using="gin"),
        {"postgresql_partition_by": "LIST (dataset_code)"},
    )


class RecordVersion(Base):
    """An immutable past or present version of a record; corrections add one with a reason."""

    __tablename__ = "record_versions"

    dataset_code: Mapped[str] = mapped_column(String(63, collation="C"), primary_key=True)
    key: Mapped[str] = mapped_column(Text(collation="C"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    blind: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    hash: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    supersedes: Mapped[int | None] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")

    __table_args__ = (Index("ix_record_versions_changed", "changed_at"),)


class AuditEvent(Base):
    """One append-only audit event, read through the view ``audit_events`` over the monthly
    partitions of ``audit_log`` (migration 0005). ``seq``, ``at``, ``chain_pos`` and ``hash``
    (hex) are set by the insert that records it, under the one-row ``audit_chain`` head.
    Keys are in ``lists`` (packed, ``catalog.audit_lists``); events from before 0005 keep
    them in ``keys``: read them as ``key_list``."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subject: Mapped[str | None] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str | None] = mapped_column(Text)
    keys: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    fields: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    lists: Mapped[bytes | None] = mapped_column(LargeBinary)
    purpose: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    chain_pos: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))

    @property
    def key_list(self) -> list[str] | None:
        return unpack_keys(self.lists) if self.lists is not None else self.keys


class RecordRead(Base):
    """Which agency read which version of a record; feeds ``corrections(since:)``."""

    __tablename__ = "record_reads"

    agency: Mapped[str] = mapped_column(Text, primary_key=True)
    dataset_code: Mapped[str] = mapped_column(String(63), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_read_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class HubState(Base):
    """A single row of counters that every hub process watches to drop stale caches."""

    __tablename__ = "hub_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    catalog_version: Mapped[int] = mapped_column(BigInteger, default=0)
    policy_version: Mapped[int] = mapped_column(BigInteger, default=0)
    # How text orders (catalog.collation.TEXT_ORDERS), chosen by migration 0008 for the server.
    text_order: Mapped[str] = mapped_column(String(8), default="key", server_default="key")

    __table_args__ = (UniqueConstraint("id"),)


__all__ = [
    "Agency",
    "ApiClient",
    "AuditEvent",
    "Base",
    "Dataset",
    "DatasetField",
    "Grant",
    "HubState",
    "Record",
    "RecordRead",
    "RecordVersion",
]
