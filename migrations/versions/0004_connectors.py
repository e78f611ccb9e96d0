"""connectors: definitions, runs, quarantine, reconciliation findings, search outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:45:00.000000
"""

from alembic import op  # noqa: I001
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("agency_code", sa.String(64), sa.ForeignKey("agencies.code"), nullable=False),
        sa.Column("dataset_code", sa.String(63), sa.ForeignKey("datasets.code"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("schedule", sa.Text()),
        sa.Column("definition", JSONB(), nullable=False),
        sa.Column("secrets", JSONB()),
        sa.Column("cursor", JSONB()),
        sa.Column("next_run_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("connector", sa.String(80), nullable=False),
        sa.Column("dataset_code", sa.String(63), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column(
            "heartbeat_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False
        ),
        sa.Column("worker", sa.Text()),
        sa.Column("started_by", sa.Text()),
        *(
            sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
            for name in ("read", "inserted", "updated", "unchanged", "deleted", "rejected")
        ),
        sa.Column("cursor_from", JSONB()),
        sa.Column("cursor_to", JSONB()),
        sa.Column("error", sa.Text()),
        # Reconciliation totals of the run (the findings table keeps the first ones only).
        sa.Column("unresolved", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disagreeing", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_index("ix_sync_runs_connector", "sync_runs", ["connector", "id"])
    op.create_index(
        "ix_sync_runs_running",
        "sync_runs",
        ["status"],
        postgresql_where=sa.text("status = 'RUNNING'"),
    )
    op.create_table(
        "sync_quarantine",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("sync_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("connector", sa.String(80), nullable=False),
        sa.Column("dataset_code", sa.String(63), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("row", JSONB(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("ix_sync_quarantine_run", "sync_quarantine", ["run_id", "id"])
    op.create_table(
        "sync_reconciliation",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("sync_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("connector", sa.String(80), nullable=False),
        sa.Column("dataset_code", sa.String(63), nullable=False),
        sa.Column("field", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("authority", sa.String(63), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text()),
    )
    op.create_index("ix_sync_reconciliation_run", "sync_reconciliation", ["run_id", "id"])
    # Per connector and record: a digest of the source row as last read and the hash of the
    # record it produced; a re-read row with the same digest whose record still has that hash
    # is unchanged without being validated again.
    op.create_table(
        "sync_row_hashes",
        # No foreign key: its check per row cost more than the digest saves; removing a
        # connector deletes its rows (connectors.store.remove_connector).
        sa.Column("connector", sa.String(63), primary_key=True),
        sa.Column("key", sa.Text(collation="C"), primary_key=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "search_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("dataset_code", sa.String(63), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "search_outbox",
        "sync_row_hashes",
        "sync_reconciliation",
        "sync_quarantine",
        "sync_runs",
        "connectors",
    ):
        op.drop_table(table)
