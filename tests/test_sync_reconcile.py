"""Reconciliation after a run: references that resolve to nothing in the authoritative
dataset, and copied values (same pii_kind) that disagree with it; findings keep only the
connector dataset's own key and value, and are computed on the view of the connector's agency
over the authoritative dataset (nothing it may not read there changes them)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from catalog.grants import GrantRequest, decide_grant, request_grant
from catalog.models import Dataset
from catalog.principal import Principal
from catalog.records import stored_key
from catalog.specs import FieldSpec
from connectors.batches import driver_of
from connectors.tombstones import tombstone_keys
from hub.demo import generate
from hub.runtime import Hub
from tests.record_support import Gql
from tests.records_fixtures import field_keys, load_rows
from tests.sync_support import add, connector_toml, make_dataset, rows, source_table, sync

pytestmark = pytest.mark.usefixtures("seeded")

HUB = str(Path(sys.executable).with_name("hub"))
FINDINGS = """
query($run: ID!) {
  reconciliationFindings(run: $run) { edges { node { field kind authority key value } } } }"""
TOTALS = "query($run: ID!) { reconciliationTotals(run: $run) { field kind authority count } }"
SEEN = "Thị xã Từ Sơn"  # names readable
KEY_ONLY = "Huyện Tiên Du"  # records visible, names not
HIDDEN = "Huyện Gia Bình"  # records not visible

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


async def _grant(hub: Hub, fields: list[str], row_filter: Any = None) -> None:
    """SKHDT (the owner of the test's datasets) granted ``fields`` of SYT's citizens."""
    async with hub.db.sessions.begin() as session:
        requested = await request_grant(
            session,
            Principal("app:skhdt", "SKHDT", frozenset({"reader"})),
            GrantRequest(
                dataset="citizen",
                fields=fields,
                purpose="Đối chiếu dữ liệu chủ",
                row_filter=row_filter,
            ),
        )
        await decide_grant(
            session, Principal("head:syt", "SYT", frozenset({"owner"})), str(requested.id), True
        )


async def test_unresolved_references_and_disagreeing_copies_are_reported(hub: Hub) -> None:
    citizens = generate.citizens(3)
    businesses = generate.businesses(2)
    await load_rows(hub, "citizen", citizens)
    await _grant(hub, ["citizen_id", "full_name"])
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
    assert str(second["full_name"]) not in str(findings)


async def test_without_a_grant_every_citizen_reference_resolves_to_nothing(hub: Hub) -> None:
    """SKHDT may read no citizen: a stored citizen is, for its run, one that does not exist,
    and no name is compared."""
    citizens = generate.citizens(2)
    await load_rows(hub, "citizen", citizens)
    await make_dataset(hub, "insurance_copy", FIELDS, key="card")
    async with source_table("so_the text, cccd text, ho_ten text") as (conn, table):
        await conn.executemany(
            f"INSERT INTO {table} VALUES ($1, $2, $3)",
            [(f"T{i}", c["citizen_id"], "Tên Khác") for i, c in enumerate(citizens)],
        )
        mapping = {"card": "so_the", "citizen_id": "cccd", "full_name": "ho_ten"}
        await add(hub, connector_toml("cards", "insurance_copy", table, mapping))
        outcome = await sync(hub, "cards")
    assert outcome.status == "SUCCEEDED", outcome.error
    assert (outcome.unresolved, outcome.disagreeing) == (2, 0)


def _citizens_by_district() -> list[dict[str, Any]]:
    people = generate.citizens(7, seed=11)
    for person, district in zip(
        people, (SEEN, SEEN, KEY_ONLY, KEY_ONLY, HIDDEN, HIDDEN, HIDDEN), strict=True
    ):
        person["district"] = district
    return people


async def _findings(
    hub: Hub, gql: Gql, owner: str, steward: str, hub_env: dict[str, str], run_id: int
) -> dict[str, Any]:
    """A run's report through every door: stored rows, GraphQL, the CLI (text and JSON)."""
    stored = await rows(
        hub,
        "SELECT field, kind, authority, key, value FROM sync_reconciliation "
        "WHERE run_id = :r ORDER BY field, kind, key",
        r=run_id,
    )
    totals = await rows(
        hub, "SELECT unresolved, disagreeing FROM sync_runs WHERE id = :r", r=run_id
    )
    found = await gql(FINDINGS, token=owner, run=str(run_id))
    assert "errors" not in found, found
    counted = await gql(TOTALS, token=steward, run=str(run_id))
    assert "errors" not in counted, counted
    cli = await asyncio.to_thread(
        subprocess.run,
        [HUB, "connectors", "findings", "cards", "--run", str(run_id)],
        env=hub_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    head, *lines = cli.stdout.splitlines()
    assert head.startswith(f"run {run_id}: ")
    return {
        "stored": stored,
        "totals": totals,
        "graphql": found["data"],
        "graphql_totals": counted["data"],
        "cli": [head.removeprefix(f"run {run_id}"), *lines],
    }


@pytest.fixture
def hub_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        HUB_PUBLIC_URL="http://hub.test",
        COLUMNS="300",
    )
    return env


async def test_findings_do_not_depend_on_what_the_agency_may_not_read(
    app: Any, gql: Gql, token: Callable[..., str], hub: Hub, hub_env: dict[str, str]
) -> None:
    """Noninterference: names and existence of citizens SKHDT may not read change nothing in
    its runs' findings and totals; a name it may read does."""
    people = _citizens_by_district()
    seen_a, seen_b, key_only, _, hidden_a, hidden_b, absent = people
    await load_rows(hub, "citizen", people[:6])  # ``absent`` is not stored (yet)
    await _grant(hub, ["full_name"], {"district": SEEN})
    await _grant(hub, ["sex"], {"district": KEY_ONLY})
    await make_dataset(hub, "insurance_copy", FIELDS, key="card")
    owner, steward = token("SKHDT", "owner"), token("STTTT", "steward")
    async with source_table("so_the text, cccd text, ho_ten text") as (conn, table):
        await conn.executemany(
            f"INSERT INTO {table} VALUES ($1, $2, $3)",
            [
                ("T1", seen_a["citizen_id"], seen_a["full_name"]),  # agrees
                ("T2", seen_b["citizen_id"], "Tên Khác Hẳn"),  # disagrees
                ("T3", key_only["citizen_id"], "Tên Không Đọc Được"),  # name not readable
                ("T4", hidden_a["citizen_id"], "Người Ẩn"),  # not visible: resolves to nothing
                ("T5", hidden_b["citizen_id"], hidden_b["full_name"]),  # not visible
                ("T6", absent["citizen_id"], "Không Có Ai"),  # missing
            ],
        )
        mapping = {"card": "so_the", "citizen_id": "cccd", "full_name": "ho_ten"}
        await add(hub, connector_toml("cards", "insurance_copy", table, mapping))
        before = await sync(hub, "cards")
        assert before.status == "SUCCEEDED", before.error
        first = await _findings(hub, gql, owner, steward, hub_env, before.run_id)
        assert first["stored"] == [
            {
                "field": "citizen_id",
                "kind": "UNRESOLVED_REFERENCE",
                "authority": "citizen",
                "key": key,
                "value": None,
            }
            for key in ("T4", "T5", "T6")
        ] + [
            {
                "field": "full_name",
                "kind": "DISAGREES",
                "authority": "citizen",
                "key": "T2",
                "value": "Tên Khác Hẳn",
            }
        ]
        assert first["totals"] == [{"unresolved": 3, "disagreeing": 1}]

        # Only what SKHDT may not read changes: a name it may not read on a visible record,
        # names of records it does not see, one of them gone, the missing one arriving unseen.
        key_only["full_name"] = "Tên Không Đọc Được"
        hidden_a["full_name"] = "Người Ẩn"
        absent["district"] = HIDDEN
        await load_rows(hub, "citizen", [key_only, hidden_a, absent])
        async with hub.db.sessions.begin() as session:
            citizen = await session.get(Dataset, "citizen")
            assert citizen is not None
            gone = stored_key(citizen, hidden_b["citizen_id"], field_keys(hub))
            assert await tombstone_keys(await driver_of(session), "citizen", "test", [gone]) == 1
        after = await sync(hub, "cards")
        assert after.status == "SUCCEEDED", after.error
        assert await _findings(hub, gql, owner, steward, hub_env, after.run_id) == first

        # A name SKHDT may read does change them (the test above can fail).
        seen_b["full_name"] = "Tên Khác Hẳn"
        await load_rows(hub, "citizen", [seen_b])
        changed = await sync(hub, "cards")
    assert (changed.unresolved, changed.disagreeing) == (3, 0)
