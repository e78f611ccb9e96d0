"""Vietnamese text order by the server's ICU collation where it has one

Ordering a list by a text field compared the rows' ``hub_vi_sort_key`` (migration 0006). Its
expression index orders the rows, but PostgreSQL still computes the key of every row it
returns (the ORDER BY value travels with the row): 25-50 µs a row, most of a 100-row page's
time, and the inlined expression made each statement several milliseconds to plan. A server
built with ICU (the PostgreSQL packages of Debian, Ubuntu, Red Hat and most clusters) has the
collation ``vi-x-icu``, which orders Vietnamese words exactly as the key does: the hub then
orders ``value COLLATE "vi-x-icu"`` over an index on that expression, and a returned row
costs nothing more than its value. The embedded server has no ICU and keeps the sort key.

``hub_state.text_order`` records which order this database uses (``key`` or ``icu``), so that
every hub process compiles the orderings its indexes serve. On a server with ICU this
migration switches to ``icu``: each published text field with a sort key index gets its ICU
index (same rows, about the same size) and the sort key index is dropped. ``hub_vi_sort_key``
stays (search and the Python order are its twins). A database moved to a server without ICU
must be downgraded first (its ICU indexes would not restore there).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:40:00.000000
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ICU = "vi-x-icu"


def _digest(value: str) -> str:
    return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()[:8]


def _partition(code: str) -> str:
    return f"records_{code}" if len(code) <= 50 else f"records_{code[:40]}_{_digest(code)}"


def _index_name(code: str, field: str, kind: str) -> str:
    # Frozen copy of catalog.indexes naming: a migration must not change when the code does.
    return f"ix_{kind}_{code[:20]}_{field[:20]}_{_digest(code + '.' + field + '/' + kind)}"


def _orderable_fields() -> list[tuple[str, str]]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT f.dataset_code, f.name FROM dataset_fields f"
            " JOIN datasets d ON d.code = f.dataset_code"
            " WHERE d.status IN ('PUBLISHED', 'DEPRECATED') AND f.filterable AND f.required"
            " AND NOT f.encrypted AND f.type IN ('string', 'enum', 'reference')"
            " AND f.name <> d.key_field ORDER BY 1, 2"
        )
    )
    return [(str(code), str(field)) for code, field in rows]


def _has_partition(code: str) -> bool:
    found = op.get_bind().execute(sa.text("SELECT to_regclass(:t)"), {"t": _partition(code)})
    return found.scalar() is not None


def upgrade() -> None:
    op.add_column(
        "hub_state",
        sa.Column("text_order", sa.String(8), server_default="key", nullable=False),
    )
    op.create_check_constraint(
        "ck_hub_state_text_order", "hub_state", "text_order IN ('key', 'icu')"
    )
    bind = op.get_bind()
    has_icu = bind.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = :c AND collprovider = 'i')"
        ),
        {"c": _ICU},
    ).scalar()
    if not has_icu:
        return
    for code, field in _orderable_fields():
        if not _has_partition(code):
            continue
        # Codes and field names are catalogue-validated snake_case.
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {_index_name(code, field, 'icu')} ON {_partition(code)} "
            f'((((data->>\'{field}\') COLLATE "C") COLLATE "{_ICU}"), key)'
        )
        op.execute(f"DROP INDEX IF EXISTS {_index_name(code, field, 'vi')}")
    op.execute("UPDATE hub_state SET text_order = 'icu'")


def downgrade() -> None:
    icu = op.get_bind().execute(sa.text("SELECT text_order FROM hub_state WHERE id = 1")).scalar()
    if icu == "icu":
        for code, field in _orderable_fields():
            if not _has_partition(code):
                continue
            op.execute(
                f"CREATE INDEX IF NOT EXISTS {_index_name(code, field, 'vi')} ON "
                f"{_partition(code)} ((hub_vi_sort_key((data->>'{field}') COLLATE \"C\")), key)"
            )
            op.execute(f"DROP INDEX IF EXISTS {_index_name(code, field, 'icu')}")
    op.drop_constraint("ck_hub_state_text_order", "hub_state")
    op.drop_column("hub_state", "text_order")
