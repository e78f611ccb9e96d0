"""Reconciliation after a run: references that resolve to nothing in the authoritative
dataset, and copied values (same pii_kind) that disagree with it; findings keep only the
connector dataset's own key and value."""

from __future__ import annotations

import pytest

from catalog.specs import FieldSpec
from hub.demo import generate
from hub.runtime import Hub
from tests.records_fixtures import load_rows
from tests.sync_support import add, connector_toml, make_dataset, rows, source_table, sync

pytestmark = pytest.mark.usefixtures("seeded")

FIELDS = (
    FieldSpec("card", "string", True, "Số thẻ", "INTERNAL", filterable=True),
    FieldSpec(
        "citizen_id",
        "reference",
        True,
        "Số định danh",
        "RESTRICTED",
        "citizen_id",
        encrypted=True,
        references="citizen",
    ),
    FieldSpec("full_name", "string", False, "Họ tên", "RESTRICTED", "name"),
    FieldSpec("holder_tax_code", "reference", False, "MST", "PUBLIC", references="business"),
)


async def test_unresolved_references_and_disagreeing_copies_are_reported(hub: Hub) -> None:
    citizens = generate.citizens(3)
    businesses = generate.businesses(2)
    await load_rows(hub, "citizen", citizens)
    await load_rows(hub, "business", businesses)
    await make_dataset(hub, "insurance_copy", FIELDS, key="card")
    first, second, third = citizens
    async with source_table("so_the text, cccd text, ho_ten text, mst text") as (conn, table):
        await conn.executemany(
            f"INSERT INTO {table} VALUES ($1, $2, $3, $4)",
            [
                ("T1", first["citizen_id"], first["full_name"], businesses[0]["tax_code"]),
                ("T2", second["citizen_id"], "Tên Khác Hẳn", None),  # disagrees
                ("T3", "999999999999", "Không Có Ai", "0109999999"),  # resolves to nothing
                ("T4", third["citizen_id"], None, None),  # no copy: nothing to compare
            ],
        )
        mapping = {
            "card": "so_the",
            "citizen_id": "cccd",
            "full_name": "ho_ten",
            "holder_tax_code": "mst",
        }
        await add(hub, connector_toml("cards", "insurance_copy", table, mapping))
        outcome = await sync(hub, "cards")
    assert outcome.status == "SUCCEEDED", outcome.error
    assert (outcome.unresolved, outcome.disagreeing) == (2, 1)
    findings = await rows(
        hub,
        "SELECT field, kind, authority, key, value FROM sync_reconciliation "
        "WHERE run_id = :r ORDER BY field, key",
        r=outcome.run_id,
    )
    assert findings == [
        # The citizen id is encrypted: the finding keeps no plaintext of it.
        {
            "field": "citizen_id",
            "kind": "UNRESOLVED_REFERENCE",
            "authority": "citizen",
            "key": "T3",
            "value": None,
        },
        {
            "field": "full_name",
            "kind": "DISAGREES",
            "authority": "citizen",
            "key": "T2",
            "value": "Tên Khác Hẳn",  # ours, never the citizen dataset's
        },
        {
            "field": "holder_tax_code",
            "kind": "UNRESOLVED_REFERENCE",
            "authority": "business",
            "key": "T3",
            "value": "0109999999",
        },
    ]
    stored = await rows(
        hub, "SELECT unresolved, disagreeing FROM sync_runs WHERE id = :r", r=outcome.run_id
    )
    assert stored == [{"unresolved": 2, "disagreeing": 1}]
    assert second["full_name"] not in str(findings)
