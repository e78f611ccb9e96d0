"""audit checkpoints: signed chain heads, append-only; audit tables refuse TRUNCATE

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:30:00.000000
"""

from alembic import op  # noqa: I001
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("chain_pos", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kid", sa.Text(), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(_REFUSE_FUNCTION)
    # DESIGN.md §6: a checkpoint, once signed, is never edited; the chain is never emptied
    # wholesale (TRUNCATE skips row triggers, so it gets a statement trigger of its own).
    op.execute(
        "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE "
        "ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION hub_refuse_edit()"
    )
    for table in ("audit_checkpoints", "audit_events"):
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION hub_refuse_edit()"
        )


_REFUSE_FUNCTION = """
CREATE FUNCTION hub_refuse_edit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$"""


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
    op.drop_table("audit_checkpoints")
    op.execute("DROP FUNCTION IF EXISTS hub_refuse_edit")
