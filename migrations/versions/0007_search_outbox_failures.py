"""search outbox failures: entries the search index refused, retried later, then parked

An outbox entry whose own item fails (a document the index mapping refuses, a document that
cannot be built, an index that cannot be made for its dataset) is set aside here instead of
holding back every later entry: one row per record (``dataset_code``, ``key``; key ``''`` is a
dataset's catalogue entry) with the last version that failed, the attempts so far, the last
reason, when it first and last failed, and the concrete index it failed against (NULL: none
was known). ``retry_at`` is when the indexer tries it again; NULL means parked: it gave up
after its last attempt and waits until the dataset's index is rebuilt (the alias no longer
points at ``index_name``) or an operator retries it. A later version of the record that
indexes removes the row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_outbox_failures",
        sa.Column("dataset_code", sa.String(63), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "first_failed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("retry_at", sa.DateTime(timezone=True)),
        sa.Column("index_name", sa.Text()),
        sa.PrimaryKeyConstraint("dataset_code", "key"),
    )
    # The indexer's look for entries due again; parked ones (NULL) are not in it.
    op.create_index(
        "ix_search_outbox_failures_due",
        "search_outbox_failures",
        ["retry_at"],
        postgresql_where=sa.text("retry_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("search_outbox_failures")
